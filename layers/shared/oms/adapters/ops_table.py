"""The Ops table: failure records and redrives by trace id, indexed for the failure search.

=================  ===========================================  ====================================
item               PK / SK                                      GSI
=================  ===========================================  ====================================
failed attempt     TRACE#<trace> / FAILURE#<redrive>.<n>#<stg>  GSI1 FAILED#<platform> / <when>
                                                                GSI2 FAILED#<platform>#<code> / <when>
redrive            TRACE#<trace> / REDRIVE#<redrive>            -
=================  ===========================================  ====================================

``<when>`` is ``<received at>#<trace>#<redrive>.<attempt>``: the time intake received the message
first, so a message's attempts sit together in the index and a page never splits them; newest
message first when read backwards. One record per attempt, so a message retried five times before
the DLQ shows five attempts, and a retried write of the same attempt is idempotent. Rule items live
in the same table (:mod:`oms.adapters.rule_store`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from oms.adapters.aws import translated
from oms.adapters.orders_table import from_attributes, sortable_time, to_attributes
from oms.domain.model import FailureRecord
from oms.services.ports import FailurePartition, IndexedFailure, RedriveRecord

#: Failure records are kept for this long (TTL only cleans up; nothing relies on it).
FAILURE_RETENTION = timedelta(days=90)
FAILURE_PREFIX = "FAILURE#"
REDRIVE_PREFIX = "REDRIVE#"
UNKNOWN_PLATFORM = "unknown"
#: Items per Query page while walking the failure index (a page stops early at 1 MB anyway).
PAGE_ITEMS = 200

_KEYS = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "type", "expires_at"})


def trace_pk(trace_id: str) -> str:
    return f"TRACE#{trace_id}"


def failure_item(failure: FailureRecord) -> dict[str, Any]:
    platform = str(failure.platform or UNKNOWN_PLATFORM)
    when = sortable_time(failure.received_at or failure.occurred_at)
    index_sk = f"{when}#{failure.trace_id}#{failure.attempt_key}"
    return {
        "PK": trace_pk(failure.trace_id),
        "SK": f"{FAILURE_PREFIX}{failure.attempt_key}#{failure.stage}",
        "type": "failure",
        "GSI1PK": f"FAILED#{platform}",
        "GSI1SK": index_sk,
        "GSI2PK": f"FAILED#{platform}#{failure.code}",
        "GSI2SK": index_sk,
        "expires_at": int((failure.occurred_at + FAILURE_RETENTION).timestamp()),
        **failure.model_dump(mode="json", exclude_none=True),
    }


def _failure(item: dict[str, Any]) -> FailureRecord:
    # ``platform`` is left out of the item when the message was unreadable (None is not stored).
    fields = {key: value for key, value in item.items() if key not in _KEYS}
    return FailureRecord.model_validate({"platform": None, **fields})


class DynamoFailureLog:
    """The failure log (:class:`~oms.services.ports.FailureLog`) and its index (``FailureIndex``)."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def record(self, failure: FailureRecord) -> None:
        with translated("PutItem", trace_id=failure.trace_id):
            self._dynamodb.put_item(TableName=self._table, Item=to_attributes(failure_item(failure)))

    def attempts(self, trace_id: str) -> list[FailureRecord]:
        items = self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=to_attributes({":pk": trace_pk(trace_id), ":prefix": FAILURE_PREFIX}),
        )
        return [_failure(item) for item in items]

    def latest(self, trace_id: str) -> FailureRecord | None:
        with translated("Query", trace_id=trace_id):
            page = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues=to_attributes(
                    {":pk": trace_pk(trace_id), ":prefix": FAILURE_PREFIX}
                ),
                ScanIndexForward=False,
                Limit=1,
            )
        items = page.get("Items", [])
        return _failure(from_attributes(items[0])) if items else None

    def newest(
        self,
        partition: FailurePartition,
        *,
        received_from: datetime | None,
        received_to: datetime | None,
        after: dict[str, Any] | None,
    ) -> Iterator[IndexedFailure]:
        """Walk one index partition backwards (newest message first), page by page, lazily."""
        platform = partition.platform or UNKNOWN_PLATFORM
        if partition.code is None:
            index, pk, sk = "GSI1", f"FAILED#{platform}", "GSI1SK"
        else:
            index, pk, sk = "GSI2", f"FAILED#{platform}#{partition.code}", "GSI2SK"
        condition = f"{index}PK = :pk"
        values: dict[str, Any] = {":pk": pk}
        if received_from is not None and received_to is not None:
            condition += f" AND {sk} BETWEEN :low AND :high"
            values |= {":low": sortable_time(received_from), ":high": sortable_time(received_to) + "~"}
        elif received_from is not None:
            condition += f" AND {sk} >= :low"
            values[":low"] = sortable_time(received_from)
        elif received_to is not None:
            condition += f" AND {sk} <= :high"
            values[":high"] = sortable_time(received_to) + "~"
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attributes(values),
            "ScanIndexForward": False,
            "Limit": PAGE_ITEMS,
        }
        if after:
            request["ExclusiveStartKey"] = to_attributes(after)
        key_names = ("PK", "SK", f"{index}PK", sk)
        while True:
            with translated("Query", index=index):
                page = self._dynamodb.query(**request)
            for raw in page.get("Items", []):
                item = from_attributes(raw)
                yield IndexedFailure(
                    record=_failure(item),
                    position={name: item[name] for name in key_names},
                    sort_key=str(item[sk]),
                )
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query(self, **request: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request["TableName"] = self._table
        with translated("Query"):
            while True:
                page = self._dynamodb.query(**request)
                items += [from_attributes(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    return items
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoRedriveLog:
    """Redrives by trace (``TRACE#<trace>`` / ``REDRIVE#<n>``), shown in the trace view."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def record(self, redrive: RedriveRecord) -> None:
        item = {
            "PK": trace_pk(redrive.trace_id),
            "SK": f"{REDRIVE_PREFIX}{redrive.redrive:02d}",
            "type": "redrive",
            "trace_id": redrive.trace_id,
            "redrive": redrive.redrive,
            "at": redrive.at.isoformat(),
            "by": redrive.by,
            "dlq_message_id": redrive.dlq_message_id,
            "new_message_id": redrive.new_message_id,
            "expires_at": int((redrive.at + FAILURE_RETENTION).timestamp()),
        }
        with translated("PutItem", trace_id=redrive.trace_id):
            self._dynamodb.put_item(TableName=self._table, Item=to_attributes(item))

    def of_trace(self, trace_id: str) -> list[RedriveRecord]:
        with translated("Query", trace_id=trace_id):
            page = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues=to_attributes(
                    {":pk": trace_pk(trace_id), ":prefix": REDRIVE_PREFIX}
                ),
            )
        return [
            RedriveRecord(
                trace_id=str(item["trace_id"]),
                redrive=int(item["redrive"]),
                at=datetime.fromisoformat(str(item["at"])),
                by=str(item["by"]),
                dlq_message_id=str(item["dlq_message_id"]),
                new_message_id=str(item["new_message_id"]) if item.get("new_message_id") else None,
            )
            for item in (from_attributes(raw) for raw in page.get("Items", []))
        ]
