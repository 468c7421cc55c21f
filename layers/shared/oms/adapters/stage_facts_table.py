"""Per-order fulfilment stage facts in the Ops table: ``PK = SLA#<order id>``, ``SK = STAGES``.

Next to the order's deadline item (same partition), one item holds every stage the order reached,
one attribute per stage (``paid``, ``approved``, ``sent_to_wms``, ``printed``, ``picked_up``,
``delivered``) with its time, plus ``<stage>_by`` (who reported it: ``order`` or ``wms:<warehouse>``).

Each stage is written by a conditional UpdateItem that keeps the **earliest** time
(``attribute_not_exists(#stage) OR #stage > :at``): a repeated report is a no-op, and the result
does not depend on the order reports arrive in. Times are stored as fixed-width UTC ISO 8601
(microseconds), so the string comparison is the time comparison. The monthly report reads the items
of a month's orders with BatchGetItem, 100 keys a call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated
from oms.domain.fulfilment_health import STAGES

SORT_KEY = "STAGES"
BATCH = 100


def _key(order_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"SLA#{order_id}"}, "SK": {"S": SORT_KEY}}


def stored_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class DynamoStageFacts:
    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def record(self, order_id: str, stage: str, at: datetime, reporter: str) -> bool:
        """Keep ``at`` if it is the stage's first (earliest) time; False when an earlier one is kept."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        with translated("record stage fact", order_id=order_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=_key(order_id),
                    UpdateExpression="SET #stage = :at, #by = :by, #type = :type, order_id = :order_id",
                    ConditionExpression="attribute_not_exists(#stage) OR #stage > :at",
                    # "printed" is a DynamoDB reserved word; every stage goes through a name.
                    ExpressionAttributeNames={"#stage": stage, "#by": f"{stage}_by", "#type": "type"},
                    ExpressionAttributeValues={
                        ":at": {"S": stored_time(at)},
                        ":by": {"S": reporter},
                        ":type": {"S": "stage_facts"},
                        ":order_id": {"S": order_id},
                    },
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def read(self, order_ids: Iterable[str]) -> dict[str, dict[str, datetime]]:
        """Stage → time for each of ``order_ids`` that has any (BatchGetItem, 100 keys a call)."""
        wanted = list(dict.fromkeys(order_ids))
        facts: dict[str, dict[str, datetime]] = {}
        with translated("read stage facts"):
            for start in range(0, len(wanted), BATCH):
                request: dict[str, Any] = {
                    self._table: {"Keys": [_key(order_id) for order_id in wanted[start : start + BATCH]]}
                }
                while request:
                    reply = self._dynamodb.batch_get_item(RequestItems=request)
                    for item in reply.get("Responses", {}).get(self._table, []):
                        facts[item["order_id"]["S"]] = _stages(item)
                    # Throttled keys come back unprocessed: ask again for those only.
                    request = reply.get("UnprocessedKeys") or {}
        return facts


def _stages(item: Mapping[str, Any]) -> dict[str, datetime]:
    return {stage: datetime.fromisoformat(item[stage]["S"]) for stage in STAGES if stage in item}
