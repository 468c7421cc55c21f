"""Fulfilment SLA: policies as versioned data, ship-by deadlines, escalation levels (pure).

A :class:`SlaPolicySet` is a versioned list of :class:`SlaRule` keyed by channel × warehouse × SKU
class (``*`` = any). The most specific matching rule wins (more named fields; ties: the first).
A rule promises shipping ``hours`` after payment, or by a fixed ``ship_by`` date (presale); an
optional daily ``cutoff`` (merchant local time) starts the clock of orders paid after it at the
next local midnight. Times are computed in the set's time zone (``Asia/Shanghai``, UTC+8, by
default) with :mod:`zoneinfo`, and stored in UTC.

Escalation levels are fixed offsets from the deadline (:data:`LEVEL_OFFSETS`): 1 at −2 h (warehouse
lead), 2 at the deadline (logistics owner), 3 at +4 h (duty manager).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oms.domain.model import Order

ANY = "*"
DEFAULT_TIME_ZONE = "Asia/Shanghai"
DEFAULT_WAREHOUSE = "default"
DEFAULT_SKU_CLASS = "standard"

#: Order tags the deadline reads (set by the warehouse routing, the catalogue, presale listings).
WAREHOUSE_TAG = "warehouse"
SKU_CLASS_TAG = "sku_class"
PRESALE_TAG = "presale_ship_by"

LEVEL_OFFSETS: dict[int, timedelta] = {1: timedelta(hours=-2), 2: timedelta(0), 3: timedelta(hours=4)}
LEVEL_ROLES: dict[int, str] = {1: "warehouse_lead", 2: "logistics_owner", 3: "duty_manager"}
FINAL_LEVEL = max(LEVEL_OFFSETS)
#: How far ahead of its deadline an order is read by the escalator (level 1's offset).
LOOKAHEAD = -LEVEL_OFFSETS[1]


class SlaRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str = ANY
    warehouse: str = ANY
    sku_class: str = ANY
    #: Hours from payment to the promised shipment
    hours: float | None = Field(default=None, gt=0, le=24 * 60)
    #: A fixed ship-by date (presale): shipped by the end of that local day
    ship_by: date | None = None
    #: Orders paid after this local time start their clock at the next local midnight
    cutoff: time | None = None

    @model_validator(mode="after")
    def _one_promise(self) -> SlaRule:
        if (self.hours is None) == (self.ship_by is None):
            raise ValueError("a rule promises either hours or a ship_by date")
        return self

    @property
    def specificity(self) -> int:
        return sum(value != ANY for value in (self.channel, self.warehouse, self.sku_class))

    def matches(self, channel: str, warehouse: str, sku_class: str) -> bool:
        return (
            self.channel in (ANY, channel)
            and self.warehouse in (ANY, warehouse)
            and self.sku_class in (ANY, sku_class)
        )


class SlaPolicySet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    time_zone: str = DEFAULT_TIME_ZONE
    rules: tuple[SlaRule, ...] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @model_validator(mode="after")
    def _has_default(self) -> SlaPolicySet:
        if not any(rule.specificity == 0 for rule in self.rules):
            raise ValueError("the rules need a default (channel, warehouse and sku_class all '*')")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def rule_for(self, channel: str, warehouse: str, sku_class: str) -> SlaRule:
        matching = [rule for rule in self.rules if rule.matches(channel, warehouse, sku_class)]
        return max(matching, key=lambda rule: rule.specificity)  # max keeps the first of equals

    def deadline(self, facts: SlaFacts) -> datetime:
        """The promised ship-by instant (UTC) for an order paid at ``facts.paid_at``."""
        rule = self.rule_for(facts.channel, facts.warehouse, facts.sku_class)
        zone = self.zone
        ship_by = facts.presale_ship_by or rule.ship_by
        if ship_by is not None:  # the order's own presale date wins over the rule's
            return _end_of_local_day(ship_by, zone)
        if rule.hours is None:  # excluded by the rule's validator; kept for the type checker
            raise ValueError("an SLA rule without a promise")
        start = facts.paid_at.astimezone(zone)
        if rule.cutoff is not None and start.timetz().replace(tzinfo=None) > rule.cutoff:
            start = datetime.combine(start.date() + timedelta(days=1), time(0), tzinfo=zone)
        # Hours are elapsed hours: add in UTC, so a DST change in the zone does not shift them.
        return (start.astimezone(UTC) + timedelta(hours=rule.hours)).astimezone(UTC)


def _end_of_local_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


DEFAULT_POLICIES = SlaPolicySet(version=1, rules=(SlaRule(hours=48),))


@dataclass(frozen=True, slots=True)
class SlaFacts:
    """What an order's deadline depends on."""

    order_id: str
    channel: str
    warehouse: str
    sku_class: str
    paid_at: datetime
    presale_ship_by: date | None = None

    @classmethod
    def of(cls, order: Order, fallback_paid_at: datetime) -> SlaFacts:
        presale = order.tags.get(PRESALE_TAG)
        try:
            presale_date = date.fromisoformat(presale) if presale else None
        except ValueError:
            presale_date = None  # a malformed tag falls back to the rule (and is visible on the order)
        return cls(
            order_id=order.order_id,
            channel=str(order.platform),
            warehouse=order.tags.get(WAREHOUSE_TAG) or DEFAULT_WAREHOUSE,
            sku_class=order.tags.get(SKU_CLASS_TAG) or DEFAULT_SKU_CLASS,
            paid_at=order.paid_at or fallback_paid_at,
            presale_ship_by=presale_date,
        )


def due_level(deadline: datetime, now: datetime) -> int:
    """The highest escalation level due at ``now`` (0: none yet)."""
    level = 0
    for candidate, offset in sorted(LEVEL_OFFSETS.items()):
        if now >= deadline + offset:
            level = candidate
    return level


def level_due_at(deadline: datetime, level: int) -> datetime:
    return deadline + LEVEL_OFFSETS[level]


def due_bucket(moment: datetime) -> str:
    """The hour (UTC) the deadline index groups a deadline under: ``2026-11-24T13``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def buckets_between(start: datetime, end: datetime) -> list[str]:
    """Every hour bucket from ``start`` to ``end`` inclusive, oldest first."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    buckets = []
    while hour <= end:
        buckets.append(due_bucket(hour))
        hour += timedelta(hours=1)
    return buckets


@dataclass(frozen=True, slots=True)
class SlaRecord:
    """An order's deadline as the SLA index keeps it."""

    order_id: str
    channel: str
    warehouse: str
    sku_class: str
    paid_at: datetime
    deadline: datetime
    policy_version: int
    order_version: int
    level_sent: int = 0
    shipped_at: datetime | None = None
    closed_reason: str = ""
    #: The shop (routes may pick a merchant's own channels, e.g. its voice provider)
    merchant: str = ""
    #: The platform's own order number, what a warehouse lead searches for
    reference: str = ""
    #: The warehouse the order would have gone to; ``warehouse`` is where it is fulfilled
    home_warehouse: str = ""
    #: Overflow routing: "" (before routing was recorded), "home", "rerouted" or "kept"
    routing: str = ""
    routing_reason: str = ""
    #: The order's own presale date (kept so a new policy version can recompute the deadline)
    presale_ship_by: date | None = None

    @property
    def open(self) -> bool:
        return not self.closed_reason

    def on_time(self) -> bool | None:
        if self.shipped_at is None:
            return None
        return self.shipped_at <= self.deadline


GROUPINGS = ("channel", "warehouse", "sku")


def deadline_day(moment: datetime) -> str:
    """The UTC day the reporting index files a deadline under: ``2026-11-24``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def days_between(start: datetime, end: datetime) -> list[str]:
    day = start.astimezone(UTC).date()
    days = []
    while day <= end.astimezone(UTC).date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def outcome(record: SlaRecord, now: datetime) -> str:
    """``on_time``, ``late`` (shipped after the deadline), ``overdue`` (not shipped, past it),
    ``open`` (not yet due), ``cancelled`` or ``handled`` (an operator took it in hand)."""
    if record.shipped_at is not None:
        return "on_time" if record.shipped_at <= record.deadline else "late"
    if record.closed_reason:
        return record.closed_reason if record.closed_reason in ("cancelled",) else "handled"
    return "overdue" if now > record.deadline else "open"


def summarize(
    records: list[SlaRecord], group_by: str, now: datetime, stuck: Mapping[str, str] | None = None
) -> list[dict[str, object]]:
    """Promised vs achieved per group: orders due, on time, late, overdue; on-time rate; the reasons
    the late and overdue ones carry: where they were stuck when the deadline passed (``stuck``:
    order id → ``between_<stage>_and_<stage>``, known when the WMS reports stages), otherwise the
    highest escalation level they reached."""
    stuck = stuck or {}
    key = {"channel": "channel", "warehouse": "warehouse", "sku": "sku_class"}[group_by]
    groups: dict[str, list[SlaRecord]] = {}
    for record in records:
        groups.setdefault(str(getattr(record, key)), []).append(record)
    rows: list[dict[str, object]] = []
    for name in sorted(groups):
        outcomes = [(record, outcome(record, now)) for record in groups[name]]
        counted = {
            label: sum(1 for _, got in outcomes if got == label) for label in ("on_time", "late", "overdue")
        }
        due = sum(counted.values())
        reasons: dict[str, int] = {}
        for record, got in outcomes:
            if got in ("late", "overdue"):
                where = stuck.get(record.order_id)
                reason = f"{got}_{where}" if where else f"{got}_after_level_{record.level_sent}"
                reasons[reason] = reasons.get(reason, 0) + 1
        rows.append(
            {
                group_by: name,
                "promised": due,
                "achieved": counted["on_time"],
                "late": counted["late"],
                "overdue": counted["overdue"],
                "open": sum(1 for _, got in outcomes if got == "open"),
                "on_time_rate": round(counted["on_time"] / due, 4) if due else None,
                "timeout_reasons": dict(sorted(reasons.items())),
            }
        )
    return rows
