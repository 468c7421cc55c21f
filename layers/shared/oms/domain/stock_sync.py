"""The channel stock sync's decisions (pure): what to push, what a channel should show, what differs.

A **listing** is one SKU on one channel shop (the channel's product/SKU ids, an allocation rule).
Each pass of the inventory poller, per listing:

- the **target** is the SKU's sellable quantity allocated to the channel (share, buffer, maximum),
  capped by the surge breaker's protective quantity while it is tripped;
- it is **pushed only when it differs from the last value pushed** (or when a difference was just
  found: re-setting the channel heals it). "Newer" is the ledger state a target was computed
  from: a pass claims a listing with its computation time, and a claim older than the one stored
  is refused (:func:`may_claim`), so two overlapping passes never push stale over newer;
- the channel's current quantity is **pulled** and compared with what it should show:
  the last pushed value less the channel's own sales the ledger has seen since that push
  (:func:`expected_quantity`). Orders the channel accepted that the ledger has not seen yet
  (**in flight**) make the channel show fewer; the allowance is the channel's sales the ledger
  saw during the previous pass interval (the pipeline's lag is shorter than a pass interval).
  A difference beyond the threshold (±2% by default, at least one unit) is reported with a
  likely cause from data-driven rules (``oms/data/stock_causes.json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from oms.domain.errors import BadRequestError, InventoryInvalidError
from oms.domain.inventory import LedgerEntry, Reason, StockLevel
from oms.domain.sellable import ChannelRule, allocate

#: The difference report's columns, in order (the monthly health report reads them).
REPORT_COLUMNS = ("at", "sku", "channel", "ours", "theirs", "in_flight", "delta", "likely_cause")
#: Ledger movements that change what a channel shows when they are the channel's own orders.
CHANNEL_SALE = frozenset({Reason.RESERVE, Reason.DEDUCT_UNRESERVED})
CHANNEL_RESTORE = frozenset({Reason.RELEASE, Reason.EXPIRE})


#: Platforms whose stock the poller can set
PUSHABLE = frozenset(
    {"douyin", "shopify", "wechat_channels", "xiaohongshu", "kuaishou", "woocommerce", "pinduoduo", "taobao"}
)
#: Platforms whose stock the poller can read back and compare (every one it pushes to)
PULLABLE = PUSHABLE


def check_listing(listing: Listing) -> None:
    """Refuse a listing the poller could not push (``BAD_REQUEST``)."""
    if listing.platform not in PUSHABLE:
        raise BadRequestError("the poller cannot set stock on this platform", platform=listing.platform)
    needs_product = listing.platform in {"douyin", "wechat_channels", "kuaishou", "pinduoduo", "taobao"}
    if needs_product and not listing.product_id:
        raise BadRequestError(
            "this platform names a SKU within its product: give product_id", field="product_id"
        )
    if listing.platform == "shopify" and not listing.location_id:
        raise BadRequestError("Shopify stock lives per location: give location_id", field="location_id")


@dataclass(frozen=True, slots=True)
class Listing:
    """One SKU on one channel shop, as the operator mapped it."""

    sku: str
    platform: str
    shop_id: str
    channel_sku_id: str
    product_id: str | None = None
    location_id: str | None = None
    rule: ChannelRule = field(default_factory=ChannelRule)

    @property
    def channel(self) -> str:
        return f"{self.platform}:{self.shop_id}"


@dataclass(frozen=True, slots=True)
class SyncState:
    """What the poller remembers per listing (an item of the Inventory table)."""

    last_pushed: int | None = None
    #: the computation time (ISO, UTC) of the newest claimed target; orders claims
    computed_at: str = ""
    pushed_at: str = ""
    #: ledger seq per warehouse the pushed target was computed at
    pushed_seq: Mapping[str, int] = field(default_factory=dict)
    #: ledger seq per warehouse of the previous check (the in-flight window starts there)
    checked_seq: Mapping[str, int] = field(default_factory=dict)
    lease_until: str = ""
    #: units the channel had deducted for orders the ledger had not seen when the push set it:
    #: when the ledger sees them they are not sales since the push (the push already counted them)
    unseen_at_push: int = 0
    last_pulled: int | None = None
    pulled_at: str = ""
    last_difference: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SkuSnapshot:
    """One SKU as a pass sees it: levels, listings with their sync state and recent pushes, the breaker."""

    sku: str
    levels: list[StockLevel]
    listings: list[tuple[Listing, SyncState, list[int]]]
    breaker: Mapping[str, Any] | None


def target_quantity(sellable: int, rule: ChannelRule, protective: int | None) -> int:
    """What the channel should be set to: its allocation, capped while the surge breaker holds."""
    allocated = allocate(sellable, {"channel": rule})["channel"]
    return allocated if protective is None else min(allocated, max(0, protective))


def needs_push(target: int, state: SyncState, *, heal: bool = False) -> bool:
    """Push only what changed (or re-set a channel found to differ)."""
    return heal or state.last_pushed != target


def may_claim(state: SyncState, computed_at: str, now: str) -> bool:
    """A pass computed at ``computed_at`` may push: nothing newer was claimed and no push is under way.

    Times are fixed-width UTC ISO strings, so text order is time order.
    """
    if state.computed_at and computed_at <= state.computed_at:
        return False
    return not (state.lease_until and state.lease_until > now)


def channel_sales(entries: Iterable[LedgerEntry], channels: Mapping[str, str], platform: str) -> int:
    """Net units the channel's own orders took, among ``entries`` (reserve −, release/expire +).

    ``channels`` maps a ledger reference (``<order>#<line>``) to the platform of its reservation.
    Sales are positive.
    """
    sold = 0
    for entry in entries:
        if channels.get(entry.reference) != platform:
            continue
        if entry.reason in CHANNEL_SALE:
            sold += abs(entry.reserved_delta or entry.on_hand_delta)
        elif entry.reason in CHANNEL_RESTORE:
            sold -= abs(entry.reserved_delta)
    return sold


def expected_quantity(last_pushed: int, sold_since_push: int, unseen_at_push: int = 0) -> int:
    """What the channel should show now: the pushed value less its own sales since (never below 0).

    Orders the channel had taken but the ledger had not seen when the push set the channel were
    wiped from its count by the push; when the ledger sees them they are not new sales.
    """
    return max(0, last_pushed - max(0, sold_since_push - unseen_at_push))


def unseen_at_push(ours: int | None, theirs: int | None, in_flight: int) -> int:
    """The channel's deductions the ledger has not seen (explained by orders in flight) at a push."""
    if ours is None or theirs is None:
        return 0
    return min(max(0, in_flight), max(0, ours - theirs))


@dataclass(frozen=True, slots=True)
class CauseRule:
    """When a difference looks like this, say that. ``{n}`` is the size in units."""

    direction: str  # "more": the channel shows more than it should; "fewer"; "any"
    cause: str
    minimum: int = 1
    maximum: int | None = None
    #: only when the channel still shows a value we pushed earlier (a newer push never arrived)
    shows_an_earlier_push: bool | None = None

    def matches(self, direction: str, size: int, shows_an_earlier_push: bool) -> bool:
        return (
            self.direction in (direction, "any")
            and size >= self.minimum
            and (self.maximum is None or size <= self.maximum)
            and (self.shows_an_earlier_push is None or self.shows_an_earlier_push == shows_an_earlier_push)
        )


def load_cause_rules(text: str) -> tuple[CauseRule, ...]:
    """Rules from JSON (``[{"direction", "cause", "minimum"?, "maximum"?, "shows_an_earlier_push"?}]``)."""
    raw = json.loads(text)
    if not isinstance(raw, list) or not raw:
        raise InventoryInvalidError("likely-cause rules are a non-empty JSON list")
    rules = []
    for entry in raw:
        if not isinstance(entry, dict) or entry.get("direction") not in ("more", "fewer", "any"):
            raise InventoryInvalidError("a likely-cause rule needs direction more|fewer|any and a cause")
        rules.append(
            CauseRule(
                direction=str(entry["direction"]),
                cause=str(entry["cause"]),
                minimum=int(entry.get("minimum", 1)),
                maximum=None if entry.get("maximum") is None else int(entry["maximum"]),
                shows_an_earlier_push=entry.get("shows_an_earlier_push"),
            )
        )
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class Difference:
    at: str
    sku: str
    channel: str
    ours: int
    theirs: int
    in_flight: int
    #: theirs − ours after the in-flight allowance: positive, the channel shows more
    delta: int
    likely_cause: str

    def row(self) -> tuple[str, str, str, int, int, int, int, str]:
        return (
            self.at,
            self.sku,
            self.channel,
            self.ours,
            self.theirs,
            self.in_flight,
            self.delta,
            self.likely_cause,
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(REPORT_COLUMNS, self.row(), strict=True))


def judge(
    *,
    at: datetime,
    listing: Listing,
    ours: int,
    theirs: int,
    in_flight: int,
    threshold_percent: Decimal,
    rules: Sequence[CauseRule],
    earlier_pushes: Iterable[int] = (),
) -> Difference | None:
    """A reportable difference between what the channel shows and what it should, or None.

    Orders in flight explain a channel showing up to ``in_flight`` fewer; what remains counts when
    it is at least one unit and more than ``threshold_percent`` of ``ours``.
    """
    raw = theirs - ours
    delta = min(0, raw + in_flight) if raw < 0 else raw
    if delta == 0 or Decimal(abs(delta)) * 100 <= threshold_percent * ours:
        return None
    direction = "more" if delta > 0 else "fewer"
    earlier = theirs in set(earlier_pushes)
    cause = next(
        (rule.cause for rule in rules if rule.matches(direction, abs(delta), earlier)),
        f"channel shows {abs(delta)} {direction}: unexplained",
    )
    return Difference(
        at=at.isoformat(),
        sku=listing.sku,
        channel=listing.channel,
        ours=ours,
        theirs=theirs,
        in_flight=in_flight,
        delta=delta,
        likely_cause=cause.replace("{n}", str(abs(delta))),
    )


def report_csv(differences: Sequence[Difference]) -> str:
    """The difference report: a header and one row per difference (UTF-8, RFC 4180, CRLF)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for difference in differences:
        # Text cells starting with = + - @ are formulas to a spreadsheet: quoted as text. Numbers
        # (a negative delta) stay numbers.
        writer.writerow(
            [
                f"'{cell}" if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@") else cell
                for cell in difference.row()
            ]
        )
    return buffer.getvalue()


def listing_from_request(sku: str, body: Mapping[str, Any]) -> Listing:
    """A listing from an operator's ``PUT /inventory/{sku}/listings`` body (``BAD_REQUEST`` when unusable)."""

    def text(name: str, *, required: bool = False) -> str | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise BadRequestError(f"{name} is required (a non-empty string)", field=name)
        return value.strip()

    def number(name: str, default: int | None) -> int | None:
        value = body.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000_000:
            raise BadRequestError(f"{name} must be a whole number, not negative", field=name)
        return value

    try:
        rule = ChannelRule(
            share_percent=number("share_percent", 100) or 0,
            maximum=number("maximum", None),
            buffer=number("buffer", 0) or 0,
        )
    except InventoryInvalidError as error:
        raise BadRequestError(error.message, field="allocation") from error
    listing = Listing(
        sku=sku,
        platform=str(text("platform", required=True)),
        shop_id=str(text("shop_id", required=True)),
        channel_sku_id=str(text("channel_sku_id", required=True)),
        product_id=text("product_id"),
        location_id=text("location_id"),
        rule=rule,
    )
    check_listing(listing)
    return listing
