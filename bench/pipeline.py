"""Drive the scenario through the real handlers, in-process: once against moto (counting and
recording every AWS and platform call), then again with the calls stubbed (timing CPU).

:func:`record` deploys template.yaml into moto (``local.resources.deploy``), answers platform
order APIs from the simulator in-process, and plays Lambda's part: each push is an HTTP API event
for ``webhook_intake``; the intake queue is drained like an SQS event source mapping (receive up
to the batch size, invoke ``payload_sanitizer``, delete what succeeded). It returns what was
counted (item 2) and a recording of every response.

:func:`replay` runs the same invocations again with botocore's ``Stubber`` answering every AWS
call from the recording and a :class:`~bench.recorder.ReplayTransport` answering the platform
APIs, so the CPU time it measures (``time.thread_time``) is the project's own code plus
botocore's request building, with no AWS or platform I/O (item 3).
"""

from __future__ import annotations

import copy
import gc
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore import xform_name
from botocore.stub import ANY, Stubber
from moto import mock_aws

from bench.dynamodb_units import TableSchema, stored_bytes
from bench.recorder import (
    SQS_CHUNK_BYTES,
    AwsRecorder,
    FunctionCalls,
    OutputCapture,
    RecordedCall,
    ReplayTransport,
    SimulatorTransport,
)
from bench.workload import Workload
from local.resources import deploy
from local.simulator import PlatformSimulator, load_credentials
from local.template import AppModel
from oms.domain.ids import unified_order_id
from oms.platforms.base import HttpResponse

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
CREDENTIALS = ROOT / "local" / "credentials.json"
INTAKE, SANITIZER = "webhook_intake", "payload_sanitizer"
FUNCTION_IDS = {INTAKE: "WebhookIntakeFunction", SANITIZER: "PayloadSanitizerFunction"}
#: The services the composition root builds clients for.
SERVICES = ("sqs", "secretsmanager", "dynamodb", "s3", "sns")
#: Where platform clients are pointed; nothing connects (the transport answers in-process).
SIMULATED_BASE_URLS = {
    "douyin": "http://127.0.0.1:9/douyin",
    "shopify": "http://127.0.0.1:9/shopify/{shop}",
    "wechat_channels": "http://127.0.0.1:9/wechat_channels",
}
#: A Lambda trace header, so log lines carry the xray_trace_id they carry in Lambda.
TRACE_HEADER = "Root=1-6734a1b2-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1"
FINAL_STATUS = "completed"

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    # Tracing stays off (the X-Ray SDK needs the Lambda runtime); metrics stay on: their EMF
    # lines are log bytes and custom metrics on the bill.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "_X_AMZN_TRACE_ID": TRACE_HEADER,
}
#: Applied over the template's values: one secret fetch per platform and one cleaning-rule read for
#: the whole run, so a replay makes the same calls as the recording whatever the wall-clock time.
#: The cost model prices the refreshes at the template's own settings.
WALL_CLOCK_FREE_ENV = {
    "SECRETS_MAX_AGE_SECONDS": "86400",
    "RULES_CACHE_SECONDS": "86400",
}


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: float
    aws_request_id: str = "bench-request"
    function_version: str = "$LATEST"
    deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    physical_name: str
    memory_mb: int
    timeout_s: int


@dataclass
class Recording:
    """One run of the scenario against moto: what it counted, and how to replay it."""

    profile: str
    batch_size: int
    orders: int
    env: dict[str, str]
    functions: dict[str, FunctionSpec]
    invocations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: What each invocation answered (:func:`_outcome`); a replay must answer the same.
    answers: list[str] = field(default_factory=list)
    responses: dict[str, list[RecordedCall]] = field(default_factory=dict)
    platform_replies: list[tuple[str, str, HttpResponse]] = field(default_factory=list)
    calls: dict[str, FunctionCalls] = field(default_factory=dict)
    output_lines: dict[str, list[str]] = field(default_factory=dict)
    webhooks: int = 0
    messages: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    failed_messages: int = 0
    rejected_webhooks: int = 0
    esm_receive_requests: int = 0
    esm_delete_requests: int = 0
    platform_calls: Counter[str] = field(default_factory=Counter)
    reply_bytes: list[int] = field(default_factory=list)
    stored_bytes: dict[str, int] = field(default_factory=dict)
    wrong_final_status: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def sanitizer_invocations(self) -> int:
        return len(self.batch_sizes)


@contextmanager
def patched_env(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _handlers() -> dict[str, Callable[[dict[str, Any], Any], Any]]:
    # Imported late: the modules' Logger and Tracer read the environment set by the caller.
    from functions.payload_sanitizer import app as sanitizer_app
    from functions.webhook_intake import app as intake_app

    return {INTAKE: intake_app.handler, SANITIZER: sanitizer_app.handler}


def _sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The SQS event Lambda's event source mapping builds from a ReceiveMessage result."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "dataType": value.get("DataType", "String"),
                        "stringListValues": [],
                        "binaryListValues": [],
                    }
                    for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


def _received_bytes(messages: list[dict[str, Any]]) -> int:
    size = 0
    for message in messages:
        size += len(message["Body"].encode("utf-8"))
        for name, value in message.get("MessageAttributes", {}).items():
            size += len(name) + len(value.get("DataType", "")) + len(value.get("StringValue", "").encode())
    return size


def _composition() -> Any:
    from oms import composition

    return composition


def _http_adapters() -> Any:
    # The composition root builds its platform transport from this module at call time.
    from oms.adapters import http

    return http


def _aws_client(service: str) -> Any:
    from oms.adapters.aws import client

    return client(service)


class _Run:
    """Plays Lambda's part for one recording: invokes the handlers, drains the queue like an
    event source mapping, and retires finished orders."""

    def __init__(
        self,
        recording: Recording,
        recorder: AwsRecorder,
        capture: OutputCapture,
        *,
        queue: Any,
        queue_url: str,
        queue_arn: str,
    ) -> None:
        self.recording = recording
        self.recorder = recorder
        self.capture = capture
        self.handlers = _handlers()
        self.queue, self.queue_url, self.queue_arn = queue, queue_url, queue_arn

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        self.recording.invocations.append((function, copy.deepcopy(event)))
        spec = self.recording.functions[function]
        context = LambdaContext(spec.physical_name, spec.memory_mb, spec.timeout_s)
        self.capture.function = function
        with self.recorder.attributed_to(function):
            try:
                result = self.handlers[function](event, context)
            except BatchProcessingError:
                self.recording.answers.append(_outcome(None))
                raise
        self.recording.answers.append(_outcome(result))
        return result

    def push(self, event: dict[str, Any]) -> None:
        reply = self.invoke(INTAKE, event)
        self.recording.webhooks += 1
        self.recording.reply_bytes.append(len(str(reply.get("body") or "").encode("utf-8")))
        if reply["statusCode"] != 200:
            self.recording.rejected_webhooks += 1

    def drain(self) -> None:
        """Receive up to the batch size, invoke the sanitizer, delete what succeeded; until empty."""
        recording = self.recording
        while True:
            received = self.queue.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=recording.batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages: list[dict[str, Any]] = [dict(message) for message in received]
            if not messages:
                return
            recording.esm_receive_requests += max(1, -(-_received_bytes(messages) // SQS_CHUNK_BYTES))
            recording.batch_sizes.append(len(messages))
            recording.messages += len(messages)
            try:
                result = self.invoke(SANITIZER, _sqs_event(messages, self.queue_arn))
                failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
            except BatchProcessingError:
                # Powertools raises when every record of the batch failed.
                failed = {message["MessageId"] for message in messages}
            recording.failed_messages += len(failed)
            done = [message for message in messages if message["MessageId"] not in failed]
            if done:
                self.queue.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(done)
                    ],
                )
                recording.esm_delete_requests += 1

    def play(self, workload: Workload, simulator: PlatformSimulator, finished: _FinishedOrders) -> None:
        retired = 0
        for window, cohort in zip(workload.windows, workload.window_cohorts, strict=True):
            for push in window:
                if push.truth is not None:
                    simulator.put_order(push.truth.platform, push.truth.shop_id, push.truth.order)
                self.push(dict(push.event))
                if self.recording.batch_size == 1:
                    self.drain()
            self.drain()
            # A cohort is done once the window after its last one (which holds its resent
            # pushes) is processed: check it, weigh it, take it out of the table.
            while retired < min(cohort, len(workload.cohorts)):
                finished.finalize(workload.cohorts[retired])
                retired += 1
        while retired < len(workload.cohorts):
            finished.finalize(workload.cohorts[retired])
            retired += 1


def _outcome(result: Any) -> str:
    """What an invocation answered, reduced to what must not change between record and replay."""
    if result is None:
        return "all records failed"
    if "statusCode" in result:
        return f"HTTP {result['statusCode']}"
    return f"{len(result.get('batchItemFailures', []))} failed"


def _deployment(model: AppModel) -> tuple[Any, dict[str, str], dict[str, FunctionSpec]]:
    """Deploy the template into moto; the functions' environment and specs."""
    deployed = deploy(model, credentials_file=CREDENTIALS)
    env = dict(BASE_ENV)
    for function_id in FUNCTION_IDS.values():
        env |= deployed.function_env(function_id)
    env["PLATFORM_BASE_URLS"] = json.dumps(SIMULATED_BASE_URLS)
    env |= WALL_CLOCK_FREE_ENV
    functions = {
        name: FunctionSpec(
            name=name,
            physical_name=deployed.names.get(function_id, name),
            memory_mb=model.functions[function_id].memory,
            timeout_s=model.functions[function_id].timeout,
        )
        for name, function_id in FUNCTION_IDS.items()
    }
    return deployed, env, functions


def record(workload: Workload, *, batch_size: int, profile: str) -> Recording:
    """Run ``workload`` through the handlers against moto, counting and recording every call.

    Parameters
    ----------
    workload:
        The scenario (:func:`bench.workload.build_workload`).
    batch_size:
        The event source mapping's batch size. With 1 the queue is drained after every push (a
        trickle of orders: FIFO queues take no batching window, so a quiet queue yields batches of
        one); otherwise after every window of pushes (a burst: full batches).
    profile:
        The name the results are filed under.
    """
    started = time.perf_counter()
    model = AppModel.load(TEMPLATE)
    composition = _composition()
    with patched_env(BASE_ENV), mock_aws():
        deployed, env, functions = _deployment(model)
        recording = Recording(
            profile=profile, batch_size=batch_size, orders=len(workload.orders), env=env, functions=functions
        )
        with patched_env(env):
            composition.reset()
            session = boto3.session.Session()
            reader = session.client("dynamodb")
            recorder = AwsRecorder(reader)
            for service in SERVICES:
                recorder.instrument(_aws_client(service))
            simulator = PlatformSimulator(load_credentials(CREDENTIALS))
            transport = SimulatorTransport(simulator)
            capture = OutputCapture()
            run = _Run(
                recording,
                recorder,
                capture,
                queue=session.client("sqs"),
                queue_url=deployed.queue_urls["IntakeQueue"],
                queue_arn=deployed.arns["IntakeQueue"],
            )
            finished = _FinishedOrders(reader, deployed.names["OrdersTable"], recorder)
            with (
                mock.patch.object(_http_adapters(), "Urllib3Transport", return_value=transport),
                capture.installed(os.environ["POWERTOOLS_SERVICE_NAME"]),
            ):
                run.play(workload, simulator, finished)
            recording.responses = dict(recorder.responses)
            recording.platform_replies = transport.replies
            recording.calls = dict(recorder.by_function)
            recording.platform_calls = Counter(simulator.calls)
            for function, output in capture.by_function.items():
                recording.output_lines[function] = output.lines
                for line in output.records():
                    if line.get("message") == "message processed":
                        recording.outcomes[str(line.get("outcome"))] += 1
            recording.stored_bytes = _stored_bytes(reader, deployed.names, recorder)
            recording.stored_bytes["OrdersTable"] += finished.stored_bytes
            recording.wrong_final_status = finished.wrong_final_status
            composition.reset()
    recording.elapsed_s = time.perf_counter() - started
    return recording


def _scan(reader: Any, table: str) -> list[Any]:
    items: list[Any] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = reader.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _stored_bytes(reader: Any, names: Mapping[str, str], recorder: AwsRecorder) -> dict[str, int]:
    """Billable bytes each table holds at the end of the run (items and index entries)."""
    return {
        logical_id: stored_bytes(recorder.schema(names[logical_id]), _scan(reader, names[logical_id]))
        for logical_id in ("OrdersTable", "OpsTable", "IdempotencyTable")
    }


class _FinishedOrders:
    """Checks, weighs and removes orders whose every event has been processed.

    moto copies a whole table for each action of a transaction, so a table holding every order of
    the scenario would make the run quadratic; removing finished orders keeps it to two cohorts.
    The removal goes through an uninstrumented client: it is not part of what is measured.
    """

    def __init__(self, reader: Any, table: str, recorder: AwsRecorder) -> None:
        self._reader = reader
        self._recorder = recorder
        self._table = table
        self._schema: TableSchema = recorder.schema(table)
        self.stored_bytes = 0
        self.wrong_final_status: list[str] = []

    def finalize(self, order_keys: list[str]) -> None:
        for key in order_keys:
            platform, shop_id, order_id = key.split(":", 2)
            partitions = (
                f"ORDER#{unified_order_id(platform, shop_id, order_id)}",
                f"PORDER#{order_id}",
            )
            items = []
            for partition in partitions:
                items += self._reader.query(
                    TableName=self._table,
                    KeyConditionExpression="PK = :pk",
                    ExpressionAttributeValues={":pk": {"S": partition}},
                    ConsistentRead=True,
                )["Items"]
            header = next((item for item in items if item["SK"]["S"] == "#ORDER"), None)
            if header is None or header.get("status", {}).get("S") != FINAL_STATUS:
                self.wrong_final_status.append(key)
            self.stored_bytes += stored_bytes(self._schema, items)
            for item in items:
                item_key = self._schema.key_of(item)
                self._reader.delete_item(TableName=self._table, Key=item_key)
                self._recorder.forget(self._table, item_key)


# ------------------------------------------------------------------------------------- replay


class ReplayDivergedError(RuntimeError):
    """The replay made other calls, or got other answers, than the recording (e.g. the code changed)."""


@dataclass
class ReplayRun:
    """CPU seconds per invocation of one replay, per function."""

    cpu_s: dict[str, list[float]]


#: Runs one invocation (``call``) of ``function`` and measures it however the caller wants.
Measure = Callable[[str, Callable[[], Any]], None]


def _stub(client: Any, calls: list[RecordedCall]) -> Stubber:
    stubber = Stubber(client)
    service_model = client.meta.service_model
    for call in calls:
        method = xform_name(call.operation)
        # What identifies the target (table and key, bucket, queue, secret) must match; the rest
        # (trace ids, timestamps) legitimately differs between runs.
        expected = {name: ANY for name in call.param_names} | dict(call.identity)
        if call.status < 300:
            stubber.add_response(method, copy.deepcopy(dict(call.parsed)), expected_params=expected)
            continue
        error = dict(call.parsed.get("Error", {}))
        code = str(error.pop("Code", ""))
        message = str(error.pop("Message", ""))
        shape = service_model.shape_for_error_code(code)
        members = set(shape.members) if shape is not None else set()
        modeled = {key: value for key, value in call.parsed.items() if key in members}
        stubber.add_client_error(
            method,
            service_error_code=code,
            service_message=message,
            http_status_code=call.status,
            modeled_fields=copy.deepcopy(modeled) or None,
        )
    return stubber


def _replay_once(recording: Recording, handlers: Mapping[str, Callable[..., Any]], measure: Measure) -> None:
    """Play every recorded invocation once against fresh, stubbed clients."""
    composition = _composition()
    composition.reset()
    stubbers = []
    for service in SERVICES:
        stubber = _stub(_aws_client(service), recording.responses.get(service, []))
        stubber.activate()
        stubbers.append(stubber)
    transport = ReplayTransport(recording.platform_replies)
    # What the handlers print is kept for the last invocation only: it explains a divergence.
    capture = OutputCapture()
    with (
        mock.patch.object(_http_adapters(), "Urllib3Transport", return_value=transport),
        capture.installed(os.environ["POWERTOOLS_SERVICE_NAME"]),
    ):
        # Built before any measurement: the composition is per container, not per invocation.
        composition.webhook_intake()
        composition.payload_sanitizer()
        for index, (function, event) in enumerate(recording.invocations):
            spec = recording.functions[function]
            context = LambdaContext(spec.physical_name, spec.memory_mb, spec.timeout_s)
            payload = copy.deepcopy(event)
            handler = handlers[function]

            answers: list[str] = []
            capture.by_function.clear()
            capture.function = function

            def call(
                handler: Callable[..., Any] = handler,
                payload: Any = payload,
                context: Any = context,
                answers: list[str] = answers,
            ) -> None:
                try:
                    result = handler(payload, context)
                except BatchProcessingError as error:
                    result = None
                    capture.write(str(error)[:6000])
                answers.append(_outcome(result))

            measure(function, call)
            # A stubbed call that differs from the recording fails inside the handler, where the
            # batch processor turns it into a failed record: compare what each invocation answered.
            if answers != [recording.answers[index]]:
                recorded = recording.answers[index]
                printed = "\n".join(capture.by_function[function].lines[:80])
                raise ReplayDivergedError(
                    f"invocation {index} ({function}) answered {answers}, recorded {recorded!r}; "
                    f"it printed:\n{printed}"
                )
    for service, stubber in zip(SERVICES, stubbers, strict=True):
        try:
            stubber.assert_no_pending_responses()
        except AssertionError as error:
            raise ReplayDivergedError(f"{service}: {error}") from error
        stubber.deactivate()
    if not transport.exhausted:
        raise ReplayDivergedError("the replay made fewer platform calls than the recording")


def replay(recording: Recording, *, runs: int) -> list[ReplayRun]:
    """Time the recorded invocations ``runs`` times (after one untimed warm-up), AWS and platforms stubbed."""
    results = []
    with patched_env(recording.env), mock_aws():
        handlers = _handlers()
        for run in range(runs + 1):
            cpu: dict[str, list[float]] = {INTAKE: [], SANITIZER: []}

            def timed(function: str, call: Callable[[], Any], cpu: dict[str, list[float]] = cpu) -> None:
                started = time.thread_time_ns()
                call()
                cpu[function].append((time.thread_time_ns() - started) / 1e9)

            # The benchmark holds recordings of thousands of responses; frozen, the collector
            # skips them, as a Lambda container's collector has no such heap to walk.
            gc.collect()
            gc.freeze()
            try:
                _replay_once(recording, handlers, timed)
            finally:
                gc.unfreeze()
            if run:  # run 0 warms imports and caches
                results.append(ReplayRun(cpu_s=cpu))
        _composition().reset()
    return results


def _origin(filename: str) -> str:
    """Who a profiled function belongs to: the project, a distribution, the standard library."""
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/layers/shared/oms/" in path:
        return "oms." + path.split("/layers/shared/oms/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/functions/" in path:
        return "functions (handlers)"
    if path.startswith("~") or path.startswith("<"):
        return "builtins and C code"
    return "python stdlib"


def profile_replay(recording: Recording, *, top: int = 10) -> dict[str, dict[str, float]]:
    """One replay under cProfile: each function's own CPU time by origin, as shares of its total.

    Run it after :func:`replay` in the same process, so imports and caches are already warm.
    """
    import cProfile
    import pstats

    profilers = {INTAKE: cProfile.Profile(), SANITIZER: cProfile.Profile()}
    with patched_env(recording.env), mock_aws():
        handlers = _handlers()

        def profiled(function: str, call: Callable[[], Any]) -> None:
            profilers[function].enable()
            try:
                call()
            finally:
                profilers[function].disable()

        _replay_once(recording, handlers, profiled)
        _composition().reset()
    shares: dict[str, dict[str, float]] = {}
    for function, profiler in profilers.items():
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        by_origin: dict[str, float] = {}
        for (filename, _, _), (_, _, own, _, _) in stats.items():
            origin = _origin(filename)
            by_origin[origin] = by_origin.get(origin, 0.0) + own
        total = sum(by_origin.values()) or 1.0
        ranked = sorted(by_origin.items(), key=lambda entry: -entry[1])[:top]
        shares[function] = {origin: own / total for origin, own in ranked}
    return shares
