"""The flash sale: one SKU, 500 units, 3 channels, 2,000 buyers, Pinduoduo's stock lagging 3.7 s.

What is real: the stock is received through the signed admin API (``PUT /inventory/{sku}``); every
reservation, payment and cancellation goes through the ledger adapter's transactions on the local
stack's moto server; unpaid holds are expired by the inventory function's own sweep schedule fired
by the simulated clock; the result is read back over ``GET /inventory/{sku}``.

What is modelled here (docs/inventory.md says why): the channels' storefronts. Each channel shows
the quantity the ledger last had *as of its lag* (Douyin 0.3 s, Shopify 0.5 s, Pinduoduo 3.7 s,
on the simulated timeline; nothing sleeps), decrements it on each of its own sales, and accepts a
buyer while it shows stock. A buyer the channel accepted but the ledger refuses is a channel-side
oversell: the order is cancelled before payment and an ``inventory.oversell`` alert is raised (the
same handling as ``oms.services.inventory``).

The oracle: the ledger never sells more than 500 (on hand never below zero, the ledger replays to
the counters), every one of the 500 units is sold or still held when demand exceeds stock, and the
expired holds are exactly the unpaid reservations.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from local.chapters import Chapter
from local.scheduler import only_functions
from local.stack import LocalStack
from oms.adapters.inventory_table import DynamoInventoryLedger
from oms.domain.errors import InsufficientStockError
from oms.domain.inventory import LineDemand, Reason, ReservationState, replay

SKU = "FLASH-TEA-1"
WAREHOUSE = "main"
UNITS = 500
BUYERS = 2_000
#: The sale lasts this long on the simulated timeline; buyers arrive uniformly within it.
SALE_SECONDS = 60.0
#: How late each channel's storefront sees a change of the ledger's stock (Pinduoduo: ~3.7 s reported).
LAG_SECONDS: Mapping[str, float] = {"douyin": 0.3, "shopify": 0.5, "pinduoduo": 3.7}
#: Share of buyers per channel.
CHANNEL_WEIGHTS: Mapping[str, float] = {"douyin": 0.45, "shopify": 0.2, "pinduoduo": 0.35}
#: Unpaid holds: Pinduoduo 15 minutes (INVENTORY_HOLD_MINUTES in template.yaml), others 30.
HOLD: Mapping[str, timedelta] = {"pinduoduo": timedelta(minutes=15)}
DEFAULT_HOLD = timedelta(minutes=30)
#: Share of reserved buyers who never pay (their holds expire and are swept).
UNPAID_SHARE = 0.12
SEED = 20261124


@dataclass
class _Storefront:
    """A channel's view of the stock: the ledger's availability as of ``lag`` ago, minus its own sales."""

    lag: float
    history: list[tuple[float, int]]
    own_sales_since: list[float]

    def shown(self, at: float) -> int:
        seen_at, seen = max(((t, q) for t, q in self.history if t <= at - self.lag), default=(0.0, 0))
        sold_since = sum(1 for t in self.own_sales_since if t > seen_at)
        return max(0, seen - sold_since)


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(name="flash_sale")
    ledger = DynamoInventoryLedger(stack.deployed.names["InventoryTable"], stack.client("dynamodb"))
    assert stack.clock is not None
    start = stack.clock.now()

    # Receive the stock through the operators' API, as a warehouse would.
    body = json.dumps({"warehouse": WAREHOUSE, "reference": "FLASH-PO-1", "receipt": UNITS})
    received = stack.request(
        "PUT", f"/inventory/{SKU}", body=body, headers={"content-type": "application/json"}, sign=True
    )
    if received.status != 200:
        chapter.mismatches.append(f"receipt refused: {received.status} {received.body[:200]!r}")
        return chapter

    sale = _sell(ledger, start)
    reserved, paid, unpaid = sale.reserved, sale.paid, sale.unpaid
    accepted, turned_away, channel_oversold = sale.accepted, sale.turned_away, sale.channel_oversold
    channels = list(CHANNEL_WEIGHTS)

    # Time passes on the simulated clock: the inventory function's sweep schedule expires the holds
    # (the other schedules, with nothing to do here, stay paused for the jump).
    stack.clock.advance(timedelta(minutes=35), only=only_functions("InventoryEventsFunction"))
    view = json.loads(stack.admin_get(f"/inventory/{SKU}").body)
    (stock,) = view["warehouses"]
    entries = ledger.ledger(SKU, WAREHOUSE)
    # Each ledger entry names its order line: the expiries are the sweep's work.
    states = Counter({ReservationState.EXPIRED: sum(1 for e in entries if e.reason == Reason.EXPIRE)})
    sold = UNITS - stock["on_hand"]

    chapter.summary = {
        "sku": SKU,
        "units": UNITS,
        "buyers": BUYERS,
        "lag_seconds": dict(LAG_SECONDS),
        "accepted_by_channel": dict(accepted),
        "turned_away_by_channel": dict(turned_away),
        "ledger_reservations": len(reserved),
        "ledger_oversell": max(0, sold - UNITS) + (1 if stock["on_hand"] < 0 else 0),
        "channel_oversell": dict(channel_oversold),
        "channel_oversell_handling": "cancelled before payment; inventory.oversell alert",
        "paid": paid,
        "expired_holds": states[ReservationState.EXPIRED],
        "units_released_by_expiry": states[ReservationState.EXPIRED],
        "on_hand_after": stock["on_hand"],
        "reserved_after": stock["reserved"],
        "ledger_entries": len(entries),
    }
    chapter.lines = [
        f"flash sale: {BUYERS} buyers for {UNITS} units of {SKU} on {', '.join(channels)}"
        f" (Pinduoduo stock lag {LAG_SECONDS['pinduoduo']} s)",
        f"  ledger: {len(reserved)} reserved, {paid} paid, {states[ReservationState.EXPIRED]} holds expired"
        f" and swept; oversell inside the ledger: {chapter.summary['ledger_oversell']}",
        "  channel-side oversell (the channel accepted, the ledger refused; cancelled before payment): "
        + ", ".join(f"{c} {channel_oversold[c]}" for c in channels),
        f"  stock now: on hand {stock['on_hand']}, reserved {stock['reserved']},"
        f" available {stock['available']}",
    ]

    # The oracle.
    if chapter.summary["ledger_oversell"] != 0:
        chapter.mismatches.append(f"the ledger oversold: {sold} sold of {UNITS}")
    if len(reserved) != UNITS:
        chapter.mismatches.append(
            f"demand exceeded stock, yet {len(reserved)} of {UNITS} units were reserved"
        )
    if replay(entries) != (stock["on_hand"], stock["reserved"]):
        chapter.mismatches.append("the ledger does not replay to the counters")
    if states[ReservationState.EXPIRED] != len(unpaid):
        chapter.mismatches.append(
            f"{len(unpaid)} unpaid holds but {states[ReservationState.EXPIRED]} expired"
        )
    if (stock["on_hand"], stock["reserved"]) != (UNITS - paid, 0):
        chapter.mismatches.append(f"expected on hand {UNITS - paid} and nothing reserved, got {stock}")
    if sum(channel_oversold.values()) == 0:
        chapter.mismatches.append("no channel-side oversell: the lag model did not bite")
    return chapter


@dataclass
class _Sale:
    reserved: list[tuple[LineDemand, str, float]]
    paid: int
    unpaid: set[str]
    accepted: Counter[str]
    turned_away: Counter[str]
    channel_oversold: Counter[str]


def _sell(ledger: DynamoInventoryLedger, start: datetime) -> _Sale:
    """Buyers arrive, storefronts accept or turn them away, the ledger reserves; most then pay."""
    rng = random.Random(SEED)  # noqa: S311 - a reproducible demo, not security
    arrivals = sorted(rng.uniform(0, SALE_SECONDS) for _ in range(BUYERS))
    channels = list(CHANNEL_WEIGHTS)
    picks = rng.choices(channels, weights=[CHANNEL_WEIGHTS[c] for c in channels], k=BUYERS)
    history: list[tuple[float, int]] = [(0.0, UNITS)]
    fronts = {c: _Storefront(LAG_SECONDS[c], history, []) for c in channels}

    accepted: Counter[str] = Counter()
    turned_away: Counter[str] = Counter()
    channel_oversold: Counter[str] = Counter()
    reserved: list[tuple[LineDemand, str, float]] = []
    available = UNITS
    for n, (at, channel) in enumerate(zip(arrivals, picks, strict=True)):
        front = fronts[channel]
        if front.shown(at) <= 0:
            turned_away[channel] += 1
            continue
        accepted[channel] += 1
        front.own_sales_since.append(at)
        line = LineDemand(f"FS{n:05d}", "1", SKU, WAREHOUSE, 1)
        now = start + timedelta(seconds=at)
        try:
            ledger.reserve(channel, [line], now, now + HOLD.get(channel, DEFAULT_HOLD))
        except InsufficientStockError:
            # The channel sold what the ledger no longer had: cancelled before payment, alerted.
            channel_oversold[channel] += 1
            ledger.release_order(line.order_id, now, lines=[line])
            continue
        available -= 1
        history.append((at, available))
        reserved.append((line, channel, at))

    # Most buyers pay within ten minutes; the rest never do.
    unpaid = {line.order_id for line, _, _ in reserved if rng.random() < UNPAID_SHARE}
    paid = 0
    for line, _channel, at in reserved:
        if line.order_id in unpaid:
            continue
        ledger.convert([line], start + timedelta(seconds=at + rng.uniform(5, 600)))
        paid += 1

    return _Sale(reserved, paid, unpaid, accepted, turned_away, channel_oversold)
