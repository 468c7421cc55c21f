"""The monthly inventory health report: per-SKU facts, a risk score, reasons and suggestions (pure).

A SKU's month is summed up in :class:`SkuFacts` (read from the ledger, the reservations, the
oversell incidents and the poller's difference files by the adapters). :func:`score` turns the
facts into a risk score with :class:`HealthWeights` (data: ``oms/data/inventory_health_weights.json``)
and :func:`rank` keeps the riskiest SKUs.

The score is a sum of non-negative parts, each non-decreasing in how bad its fact is: a SKU whose
facts are all at least as bad as another's never ranks below it, and ties are broken by SKU so the
order does not depend on the order the facts were read in (``tests/unit/test_inventory_health.py``
proves both with hypothesis). :func:`stockout_seconds` measures time at zero availability from
ledger entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources

from oms.domain.errors import InventoryInvalidError
from oms.domain.inventory import LedgerEntry, Reason, StockLevel

#: How many SKUs the report lists.
TOP = 10


@dataclass(frozen=True, slots=True)
class HealthWeights:
    """How much each fact weighs (points per unit); ``target_cover_days`` is the cover wanted."""

    stockout_hour: float
    oversell: float
    sync_difference: float
    sync_unit: float
    expired_hold: float
    overdue_hold: float
    short_cover: float
    target_cover_days: float

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> HealthWeights:
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise InventoryInvalidError(
                "health weights need exactly these keys", expected=sorted(names), got=sorted(data)
            )
        values: dict[str, float] = {}
        for name in sorted(names):
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InventoryInvalidError("a health weight is a non-negative number", weight=name)
            values[name] = float(value)
        if values["target_cover_days"] <= 0:
            raise InventoryInvalidError("target_cover_days must be positive")
        return cls(**values)


def default_weights() -> HealthWeights:
    text = resources.files("oms.data").joinpath("inventory_health_weights.json").read_text("utf-8")
    return HealthWeights.from_mapping(json.loads(text))


@dataclass(frozen=True, slots=True)
class SkuFacts:
    """What happened to one SKU (all warehouses) in the period.

    ``deducted`` counts units that left with paid orders (net of restocks); ``period_days`` is the
    part of the month the report covers, so the velocity is ``deducted / period_days``.
    """

    sku: str
    period_days: float
    on_hand: int = 0
    available: int = 0
    stockout_seconds: float = 0.0
    oversells: int = 0
    sync_differences: int = 0
    sync_units: int = 0
    deducted: int = 0
    expired_holds: int = 0
    overdue_holds: int = 0

    @property
    def daily_velocity(self) -> float:
        return max(self.deducted, 0) / self.period_days if self.period_days > 0 else 0.0

    @property
    def cover_days(self) -> float | None:
        """Days the available stock lasts at this month's velocity; None when nothing sold."""
        velocity = self.daily_velocity
        return max(self.available, 0) / velocity if velocity > 0 else None


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    points: float
    reason: str
    suggestion: str


@dataclass(frozen=True, slots=True)
class RankedSku:
    rank: int
    facts: SkuFacts
    score: float
    findings: tuple[Finding, ...]


def findings(facts: SkuFacts, weights: HealthWeights) -> list[Finding]:
    """The non-zero parts of the score, largest first, each with a reason and a suggestion."""
    found: list[Finding] = []
    hours = facts.stockout_seconds / 3600
    if hours > 0:
        found.append(
            Finding(
                "stockout",
                weights.stockout_hour * hours,
                f"nothing available for {_amount(hours)} h this month",
                "reorder earlier: raise the safety stock or the reorder point, and record incoming "
                "stock (PUT /inventory/{sku}) so the sellable formula can count it",
            )
        )
    if facts.oversells > 0:
        found.append(
            Finding(
                "oversell",
                weights.oversell * facts.oversells,
                f"{facts.oversells} order line(s) accepted by a channel the ledger could not cover",
                "keep a per-channel buffer (allocation rules) for lagging channels, enable hot-SKU "
                "buckets for sales peaks, and cancel or restock the oversold orders",
            )
        )
    if facts.sync_differences > 0 or facts.sync_units > 0:
        found.append(
            Finding(
                "sync",
                weights.sync_difference * facts.sync_differences + weights.sync_unit * facts.sync_units,
                f"{facts.sync_differences} channel stock difference(s), {facts.sync_units} unit(s) in all",
                "check the difference files' likely causes (returns not synced, manual edits on the "
                "channel) and correct the channel or the ledger",
            )
        )
    if facts.expired_holds > 0 or facts.overdue_holds > 0:
        overdue = f", {facts.overdue_holds} still held past expiry" if facts.overdue_holds else ""
        found.append(
            Finding(
                "reservation_leak",
                weights.expired_hold * facts.expired_holds + weights.overdue_hold * facts.overdue_holds,
                f"{facts.expired_holds} hold(s) expired unpaid instead of being released{overdue}",
                "shorten the channel's hold (INVENTORY_HOLD_MINUTES) and have the channel send "
                "cancellations; holds past expiry mean the sweep schedule is failing "
                "(InventoryEventsScheduleDLQ)",
            )
        )
    cover = facts.cover_days
    if cover is not None and cover < weights.target_cover_days:
        shortfall = (weights.target_cover_days - cover) / weights.target_cover_days
        found.append(
            Finding(
                "short_cover",
                weights.short_cover * shortfall,
                f"{_amount(cover)} day(s) of cover at {_amount(facts.daily_velocity)} unit(s)/day",
                f"order about {_reorder(facts, weights)} unit(s) to reach "
                f"{_amount(weights.target_cover_days)} days of cover",
            )
        )
    return sorted(found, key=lambda f: (-f.points, f.kind))


def score(facts: SkuFacts, weights: HealthWeights) -> float:
    return sum(f.points for f in findings(facts, weights))


def rank(facts: Iterable[SkuFacts], weights: HealthWeights, limit: int = TOP) -> list[RankedSku]:
    """The ``limit`` riskiest SKUs with a positive score: highest score first, then by SKU."""
    scored = []
    for item in facts:
        found = findings(item, weights)
        total = sum(f.points for f in found)
        if total > 0:
            scored.append((total, item, tuple(found)))
    scored.sort(key=lambda entry: (-entry[0], entry[1].sku))
    return [
        RankedSku(rank=n, facts=item, score=total, findings=found)
        for n, (total, item, found) in enumerate(scored[:limit], start=1)
    ]


def stockout_seconds(
    points: Sequence[tuple[datetime, int]], start: datetime, end: datetime, *, available_at_start: int
) -> float:
    """Seconds within ``[start, end)`` at zero availability.

    ``points`` are (when, available after) in ledger order; ``available_at_start`` is what was
    available when the period began. A time that runs backwards (stamps from two clocks) counts
    nothing for that step rather than a negative duration.
    """
    total = 0.0
    moment, available = start, available_at_start
    for at, after in points:
        step_end = min(max(at, start), end)
        if available <= 0 and step_end > moment:
            total += (step_end - moment).total_seconds()
        moment = max(moment, step_end)
        available = after
    if available <= 0 and end > moment:
        total += (end - moment).total_seconds()
    return total


def _amount(value: float) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _reorder(facts: SkuFacts, weights: HealthWeights) -> int:
    wanted = facts.daily_velocity * weights.target_cover_days
    return max(0, int(Decimal(str(wanted - max(facts.available, 0))).to_integral_value(ROUND_HALF_UP)))


# ----------------------------------------------------------------------------- from records to facts

#: Reasons whose on-hand change is a sale (a restock after a refund gives it back).
_SALES = frozenset({Reason.DEDUCT, Reason.DEDUCT_UNRESERVED, Reason.BUCKET_DEDUCT, Reason.RESTOCK})


@dataclass(frozen=True, slots=True)
class SyncDifference:
    """One row of the poller's difference files (``inventory/differences/...csv``)."""

    at: datetime
    sku: str
    channel: str
    ours: int
    theirs: int
    in_flight: int
    delta: int
    likely_cause: str


@dataclass(frozen=True, slots=True)
class InventoryMonth:
    """What the Inventory table says about a period.

    ``entries`` are the ledger entries stamped inside the period with their time; ``overdue_holds``
    counts holds still held well past their expiry (the sweep missed them) and ``oversold_lines``
    the distinct order lines a channel sold that the ledger refused, per SKU.
    """

    levels: Sequence[StockLevel]
    entries: Sequence[tuple[datetime, LedgerEntry]]
    overdue_holds: Mapping[str, int]
    oversold_lines: Mapping[str, int]


def month_facts(
    month: InventoryMonth, differences: Iterable[SyncDifference], start: datetime, end: datetime
) -> list[SkuFacts]:
    """Every SKU's facts for ``[start, end)``; SKUs are those with a level or a difference row."""
    if end <= start:
        raise InventoryInvalidError("a report period must end after it starts")
    period_days = (end - start).total_seconds() / 86400
    levels: dict[str, list[StockLevel]] = {}
    for level in month.levels:
        levels.setdefault(level.sku, []).append(level)
    entries: dict[str, list[tuple[datetime, LedgerEntry]]] = {}
    for at, entry in month.entries:
        if start <= at < end:
            entries.setdefault(entry.sku, []).append((at, entry))
    sync: dict[str, list[SyncDifference]] = {}
    for row in differences:
        if start <= row.at < end:
            sync.setdefault(row.sku, []).append(row)
    skus = set(levels) | set(sync) | set(month.oversold_lines) | set(month.overdue_holds)
    facts = []
    for sku in sorted(skus):
        own = levels.get(sku, [])
        stamped = entries.get(sku, [])
        facts.append(
            SkuFacts(
                sku=sku,
                period_days=period_days,
                on_hand=sum(level.on_hand for level in own),
                available=sum(level.available for level in own),
                stockout_seconds=_sku_stockout(own, stamped, start, end),
                oversells=month.oversold_lines.get(sku, 0),
                sync_differences=len(sync.get(sku, [])),
                sync_units=sum(abs(row.delta) for row in sync.get(sku, [])),
                deducted=-sum(e.on_hand_delta for _, e in stamped if e.reason in _SALES),
                expired_holds=sum(1 for _, e in stamped if e.reason is Reason.EXPIRE),
                overdue_holds=month.overdue_holds.get(sku, 0),
            )
        )
    return facts


def _sku_stockout(
    levels: Sequence[StockLevel],
    stamped: Sequence[tuple[datetime, LedgerEntry]],
    start: datetime,
    end: datetime,
) -> float:
    """Time at zero availability summed over warehouses (a SKU is out when no warehouse has any).

    Each warehouse's entries are taken in ledger order (``seq``: the order the counters really
    moved in) with their stamps made non-decreasing, then the warehouses are merged by time. A
    warehouse whose first movement ever (``seq`` 1) falls in the period did not exist before it:
    that time is not a stockout.
    """
    if not levels and not stamped:
        return 0.0
    by_warehouse: dict[str, list[tuple[datetime, LedgerEntry]]] = {}
    for at, entry in stamped:
        by_warehouse.setdefault(entry.warehouse, []).append((at, entry))
    available: dict[str, int] = {level.warehouse: level.available for level in levels}
    timeline: list[tuple[datetime, str, int, int]] = []
    for warehouse, pairs in by_warehouse.items():
        pairs.sort(key=lambda pair: pair[1].seq)
        first = pairs[0][1]
        # Not yet stocked is not out of stock: count it as available until its first movement.
        available[warehouse] = 1 if first.seq == 1 else first.on_hand_before - first.reserved_before
        latest = start
        for at, entry in pairs:
            latest = max(latest, at)
            timeline.append((latest, warehouse, entry.seq, entry.on_hand_after - entry.reserved_after))
    at_start = sum(available.values())
    points: list[tuple[datetime, int]] = []
    for at, warehouse, _seq, after in sorted(timeline):
        available[warehouse] = after
        points.append((at, sum(available.values())))
    return stockout_seconds(points, start, end, available_at_start=at_start)
