"""Instruments for a run: AWS calls (counted and recorded with botocore hooks), platform HTTP
(recorded or replayed), and what the handlers print.

:class:`AwsRecorder` hooks the clients the composition root built (``oms.adapters.aws.client``).
Each call is counted per function and ``"service:Operation"`` on ``before-call`` (once per API
call, whatever the retries), its parsed response is kept for a later replay (``after-call``),
and DynamoDB request units are computed from the items themselves: the state of an item before
a write is read from the table through a separate, uninstrumented client.

:class:`SimulatorTransport` answers platform API requests from the platform simulator in-process
(no socket) and keeps each reply; :class:`ReplayTransport` plays them back in order.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bench.dynamodb_units import (
    CapacityTotals,
    Item,
    TableSchema,
    WriteCost,
    failed_condition_cost,
    item_size,
    put_cost,
    query_read_units,
    read_units,
)
from local.simulator import PlatformSimulator, SimRequest
from oms.platforms.base import HttpResponse

#: Request parameters naming a call's target; a replayed call must name the same.
IDENTITY_PARAMETERS = ("TableName", "Key", "Bucket", "QueueUrl", "SecretId")
#: SQS bills each 64 KB chunk of a request's payload as one request.
SQS_CHUNK_BYTES = 64 * 1024


class UnpricedOperationError(RuntimeError):
    """The workload made a DynamoDB call the recorder has no size-based unit rule for."""


@dataclass(frozen=True)
class RecordedCall:
    """One AWS call as the client saw it: operation, HTTP status and parsed response."""

    service: str
    operation: str
    status: int
    parsed: Mapping[str, Any]
    #: The request's parameter names, and the values that identify its target.
    param_names: tuple[str, ...] = ()
    identity: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class FunctionCalls:
    """What one function did against AWS during a run."""

    calls: Counter[str] = field(default_factory=Counter)
    capacity: CapacityTotals = field(default_factory=CapacityTotals)
    sqs_requests: int = 0
    sqs_payload_bytes: int = 0
    s3_put_bytes: int = 0
    dynamodb_round_trips: int = 0
    #: ``"<table>:<item type>"`` → writes, item bytes, table units, index units (the ``type`` attribute).
    item_types: dict[str, dict[str, float]] = field(default_factory=dict)

    def add_item_write(self, table: str, item: Item | None, cost: WriteCost) -> None:
        kind = str((item or {}).get("type", {}).get("S", "(untyped)"))
        entry = self.item_types.setdefault(
            f"{table}:{kind}", {"writes": 0.0, "bytes": 0.0, "units": 0.0, "index_units": 0.0}
        )
        entry["writes"] += 1
        entry["bytes"] += cost.bytes_written
        entry["units"] += cost.table_units
        entry["index_units"] += cost.index_units


class AwsRecorder:
    """Counts, sizes and records the calls of instrumented boto3 clients.

    Parameters
    ----------
    dynamodb_reader:
        An uninstrumented DynamoDB client on the same backend, used to describe tables and to read
        an item after an UpdateItem (the update expression decides what it holds).

    The recorder keeps its own copy of every item written through the instrumented clients, so
    it knows an item's size before a write without reading it; whatever else deletes items must
    say so (:meth:`forget`).
    """

    def __init__(self, dynamodb_reader: Any) -> None:
        self.function = "unattributed"
        self.by_function: dict[str, FunctionCalls] = defaultdict(FunctionCalls)
        self.responses: dict[str, list[RecordedCall]] = defaultdict(list)
        self._reader = dynamodb_reader
        self._schemas: dict[str, TableSchema] = {}
        self._items: dict[tuple[str, str], Item] = {}
        # Keyed by the request context botocore passes to every hook of one call.
        self._pending: dict[int, tuple[str, dict[str, Any], Any]] = {}
        self._shapes: dict[int, tuple[tuple[str, ...], dict[str, Any]]] = {}

    # --- wiring --------------------------------------------------------------------------

    def instrument(self, client: Any) -> None:
        events = client.meta.events
        # First, as the Stubber registers in a replay: both see the parameters as the caller passed them.
        events.register_first("before-parameter-build", self._before_parameters, unique_id="bench-params")
        events.register("before-call", self._before_call, unique_id="bench-count")
        events.register("after-call", self._after_call, unique_id="bench-record")

    @contextmanager
    def attributed_to(self, function: str) -> Iterator[None]:
        previous, self.function = self.function, function
        try:
            yield
        finally:
            self.function = previous

    # --- hooks ---------------------------------------------------------------------------

    def _before_parameters(self, params: dict[str, Any], model: Any, context: Any, **_: Any) -> None:
        service = model.service_model.service_name
        before: Any = None
        if service == "dynamodb":
            before = self._items_before(model.name, params)
        elif service == "s3" and model.name == "PutObject":
            # Measured now: botocore turns the body into a stream it has read by after-call.
            before = _body_length(params.get("Body", b""))
        self._pending[id(context)] = (model.name, params, before)
        self._shapes[id(context)] = (
            tuple(params),
            {name: copy.deepcopy(params[name]) for name in IDENTITY_PARAMETERS if name in params},
        )

    def _before_call(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        usage = self.by_function[self.function]
        usage.calls[f"{service}:{model.name}"] += 1
        if service == "dynamodb":
            usage.dynamodb_round_trips += 1

    def _after_call(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: Any, **_: Any
    ) -> None:
        service = model.service_model.service_name
        status = int(http_response.status_code)
        names, identity = self._shapes.pop(id(context))
        self.responses[service].append(
            RecordedCall(service, model.name, status, copy.deepcopy(parsed), names, identity)
        )
        operation, params, before = self._pending.pop(id(context))
        usage = self.by_function[self.function]
        if service == "dynamodb":
            self._account_dynamodb(
                usage, operation=operation, params=params, before=before, status=status, parsed=parsed
            )
        elif service == "sqs" and operation in ("SendMessageBatch", "SendMessage"):
            entries = params.get("Entries") or [params]
            payload = sum(_sqs_message_bytes(entry) for entry in entries)
            usage.sqs_payload_bytes += payload
            usage.sqs_requests += max(1, math.ceil(payload / SQS_CHUNK_BYTES))
        elif service == "s3" and operation == "PutObject" and status < 300:
            usage.s3_put_bytes += int(before)

    # --- DynamoDB units ------------------------------------------------------------------

    def schema(self, table: str) -> TableSchema:
        if table not in self._schemas:
            description = self._reader.describe_table(TableName=table)["Table"]
            self._schemas[table] = TableSchema.from_description(description)
        return self._schemas[table]

    def forget(self, table: str, key: Mapping[str, Any]) -> None:
        """An item was deleted behind the instrumented clients' back."""
        self._items.pop((table, _key_text(key)), None)

    def _state(self, table: str, key: Mapping[str, Any]) -> Item | None:
        return self._items.get((table, _key_text(key)))

    def _remember(self, table: str, body: Mapping[str, Any], after: Item | None) -> None:
        slot = (table, _key_text(self._key(table, body)))
        if after is None:
            self._items.pop(slot, None)
        else:
            self._items[slot] = copy.deepcopy(dict(after))

    def _read(self, table: str, key: Mapping[str, Any]) -> Item | None:
        item: Item | None = self._reader.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get(
            "Item"
        )
        return item

    def _key(self, table: str, action: Mapping[str, Any]) -> dict[str, Any]:
        if "Key" in action:
            return dict(action["Key"])
        return self.schema(table).key_of(action["Item"])

    def _items_before(self, operation: str, params: Mapping[str, Any]) -> Any:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            table = params["TableName"]
            return self._state(table, self._key(table, params))
        if operation == "TransactWriteItems":
            befores = []
            for action in params["TransactItems"]:
                ((_, body),) = action.items()
                befores.append(self._state(body["TableName"], self._key(body["TableName"], body)))
            return befores
        return None

    def _account_dynamodb(
        self,
        usage: FunctionCalls,
        *,
        operation: str,
        params: Mapping[str, Any],
        before: Any,
        status: int,
        parsed: Mapping[str, Any],
    ) -> None:
        totals = usage.capacity
        error = parsed.get("Error", {}).get("Code") if status >= 300 else None

        def write(table: str, item: Item | None, cost: WriteCost) -> None:
            totals.add_write(table, cost)
            usage.add_item_write(table, item, cost)

        if operation == "GetItem":
            item = parsed.get("Item")
            size = item_size(item)
            totals.add_read(
                params["TableName"], read_units(size, consistent=bool(params.get("ConsistentRead"))), 1
            )
        elif operation == "Query":
            items = parsed.get("Items", [])
            totals.add_read(
                params["TableName"],
                query_read_units(items, consistent=bool(params.get("ConsistentRead"))),
                len(items),
            )
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            table = params["TableName"]
            schema = self.schema(table)
            if error == "ConditionalCheckFailedException":
                write(table, before, failed_condition_cost(before))
            elif error is None:
                after = self._after(operation, table, params)
                write(table, after or before, put_cost(schema, before, after))
                self._remember(table, params, after)
        elif operation == "TransactWriteItems":
            self._account_transaction(write, totals, params, before, error)
        elif operation not in ("DescribeTable",):
            # A call the cost model cannot price must stop the run, not be silently left out of it.
            raise UnpricedOperationError(f"no unit accounting for DynamoDB {operation}")

    def _after(self, operation: str, table: str, body: Mapping[str, Any]) -> Item | None:
        if operation in ("PutItem", "Put"):
            item: Item = body["Item"]
            return item
        if operation in ("DeleteItem", "Delete"):
            return None
        return self._read(table, self._key(table, body))

    def _account_transaction(
        self,
        write: Callable[[str, Item | None, WriteCost], None],
        totals: CapacityTotals,
        params: Mapping[str, Any],
        befores: list[Item | None],
        error: str | None,
    ) -> None:
        for action, before in zip(params["TransactItems"], befores, strict=True):
            ((kind, body),) = action.items()
            table = body["TableName"]
            if error is not None:
                write(table, before, failed_condition_cost(before, transactional=True))
            elif kind == "ConditionCheck":
                totals.add_read(table, read_units(item_size(before), transactional=True), 1)
            else:
                after = self._after(kind, table, body)
                write(table, after or before, put_cost(self.schema(table), before, after, transactional=True))
                self._remember(table, body, after)


def _key_text(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _body_length(body: Any) -> int:
    if isinstance(body, bytes | bytearray):
        return len(body)
    if isinstance(body, str):
        return len(body.encode("utf-8"))
    position = body.tell()
    size = body.seek(0, io.SEEK_END) - position
    body.seek(position)
    return int(size)


def _sqs_message_bytes(entry: Mapping[str, Any]) -> int:
    size = len(str(entry.get("MessageBody", "")).encode("utf-8"))
    for name, attribute in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode("utf-8")) + len(str(attribute.get("DataType", "")).encode("utf-8"))
        value = attribute.get("StringValue") or attribute.get("BinaryValue") or b""
        size += len(value.encode("utf-8") if isinstance(value, str) else value)
    return size


# ------------------------------------------------------------------------------------ transports


class SimulatorTransport:
    """:class:`~oms.platforms.base.HttpTransport` answered by the platform simulator in-process."""

    def __init__(self, simulator: PlatformSimulator) -> None:
        self._simulator = simulator
        self.replies: list[tuple[str, str, HttpResponse]] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> HttpResponse:
        del timeout  # nothing waits on a socket
        split = urlsplit(url)
        reply = self._simulator.handle(
            SimRequest(
                method=method,
                path=split.path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers={name.lower(): value for name, value in (headers or {}).items()},
                body=body or b"",
            )
        )
        response = HttpResponse(status=reply.status, body=reply.body, headers=dict(reply.headers))
        self.replies.append((method, split.path, response))
        return response


class ReplayTransport:
    """Plays recorded platform replies back in order; a request that differs is an error."""

    def __init__(self, replies: list[tuple[str, str, HttpResponse]]) -> None:
        self._replies = list(replies)
        self._next = 0

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> HttpResponse:
        del headers, body, timeout
        expected_method, expected_path, response = self._replies[self._next]
        path = urlsplit(url).path
        if (method, path) != (expected_method, expected_path):
            raise RuntimeError(
                f"replay diverged: {method} {path}, recorded {expected_method} {expected_path}"
            )
        self._next += 1
        return response

    @property
    def exhausted(self) -> bool:
        return self._next == len(self._replies)


# ------------------------------------------------------------------------------------ output


@dataclass
class FunctionOutput:
    """What one function printed: whole text, split into log events (lines) later."""

    chunks: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [line for line in "".join(self.chunks).splitlines() if line.strip()]

    def records(self) -> Iterator[dict[str, Any]]:
        for line in self.lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


class OutputCapture(io.TextIOBase):
    """A text sink for stdout and the Powertools logger, filed under the function running now."""

    def __init__(self) -> None:
        super().__init__()
        self.function = "unattributed"
        self.by_function: dict[str, FunctionOutput] = defaultdict(FunctionOutput)
        self.enabled = True

    def write(self, text: str) -> int:
        if self.enabled:
            self.by_function[self.function].chunks.append(text)
        return len(text)

    def writable(self) -> bool:
        return True

    @contextmanager
    def installed(self, logger_name: str) -> Iterator[OutputCapture]:
        """Route ``print`` and the named logger's stream handlers here for the block."""
        handlers = [
            handler
            for handler in logging.getLogger(logger_name).handlers
            if isinstance(handler, logging.StreamHandler)
        ]
        previous_streams = [handler.stream for handler in handlers]
        for handler in handlers:
            handler.setStream(self)
        previous_stdout, sys.stdout = sys.stdout, self
        try:
            yield self
        finally:
            sys.stdout = previous_stdout
            for handler, stream in zip(handlers, previous_streams, strict=True):
                handler.setStream(stream)
