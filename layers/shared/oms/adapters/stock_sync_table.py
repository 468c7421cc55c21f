"""The channel stock sync's items in the Inventory table: listings and per-listing sync state.

=====================  =====================================  ==================================
item                   PK / SK                                GSI1 (sparse)
=====================  =====================================  ==================================
listing                STOCK#<sku> / LISTING#<platform>#<shop>  LISTINGS / <sku>#<platform>#<shop>
sync state             STOCK#<sku> / SYNC#<platform>#<shop>
=====================  =====================================  ==================================

A pass reads every listed SKU with one Query of ``STOCK#<sku>``: its levels, listings, sync
states and surge breaker come back together. Every sync-state change is a conditional
``UpdateItem`` (see :mod:`oms.domain.stock_sync` for the rules it enforces).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated
from oms.adapters.inventory_table import _entry_from, _level_from, ledger_pk, reservation_key
from oms.adapters.orders_table import from_attributes, to_attributes
from oms.domain.inventory import LedgerEntry
from oms.domain.sellable import ChannelRule
from oms.domain.stock_sync import Listing, SkuSnapshot, SyncState

LISTINGS_INDEX_PK = "LISTINGS"
#: How many pushed values a state remembers (a channel still showing one of them lost a newer push)
RECENT_PUSHES = 5


def listing_key(sku: str, platform: str, shop_id: str) -> dict[str, str]:
    return {"PK": f"STOCK#{sku}", "SK": f"LISTING#{platform}#{shop_id}"}


def state_key(listing: Listing) -> dict[str, str]:
    return {"PK": f"STOCK#{listing.sku}", "SK": f"SYNC#{listing.platform}#{listing.shop_id}"}


class DynamoStockSync:
    """:class:`~oms.services.ports.StockSyncStore` over the Inventory table."""

    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._db = dynamodb

    # --- listings ---------------------------------------------------------------------------

    def put_listing(self, listing: Listing, actor: str, at: datetime) -> None:
        item = {
            **listing_key(listing.sku, listing.platform, listing.shop_id),
            "type": "listing",
            "sku": listing.sku,
            "platform": listing.platform,
            "shop_id": listing.shop_id,
            "channel_sku_id": listing.channel_sku_id,
            "share_percent": listing.rule.share_percent,
            "buffer": listing.rule.buffer,
            "updated_by": actor,
            "updated_at": at.isoformat(),
            "GSI1PK": LISTINGS_INDEX_PK,
            "GSI1SK": f"{listing.sku}#{listing.platform}#{listing.shop_id}",
        }
        for name, value in (
            ("product_id", listing.product_id),
            ("location_id", listing.location_id),
            ("maximum", listing.rule.maximum),
        ):
            if value is not None:
                item[name] = value
        with translated("put listing", sku=listing.sku):
            self._db.put_item(TableName=self._table, Item=to_attributes(item))

    def listed_skus(self) -> list[str]:
        """Every SKU with at least one listing, in SKU order."""
        skus: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": to_attributes({":pk": LISTINGS_INDEX_PK}),
        }
        while True:
            with translated("query listings"):
                page = self._db.query(**kwargs)
            for item in page.get("Items", []):
                sku = str(from_attributes(item)["sku"])
                if not skus or skus[-1] != sku:
                    skus.append(sku)
            if "LastEvaluatedKey" not in page:
                return skus
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def snapshot(self, sku: str) -> SkuSnapshot:
        items = self._query(f"STOCK#{sku}", "")
        levels = [_level_from(item) for item in items if str(item["SK"]).startswith("WH#")]
        states = {
            str(item["SK"]).removeprefix("SYNC#"): item
            for item in items
            if str(item["SK"]).startswith("SYNC#")
        }
        listings = []
        for item in items:
            if not str(item["SK"]).startswith("LISTING#"):
                continue
            listing = _listing_from(item)
            state_item = states.get(f"{listing.platform}#{listing.shop_id}", {})
            recent = [int(x) for x in state_item.get("recent_pushes", [])]
            listings.append((listing, _state_from(state_item), recent))
        breaker = next((item for item in items if item["SK"] == "SURGE"), None)
        return SkuSnapshot(sku, levels, listings, breaker)

    # --- the ledger since a point -----------------------------------------------------------

    def ledger_since(self, sku: str, warehouse: str, seq: int) -> list[LedgerEntry]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk AND SK > :after",
            "ExpressionAttributeValues": to_attributes(
                {":pk": ledger_pk(sku, warehouse), ":after": f"{seq:012d}"}
            ),
        }
        entries: list[LedgerEntry] = []
        while True:
            with translated("query ledger", sku=sku):
                page = self._db.query(**kwargs)
            entries += [_entry_from(from_attributes(item)) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return entries
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def reservation_channels(self, references: Sequence[str]) -> dict[str, str]:
        """Ledger reference ``<order>#<line>`` → the platform its reservation came from."""
        keys = []
        for reference in dict.fromkeys(references):
            order_id, _, line_id = reference.rpartition("#")
            if order_id:
                keys.append(reservation_key(order_id, line_id))
        found: dict[str, str] = {}
        for start in range(0, len(keys), 100):
            request = {
                self._table: {
                    "Keys": [to_attributes(key) for key in keys[start : start + 100]],
                    "ProjectionExpression": "order_id, line_id, channel",
                }
            }
            while request:
                with translated("batch get reservations"):
                    reply = self._db.batch_get_item(RequestItems=request)
                for item in reply.get("Responses", {}).get(self._table, []):
                    plain = from_attributes(item)
                    found[f"{plain['order_id']}#{plain['line_id']}"] = str(plain.get("channel", ""))
                request = reply.get("UnprocessedKeys") or {}
        return found

    # --- conditional state changes ----------------------------------------------------------

    def claim(self, listing: Listing, computed_at: str, now: str, lease_until: str) -> bool:
        """Take the right to push a target computed at ``computed_at`` (see ``may_claim``)."""
        return self._update(
            listing,
            "SET computed_at = :computed, lease_until = :lease",
            "(attribute_not_exists(computed_at) OR computed_at < :computed)"
            " AND (attribute_not_exists(lease_until) OR lease_until <= :now)",
            {":computed": computed_at, ":lease": lease_until, ":now": now},
        )

    def record_push(
        self,
        listing: Listing,
        computed_at: str,
        *,
        quantity: int,
        pushed_seq: Mapping[str, int],
        recent: Sequence[int],
        at: str,
        unseen: int = 0,
    ) -> bool:
        return self._update(
            listing,
            "SET last_pushed = :q, pushed_at = :at, pushed_seq = :seq, recent_pushes = :recent,"
            " unseen_at_push = :unseen REMOVE lease_until",
            "computed_at = :computed",
            {
                ":q": quantity,
                ":at": at,
                ":seq": dict(pushed_seq),
                ":recent": [*list(recent), quantity][-RECENT_PUSHES:],
                ":computed": computed_at,
                ":unseen": unseen,
            },
        )

    def release(self, listing: Listing, computed_at: str) -> bool:
        """Give a claim up after a failed push (the next pass tries again)."""
        return self._update(
            listing, "REMOVE lease_until", "computed_at = :computed", {":computed": computed_at}
        )

    def record_check(
        self,
        listing: Listing,
        pulled: int | None,
        at: str,
        checked_seq: Mapping[str, int],
        difference: Mapping[str, Any] | None,
    ) -> bool:
        """What the pull found; only forward in time (an older pass's check never overwrites)."""
        names = "pulled_at = :at, checked_seq = :seq"
        values: dict[str, Any] = {":at": at, ":seq": dict(checked_seq)}
        if pulled is not None:
            names += ", last_pulled = :pulled"
            values[":pulled"] = pulled
        if difference is not None:
            names += ", last_difference = :difference"
            values[":difference"] = dict(difference)
        return self._update(
            listing,
            f"SET {names}",
            "attribute_not_exists(pulled_at) OR pulled_at < :at",
            values,
        )

    def _update(self, listing: Listing, update: str, condition: str, values: Mapping[str, Any]) -> bool:
        with translated("update sync state", sku=listing.sku):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=to_attributes(state_key(listing)),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=to_attributes(dict(values)),
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def _query(self, pk: str, sk_prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": to_attributes({":pk": pk}),
        }
        while True:
            with translated("query inventory", pk=pk):
                page = self._db.query(**kwargs)
            items += [from_attributes(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _listing_from(item: Mapping[str, Any]) -> Listing:
    maximum = item.get("maximum")
    return Listing(
        sku=str(item["sku"]),
        platform=str(item["platform"]),
        shop_id=str(item["shop_id"]),
        channel_sku_id=str(item["channel_sku_id"]),
        product_id=None if item.get("product_id") is None else str(item["product_id"]),
        location_id=None if item.get("location_id") is None else str(item["location_id"]),
        rule=ChannelRule(
            share_percent=int(item.get("share_percent", 100)),
            maximum=None if maximum is None else int(maximum),
            buffer=int(item.get("buffer", 0)),
        ),
    )


def _state_from(item: Mapping[str, Any]) -> SyncState:
    def number(name: str) -> int | None:
        value = item.get(name)
        return None if value is None else int(value)

    return SyncState(
        last_pushed=number("last_pushed"),
        computed_at=str(item.get("computed_at", "")),
        pushed_at=str(item.get("pushed_at", "")),
        pushed_seq={str(k): int(v) for k, v in (item.get("pushed_seq") or {}).items()},
        checked_seq={str(k): int(v) for k, v in (item.get("checked_seq") or {}).items()},
        lease_until=str(item.get("lease_until", "")),
        unseen_at_push=int(item.get("unseen_at_push", 0)),
        last_pulled=number("last_pulled"),
        pulled_at=str(item.get("pulled_at", "")),
        last_difference=item.get("last_difference"),
    )
