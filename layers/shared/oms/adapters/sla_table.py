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

from datetime import date, datetime
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

    def track(self, record: SlaRecord, *, arrival: tuple[str, str] | None = None) -> bool:
        """Write (or move) an order's deadline; False when a newer order version is already recorded.

        The levels already sent are kept: a recomputed deadline does not re-send them. ``arrival``
        (warehouse, UTC hour) counts the order as a new arrival at its warehouse, in the same
        transaction as the deadline's first write: a redelivered change counts nothing twice.
        """
        update = _track_update(self._table, record)
        if arrival is not None:
            counted = self._track_first(update, record, arrival)
            if counted is not None:
                return counted
        with translated("track SLA deadline", order_id=record.order_id):
            try:
                self._dynamodb.update_item(
                    **update,
                    ConditionExpression="attribute_not_exists(PK) OR order_version < :version",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def _track_first(
        self, update: dict[str, Any], record: SlaRecord, arrival: tuple[str, str]
    ) -> bool | None:
        """The first write and the arrival count together; None when the record exists already."""
        warehouse, hour = arrival
        with translated("track new SLA deadline", order_id=record.order_id):
            try:
                self._dynamodb.transact_write_items(
                    TransactItems=[
                        {"Update": update | {"ConditionExpression": "attribute_not_exists(PK)"}},
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": {"PK": {"S": f"ARRIVALS#{warehouse}"}, "SK": {"S": hour}},
                                "UpdateExpression": (
                                    "SET #type = :type, expires_at = :expires ADD arrivals :one"
                                ),
                                "ExpressionAttributeNames": {"#type": "type"},
                                "ExpressionAttributeValues": {
                                    ":type": {"S": "warehouse_arrivals"},
                                    ":one": {"N": "1"},
                                    ":expires": {"N": str(_hour_epoch(hour) + ARRIVALS_KEPT_SECONDS)},
                                },
                            }
                        },
                    ]
                )
            except ClientError as error:
                if error_code(error) == "TransactionCanceledException":
                    return None  # created meanwhile (and counted by its creator): a plain update
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

    def open_by_deadline(self, days: list[str]) -> list[SlaRecord]:
        """Open deadlines falling on these UTC days (GSI2, one query per day, open ones only)."""
        records: list[SlaRecord] = []
        with translated("query open SLA deadlines by day"):
            for day in days:
                kwargs: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": "GSI2",
                    "KeyConditionExpression": "GSI2PK = :day",
                    "FilterExpression": "attribute_exists(GSI1PK)",
                    "ExpressionAttributeValues": {":day": {"S": f"SLADAY#{day}"}},
                }
                while True:
                    page = self._dynamodb.query(**kwargs)
                    records += [_record(item) for item in page.get("Items", [])]
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records

    def redeadline(self, record: SlaRecord, deadline: datetime, policy_version: int) -> bool:
        """Move an open deadline to a newer policy version's; False when the order changed since
        ``record`` was read, closed, or already carries that version (a repeated recompute)."""
        sort = f"{deadline.isoformat()}#{record.order_id}"
        with translated("recompute SLA deadline", order_id=record.order_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=_key(record.order_id),
                    UpdateExpression=(
                        "SET deadline = :deadline, policy_version = :policy, GSI1PK = :bucket,"
                        " GSI1SK = :sort, GSI2PK = :day, GSI2SK = :sort"
                    ),
                    ConditionExpression=(
                        "attribute_exists(GSI1PK) AND order_version = :version AND policy_version < :policy"
                    ),
                    ExpressionAttributeValues={
                        ":deadline": {"S": deadline.isoformat()},
                        ":policy": {"N": str(policy_version)},
                        ":bucket": {"S": f"SLADUE#{due_bucket(deadline)}"},
                        ":sort": {"S": sort},
                        ":day": {"S": f"SLADAY#{deadline_day(deadline)}"},
                        ":version": {"N": str(record.order_version)},
                    },
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

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


#: Arrival counters are kept two days (the forecast reads the last two hours)
ARRIVALS_KEPT_SECONDS = 2 * 24 * 3600


def _hour_epoch(hour: str) -> int:
    return int(datetime.fromisoformat(f"{hour}:00:00+00:00").timestamp())


def _track_update(table: str, record: SlaRecord) -> dict[str, Any]:
    names = {"#level": "level_sent", "#type": "type"}
    values: dict[str, Any] = {
        ":type": {"S": "sla_deadline"},
        ":order_id": {"S": record.order_id},
        ":channel": {"S": record.channel},
        ":warehouse": {"S": record.warehouse},
        ":home": {"S": record.home_warehouse or record.warehouse},
        ":routing": {"S": record.routing},
        ":routing_reason": {"S": record.routing_reason},
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
        "home_warehouse = :home",
        "routing = :routing",
        "routing_reason = :routing_reason",
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
    removes: list[str] = []
    if record.presale_ship_by is not None:
        sets.append("presale_ship_by = :presale")
        values[":presale"] = {"S": record.presale_ship_by.isoformat()}
    else:
        removes.append("presale_ship_by")
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
    return {
        "TableName": table,
        "Key": _key(record.order_id),
        "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _record(item: dict[str, Any]) -> SlaRecord:
    def text(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    shipped = text("shipped_at")
    presale = text("presale_ship_by")
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
        home_warehouse=text("home_warehouse") or text("warehouse"),
        routing=text("routing"),
        routing_reason=text("routing_reason"),
        presale_ship_by=date.fromisoformat(presale) if presale else None,
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

    def version(self, number: int) -> SlaPolicySet | None:
        with translated("read SLA policy version"):
            item = self._dynamodb.get_item(
                TableName=self._table,
                Key={"PK": {"S": "SLAPOLICY"}, "SK": {"S": f"v{number:08d}"}},
                ConsistentRead=True,
            ).get("Item")
        return SlaPolicySet.model_validate_json(item["document"]["S"]) if item else None
