"""Create the stack's stateful resources from :class:`~local.template.AppModel` with real boto3 calls.

``deploy()`` works against moto in-process (``mock_aws``, the functional tests) and against a moto
server URL (the local stack). It creates what CloudFormation would, as far as moto can hold it:

- tables: keys, indexes, billing mode, encryption, deletion protection, TTL, point-in-time recovery;
- queues: every queue first with its own attributes, then ``RedrivePolicy`` and
  ``RedriveAllowPolicy`` once every queue's ARN is known (a DLQ may be declared after its source);
- buckets: encryption, public access block, ownership, versioning, lifecycle, and the
  unconditional statements of their ``AWS::S3::BucketPolicy`` (moto cannot evaluate conditions
  such as ``aws:SecureTransport``: it would apply them to every request);
- secrets: each platform secret holds that platform's section of ``local/credentials.json``.

Physical names follow one rule: the resource's own name property (``TableName``, ``QueueName``,
``BucketName``, ``Name``...) resolved, else ``<stack>-<LogicalId>`` (``.fifo`` appended for FIFO
queues, lower-cased for buckets). A property this module cannot reproduce raises
:class:`~local.template.TemplateError` rather than being skipped: the local stack must not drift from
the template silently.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.template import (
    BUCKET_TYPE,
    FUNCTION_TYPE,
    QUEUE_TYPE,
    SECRET_TYPE,
    TABLE_TYPE,
    AppModel,
    TemplateError,
)

LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
TOPIC_TYPE = "AWS::SNS::Topic"
SUBSCRIPTION_TYPE = "AWS::SNS::Subscription"
BUCKET_POLICY_TYPE = "AWS::S3::BucketPolicy"

#: moto's default account: deploy() refuses any other unless told the target is local.
MOTO_DEFAULT_ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
REPO_ROOT = Path(__file__).resolve().parents[1]

_NAME_PROPERTY = {
    TABLE_TYPE: "TableName",
    QUEUE_TYPE: "QueueName",
    BUCKET_TYPE: "BucketName",
    SECRET_TYPE: "Name",
    FUNCTION_TYPE: "FunctionName",
    LOG_GROUP_TYPE: "LogGroupName",
    TOPIC_TYPE: "TopicName",
}
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_CONDITION_FUNCTIONS = {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"}


class UnsafeTargetError(RuntimeError):
    """deploy() was pointed at something that may be a real AWS account."""


class _NoValue:
    """``AWS::NoValue``: the property or list item is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --------------------------------------------------------------------------- the deployed stack


@dataclass
class Deployed:
    """What :func:`deploy` created, and how template values resolve against it.

    Parameters
    ----------
    stack_name, region:
        The local stack's name (``AWS::StackName``) and region.
    names:
        Logical id → physical name (tables, queues, buckets, secrets, and the names functions and
        log groups would have).
    queue_urls, arns:
        Logical id → queue URL / ARN.
    model:
        The template model the stack was deployed from.
    account_id:
        ``AWS::AccountId`` (moto's).
    parameters:
        Parameter values in force: the template defaults with the overrides applied.
    """

    stack_name: str
    region: str
    names: dict[str, str]
    queue_urls: dict[str, str]
    arns: dict[str, str]
    model: AppModel
    account_id: str = MOTO_DEFAULT_ACCOUNT_ID
    parameters: dict[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> str:
        """A template value as the concrete string CloudFormation would give the resource.

        Examples
        --------
        >>> deployed.resolve({"Fn::Sub": "${AWS::StackName}/platforms/"})
        'oms-local/platforms/'

        Raises
        ------
        TemplateError
            When the value names something with no local value, or is not a scalar.
        """
        return _as_string(self.evaluate(value), value)

    def evaluate(self, value: Any) -> Any:
        """A template value with every intrinsic function applied, keeping its type (lists, dicts...).

        Returns :data:`NO_VALUE` for ``!Ref AWS::NoValue``; lists and mappings drop such entries.
        """
        if isinstance(value, list):
            items = (self.evaluate(item) for item in value)
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key in _CONDITION_FUNCTIONS:
                return self._truth(value)
            intrinsic = self._intrinsics().get(key)
            if intrinsic is not None:
                return intrinsic(argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local stack")
        entries = ((key, self.evaluate(item)) for key, item in value.items())
        return {key: item for key, item in entries if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        """The value of a named condition from the template's ``Conditions``."""
        if name not in self.model.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self._truth(self.model.conditions[name])

    def function_env(self, function_id: str) -> dict[str, str]:
        """The function's environment (Globals merged with its own), every value resolved.

        Raises
        ------
        KeyError
            When the template has no such function.
        """
        variables: dict[str, str] = {}
        for name, value in self.model.functions[function_id].environment.items():
            evaluated = self.evaluate(value)
            if evaluated is not NO_VALUE:
                variables[name] = _as_string(evaluated, value)
        return variables

    # ------------------------------------------------------------------ intrinsics

    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": self._if,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Condition": self.condition,
        }

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"!Ref needs a name, got {name!r}")
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackId": (
                f"arn:{PARTITION}:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self.model.resource_type(name)
        if kind == QUEUE_TYPE:
            return _lookup(self.queue_urls, name, "queue URL")
        if kind in (SECRET_TYPE, TOPIC_TYPE):
            return _lookup(self.arns, name, "ARN")
        if kind in (TABLE_TYPE, BUCKET_TYPE, FUNCTION_TYPE, LOG_GROUP_TYPE):
            return _lookup(self.names, name, "name")
        raise TemplateError(f"!Ref {name}: no local value for a {kind or 'missing resource'}")

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        evaluated = self.evaluate(argument)
        if not isinstance(evaluated, list) or len(evaluated) != 2:
            raise TemplateError(f"!GetAtt needs [resource, attribute], got {argument!r}")
        resource, attribute = (str(part) for part in evaluated)
        if attribute == "Arn":
            return _lookup(self.arns, resource, "ARN")
        if attribute == "QueueName":
            return _lookup(self.names, resource, "queue name")
        if attribute == "QueueUrl":
            return _lookup(self.queue_urls, resource, "queue URL")
        raise TemplateError(f"!GetAtt {resource}.{attribute}: no local value")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            if len(argument) != 2 or not isinstance(argument[1], dict):
                raise TemplateError(f"!Sub needs a string or [string, variables], got {argument!r}")
            text, variables = argument[0], argument[1]
        else:
            text, variables = argument, {}
        if not isinstance(text, str):
            raise TemplateError(f"!Sub needs a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"  # ``${!Literal}`` is written as ``${Literal}``
            if expression in variables:
                return self.resolve(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                return self.resolve({"Fn::GetAtt": expression.split(".", 1)})
            return self.resolve({"Ref": expression})

        return _SUB_VARIABLE.sub(replace, text)

    def _if(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError(f"!If needs [condition, then, else], got {argument!r}")
        return self.evaluate(argument[1] if self.condition(str(argument[0])) else argument[2])

    def _join(self, argument: Any) -> str:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"!Join needs [delimiter, list], got {argument!r}")
        items = self.evaluate(argument[1])
        if not isinstance(items, list):
            raise TemplateError(f"!Join needs a list, got {items!r}")
        return str(argument[0]).join(_as_string(item, item) for item in items)

    def _select(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"!Select needs [index, list], got {argument!r}")
        items = self.evaluate(argument[1])
        index = int(self.evaluate(argument[0]))
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise TemplateError(f"!Select index {index} out of range for {items!r}")
        return items[index]

    def _split(self, argument: Any) -> list[str]:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"!Split needs [delimiter, string], got {argument!r}")
        return self.resolve(argument[1]).split(str(argument[0]))

    def _truth(self, expression: Any) -> bool:
        """Evaluate a condition expression (Fn::Equals / Not / And / Or / Condition)."""
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, argument),) = expression.items()
            if key == "Condition":
                return self.condition(str(argument))
            if key == "Fn::Equals":
                left, right = (self.evaluate(item) for item in argument)
                return _as_string(left, argument[0]) == _as_string(right, argument[1])
            if key == "Fn::Not":
                return not self._truth(argument[0])
            if key == "Fn::And":
                return all(self._truth(item) for item in argument)
            if key == "Fn::Or":
                return any(self._truth(item) for item in argument)
        raise TemplateError(f"not a condition: {expression!r}")


def _lookup(table: Mapping[str, str], logical_id: str, what: str) -> str:
    try:
        return table[logical_id]
    except KeyError:
        raise TemplateError(f"{logical_id}: no local {what} (not in the template, or not deployed)") from None


def _as_string(value: Any, original: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{original!r} does not resolve to a string (got {value!r})")


# --------------------------------------------------------------------------- deploy


def deploy(
    model: AppModel,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    stack_name: str = "oms-local",
    region: str = "us-east-1",
    credentials_file: str | Path | None = "local/credentials.json",
    parameter_overrides: Mapping[str, Any] | None = None,
    allow_any_account: bool = False,
) -> Deployed:
    """Create every table, queue, bucket and secret of the template, and return how to reach them.

    Parameters
    ----------
    model:
        The template model (``AppModel.load()``).
    session:
        The boto3 session to use; by default one with the environment's credentials, or dummy
        ones when there are none (moto accepts any).
    endpoint_url:
        A moto server URL (``http://127.0.0.1:<port>``); None for in-process ``mock_aws``.
    stack_name, region:
        ``AWS::StackName`` and ``AWS::Region`` for names and ARNs.
    credentials_file:
        Platform credentials (platform → app id → secrets); each platform secret gets its section.
        A relative path is taken from the repository root. Missing file or None: secrets keep the
        template's ``SecretString``.
    parameter_overrides:
        Template parameter values replacing the defaults (e.g. ``{"Stage": "prod"}``).
    allow_any_account:
        Skip the check that the target answers as moto's default account.

    Raises
    ------
    UnsafeTargetError
        When the target does not look like moto (a real account would get real resources).
    TemplateError
        When the template asks for something this module cannot create faithfully.

    Examples
    --------
    >>> with mock_aws():
    ...     deployed = deploy(AppModel.load())
    ...     deployed.function_env("WebhookIntakeFunction")["INTAKE_QUEUE_URL"]
    'https://sqs.us-east-1.amazonaws.com/123456789012/oms-local-IntakeQueue.fifo'
    """
    session = session or _default_session(region)

    def client(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    account_id = client("sts").get_caller_identity()["Account"]
    if not allow_any_account and account_id not in (
        MOTO_DEFAULT_ACCOUNT_ID,
        os.environ.get("MOTO_ACCOUNT_ID"),
    ):
        raise UnsafeTargetError(
            f"account {account_id} is not moto's; pass allow_any_account=True if this target is local"
        )
    parameters = dict(model.parameters)
    unknown = set(parameter_overrides or {}) - set(parameters)
    if unknown:
        raise TemplateError(f"unknown parameters: {sorted(unknown)}")
    parameters.update(parameter_overrides or {})
    missing = sorted(name for name, value in parameters.items() if value is None)
    if missing:
        raise TemplateError(f"parameters without a default need a value: {missing}")

    deployed = Deployed(
        stack_name=stack_name,
        region=region,
        names={},
        queue_urls={},
        arns={},
        model=model,
        account_id=account_id,
        parameters=parameters,
    )
    _name_everything(deployed)
    dynamodb = client("dynamodb")
    for logical_id, properties in model.tables.items():
        _create_table(dynamodb, deployed, logical_id, properties)
    _create_queues(client("sqs"), deployed)
    _create_topics(client("sns"), deployed)
    s3 = client("s3")
    for logical_id, properties in model.buckets.items():
        _create_bucket(s3, deployed, logical_id, properties)
    credentials = _read_credentials(credentials_file)
    secrets_manager = client("secretsmanager")
    for logical_id, properties in model.secrets.items():
        _create_secret(secrets_manager, deployed, logical_id, properties, credentials)
    return deployed


def _default_session(region: str) -> boto3.session.Session:
    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        # moto accepts any credentials; these keep botocore from searching further.
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's conventional dummy value
            region_name=region,
        )
    return session


def _name_everything(deployed: Deployed) -> None:
    """Physical names (and the ARNs that follow from them) for every named kind of resource."""
    region, account = deployed.region, deployed.account_id
    for logical_id, resource in deployed.model.resources.items():
        kind = resource.get("Type")
        if kind not in _NAME_PROPERTY:
            continue
        properties = resource.get("Properties") or {}
        explicit = properties.get(_NAME_PROPERTY[kind])
        name = deployed.resolve(explicit) if explicit is not None else f"{deployed.stack_name}-{logical_id}"
        if explicit is None and kind == QUEUE_TYPE and properties.get("FifoQueue") in (True, "true"):
            name += ".fifo"
        if explicit is None and kind == BUCKET_TYPE:
            name = name.lower()
        deployed.names[logical_id] = name
        derived_arn = {
            FUNCTION_TYPE: f"arn:{PARTITION}:lambda:{region}:{account}:function:{name}",
            LOG_GROUP_TYPE: f"arn:{PARTITION}:logs:{region}:{account}:log-group:{name}:*",
            TOPIC_TYPE: f"arn:{PARTITION}:sns:{region}:{account}:{name}",
            BUCKET_TYPE: f"arn:{PARTITION}:s3:::{name}",
        }.get(str(kind))
        if derived_arn:
            deployed.arns[logical_id] = derived_arn
    # IAM roles: the ARN a template hands to a service (EventBridge Scheduler's target role);
    # locally nothing assumes them, the ARN only has to be well formed and stable.
    for logical_id, resource in deployed.model.resources.items():
        if resource.get("Type") == "AWS::IAM::Role":
            deployed.arns.setdefault(
                logical_id, f"arn:{PARTITION}:iam::{account}:role/{deployed.stack_name}-{logical_id}"
            )


def _read_credentials(credentials_file: str | Path | None) -> dict[str, Any] | None:
    if credentials_file is None:
        return None
    path = Path(credentials_file)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file():
        return None
    credentials = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(credentials, dict):
        raise TemplateError(f"{path}: expected an object of platform → app id → secrets")
    return credentials


def _is_exists(error: ClientError, *codes: str) -> bool:
    return error.response.get("Error", {}).get("Code") in codes


def _reject_unknown(logical_id: str, properties: Mapping[str, Any], supported: set[str]) -> None:
    unknown = set(properties) - supported
    if unknown:
        raise TemplateError(f"{logical_id}: local.resources cannot create {sorted(unknown)} yet")


# --------------------------------------------------------------------------- tables

_TABLE_PROPERTIES = {
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "PointInTimeRecoverySpecification",
    "SSESpecification",
    "TimeToLiveSpecification",
    "StreamSpecification",
    "DeletionProtectionEnabled",
    "Tags",
}


def _create_table(dynamodb: Any, deployed: Deployed, logical_id: str, properties: Mapping[str, Any]) -> None:
    _reject_unknown(logical_id, properties, _TABLE_PROPERTIES)
    spec = deployed.evaluate(dict(properties))
    name = deployed.names[logical_id]
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": spec["KeySchema"],
        "AttributeDefinitions": spec["AttributeDefinitions"],
        "BillingMode": spec.get("BillingMode", "PROVISIONED"),
    }
    for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "Tags"):
        if spec.get(key):
            request[key] = spec[key]
    if "SSESpecification" in spec:
        sse = spec["SSESpecification"]
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))} | {
            key: sse[key] for key in ("SSEType", "KMSMasterKeyId") if key in sse
        }
    if "StreamSpecification" in spec:
        request["StreamSpecification"] = {"StreamEnabled": True} | spec["StreamSpecification"]
    if "DeletionProtectionEnabled" in spec:
        request["DeletionProtectionEnabled"] = spec["DeletionProtectionEnabled"] in (True, "true")
    try:
        description = dynamodb.create_table(**request)["TableDescription"]
    except ClientError as error:
        if not _is_exists(error, "ResourceInUseException"):
            raise
        # Already there (a second deploy against the same server): keep it as it is.
        deployed.arns[logical_id] = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
        return
    deployed.arns[logical_id] = description["TableArn"]
    ttl = spec.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled") in (True, "true"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    pitr = spec.get("PointInTimeRecoverySpecification") or {}
    if pitr.get("PointInTimeRecoveryEnabled") in (True, "true"):
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


# --------------------------------------------------------------------------- queues

_QUEUE_ATTRIBUTES = {
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
}
#: Set once every queue exists: they name other queues' ARNs.
_QUEUE_LINKS = ("RedrivePolicy", "RedriveAllowPolicy")


def _create_queues(sqs: Any, deployed: Deployed) -> None:
    for logical_id, properties in deployed.model.queues.items():
        _reject_unknown(logical_id, properties, _QUEUE_ATTRIBUTES | set(_QUEUE_LINKS) | {"QueueName", "Tags"})
        attributes = {
            key: _attribute(deployed.evaluate(value))
            for key, value in properties.items()
            if key in _QUEUE_ATTRIBUTES
        }
        request: dict[str, Any] = {"QueueName": deployed.names[logical_id], "Attributes": attributes}
        if properties.get("Tags"):
            request["tags"] = {tag["Key"]: tag["Value"] for tag in deployed.evaluate(properties["Tags"])}
        url = sqs.create_queue(**request)["QueueUrl"]
        deployed.queue_urls[logical_id] = url
        deployed.arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    for logical_id, properties in deployed.model.queues.items():
        links = {
            key: json.dumps(_numbers(deployed.evaluate(properties[key])))
            for key in _QUEUE_LINKS
            if key in properties
        }
        if links:
            sqs.set_queue_attributes(QueueUrl=deployed.queue_urls[logical_id], Attributes=links)


# --------------------------------------------------------------------------- topics

_TOPIC_ATTRIBUTES = {"DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication"}
_SUBSCRIPTION_ATTRIBUTES = {"RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy"}


def _create_topics(sns: Any, deployed: Deployed) -> None:
    """Every topic, and every subscription of a queue to a topic (the fan-out the functions rely on).

    Subscriptions of other protocols (the operators' alarm e-mail) reach people, not functions,
    and are left out locally.
    """
    for logical_id, resource in deployed.model.resources.items():
        if resource.get("Type") != TOPIC_TYPE or not _in_stack(deployed, resource):
            continue
        properties = resource.get("Properties") or {}
        _reject_unknown(logical_id, properties, _TOPIC_ATTRIBUTES | {"TopicName", "Tags"})
        attributes = {
            key: _attribute(deployed.evaluate(value))
            for key, value in properties.items()
            if key in _TOPIC_ATTRIBUTES
        }
        arn = sns.create_topic(Name=deployed.names[logical_id], Attributes=attributes)["TopicArn"]
        deployed.arns[logical_id] = arn
    for logical_id, resource in deployed.model.resources.items():
        if resource.get("Type") != SUBSCRIPTION_TYPE or not _in_stack(deployed, resource):
            continue
        properties = resource.get("Properties") or {}
        if deployed.evaluate(properties.get("Protocol")) != "sqs":
            continue
        _reject_unknown(
            logical_id, properties, _SUBSCRIPTION_ATTRIBUTES | {"TopicArn", "Protocol", "Endpoint", "Region"}
        )
        attributes = {}
        for key in _SUBSCRIPTION_ATTRIBUTES & set(properties):
            value = deployed.evaluate(properties[key])
            attributes[key] = json.dumps(value) if isinstance(value, dict) else _attribute(value)
        sns.subscribe(
            TopicArn=deployed.evaluate(properties["TopicArn"]),
            Protocol="sqs",
            Endpoint=deployed.evaluate(properties["Endpoint"]),
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )


def _in_stack(deployed: Deployed, resource: Mapping[str, Any]) -> bool:
    """False for a resource whose ``Condition`` is false (it would not be created)."""
    condition = resource.get("Condition")
    return condition is None or deployed.condition(condition)


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _numbers(policy: Any) -> Any:
    """maxReceiveCount arrives as a parameter string; SQS documents it as a number."""
    if isinstance(policy, dict) and isinstance(policy.get("maxReceiveCount"), str):
        return policy | {"maxReceiveCount": int(policy["maxReceiveCount"])}
    return policy


# --------------------------------------------------------------------------- buckets

_BUCKET_PROPERTIES = {
    "BucketName",
    "BucketEncryption",
    "PublicAccessBlockConfiguration",
    "OwnershipControls",
    "VersioningConfiguration",
    "LifecycleConfiguration",
    "ObjectLockEnabled",
    "ObjectLockConfiguration",
    "Tags",
}


def _create_bucket(s3: Any, deployed: Deployed, logical_id: str, properties: Mapping[str, Any]) -> None:
    _reject_unknown(logical_id, properties, _BUCKET_PROPERTIES)
    spec = deployed.evaluate(dict(properties))
    bucket = deployed.names[logical_id]
    request: dict[str, Any] = {"Bucket": bucket}
    if spec.get("ObjectLockEnabled") in (True, "true"):
        # Only at creation: a bucket cannot be given Object Lock afterwards.
        request["ObjectLockEnabledForBucket"] = True
    if deployed.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": deployed.region}
    try:
        s3.create_bucket(**request)
    except ClientError as error:
        if not _is_exists(error, "BucketAlreadyOwnedByYou"):
            raise
    if "BucketEncryption" in spec:
        rules = [
            _encryption_rule(rule) for rule in spec["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in spec:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=spec["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in spec:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=spec["OwnershipControls"])
    if "VersioningConfiguration" in spec:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=spec["VersioningConfiguration"])
    if "LifecycleConfiguration" in spec:
        rules = [_lifecycle_rule(logical_id, rule) for rule in spec["LifecycleConfiguration"]["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    if "ObjectLockConfiguration" in spec:
        s3.put_object_lock_configuration(
            Bucket=bucket, ObjectLockConfiguration=_object_lock(spec["ObjectLockConfiguration"])
        )
    if spec.get("Tags"):
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": spec["Tags"]})
    for resource in deployed.model.resources.values():
        policy_properties = resource.get("Properties") or {}
        if resource.get("Type") != BUCKET_POLICY_TYPE or policy_properties.get("Bucket") != {
            "Ref": logical_id
        }:
            continue
        document = deployed.evaluate(policy_properties["PolicyDocument"])
        # moto evaluates bucket policies without any request context, so it would apply a
        # conditional statement (e.g. "deny unless aws:SecureTransport") to every request.
        statements = [statement for statement in document["Statement"] if "Condition" not in statement]
        if statements:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document | {"Statement": statements}))


def _object_lock(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation Object Lock configuration in the S3 API's shape (retention as numbers)."""
    api: dict[str, Any] = {"ObjectLockEnabled": configuration.get("ObjectLockEnabled", "Enabled")}
    retention = (configuration.get("Rule") or {}).get("DefaultRetention")
    if retention:
        api["Rule"] = {
            "DefaultRetention": {"Mode": retention["Mode"]}
            | {unit: int(retention[unit]) for unit in ("Days", "Years") if unit in retention}
        }
    return api


def _encryption_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation encryption rule in the S3 API's shape (the default's key is renamed)."""
    api: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
    if "BucketKeyEnabled" in rule:
        api["BucketKeyEnabled"] = rule["BucketKeyEnabled"] in (True, "true")
    return api


_LIFECYCLE_KEYS = {
    "Id",
    "Status",
    "Prefix",
    "ExpirationInDays",
    "Transitions",
    "NoncurrentVersionExpiration",
    "NoncurrentVersionTransitions",
    "AbortIncompleteMultipartUpload",
}


def _lifecycle_rule(logical_id: str, rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    _reject_unknown(f"{logical_id} lifecycle rule {rule.get('Id')!r}", rule, _LIFECYCLE_KEYS)
    api: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "Transitions" in rule:
        api["Transitions"] = [
            {"Days": int(step["TransitionInDays"]), "StorageClass": step["StorageClass"]}
            for step in rule["Transitions"]
        ]
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            key: int(value) for key, value in rule["NoncurrentVersionExpiration"].items()
        }
    if "NoncurrentVersionTransitions" in rule:
        api["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": int(step["TransitionInDays"]), "StorageClass": step["StorageClass"]}
            for step in rule["NoncurrentVersionTransitions"]
        ]
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return api


# --------------------------------------------------------------------------- secrets


def _create_secret(
    secrets_manager: Any,
    deployed: Deployed,
    logical_id: str,
    properties: Mapping[str, Any],
    credentials: Mapping[str, Any] | None,
) -> None:
    _reject_unknown(
        logical_id, properties, {"Name", "Description", "SecretString", "GenerateSecretString", "Tags"}
    )
    name = deployed.names[logical_id]
    # ``<stack>/platforms/<platform>``: the last segment names the credentials.json section.
    platform = name.rsplit("/", 1)[-1]
    if credentials is not None and platform in credentials:
        secret_string = json.dumps(credentials[platform], sort_keys=True)
    elif "GenerateSecretString" in properties:
        secret_string = _generated_secret(
            secrets_manager, deployed.evaluate(properties["GenerateSecretString"])
        )
    else:
        secret_string = deployed.resolve(properties.get("SecretString", "{}"))
    try:
        created = secrets_manager.create_secret(
            Name=name,
            SecretString=secret_string,
            Description=deployed.resolve(properties.get("Description", "")),
        )
        deployed.arns[logical_id] = created["ARN"]
    except ClientError as error:
        if not _is_exists(error, "ResourceExistsException"):
            raise
        deployed.arns[logical_id] = secrets_manager.put_secret_value(
            SecretId=name, SecretString=secret_string
        )["ARN"]


_GENERATE_OPTIONS = {
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
}


def _generated_secret(secrets_manager: Any, spec: Mapping[str, Any]) -> str:
    """What ``GenerateSecretString`` stores: a random password, alone or inside the template's JSON."""
    _reject_unknown(
        "GenerateSecretString", spec, _GENERATE_OPTIONS | {"SecretStringTemplate", "GenerateStringKey"}
    )
    options = {
        key: int(value)
        if key == "PasswordLength"
        else (value in (True, "true") if key != "ExcludeCharacters" else value)
        for key, value in spec.items()
        if key in _GENERATE_OPTIONS
    }
    password = str(secrets_manager.get_random_password(**options)["RandomPassword"])
    if "SecretStringTemplate" not in spec:
        return password
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document, sort_keys=True)
