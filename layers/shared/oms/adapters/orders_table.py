"""The Orders table (single-table design; docs/access-patterns.md has the layout and the why).

=====================  ==========================  ===========================================
item                   PK / SK                     GSI
=====================  ==========================  ===========================================
order header           ORDER#<id> / #ORDER         GSI1: STATUS#<platform>#<status> / <since>#<id>
order line             ORDER#<id> / LINE#<line>    GSI2: SKU#<sku_id> / <id>#<line>
history entry          ORDER#<id> / EVENT#<event>   GSI3: TRACE#<trace> / EVENT#<event> (keys only)
                                                   GSI2 (during a canary): ROLLOUT#<rule>@<v>#<shard> /
                                                   <received>#<cohort>#<outcome>#<id>#<event>
platform-order map     PORDER#<number> / <platform>#<shop>
=====================  ==========================  ===========================================

The history entry's index attributes cost no extra request: they ride on the write the sanitizer
makes anyway (docs/decisions.md D11). GSI2 is overloaded (``SKU#`` for lines, ``ROLLOUT#`` for the
entries written while a canary runs) so the table gains one index, not two: CloudFormation adds
one global secondary index per table per update.

Every write is conditional: a header is created with ``attribute_not_exists`` and updated only at
the version it was read at; a history entry is written once per event id, which is what makes a
duplicate push or a redelivered message a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from oms.adapters.aws import error_code, translate, translated
from oms.domain.errors import ConcurrentUpdateError, SchemaInvalidError
from oms.domain.model import HistoryEntry, Order, OrderLine, Outcome
from oms.domain.state_machine import Decision

HEADER_SK = "#ORDER"
LINE_PREFIX = "LINE#"
EVENT_PREFIX = "EVENT#"
#: TransactWriteItems takes at most 100 actions: header + history + lines must fit.
MAX_LINE_WRITES = 96
#: BatchGetItem takes at most 100 keys per call.
BATCH_GET_KEYS = 100
#: Concurrent queries when many orders' histories are read at once (one partition each).
HISTORY_READERS = 16
#: A canary's index entries are spread over this many partitions (by the order's bucket), so a
#: canary during a flash sale stays under one partition's 1,000 writes per second.
ROLLOUT_SHARDS = 10

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def map_pk(platform_order_id: str) -> str:
    return f"PORDER#{platform_order_id}"


def to_attributes(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def from_attributes(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def header_item(order: Order) -> dict[str, Any]:
    body = order.model_dump(mode="json", exclude_none=True)
    return {
        "PK": order_pk(order.order_id),
        "SK": HEADER_SK,
        "type": "order",
        "GSI1PK": f"STATUS#{order.platform}#{order.status}",
        "GSI1SK": f"{order.status_key.at.isoformat()}#{order.order_id}",
        **body,
    }


def line_item(order: Order, line: OrderLine) -> dict[str, Any]:
    return {
        "PK": order_pk(order.order_id),
        "SK": f"{LINE_PREFIX}{line.line_id}",
        "type": "line",
        "GSI2PK": f"SKU#{line.sku_id}",
        "GSI2SK": f"{order.order_id}#{line.line_id}",
        "order_id": order.order_id,
        "platform": str(order.platform),
        "shop_id": order.shop_id,
        **line.model_dump(mode="json", exclude_none=True),
    }


def history_item(entry: HistoryEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": order_pk(entry.order_id),
        "SK": f"{EVENT_PREFIX}{entry.event_id}",
        "type": "event",
        **entry.model_dump(mode="json", exclude_none=True),
    }
    if entry.trace_id:
        item |= {"GSI3PK": trace_index_pk(entry.trace_id), "GSI3SK": f"{EVENT_PREFIX}{entry.event_id}"}
    if entry.rollout is not None:
        mark = entry.rollout
        item |= {
            "GSI2PK": rollout_index_pk(mark.rule_id, mark.version, mark.bucket % ROLLOUT_SHARDS),
            "GSI2SK": "#".join(
                (sortable_time(entry.received_at), mark.cohort, entry.outcome, entry.order_id, entry.event_id)
            ),
        }
    if entry.operator is not None:
        # The forced-change audit index rides on the history entry's own write (never lost apart).
        item |= {
            "GSI2PK": forced_index_pk(entry.recorded_at),
            "GSI2SK": f"{sortable_time(entry.recorded_at)}#{entry.order_id}#{entry.event_id}",
        }
    return item


def forced_index_pk(moment: datetime) -> str:
    """One audit partition per UTC day: a period query reads only the days it spans."""
    return f"FORCED#{moment.astimezone(UTC):%Y-%m-%d}"


def trace_index_pk(trace_id: str) -> str:
    return f"TRACE#{trace_id}"


def rollout_index_pk(rule_id: str, version: int, shard: int) -> str:
    return f"ROLLOUT#{rule_id}@{version}#{shard}"


def sortable_time(moment: datetime) -> str:
    """A UTC time whose string order is its time order (fixed width, microseconds always present)."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"


def map_item(order: Order) -> dict[str, Any]:
    return {
        "PK": map_pk(order.platform_order_id),
        "SK": f"{order.platform}#{order.shop_id}",
        "type": "order_ref",
        "order_id": order.order_id,
    }


def _strip_keys(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in _KEY_ATTRIBUTES}


_KEY_ATTRIBUTES = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "type"})


class DynamoOrdersRepository:
    """:class:`~oms.services.ports.OrdersRepository` over the Orders table (low-level client)."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def get(self, order_id: str) -> Order | None:
        with translated("GetItem", order_id=order_id):
            response = self._dynamodb.get_item(
                TableName=self._table,
                Key=to_attributes({"PK": order_pk(order_id), "SK": HEADER_SK}),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return Order.model_validate(_strip_keys(from_attributes(item))) if item else None

    def history(self, order_id: str) -> list[HistoryEntry]:
        entries = [
            HistoryEntry.model_validate(_strip_keys(item))
            for item in self._query_partition(order_pk(order_id), EVENT_PREFIX)
        ]
        return sorted(entries, key=lambda entry: (entry.event_time, entry.recorded_at))

    def entry(self, order_id: str, event_id: str) -> HistoryEntry | None:
        with translated("GetItem", order_id=order_id):
            response = self._dynamodb.get_item(
                TableName=self._table,
                Key=to_attributes({"PK": order_pk(order_id), "SK": f"{EVENT_PREFIX}{event_id}"}),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return HistoryEntry.model_validate(_strip_keys(from_attributes(item))) if item else None

    def find_by_platform_order_id(self, platform_order_id: str) -> list[str]:
        return sorted(str(item["order_id"]) for item in self._query_partition(map_pk(platform_order_id)))

    def get_many(self, order_ids: Iterable[str]) -> dict[str, Order]:
        """Order headers by id, 100 per BatchGetItem (strongly consistent); missing ids are absent."""
        wanted = list(dict.fromkeys(order_ids))
        found: dict[str, Order] = {}
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            keys = [
                to_attributes({"PK": order_pk(order_id), "SK": HEADER_SK})
                for order_id in wanted[start : start + BATCH_GET_KEYS]
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                with translated("BatchGetItem", orders=len(keys)):
                    response = self._dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    order = Order.model_validate(_strip_keys(from_attributes(item)))
                    found[order.order_id] = order
                # botocore's standard retries back off on throttling; unprocessed keys are asked again.
                request = response.get("UnprocessedKeys") or {}
        return found

    def histories(self, order_ids: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        """Every listed order's history, one Query per order, several at once."""
        if not order_ids:
            return {}
        with ThreadPoolExecutor(max_workers=min(HISTORY_READERS, len(order_ids))) as pool:
            return dict(zip(order_ids, pool.map(self.history, order_ids), strict=True))

    def find_many_by_platform_order_id(self, numbers: Sequence[str]) -> dict[str, list[str]]:
        """:meth:`find_by_platform_order_id` for many numbers, several at once."""
        if not numbers:
            return {}
        with ThreadPoolExecutor(max_workers=min(HISTORY_READERS, len(numbers))) as pool:
            return dict(zip(numbers, pool.map(self.find_by_platform_order_id, numbers), strict=True))

    def forced_changes(self, start: datetime, end: datetime) -> list[HistoryEntry]:
        """Operators' forced changes recorded in ``[start, end]``, oldest first (GSI2, a partition a day)."""
        entries: list[HistoryEntry] = []
        day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= end:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "GSI2",
                "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK BETWEEN :start AND :end",
                "ExpressionAttributeValues": to_attributes(
                    {
                        ":pk": forced_index_pk(day),
                        ":start": sortable_time(start),
                        ":end": sortable_time(end) + "~",
                    }
                ),
            }
            with translated("Query", index="GSI2"):
                while True:
                    page = self._dynamodb.query(**kwargs)
                    entries += [
                        HistoryEntry.model_validate(_strip_keys(from_attributes(item)))
                        for item in page.get("Items", [])
                    ]
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            day += timedelta(days=1)
        return entries

    def save(self, decision: Decision) -> bool:
        if decision.outcome is Outcome.DUPLICATE:
            return False
        if decision.after is None:
            return self._record_only(decision.entry)
        return self._transact(decision, decision.after)

    def _record_only(self, entry: HistoryEntry) -> bool:
        try:
            with translated("PutItem", order_id=entry.order_id):
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item=to_attributes(history_item(entry)),
                    ConditionExpression="attribute_not_exists(PK)",
                )
        except ConcurrentUpdateError:
            return False  # this event id is already in the history
        return True

    def _transact(self, decision: Decision, after: Order) -> bool:
        header: dict[str, Any] = {"TableName": self._table, "Item": to_attributes(header_item(after))}
        if decision.before is None:
            header["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            header["ConditionExpression"] = "#version = :expected"
            header["ExpressionAttributeNames"] = {"#version": "version"}
            header["ExpressionAttributeValues"] = to_attributes({":expected": decision.before.version})
        actions: list[dict[str, Any]] = [
            {"Put": header},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_attributes(history_item(decision.entry)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]
        actions += self._line_actions(decision.before, after)
        if decision.before is None:
            actions.append({"Put": {"TableName": self._table, "Item": to_attributes(map_item(after))}})
        if len(actions) > 100:
            raise SchemaInvalidError(
                "order has more lines than one atomic write can hold",
                order_id=after.order_id,
                lines=len(after.lines),
                limit=MAX_LINE_WRITES,
            )
        try:
            self._dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException":
                return self._cancelled(error, after)
            raise translate(error, "TransactWriteItems", order_id=after.order_id) from error
        except BotoCoreError as error:
            raise translate(error, "TransactWriteItems", order_id=after.order_id) from error
        return True

    def _cancelled(self, error: ClientError, after: Order) -> bool:
        reasons = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            return False  # the history entry exists: this event was already recorded
        raise ConcurrentUpdateError(
            "order changed while the event was applied", order_id=after.order_id, reasons=reasons
        ) from error

    def _line_actions(self, before: Order | None, after: Order) -> list[dict[str, Any]]:
        old = {line.line_id: line for line in (before.lines if before else ())}
        new = {line.line_id: line for line in after.lines}
        actions: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": to_attributes(line_item(after, line))}}
            for line_id, line in new.items()
            if old.get(line_id) != line
        ]
        actions += [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": to_attributes({"PK": order_pk(after.order_id), "SK": f"{LINE_PREFIX}{line_id}"}),
                }
            }
            for line_id in old.keys() - new.keys()
        ]
        return actions

    def _query_partition(self, pk: str, sk_prefix: str | None = None) -> list[dict[str, Any]]:
        condition = "PK = :pk"
        values: dict[str, Any] = {":pk": pk}
        if sk_prefix:
            condition += " AND begins_with(SK, :prefix)"
            values[":prefix"] = sk_prefix
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attributes(values),
        }
        with translated("Query", pk=pk):
            while True:
                page = self._dynamodb.query(**kwargs)
                items += [from_attributes(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    return items
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
