"""Project rules for cfn-lint (``cfn-lint --append-rules cfn_rules template.yaml``).

E9101  every function logs to a log group declared in the template, with a retention. Lambda's
       implicit log group keeps events forever and cannot be given a retention by the template.
E9102  every event source that can fail without a caller to tell has somewhere for the failure
       to go: an SQS source's queue has a RedrivePolicy to a dead-letter queue; a stream source
       has an on-failure destination; an asynchronous source (schedules, EventBridge, SNS, S3)
       has a dead-letter queue on the target or an on-failure destination/DLQ on the function.
       HTTP routes are synchronous (the caller sees the error) and need neither.

cfn-lint validates SAM templates as SAM (Globals merged, no transform), so both SAM resources
and their plain CloudFormation counterparts are understood. cfn-lint loads this file by path, so
it imports nothing from the project.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from cfnlint.rules import CloudFormationLintRule, RuleMatch

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTION_TYPES = (SERVERLESS_FUNCTION, LAMBDA_FUNCTION)
LOG_GROUP = "AWS::Logs::LogGroup"
SQS_QUEUE = "AWS::SQS::Queue"

#: SAM event types invoked synchronously: the caller receives the failure.
SYNCHRONOUS_EVENTS = frozenset({"Api", "HttpApi", "AlexaSkill", "Cognito"})
#: SAM event types that poll a stream: failures go to DestinationConfig.OnFailure.
STREAM_EVENTS = frozenset({"Kinesis", "DynamoDB", "MSK", "SelfManagedKafka", "DocumentDB", "MQ"})
#: SAM event types whose own DeadLetterConfig catches failed deliveries to the function.
EVENTS_WITH_TARGET_DLQ = frozenset({"Schedule", "ScheduleV2", "EventBridgeRule", "CloudWatchEvent", "SNS"})


def resources(cfn: Any, types: tuple[str, ...] | str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    wanted = (types,) if isinstance(types, str) else types
    for name, resource in (cfn.template.get("Resources") or {}).items():
        if isinstance(resource, Mapping) and resource.get("Type") in wanted:
            yield name, resource


def properties(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    value = resource.get("Properties")
    return value if isinstance(value, Mapping) else {}


def referenced(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at, else None."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    if "Ref" in value and isinstance(value["Ref"], str):
        return str(value["Ref"])
    target = value.get("Fn::GetAtt")
    if isinstance(target, list) and target and isinstance(target[0], str):
        return str(target[0])
    if isinstance(target, str):
        return target.split(".", 1)[0]
    return None


def as_template_string(value: Any) -> str | None:
    """A name as a ``Fn::Sub``-style string, so differently written equal names compare equal.

    ``"x"`` → ``x``; ``!Sub "a-${B}"`` → ``a-${B}``; ``!Ref B`` → ``${B}``; ``!Join ["", [...]]``
    → the parts joined. Anything else (a name built by a condition, say) → None.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    if "Ref" in value and isinstance(value["Ref"], str):
        return "${" + value["Ref"] + "}"
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        if isinstance(sub, str):
            return sub
        if isinstance(sub, list) and len(sub) == 2 and isinstance(sub[0], str) and not sub[1]:
            return sub[0]
        return None
    join = value.get("Fn::Join")
    if isinstance(join, list) and len(join) == 2 and join[0] == "" and isinstance(join[1], list):
        parts = [as_template_string(part) for part in join[1]]
        return None if any(part is None for part in parts) else "".join(part or "" for part in parts)
    return None


def function_log_group_name(name: str, resource: Mapping[str, Any]) -> str | None:
    """``/aws/lambda/<function name>`` as a template string (the group Lambda writes to)."""
    function_name = properties(resource).get("FunctionName")
    if function_name is None:
        return "/aws/lambda/${" + name + "}"
    template = as_template_string(function_name)
    return None if template is None else "/aws/lambda/" + template


class FunctionLogGroupRetention(CloudFormationLintRule):  # type: ignore[misc]
    """E9101: each function has a declared log group with a retention."""

    id = "E9101"
    shortdesc = "Every function has its own log group with a retention"
    description = (
        "A Lambda function must log to an AWS::Logs::LogGroup declared in the template (named "
        "/aws/lambda/<FunctionName> or set as LoggingConfig.LogGroup) that sets RetentionInDays; "
        "the implicit group Lambda creates keeps logs forever."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html"
    tags: ClassVar[list[str]] = ["lambda", "logs", "project"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        groups = dict(resources(cfn, LOG_GROUP))
        by_name = {
            template: group_id
            for group_id, group in groups.items()
            if (template := as_template_string(properties(group).get("LogGroupName"))) is not None
        }
        matches = []
        for name, function in resources(cfn, FUNCTION_TYPES):
            group_id = self._log_group_of(name, function, groups, by_name)
            path = ["Resources", name]
            if group_id is None:
                matches.append(
                    RuleMatch(
                        path,
                        f"Function {name} has no log group in the template: declare an "
                        "AWS::Logs::LogGroup and point LoggingConfig.LogGroup at it",
                    )
                )
            elif properties(groups[group_id]).get("RetentionInDays") is None:
                matches.append(
                    RuleMatch(
                        ["Resources", group_id, "Properties"],
                        f"Log group {group_id} of function {name} sets no RetentionInDays",
                    )
                )
        return matches

    @staticmethod
    def _log_group_of(
        name: str,
        function: Mapping[str, Any],
        groups: Mapping[str, Any],
        by_name: Mapping[str, str],
    ) -> str | None:
        logging_config = properties(function).get("LoggingConfig")
        configured = logging_config.get("LogGroup") if isinstance(logging_config, Mapping) else None
        if configured is not None:
            target = referenced(configured)
            if target in groups:
                return target
            template = as_template_string(configured)
            return by_name.get(template) if template is not None else None
        default = function_log_group_name(name, function)
        return by_name.get(default) if default is not None else None


class EventSourceFailureDestination(CloudFormationLintRule):  # type: ignore[misc]
    """E9102: each asynchronous or polled event source has a DLQ or an on-failure destination."""

    id = "E9102"
    shortdesc = "Every event source has a dead-letter queue or an on-failure destination"
    description = (
        "SQS event sources need a RedrivePolicy on their queue (a function-level DeadLetterQueue "
        "only covers asynchronous invokes); stream sources need DestinationConfig.OnFailure; "
        "asynchronous sources need a DeadLetterConfig on the target or an on-failure "
        "destination / DeadLetterQueue on the function."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html"
    tags: ClassVar[list[str]] = ["lambda", "sqs", "events", "project"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        queues = dict(resources(cfn, SQS_QUEUE))
        functions = dict(resources(cfn, FUNCTION_TYPES))
        invoke_configs = {
            referenced(properties(config).get("FunctionName")): config
            for _, config in resources(cfn, "AWS::Lambda::EventInvokeConfig")
        }
        matches: list[RuleMatch] = []
        for name, function in resources(cfn, SERVERLESS_FUNCTION):
            events = properties(function).get("Events")
            for event_name, event in events.items() if isinstance(events, Mapping) else []:
                if not isinstance(event, Mapping):
                    continue
                problem = self._sam_event_problem(name, function, event, queues, invoke_configs)
                if problem:
                    path = ["Resources", name, "Properties", "Events", event_name]
                    matches.append(RuleMatch(path, problem))
        for name, mapping in resources(cfn, "AWS::Lambda::EventSourceMapping"):
            props = properties(mapping)
            source = referenced(props.get("EventSourceArn"))
            if source in queues:
                problem = _queue_problem(source, queues)
            else:
                problem = _on_failure_problem(props, f"event source mapping {name}")
            if problem:
                matches.append(RuleMatch(["Resources", name, "Properties"], problem))
        matches += self._async_targets(cfn, functions, invoke_configs)
        return matches

    def _sam_event_problem(
        self,
        function_name: str,
        function: Mapping[str, Any],
        event: Mapping[str, Any],
        queues: Mapping[str, Any],
        invoke_configs: Mapping[str | None, Any],
    ) -> str | None:
        event_type = event.get("Type")
        props = properties(event)
        if event_type in SYNCHRONOUS_EVENTS:
            return None
        if event_type == "SQS":
            queue = referenced(props.get("Queue"))
            if queue not in queues:
                return (
                    f"SQS event of {function_name} reads a queue not declared in this template: "
                    "its RedrivePolicy cannot be checked"
                )
            return _queue_problem(queue, queues)
        if event_type in STREAM_EVENTS:
            return _on_failure_problem(props, f"{event_type} event of {function_name}")
        if event_type in EVENTS_WITH_TARGET_DLQ and _has_target_dlq(event_type, props):
            return None
        if _function_handles_async_failures(function_name, function, invoke_configs):
            return None
        return (
            f"{event_type} event of {function_name} invokes it asynchronously with nowhere for "
            "failures to go: add a DeadLetterConfig to the event, or DeadLetterQueue / "
            "EventInvokeConfig.DestinationConfig.OnFailure to the function"
        )

    def _async_targets(
        self, cfn: Any, functions: Mapping[str, Any], invoke_configs: Mapping[str | None, Any]
    ) -> list[RuleMatch]:
        matches = []
        for name, rule in resources(cfn, "AWS::Events::Rule"):
            targets = properties(rule).get("Targets")
            for index, target in enumerate(targets if isinstance(targets, list) else []):
                if not isinstance(target, Mapping):
                    continue
                function = referenced(target.get("Arn"))
                if function is None or function not in functions or _dlq_arn(target.get("DeadLetterConfig")):
                    continue
                if not _function_handles_async_failures(function, functions[function], invoke_configs):
                    matches.append(
                        RuleMatch(
                            ["Resources", name, "Properties", "Targets", index],
                            f"Rule {name} invokes {function} with no DeadLetterConfig on the target "
                            "and no on-failure destination on the function",
                        )
                    )
        for name, schedule in resources(cfn, "AWS::Scheduler::Schedule"):
            target = properties(schedule).get("Target")
            if not isinstance(target, Mapping):
                continue
            function = referenced(target.get("Arn"))
            if function is None or function not in functions or _dlq_arn(target.get("DeadLetterConfig")):
                continue
            if not _function_handles_async_failures(function, functions[function], invoke_configs):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "Target"],
                        f"Schedule {name} invokes {function} with no DeadLetterConfig and no "
                        "on-failure destination on the function",
                    )
                )
        for name, subscription in resources(cfn, "AWS::SNS::Subscription"):
            props = properties(subscription)
            function = referenced(props.get("Endpoint"))
            if props.get("Protocol") != "lambda" or function is None or function not in functions:
                continue
            if _dlq_arn(props.get("RedrivePolicy"), key="deadLetterTargetArn"):
                continue
            if not _function_handles_async_failures(function, functions[function], invoke_configs):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"Subscription {name} delivers to {function} with no RedrivePolicy and no "
                        "on-failure destination on the function",
                    )
                )
        return matches


def _queue_problem(queue: str | None, queues: Mapping[str, Any]) -> str | None:
    redrive = (
        properties(queues[queue]).get("RedrivePolicy") if queue is not None and queue in queues else None
    )
    if _dlq_arn(redrive, key="deadLetterTargetArn") is None:
        return f"Queue {queue} feeds a function but has no RedrivePolicy with a deadLetterTargetArn"
    return None


def _on_failure_problem(props: Mapping[str, Any], what: str) -> str | None:
    destination = props.get("DestinationConfig")
    on_failure = destination.get("OnFailure") if isinstance(destination, Mapping) else None
    if isinstance(on_failure, Mapping) and on_failure.get("Destination"):
        return None
    return f"The {what} has no DestinationConfig.OnFailure.Destination"


def _dlq_arn(config: Any, key: str = "Arn") -> Any:
    if not isinstance(config, Mapping):
        return None
    return config.get(key) or config.get(key[0].upper() + key[1:])


def _has_target_dlq(event_type: str, props: Mapping[str, Any]) -> bool:
    if event_type == "SNS":
        return _dlq_arn(props.get("RedrivePolicy"), key="deadLetterTargetArn") is not None
    config = props.get("DeadLetterConfig")
    # SAM can create the queue itself: DeadLetterConfig: {Type: SQS}.
    return isinstance(config, Mapping) and bool(config.get("Arn") or config.get("Type") == "SQS")


def _function_handles_async_failures(
    name: str, function: Mapping[str, Any], invoke_configs: Mapping[str | None, Any]
) -> bool:
    props = properties(function)
    dead_letter = props.get("DeadLetterQueue") or props.get("DeadLetterConfig")
    if isinstance(dead_letter, Mapping) and (dead_letter.get("TargetArn") or dead_letter.get("Arn")):
        return True
    for config in (props.get("EventInvokeConfig"), properties(invoke_configs.get(name) or {})):
        if isinstance(config, Mapping) and _on_failure_problem(config, "function") is None:
            return True
    return False
