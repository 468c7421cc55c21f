"""The SLA deadline index and the SLA policy versions, in the Ops table.

=================  ==========================  ===============================================
item               PK / SK                     GSI1 (sparse: only open deadlines)
=================  ==========================  ===============================================
deadline           ``SLA#<order id>`` /        ``SLADUE#<yyyy-mm-ddThh>`` (UTC hour of the
                   ``DEADLINE``                deadline) / ``<deadline iso>#<order id>``
policy version     ``SLAPOLICY`` / ``v<n>``    —
=================  ==========================  ===============================================

Every write is conditional: a deadline is written only by a newer order version (changes arrive
unordered), a level is claimed only from the level its claimer read, a policy version only once.
Closing a deadline (shipped, cancelled, handled, or the last level sent) removes its GSI1 keys, so
the escalator's queries read open deadlines only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated
from oms.domain.errors import SlaPolicyConflictError
from oms.domain.sla import SlaPolicySet, SlaRecord, deadline_day, due_bucket

INDEX = "GSI1"


def _key(order_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"SLA#{order_id}"}, "SK": {"S": "DEADLINE"}}


class DynamoSlaStore:
    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def track(self, record: SlaRecord) -> bool:
        """Write (or move) an order's deadline; False when a newer order version is already recorded.

        The levels already sent are kept: a recomputed deadline does not re-send them.
        """
        names = {"#level": "level_sent"}
        values: dict[str, Any] = {
            ":type": {"S": "sla_deadline"},
            ":order_id": {"S": record.order_id},
            ":channel": {"S": record.channel},
            ":warehouse": {"S": record.warehouse},
            ":sku_class": {"S": record.sku_class},
            ":merchant": {"S": record.merchant},
            ":reference": {"S": record.reference},
            ":paid_at": {"S": record.paid_at.isoformat()},
            ":deadline": {"S": record.deadline.isoformat()},
            ":policy": {"N": str(record.policy_version)},
            ":version": {"N": str(record.order_version)},
            ":zero": {"N": "0"},
            ":day": {"S": f"SLADAY#{deadline_day(record.deadline)}"},
            ":sort": {"S": f"{record.deadline.isoformat()}#{record.order_id}"},
        }
        sets = [
            "#type = :type",
            "order_id = :order_id",
            "channel = :channel",
            "warehouse = :warehouse",
            "sku_class = :sku_class",
            "merchant = :merchant",
            "platform_order_id = :reference",
            "paid_at = :paid_at",
            "deadline = :deadline",
            "policy_version = :policy",
            "order_version = :version",
            "#level = if_not_exists(#level, :zero)",
            "GSI2PK = :day",
            "GSI2SK = :sort",
        ]
        names["#type"] = "type"
        removes: list[str] = []
        if record.open:
            sets += ["GSI1PK = :bucket", "GSI1SK = :sort"]
            values[":bucket"] = {"S": f"SLADUE#{due_bucket(record.deadline)}"}
            removes += ["closed_reason", "shipped_at"]
        else:
            sets.append("closed_reason = :reason")
            values[":reason"] = {"S": record.closed_reason}
            if record.shipped_at is not None:
                sets.append("shipped_at = :shipped")
                values[":shipped"] = {"S": record.shipped_at.isoformat()}
            removes += ["GSI1PK", "GSI1SK"]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        with translated("track SLA deadline", order_id=record.order_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=_key(record.order_id),
                    UpdateExpression=expression,
                    ConditionExpression="attribute_not_exists(PK) OR order_version < :version",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def get(self, order_id: str) -> SlaRecord | None:
        with translated("read SLA deadline", order_id=order_id):
            item = self._dynamodb.get_item(
                TableName=self._table, Key=_key(order_id), ConsistentRead=True
            ).get("Item")
        return _record(item) if item else None

    def due(self, buckets: list[str], until: datetime) -> list[SlaRecord]:
        """Open deadlines in these hour buckets up to ``until`` (one query per bucket, every page)."""
        records: list[SlaRecord] = []
        with translated("query SLA deadlines"):
            for bucket in buckets:
                kwargs: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": INDEX,
                    "KeyConditionExpression": "GSI1PK = :bucket AND GSI1SK <= :until",
                    "ExpressionAttributeValues": {
                        ":bucket": {"S": f"SLADUE#{bucket}"},
                        ":until": {"S": f"{until.isoformat()}#\uffff"},
                    },
                }
                while True:
                    page = self._dynamodb.query(**kwargs)
                    records += [_record(item) for item in page.get("Items", [])]
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records

    def by_deadline(self, days: list[str], start: datetime, end: datetime) -> list[SlaRecord]:
        """Every deadline (open or closed) between ``start`` and ``end``: GSI2, one query per day."""
        records: list[SlaRecord] = []
        with translated("query SLA deadlines by day"):
            for day in days:
                kwargs: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": "GSI2",
                    "KeyConditionExpression": "GSI2PK = :day AND GSI2SK BETWEEN :start AND :end",
                    "ExpressionAttributeValues": {
                        ":day": {"S": f"SLADAY#{day}"},
                        ":start": {"S": start.isoformat()},
                        ":end": {"S": f"{end.isoformat()}#\uffff"},
                    },
                }
                while True:
                    page = self._dynamodb.query(**kwargs)
                    records += [_record(item) for item in page.get("Items", [])]
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records

    def claim_level(self, order_id: str, seen: int, level: int, token: str, *, final: bool) -> bool:
        """Move ``level_sent`` from ``seen`` to ``level``; exactly one concurrent claimer succeeds.

        The final level also closes the deadline (no further level can fire).
        """
        expression = "SET level_sent = :level, level_token = :token"
        if final:
            expression += " REMOVE GSI1PK, GSI1SK"
        with translated("claim SLA level", order_id=order_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=_key(order_id),
                    UpdateExpression=expression,
                    ConditionExpression="level_sent = :seen AND attribute_exists(GSI1PK)",
                    ExpressionAttributeValues={
                        ":seen": {"N": str(seen)},
                        ":level": {"N": str(level)},
                        ":token": {"S": token},
                    },
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def release_level(self, record: SlaRecord, level: int, token: str) -> None:
        """Undo our claim (its alerts were not delivered) so the next run tries again."""
        values: dict[str, Any] = {
            ":seen": {"N": str(record.level_sent)},
            ":level": {"N": str(level)},
            ":token": {"S": token},
            ":bucket": {"S": f"SLADUE#{due_bucket(record.deadline)}"},
            ":sort": {"S": f"{record.deadline.isoformat()}#{record.order_id}"},
        }
        with translated("release SLA level", order_id=record.order_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=_key(record.order_id),
                    # Restores the index keys the final level removed, unless the order closed meanwhile.
                    UpdateExpression=(
                        "SET level_sent = :seen, GSI1PK = :bucket, GSI1SK = :sort REMOVE level_token"
                    ),
                    ConditionExpression=(
                        "level_sent = :level AND level_token = :token AND attribute_not_exists(closed_reason)"
                    ),
                    ExpressionAttributeValues=values,
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise

    def mark_handled(self, order_id: str, reason: str, now: datetime) -> bool:
        """An operator took the order in hand: no further level fires. False when not open."""
        with translated("close SLA deadline", order_id=order_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=_key(order_id),
                    UpdateExpression="SET closed_reason = :reason, handled_at = :now REMOVE GSI1PK, GSI1SK",
                    ConditionExpression="attribute_exists(GSI1PK)",
                    ExpressionAttributeValues={":reason": {"S": reason}, ":now": {"S": now.isoformat()}},
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True


def _record(item: dict[str, Any]) -> SlaRecord:
    def text(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    shipped = text("shipped_at")
    return SlaRecord(
        order_id=text("order_id"),
        channel=text("channel"),
        warehouse=text("warehouse"),
        sku_class=text("sku_class"),
        paid_at=datetime.fromisoformat(text("paid_at")),
        deadline=datetime.fromisoformat(text("deadline")),
        policy_version=int(item["policy_version"]["N"]),
        order_version=int(item["order_version"]["N"]),
        level_sent=int(item.get("level_sent", {}).get("N", "0")),
        shipped_at=datetime.fromisoformat(shipped) if shipped else None,
        closed_reason=text("closed_reason"),
        merchant=text("merchant"),
        reference=text("platform_order_id"),
    )


class DynamoSlaPolicies:
    """Versioned SLA policy sets: ``SLAPOLICY / v<n>``, each written once; the highest is current."""

    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def current(self) -> SlaPolicySet | None:
        with translated("read SLA policies"):
            page = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :v)",
                ExpressionAttributeValues={":pk": {"S": "SLAPOLICY"}, ":v": {"S": "v"}},
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        items = page.get("Items", [])
        return SlaPolicySet.model_validate_json(items[0]["document"]["S"]) if items else None

    def publish(self, policies: SlaPolicySet, now: datetime) -> None:
        """Store a new version; :class:`SlaPolicyConflictError` when that version exists already."""
        with translated("publish SLA policies"):
            try:
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item={
                        "PK": {"S": "SLAPOLICY"},
                        "SK": {"S": f"v{policies.version:08d}"},
                        "type": {"S": "sla_policy"},
                        "document": {"S": policies.model_dump_json()},
                        "published_at": {"S": now.isoformat()},
                    },
                    ConditionExpression="attribute_not_exists(PK)",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    raise SlaPolicyConflictError(
                        "this policy version exists already", version=policies.version
                    ) from None
                raise
