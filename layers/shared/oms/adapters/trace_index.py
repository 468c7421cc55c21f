"""Reading the Orders table by trace id (GSI3, keys only) and by canary rollout (GSI2, ``ROLLOUT#``).

Both are fed by attributes the history entry carries on the write the sanitizer makes anyway
(:func:`oms.adapters.orders_table.history_item`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oms.adapters.aws import translated
from oms.adapters.orders_table import (
    ROLLOUT_SHARDS,
    from_attributes,
    rollout_index_pk,
    sortable_time,
    to_attributes,
    trace_index_pk,
)
from oms.domain.model import Cohort, HistoryEntry, Outcome
from oms.services.ports import RolloutTally

_KEYS = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "type"})


class DynamoTraceLookup:
    """:class:`~oms.services.ports.TraceLookup`: trace id → the history entry it produced."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def entry_by_trace(self, trace_id: str) -> HistoryEntry | None:
        with translated("Query", trace_id=trace_id):
            page = self._dynamodb.query(
                TableName=self._table,
                IndexName="GSI3",
                KeyConditionExpression="GSI3PK = :pk",
                ExpressionAttributeValues=to_attributes({":pk": trace_index_pk(trace_id)}),
                Limit=1,
            )
        keys = page.get("Items", [])
        if not keys:
            return None
        with translated("GetItem", trace_id=trace_id):
            item = self._dynamodb.get_item(
                TableName=self._table, Key={"PK": keys[0]["PK"], "SK": keys[0]["SK"]}
            ).get("Item")
        if item is None:
            return None
        body = {key: value for key, value in from_attributes(item).items() if key not in _KEYS}
        return HistoryEntry.model_validate(body)


class DynamoRolloutIndex:
    """:class:`~oms.services.ports.RolloutIndex`: a canary's history entries, counted by side and outcome."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def tally(self, rule_id: str, version: int, *, received_from: datetime) -> RolloutTally:
        changed: dict[Cohort, int] = {}
        ignored: dict[Cohort, int] = {}
        for shard in range(ROLLOUT_SHARDS):
            request: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "GSI2",
                "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK >= :since",
                "ExpressionAttributeValues": to_attributes(
                    {":pk": rollout_index_pk(rule_id, version, shard), ":since": sortable_time(received_from)}
                ),
                "ProjectionExpression": "GSI2SK",
            }
            with translated("Query", rule_id=rule_id):
                while True:
                    page = self._dynamodb.query(**request)
                    for item in page.get("Items", []):
                        # <received>#<cohort>#<outcome>#<order id>#<event id>
                        _, cohort, outcome, *_ = str(item["GSI2SK"]["S"]).split("#", 4)
                        counts = changed if Outcome(outcome).changes_order else ignored
                        counts[Cohort(cohort)] = counts.get(Cohort(cohort), 0) + 1
                    if "LastEvaluatedKey" not in page:
                        break
                    request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return RolloutTally(changed=changed, ignored=ignored)
