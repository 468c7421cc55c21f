"""The Returns table: each return's record, its event chain, and what makes writes happen once.

==================  ===================================  =========================================
item                PK / SK                              GSI
==================  ===================================  =========================================
return record       RET#<id> / META                      GSI1 GAPWATCH / <pickup at>#<id> (sparse:
                                                         while the 72-hour rule watches it)
                                                         GSI2 PENDING#<shard> / <id> (sparse: its
                                                         head is not anchored in a digest yet)
chain event n       RET#<id> / EVT#<n, 6 digits>         -
once-only marker    RET#<id> / ONCE#<key>                - (a scan's device + scan id, the gap)
opening marker      OPEN#<key> / OPEN                    - (operator request id, platform order)
rejected code       ATTEMPT#<day> / <at>#<uuid>          - (TTL 180 days)
==================  ===================================  =========================================

An append is one transaction: the record's head moves from (n, hash) to (n+1, hash') on the
condition that it is still (n, hash), the event item is put on the condition that position n+1
is free, and the once-only marker on the condition that it is new. Two scans racing for position
n+1 cannot both win, so the chain never forks; the loser re-reads the head and appends after.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from oms.adapters.aws import error_code, translate, translated
from oms.adapters.orders_table import from_attributes, sortable_time, to_attributes
from oms.domain.errors import ConcurrentUpdateError
from oms.domain.return_chain import Anchor, StoredLink
from oms.domain.returns import ReturnLine, ReturnRecord, ReturnStatus

META = "META"
EVENT_PREFIX = "EVT#"
ONCE_PREFIX = "ONCE#"
GAP_WATCH = "GAPWATCH"
#: Pending heads are spread over this many index partitions (every append writes one).
PENDING_SHARDS = 10
ATTEMPT_RETENTION = timedelta(days=180)


def return_pk(return_id: str) -> str:
    return f"RET#{return_id}"


def event_sk(position: int) -> str:
    return f"{EVENT_PREFIX}{position:06d}"


def pending_shard(return_id: str) -> int:
    return int(hashlib.sha256(return_id.encode("utf-8")).hexdigest()[:8], 16) % PENDING_SHARDS


def _iso(moment: datetime | None) -> str | None:
    return sortable_time(moment) if moment else None


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def record_item(record: ReturnRecord) -> dict[str, Any]:
    item: dict[str, Any] = {"PK": return_pk(record.return_id), "SK": META, "type": "return"}
    item.update(_state(record))
    item.update(
        {
            "return_id": record.return_id,
            "code": record.code,
            "order_id": record.order_id,
            "platform": record.platform,
            "shop_id": record.shop_id,
            "platform_order_id": record.platform_order_id,
            "lines": json.dumps([line.model_dump() for line in record.lines], sort_keys=True),
            "source": record.source,
            "opened_at": _iso(record.opened_at),
        }
    )
    return item


def _state(record: ReturnRecord) -> dict[str, Any]:
    """The attributes an append changes (the head, the counters, the indexes)."""
    state: dict[str, Any] = {
        "head_seq": record.head_seq,
        "head_hash": record.head_hash,
        "status": str(record.status),
        "pickups": record.pickups,
        "receipts": record.receipts,
        "flags": list(record.flags),
        "gap_alerted": record.gap_alerted,
        "pickup_at": _iso(record.pickup_at),
        "receipt_at": _iso(record.receipt_at),
        "last_change_at": _iso(record.last_change_at),
        # Every append leaves the head pending until a digest anchors it (set_anchor clears it).
        "GSI2PK": f"PENDING#{pending_shard(record.return_id)}",
        "GSI2SK": record.return_id,
    }
    if record.watching_gap and record.pickup_at is not None:
        state["GSI1PK"] = GAP_WATCH
        state["GSI1SK"] = f"{sortable_time(record.pickup_at)}#{record.return_id}"
    return state


def _record(item: dict[str, Any]) -> ReturnRecord:
    opened_at = _time(item["opened_at"])
    assert opened_at is not None
    return ReturnRecord(
        return_id=str(item["return_id"]),
        code=str(item["code"]),
        order_id=str(item["order_id"]),
        platform=str(item["platform"]),
        shop_id=str(item["shop_id"]),
        platform_order_id=str(item["platform_order_id"]),
        lines=tuple(ReturnLine.model_validate(line) for line in json.loads(item["lines"])),
        source=str(item["source"]),
        opened_at=opened_at,
        head_seq=int(item["head_seq"]),
        head_hash=str(item["head_hash"]),
        status=ReturnStatus(item.get("status", "opened")),
        pickup_at=_time(item.get("pickup_at")),
        receipt_at=_time(item.get("receipt_at")),
        pickups=int(item.get("pickups", 0)),
        receipts=int(item.get("receipts", 0)),
        flags=tuple(str(flag) for flag in item.get("flags", [])),
        gap_alerted=bool(item.get("gap_alerted", False)),
        last_change_at=_time(item.get("last_change_at")),
    )


def link_item(return_id: str, link: StoredLink) -> dict[str, Any]:
    return {
        "PK": return_pk(return_id),
        "SK": event_sk(link.position),
        "type": "return_event",
        # The canonical text: what an auditor reads is what was hashed.
        "event": json.dumps(link.event, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        "hash": link.hash,
        "prev_hash": link.previous_hash,
    }


def _link(item: dict[str, Any]) -> StoredLink:
    try:
        event = json.loads(str(item.get("event", "")))
    except ValueError:
        event = None
    return StoredLink(
        position=int(str(item["SK"]).removeprefix(EVENT_PREFIX)),
        event=event if isinstance(event, dict) else None,
        hash=str(item.get("hash", "")),
        previous_hash=str(item.get("prev_hash", "")),
    )


class DynamoReturnsRepository:
    """:class:`~oms.services.ports.ReturnsRepository` on the Returns table."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def get(self, return_id: str) -> ReturnRecord | None:
        with translated("GetItem", return_id=return_id):
            item = self._dynamodb.get_item(
                TableName=self._table,
                Key=to_attributes({"PK": return_pk(return_id), "SK": META}),
                ConsistentRead=True,
            ).get("Item")
        return _record(from_attributes(item)) if item else None

    def links(self, return_id: str) -> list[StoredLink]:
        return [
            _link(item)
            for item in self._query(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues=to_attributes(
                    {":pk": return_pk(return_id), ":prefix": EVENT_PREFIX}
                ),
                ConsistentRead=True,
            )
        ]

    def create(self, record: ReturnRecord, first: StoredLink, once_key: str) -> str:
        opening = {
            "PK": f"OPEN#{once_key}",
            "SK": "OPEN",
            "type": "return_opening",
            "return_id": record.return_id,
        }
        actions = [
            {"Put": self._put(opening, "attribute_not_exists(PK)")},
            {"Put": self._put(record_item(record), "attribute_not_exists(PK)")},
            {"Put": self._put(link_item(record.return_id, first), "attribute_not_exists(PK)")},
        ]
        reasons = self._transact(actions, return_id=record.return_id)
        if reasons is None:
            return record.return_id
        if reasons[0] == "ConditionalCheckFailed":
            with translated("GetItem", once_key=once_key):
                item = self._dynamodb.get_item(
                    TableName=self._table,
                    Key=to_attributes({"PK": f"OPEN#{once_key}", "SK": "OPEN"}),
                    ConsistentRead=True,
                ).get("Item")
            if item:
                return str(from_attributes(item)["return_id"])
        raise ConcurrentUpdateError("the return id is taken", return_id=record.return_id, reasons=reasons)

    def append(
        self, before: ReturnRecord, after: ReturnRecord, link: StoredLink, once_key: str
    ) -> int | None:
        state = _state(after)
        names = {f"#a{index}": name for index, name in enumerate(state)}
        values = {f":a{index}": value for index, value in enumerate(state.values()) if value is not None}
        sets = [f"#a{index} = :a{index}" for index, value in enumerate(state.values()) if value is not None]
        removes = [f"#a{index}" for index, value in enumerate(state.values()) if value is None]
        for name in ("GSI1PK", "GSI1SK"):
            if name not in state:
                names[f"#{name}"] = name
                removes.append(f"#{name}")
        names |= {"#seq": "head_seq", "#hash": "head_hash"}
        values |= {":before_seq": before.head_seq, ":before_hash": before.head_hash}
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        once = {
            "PK": return_pk(after.return_id),
            "SK": f"{ONCE_PREFIX}{once_key}",
            "type": "return_once",
            "seq": link.position,
        }
        actions = [
            {"Put": self._put(once, "attribute_not_exists(PK)")},
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_attributes({"PK": return_pk(after.return_id), "SK": META}),
                    "UpdateExpression": update,
                    "ConditionExpression": "#seq = :before_seq AND #hash = :before_hash",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": to_attributes(values),
                }
            },
            {"Put": self._put(link_item(after.return_id, link), "attribute_not_exists(PK)")},
        ]
        reasons = self._transact(actions, return_id=after.return_id)
        if reasons is None:
            return None
        if reasons[0] == "ConditionalCheckFailed":
            with translated("GetItem", return_id=after.return_id):
                item = self._dynamodb.get_item(
                    TableName=self._table,
                    Key=to_attributes({"PK": return_pk(after.return_id), "SK": f"{ONCE_PREFIX}{once_key}"}),
                    ConsistentRead=True,
                ).get("Item")
            if item:
                return int(from_attributes(item)["seq"])
        raise ConcurrentUpdateError("the return's head moved", return_id=after.return_id, reasons=reasons)

    def gap_candidates(self, picked_up_before: datetime) -> list[str]:
        return [
            str(item["GSI1SK"]).rsplit("#", 1)[-1]
            for item in self._query(
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :bound",
                ExpressionAttributeValues=to_attributes(
                    {":pk": GAP_WATCH, ":bound": sortable_time(picked_up_before)}
                ),
            )
        ]

    def stop_watching(self, return_id: str) -> None:
        with translated("UpdateItem", return_id=return_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=to_attributes({"PK": return_pk(return_id), "SK": META}),
                    UpdateExpression="REMOVE GSI1PK, GSI1SK",
                    ConditionExpression="attribute_exists(PK)",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise

    def pending_heads(self) -> list[tuple[str, int, str]]:
        return [
            (str(item["return_id"]), int(item["head_seq"]), str(item["head_hash"]))
            for shard in range(PENDING_SHARDS)
            for item in self._query(
                IndexName="GSI2",
                KeyConditionExpression="GSI2PK = :pk",
                ExpressionAttributeValues=to_attributes({":pk": f"PENDING#{shard}"}),
            )
        ]

    def set_anchor(self, return_id: str, anchor: Anchor) -> None:
        """Point the record at the digest; it stops pending only if the head is still the anchored one."""
        still_head = "attribute_exists(PK) AND head_seq = :seq"
        forward = "attribute_exists(PK) AND (attribute_not_exists(anchor_seq) OR anchor_seq <= :seq)"
        if not self._anchor_update(return_id, anchor, still_head, " REMOVE GSI2PK, GSI2SK"):
            # The chain grew since the digest read it: anchored up to here, still pending after.
            self._anchor_update(return_id, anchor, forward, "")

    def _anchor_update(self, return_id: str, anchor: Anchor, condition: str, remove: str) -> bool:
        with translated("UpdateItem", return_id=return_id):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=to_attributes({"PK": return_pk(return_id), "SK": META}),
                    UpdateExpression=(
                        "SET anchor_seq = :seq, anchor_hash = :hash, anchor_key = :key, anchor_day = :day, "
                        "anchor_root = :root" + remove
                    ),
                    ConditionExpression=condition,
                    ExpressionAttributeValues=to_attributes(
                        {
                            ":seq": anchor.seq,
                            ":hash": anchor.hash,
                            ":key": anchor.digest_key,
                            ":day": anchor.day,
                            ":root": anchor.root,
                        }
                    ),
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                return False
        return True

    def anchor(self, return_id: str) -> Anchor | None:
        with translated("GetItem", return_id=return_id):
            item = self._dynamodb.get_item(
                TableName=self._table,
                Key=to_attributes({"PK": return_pk(return_id), "SK": META}),
                ConsistentRead=True,
                ProjectionExpression="anchor_seq, anchor_hash, anchor_key, anchor_day, anchor_root",
            ).get("Item")
        values = from_attributes(item) if item else {}
        if "anchor_seq" not in values:
            return None
        return Anchor(
            int(values["anchor_seq"]),
            str(values["anchor_hash"]),
            str(values["anchor_key"]),
            str(values["anchor_day"]),
            str(values["anchor_root"]),
        )

    def record_attempt(self, at: datetime, reason: str, route: str, code_prefix: str) -> None:
        item = {
            "PK": f"ATTEMPT#{at:%Y-%m-%d}",
            "SK": f"{sortable_time(at)}#{uuid.uuid4().hex}",
            "type": "return_code_attempt",
            "reason": reason,
            "route": route,
            "code_prefix": code_prefix,
            "expires_at": int((at + ATTEMPT_RETENTION).timestamp()),
        }
        with translated("PutItem"):
            self._dynamodb.put_item(TableName=self._table, Item=to_attributes(item))

    def attempts_on(self, day: str) -> list[dict[str, Any]]:
        return list(
            self._query(
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues=to_attributes({":pk": f"ATTEMPT#{day}"}),
            )
        )

    # ------------------------------------------------------------------ plumbing

    def _put(self, item: dict[str, Any], condition: str) -> dict[str, Any]:
        return {"TableName": self._table, "Item": to_attributes(item), "ConditionExpression": condition}

    def _transact(self, actions: list[dict[str, Any]], **context: object) -> list[str] | None:
        """None when written; the cancellation reasons when a condition failed."""
        try:
            self._dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException":
                return [
                    reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])
                ]
            raise translate(error, "TransactWriteItems", **context) from error
        except BotoCoreError as error:
            raise translate(error, "TransactWriteItems", **context) from error
        return None

    def _query(self, **request: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            page_request = {"TableName": self._table, **request}
            if start:
                page_request["ExclusiveStartKey"] = start
            with translated("Query"):
                page = self._dynamodb.query(**page_request)
            yield from (from_attributes(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return
