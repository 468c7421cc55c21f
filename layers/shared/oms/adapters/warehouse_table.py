"""Warehouse heartbeat states in the Ops table: ``PK = WMS``, ``SK = <warehouse id>``.

One partition holds every warehouse (a merchant has a handful), so the watch reads them all with
one Query. A heartbeat is written only if it is newer than the stored one; going offline is a
conditional transition from ``online`` at the ``last_seen`` the watch read, so two watches (or a
heartbeat arriving meanwhile) cannot raise a second alert for one outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated
from oms.domain.wms import Heartbeat

PARTITION = "WMS"


@dataclass(frozen=True, slots=True)
class WarehouseState:
    warehouse_id: str
    last_seen: datetime
    online: bool
    pending_print: int
    printed: int
    picked_up: int
    outage_since: datetime | None = None
    #: The current outage's alert was delivered
    alerted: bool = False
    #: The heartbeat before the last one (None before the second heartbeat)
    previous_picked_up: int | None = None
    previous_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a stored heartbeat changed: ``stale`` (older than the stored one), or the outage it ended."""

    stale: bool
    recovered_from: datetime | None = None


class DynamoWarehouseStates:
    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def record(self, warehouse_id: str, heartbeat: Heartbeat, received_at: datetime) -> Recorded:
        with translated("record heartbeat", warehouse=warehouse_id):
            try:
                reply = self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"PK": {"S": PARTITION}, "SK": {"S": warehouse_id}},
                    UpdateExpression=(
                        "SET last_seen = :time, pending_print = :pending, #printed = :printed, "
                        "picked_up = :picked, #online = :true, received_at = :received, #type = :type, "
                        # The reading before this one: the forecast's processing rate (counter deltas)
                        "previous_picked_up = if_not_exists(picked_up, :picked), "
                        "previous_seen = if_not_exists(last_seen, :time) "
                        "REMOVE outage_since, alerted"
                    ),
                    ConditionExpression="attribute_not_exists(PK) OR last_seen < :time",
                    # "online" and "printed" are DynamoDB reserved words
                    ExpressionAttributeNames={"#type": "type", "#printed": "printed", "#online": "online"},
                    ExpressionAttributeValues={
                        ":time": {"S": heartbeat.time.isoformat()},
                        ":pending": {"N": str(heartbeat.pending_print)},
                        ":printed": {"N": str(heartbeat.printed)},
                        ":picked": {"N": str(heartbeat.picked_up)},
                        ":true": {"BOOL": True},
                        ":received": {"S": received_at.isoformat()},
                        ":type": {"S": "wms_state"},
                    },
                    ReturnValues="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return Recorded(stale=True)
                raise
        old = reply.get("Attributes") or {}
        if old and not old.get("online", {}).get("BOOL", True):
            return Recorded(stale=False, recovered_from=datetime.fromisoformat(old["outage_since"]["S"]))
        return Recorded(stale=False)

    def all(self) -> list[WarehouseState]:
        with translated("read warehouse states"):
            items = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": PARTITION}},
                ConsistentRead=True,
            ).get("Items", [])
        return [
            WarehouseState(
                warehouse_id=item["SK"]["S"],
                last_seen=datetime.fromisoformat(item["last_seen"]["S"]),
                online=item.get("online", {}).get("BOOL", True),
                pending_print=int(item["pending_print"]["N"]),
                printed=int(item["printed"]["N"]),
                picked_up=int(item["picked_up"]["N"]),
                outage_since=datetime.fromisoformat(item["outage_since"]["S"])
                if "outage_since" in item
                else None,
                alerted=item.get("alerted", {}).get("BOOL", False),
                previous_picked_up=int(item["previous_picked_up"]["N"])
                if "previous_picked_up" in item
                else None,
                previous_seen=datetime.fromisoformat(item["previous_seen"]["S"])
                if "previous_seen" in item
                else None,
            )
            for item in items
        ]

    def mark_offline(self, state: WarehouseState, now: datetime) -> bool:
        """Move an online warehouse offline, if nothing changed since ``state`` was read."""
        with translated("mark warehouse offline", warehouse=state.warehouse_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"PK": {"S": PARTITION}, "SK": {"S": state.warehouse_id}},
                    UpdateExpression=(
                        "SET #online = :false, outage_since = :seen, offline_at = :now, alerted = :false"
                    ),
                    ConditionExpression="#online = :true AND last_seen = :seen",
                    ExpressionAttributeNames={"#online": "online"},
                    ExpressionAttributeValues={
                        ":false": {"BOOL": False},
                        ":true": {"BOOL": True},
                        ":seen": {"S": state.last_seen.isoformat()},
                        ":now": {"S": now.isoformat()},
                    },
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def mark_alerted(self, warehouse_id: str, outage_since: datetime) -> None:
        """The outage's alert was delivered (only while that outage lasts)."""
        with translated("mark outage alerted", warehouse=warehouse_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"PK": {"S": PARTITION}, "SK": {"S": warehouse_id}},
                    UpdateExpression="SET alerted = :true",
                    ConditionExpression="outage_since = :since",
                    ExpressionAttributeValues={
                        ":true": {"BOOL": True},
                        ":since": {"S": outage_since.isoformat()},
                    },
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
