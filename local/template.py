"""template.yaml as a model: the one description of the stack that the local stack and the tests read.

:class:`AppModel` loads the SAM template (CloudFormation short tags such as ``!Ref`` and ``!Sub``
become their long forms, ``{"Ref": ...}`` and ``{"Fn::Sub": ...}``) and exposes what the local
stack needs: the tables, queues, buckets and secrets to create, the functions with their merged
``Globals``, and the wiring of HTTP routes, SQS event sources and schedules to functions. Values are
kept unresolved; :meth:`local.resources.Deployed.resolve` turns them into local strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FUNCTION_TYPE = "AWS::Serverless::Function"
TABLE_TYPE = "AWS::DynamoDB::Table"
QUEUE_TYPE = "AWS::SQS::Queue"
BUCKET_TYPE = "AWS::S3::Bucket"
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type, not a secret
HTTP_API_TYPE = "AWS::Serverless::HttpApi"

#: Lambda's defaults when neither the function nor Globals set them.
DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128
#: Lambda's default batch size for an SQS event source.
DEFAULT_SQS_BATCH_SIZE = 10

#: Authorizer values that mean "no authorisation" on an HttpApi route.
_NO_AUTH = {None, "NONE"}


class TemplateError(ValueError):
    """template.yaml says something this model cannot represent (or is not a SAM template)."""


# --------------------------------------------------------------------------- YAML with CFN tags


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that reads CloudFormation short-form tags as their long forms."""


def _construct_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = (
        "Ref" if tag_suffix == "Ref" else ("Condition" if tag_suffix == "Condition" else f"Fn::{tag_suffix}")
    )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            # ``!GetAtt Resource.Attribute.Maybe.Dotted``: the resource id never holds a dot.
            resource, _, attribute = str(value).partition(".")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported node for !{tag_suffix}")
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    """The template as plain data, short-form tags expanded.

    Parameters
    ----------
    path:
        A SAM or CloudFormation template in YAML (or JSON, which YAML reads too).

    Raises
    ------
    TemplateError
        When the file is not a mapping with a ``Resources`` section.
    """
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path} is not a template: no Resources section")
    return data


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function`` with ``Globals.Function`` applied.

    ``environment`` is the merge of the Globals variables and the function's own (the function
    wins), with values left unresolved (``{"Ref": "OrdersTable"}``...).
    """

    logical_id: str
    module: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteSpec:
    """One HTTP API route: ``auth`` is ``"AWS_IAM"`` (or another authorizer name) or None."""

    method: str
    path: str
    function_id: str
    auth: str | None


@dataclass(frozen=True)
class QueueSourceSpec:
    """One SQS event source mapping."""

    function_id: str
    queue_id: str
    batch_size: int
    report_batch_item_failures: bool
    maximum_batching_window_s: int


@dataclass(frozen=True)
class ScheduleSpec:
    """One ``Schedule`` (EventBridge rule) or ``ScheduleV2`` (EventBridge Scheduler) event."""

    function_id: str
    expression: str
    input: str | None
    timezone: str | None
    event_type: str = "ScheduleV2"  # "Schedule" (EventBridge rule) or "ScheduleV2" (EventBridge Scheduler)
    event_id: str = ""  # the event's key under the function's Events


@dataclass(frozen=True)
class AppModel:
    """What template.yaml declares, in the shape the local stack uses.

    Parameters
    ----------
    resources:
        Every resource as written (logical id → ``{"Type", "Properties", ...}``).
    tables, queues, buckets, secrets:
        Logical id → CloudFormation ``Properties`` of each such resource.
    functions:
        Logical id → :class:`FunctionSpec`.
    routes, queue_sources, schedules:
        The functions' events, in template order.
    parameters:
        Parameter name → its ``Default`` (None when it has none).
    conditions:
        Condition name → its unevaluated expression.

    Examples
    --------
    >>> model = AppModel.load("template.yaml")
    >>> model.functions["WebhookIntakeFunction"].module
    'functions.webhook_intake.app'
    """

    resources: dict[str, dict[str, Any]]
    tables: dict[str, dict[str, Any]]
    queues: dict[str, dict[str, Any]]
    buckets: dict[str, dict[str, Any]]
    secrets: dict[str, dict[str, Any]]
    functions: dict[str, FunctionSpec]
    routes: list[RouteSpec]
    queue_sources: list[QueueSourceSpec]
    schedules: list[ScheduleSpec]
    parameters: dict[str, Any]
    conditions: dict[str, Any] = field(default_factory=dict)
    globals_function: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path = "template.yaml") -> AppModel:
        """Read and model a SAM template.

        Raises
        ------
        TemplateError
            When a function's code location or handler, or an event's target, cannot be read.
        """
        return cls.from_template(load_template(path))

    @classmethod
    def from_template(cls, template: Mapping[str, Any]) -> AppModel:
        """Model an already loaded template (see :func:`load_template`)."""
        resources: dict[str, dict[str, Any]] = dict(template["Resources"])
        globals_function = dict((template.get("Globals") or {}).get("Function") or {})

        def properties_of(kind: str) -> dict[str, dict[str, Any]]:
            return {
                logical_id: dict(resource.get("Properties") or {})
                for logical_id, resource in resources.items()
                if resource.get("Type") == kind
            }

        functions: dict[str, FunctionSpec] = {}
        routes: list[RouteSpec] = []
        queue_sources: list[QueueSourceSpec] = []
        schedules: list[ScheduleSpec] = []
        for logical_id, properties in properties_of(FUNCTION_TYPE).items():
            functions[logical_id] = _function_spec(logical_id, properties, globals_function)
            for event_id, event in (properties.get("Events") or {}).items():
                where = f"{logical_id}.Events.{event_id}"
                event_type = event.get("Type")
                event_properties = event.get("Properties") or {}
                if event_type in ("HttpApi", "Api"):
                    routes.append(_route(logical_id, event_type, event_properties, resources, where))
                elif event_type == "SQS":
                    queue_sources.append(_queue_source(logical_id, event_properties, where))
                elif event_type in ("Schedule", "ScheduleV2"):
                    schedules.append(_schedule(logical_id, event_id, event_type, event_properties, where))

        parameters = {
            name: (spec or {}).get("Default") for name, spec in (template.get("Parameters") or {}).items()
        }
        return cls(
            resources=resources,
            tables=properties_of(TABLE_TYPE),
            queues=properties_of(QUEUE_TYPE),
            buckets=properties_of(BUCKET_TYPE),
            secrets=properties_of(SECRET_TYPE),
            functions=functions,
            routes=routes,
            queue_sources=queue_sources,
            schedules=schedules,
            parameters=parameters,
            conditions=dict(template.get("Conditions") or {}),
            globals_function=globals_function,
        )

    def resource_type(self, logical_id: str) -> str | None:
        """The ``Type`` of a resource, or None when the template has no such resource."""
        resource = self.resources.get(logical_id)
        return None if resource is None else str(resource.get("Type"))


# --------------------------------------------------------------------------- helpers


def _function_spec(
    logical_id: str, properties: Mapping[str, Any], globals_: Mapping[str, Any]
) -> FunctionSpec:
    code_uri = properties.get("CodeUri", globals_.get("CodeUri"))
    handler = properties.get("Handler", globals_.get("Handler"))
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id}: CodeUri and Handler (module.function) must be plain strings")
    handler_module, _, handler_name = handler.rpartition(".")
    package = ".".join(part for part in code_uri.strip("/").split("/") if part and part != ".")
    module = f"{package}.{handler_module}" if package else handler_module

    environment: dict[str, Any] = {}
    for source in (globals_, properties):
        environment.update(((source.get("Environment") or {}).get("Variables")) or {})
    return FunctionSpec(
        logical_id=logical_id,
        module=module,
        handler=handler_name,
        timeout=_int(properties.get("Timeout", globals_.get("Timeout", DEFAULT_TIMEOUT_S)), logical_id),
        memory=_int(properties.get("MemorySize", globals_.get("MemorySize", DEFAULT_MEMORY_MB)), logical_id),
        environment=environment,
    )


def _route(
    function_id: str,
    event_type: str,
    properties: Mapping[str, Any],
    resources: Mapping[str, Mapping[str, Any]],
    where: str,
) -> RouteSpec:
    method = str(properties.get("Method", "ANY")).upper()
    path = properties.get("Path")
    if not isinstance(path, str):
        raise TemplateError(f"{where}: Path must be a plain string")
    api_key = "ApiId" if event_type == "HttpApi" else "RestApiId"
    api_id = _ref_target(properties.get(api_key))
    api_auth = ((resources.get(api_id) or {}).get("Properties") or {}).get("Auth") or {} if api_id else {}
    authorizer = (properties.get("Auth") or {}).get("Authorizer", api_auth.get("DefaultAuthorizer"))
    return RouteSpec(
        method=method,
        path=path,
        function_id=function_id,
        auth=None if authorizer in _NO_AUTH else str(authorizer),
    )


def _queue_source(function_id: str, properties: Mapping[str, Any], where: str) -> QueueSourceSpec:
    queue_id = _ref_target(properties.get("Queue"))
    if queue_id is None:
        raise TemplateError(f"{where}: Queue must be !GetAtt <queue>.Arn or !Ref of a queue in this template")
    return QueueSourceSpec(
        function_id=function_id,
        queue_id=queue_id,
        batch_size=_int(properties.get("BatchSize", DEFAULT_SQS_BATCH_SIZE), where),
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        maximum_batching_window_s=_int(properties.get("MaximumBatchingWindowInSeconds", 0), where),
    )


def _schedule(
    function_id: str, event_id: str, event_type: str, properties: Mapping[str, Any], where: str
) -> ScheduleSpec:
    key = "Schedule" if event_type == "Schedule" else "ScheduleExpression"
    expression = properties.get(key)
    if not isinstance(expression, str):
        raise TemplateError(f"{where}: {key} must be a plain string")
    event_input = properties.get("Input")
    timezone = properties.get("ScheduleExpressionTimezone") if event_type == "ScheduleV2" else None
    return ScheduleSpec(
        function_id=function_id,
        expression=expression,
        input=None if event_input is None else str(event_input),
        timezone=None if timezone is None else str(timezone),
        event_type=event_type,
        event_id=event_id,
    )


def _ref_target(value: Any) -> str | None:
    """The logical id a ``!Ref X`` or ``!GetAtt X.Attr`` points at; None for anything else."""
    if isinstance(value, Mapping):
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        get_att = value.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att:
            return str(get_att[0])
    return None


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TemplateError(f"{where}: expected a plain number, got {value!r}")
    try:
        return int(value)
    except ValueError as error:
        raise TemplateError(f"{where}: expected a plain number, got {value!r}") from error
