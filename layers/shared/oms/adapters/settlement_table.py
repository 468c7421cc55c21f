"""The Settlement table: settlement entries, written once, read per channel in booking-date order.

=====================  ==========================  ============================================
item                   PK / SK                     GSI1
=====================  ==========================  ============================================
settlement entry       <base id> / <BOOK|PDNG>     CHANNEL#<channel> / <booking date>#<entry id>
=====================  ==========================  ============================================

``<base id>`` is ``ORDER#<order id>#<kind>#<component>`` for what an order implies and
``<kind>#<channel>#<reference>`` for payouts and chargebacks; an entry's pending and booked
versions share it. Every write is ``attribute_not_exists(PK)``: an entry is never changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated
from oms.adapters.orders_table import from_attributes, to_attributes
from oms.domain.errors import SettlementEntryConflictError
from oms.domain.model import Platform
from oms.domain.settlement import SettlementEntry

_KEYS = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "type"})


def channel_pk(channel: Platform) -> str:
    return f"CHANNEL#{channel}"


def entry_item(entry: SettlementEntry) -> dict[str, Any]:
    return {
        "PK": entry.base_id,
        "SK": str(entry.status),
        "type": "settlement_entry",
        "GSI1PK": channel_pk(entry.channel),
        "GSI1SK": f"{entry.booking_date.isoformat()}#{entry.entry_id}",
        # Amounts as strings: exact, never a binary float on the way.
        **entry.model_dump(mode="json", exclude_none=True),
    }


def _entry(item: dict[str, Any]) -> SettlementEntry:
    return SettlementEntry.model_validate({k: v for k, v in item.items() if k not in _KEYS})


class DynamoSettlementStore:
    """:class:`~oms.services.ports.SettlementStore` on DynamoDB."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def add(self, entry: SettlementEntry) -> bool:
        """Write a new entry; False when it was written before (a replayed change)."""
        with translated("PutItem", entry_id=entry.entry_id):
            try:
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item=to_attributes(entry_item(entry)),
                    ConditionExpression="attribute_not_exists(PK)",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def get(self, base_id: str, status: str) -> SettlementEntry | None:
        with translated("GetItem", base_id=base_id):
            reply = self._dynamodb.get_item(
                TableName=self._table, Key=to_attributes({"PK": base_id, "SK": status}), ConsistentRead=True
            )
        item = reply.get("Item")
        return _entry(from_attributes(item)) if item else None

    def add_unique(self, entry: SettlementEntry) -> bool:
        """Like :meth:`add`, but a different entry under the same id is a conflict, not a replay."""
        if self.add(entry):
            return True
        existing = self.get(entry.base_id, str(entry.status))
        ignored = {"recorded_at", "recorded_by"}
        if existing is None or existing.model_dump(exclude=ignored) != entry.model_dump(exclude=ignored):
            raise SettlementEntryConflictError(
                "an entry with this reference was recorded with other values", reference=entry.reference
            )
        return False

    def entries(self, channel: Platform, *, through: date) -> Iterator[SettlementEntry]:
        """The channel's entries booked on or before ``through`` (oldest first)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK < :before",
            "ExpressionAttributeValues": to_attributes(
                # "#" sorts before every digit, so "<through>#…" < "<through>$" covers the whole day.
                {":pk": channel_pk(channel), ":before": f"{through.isoformat()}$"}
            ),
        }
        while True:
            with translated("Query", channel=str(channel)):
                page = self._dynamodb.query(**query)
            for item in page.get("Items", []):
                yield _entry(from_attributes(item))
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
