"""The project's cfn-lint rules (``cfn_rules/``) on bad and good template fragments.

E9101: a log group with a retention per function. E9102: a dead-letter queue or an on-failure
destination for every event source. The fragments are linted exactly as ``make cfn-lint`` does,
through cfn-lint with ``--append-rules cfn_rules``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

ROOT = Path(__file__).resolve().parents[2]
RULES = str(ROOT / "cfn_rules")
PROJECT_RULES = {"E9101", "E9102"}


def findings(resources: dict[str, Any], *, sam: bool = True) -> list[tuple[str, str]]:
    """(rule id, resource) for each project-rule match on a template holding ``resources``."""
    template: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    if sam:
        template["Transform"] = "AWS::Serverless-2016-10-31"
    matches = lint(
        yaml.safe_dump(template, sort_keys=False),
        config=ManualArgs(regions=["us-east-1"], append_rules=[RULES]),
    )
    return sorted(
        (match.rule.id, str(match.path[1]) if len(match.path) > 1 else "")
        for match in matches
        if match.rule.id in PROJECT_RULES
    )


def function(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {"Runtime": "python3.12", "Handler": "app.handler", "CodeUri": "src/", **properties},
    }


def log_group(name: Any, *, retention: int | None = 30) -> dict[str, Any]:
    properties: dict[str, Any] = {"LogGroupName": name}
    if retention is not None:
        properties["RetentionInDays"] = retention
    return {"Type": "AWS::Logs::LogGroup", "Properties": properties}


def queue(*, redrive: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if redrive:
        properties["RedrivePolicy"] = {
            "deadLetterTargetArn": {"Fn::GetAtt": ["DLQ", "Arn"]},
            "maxReceiveCount": 5,
        }
    return {"Type": "AWS::SQS::Queue", "Properties": properties}


LOGGED = {"LoggingConfig": {"LogGroup": {"Ref": "Logs"}}}
LOGS = {"Logs": log_group("/aws/lambda/worker")}
DLQ = {"DLQ": {"Type": "AWS::SQS::Queue"}}


# --- E9101: log groups ---------------------------------------------------------------------------


def test_a_function_without_a_declared_log_group_is_reported():
    assert findings({"Worker": function()}) == [("E9101", "Worker")]


def test_a_log_group_without_retention_is_reported_on_the_group():
    resources = {"Worker": function(**LOGGED), "Logs": log_group("/aws/lambda/worker", retention=None)}
    assert findings(resources) == [("E9101", "Logs")]


@pytest.mark.parametrize(
    "resources",
    [
        # LoggingConfig points at the group
        {"Worker": function(**LOGGED), **LOGS},
        # the group Lambda would write to, for a named function (same !Sub on both sides)
        {
            "Worker": function(FunctionName={"Fn::Sub": "${AWS::StackName}-worker"}),
            "Logs": log_group({"Fn::Sub": "/aws/lambda/${AWS::StackName}-worker"}),
        },
        # ... and for an unnamed one, whose name is its Ref
        {"Worker": function(), "Logs": log_group({"Fn::Sub": "/aws/lambda/${Worker}"})},
        {"Worker": function(), "Logs": log_group({"Fn::Join": ["", ["/aws/lambda/", {"Ref": "Worker"}]]})},
    ],
    ids=["logging-config", "named-function", "sub-of-ref", "join-of-ref"],
)
def test_a_function_with_a_retained_log_group_passes(resources: dict[str, Any]):
    assert findings(resources) == []


def test_a_plain_cloudformation_function_is_checked_too():
    resources = {
        "Worker": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "app.handler",
                "Role": "arn:aws:iam::123456789012:role/worker",
                "Code": {"ZipFile": "def handler(event, context): pass"},
            },
        }
    }
    assert findings(resources, sam=False) == [("E9101", "Worker")]


# --- E9102: event sources ------------------------------------------------------------------------


def sqs_event() -> dict[str, Any]:
    return {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Jobs", "Arn"]}, "BatchSize": 10}}


def test_an_sqs_source_whose_queue_has_no_redrive_policy_is_reported():
    resources = {
        "Worker": function(**LOGGED, Events={"Jobs": sqs_event()}),
        **LOGS,
        "Jobs": queue(redrive=False),
    }
    assert findings(resources) == [("E9102", "Worker")]


def test_an_sqs_source_whose_queue_redrives_to_a_dlq_passes():
    resources = {
        "Worker": function(**LOGGED, Events={"Jobs": sqs_event()}),
        **LOGS,
        "Jobs": queue(redrive=True),
        **DLQ,
    }
    assert findings(resources) == []


def test_a_function_level_dlq_does_not_excuse_an_sqs_source_without_redrive():
    # DeadLetterQueue covers asynchronous invokes only; SQS failures go through the queue.
    resources = {
        "Worker": function(
            **LOGGED,
            Events={"Jobs": sqs_event()},
            DeadLetterQueue={"Type": "SQS", "TargetArn": {"Fn::GetAtt": ["DLQ", "Arn"]}},
        ),
        **LOGS,
        "Jobs": queue(redrive=False),
        **DLQ,
    }
    assert findings(resources) == [("E9102", "Worker")]


def test_a_schedule_without_any_failure_destination_is_reported():
    event = {"Type": "Schedule", "Properties": {"Schedule": "rate(15 minutes)"}}
    assert findings({"Worker": function(**LOGGED, Events={"Patrol": event}), **LOGS}) == [("E9102", "Worker")]


@pytest.mark.parametrize(
    "extra",
    [
        {"event": {"DeadLetterConfig": {"Type": "SQS"}}},
        {"event": {"DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["DLQ", "Arn"]}}}},
        {"function": {"DeadLetterQueue": {"Type": "SQS", "TargetArn": {"Fn::GetAtt": ["DLQ", "Arn"]}}}},
        {
            "function": {
                "EventInvokeConfig": {
                    "DestinationConfig": {
                        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["DLQ", "Arn"]}}
                    }
                }
            }
        },
    ],
    ids=["event-dlq-created-by-sam", "event-dlq-arn", "function-dlq", "function-on-failure"],
)
def test_a_schedule_with_a_dlq_or_on_failure_destination_passes(extra: dict[str, Any]):
    event = {"Type": "Schedule", "Properties": {"Schedule": "rate(15 minutes)", **extra.get("event", {})}}
    resources = {
        "Worker": function(**LOGGED, Events={"Patrol": event}, **extra.get("function", {})),
        **LOGS,
        **DLQ,
    }
    assert findings(resources) == []


def test_a_stream_source_without_an_on_failure_destination_is_reported():
    event = {
        "Type": "Kinesis",
        "Properties": {
            "Stream": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            "StartingPosition": "LATEST",
        },
    }
    assert findings({"Worker": function(**LOGGED, Events={"Stream": event}), **LOGS}) == [("E9102", "Worker")]


def test_http_routes_are_synchronous_and_need_no_dlq():
    event = {"Type": "HttpApi", "Properties": {"Path": "/x", "Method": "GET"}}
    assert findings({"Worker": function(**LOGGED, Events={"Route": event}), **LOGS}) == []


def test_plain_cloudformation_event_sources_are_checked_too():
    resources = {
        "Mapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["Jobs", "Arn"]},
                "FunctionName": {"Ref": "Worker"},
            },
        },
        "Jobs": queue(redrive=False),
        "Nightly": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": "rate(1 day)",
                "Targets": [{"Id": "worker", "Arn": {"Fn::GetAtt": ["Worker", "Arn"]}}],
            },
        },
        "Worker": function(**LOGGED),
        **LOGS,
    }
    assert findings(resources) == [("E9102", "Mapping"), ("E9102", "Nightly")]


def test_the_project_template_passes_both_rules():
    matches = lint(
        (ROOT / "template.yaml").read_text(encoding="utf-8"),
        config=ManualArgs(regions=["us-east-1"], append_rules=[RULES]),
    )
    assert [match for match in matches if match.rule.id in PROJECT_RULES] == []
