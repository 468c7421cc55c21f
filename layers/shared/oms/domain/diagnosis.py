"""Why is this order in this state? Its path, what the platform last said, and its breakpoints.

Everything here reads what the order center has recorded: the order header and every history
entry (applied and ignored events, reconciliation records, operators' forced changes). A push that
never arrived leaves no trace here; the reconciliation patrol asks the platforms and records what it
finds, and from then on the diagnosis shows it.

Breakpoints (``docs/diagnosis.md`` explains each for operators):

=========================  ===============================================  =====================
kind                       when                                              status pair
=========================  ===============================================  =====================
``paid_not_recorded``      the platform said paid (or later), the order is   local → platform
                           still awaiting payment
``tracking_not_shipped``   the platform said shipped (a tracking number      local → platform
                           exists), the order is not shipped yet
``sources_disagree``       the platform's last known status is another one   local → platform
                           (local ahead, contradictory, or forced)
``stuck``                  an open status held longer than its threshold     status → status
``forbidden_transition``   an event the rules refused (backwards or not      before → event
                           allowed) was received
=========================  ===============================================  =====================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from oms.domain.model import EventSource, HistoryEntry, Order, Outcome, Platform
from oms.domain.status import STATUS_RANK, TERMINAL_STATUSES, OrderStatus, can_transition


class BreakpointKind(StrEnum):
    PAID_NOT_RECORDED = "paid_not_recorded"
    TRACKING_NOT_SHIPPED = "tracking_not_shipped"
    SOURCES_DISAGREE = "sources_disagree"
    STUCK = "stuck"
    FORBIDDEN_TRANSITION = "forbidden_transition"


#: How long an order may stay in an open status before it counts as stuck. Data, not code: an
#: operator passes other values in the request (``thresholds_hours``).
DEFAULT_STUCK_THRESHOLDS: Mapping[OrderStatus, timedelta] = {
    # Platforms close unpaid orders within minutes to a day; later than that, a close was lost.
    OrderStatus.PENDING_PAYMENT: timedelta(hours=24),
    # Typical promise: shipped within 48 hours of payment.
    OrderStatus.PAID: timedelta(hours=48),
    OrderStatus.APPROVED: timedelta(hours=48),
    OrderStatus.PARTIALLY_SHIPPED: timedelta(days=7),
    # Platforms confirm receipt automatically after 10-15 days.
    OrderStatus.SHIPPED: timedelta(days=15),
    OrderStatus.DELIVERED: timedelta(days=15),
}

_FIRST_SHIPPED_RANK = STATUS_RANK[OrderStatus.PARTIALLY_SHIPPED]
_ENDINGS = frozenset({OrderStatus.CANCELLED, OrderStatus.CLOSED})


@dataclass(frozen=True, slots=True)
class Breakpoint:
    kind: BreakpointKind
    status_from: str
    status_to: str
    detail: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlatformView:
    """The platform's last known status: the newest fact any platform-facing source recorded."""

    status: OrderStatus
    platform_status: str
    source: EventSource
    event_time: datetime
    event_id: str
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class OrderDiagnosis:
    order: Order
    path: tuple[HistoryEntry, ...]
    platform: PlatformView | None
    breakpoints: tuple[Breakpoint, ...]

    @property
    def abnormal(self) -> bool:
        return bool(self.breakpoints)

    @property
    def last_change(self) -> HistoryEntry | None:
        """The last entry that changed the order (who or what put it in its current state)."""
        changed = [entry for entry in self.path if entry.outcome.changes_order]
        return changed[-1] if changed else None


@dataclass(frozen=True, slots=True)
class BreakpointGroup:
    """Orders sharing one breakpoint: kind × platform × status pair."""

    kind: BreakpointKind
    platform: Platform
    status_from: str
    status_to: str
    count: int
    order_ids: tuple[str, ...]


def platform_view(history: Iterable[HistoryEntry]) -> PlatformView | None:
    """The newest platform fact (push, poll or reconciliation), applied or not; None without one."""
    facts = [entry for entry in history if entry.source is not EventSource.OPERATOR]
    if not facts:
        return None
    newest = max(
        facts, key=lambda entry: (entry.event_time, STATUS_RANK[entry.event_status], entry.recorded_at)
    )
    return PlatformView(
        status=newest.event_status,
        platform_status=newest.platform_status,
        source=newest.source,
        event_time=newest.event_time,
        event_id=newest.event_id,
        outcome=newest.outcome,
    )


def diagnose(
    order: Order,
    history: Sequence[HistoryEntry],
    *,
    now: datetime,
    thresholds: Mapping[OrderStatus, timedelta] = DEFAULT_STUCK_THRESHOLDS,
) -> OrderDiagnosis:
    """The order's path, the platform's last known status and every breakpoint found."""
    path = tuple(sorted(history, key=lambda entry: (entry.event_time, entry.recorded_at)))
    platform = platform_view(path)
    found: list[Breakpoint] = []
    if platform is not None and platform.status != order.status:
        found.append(_disagreement(order.status, platform))
    threshold = thresholds.get(order.status)
    held = now - order.status_key.at
    if order.status not in TERMINAL_STATUSES and threshold is not None and held > threshold:
        found.append(
            Breakpoint(
                kind=BreakpointKind.STUCK,
                status_from=order.status,
                status_to=order.status,
                detail=f"{order.status} for {_hours(held)} h (threshold {_hours(threshold)} h)",
            )
        )
    refused: dict[tuple[str, str], HistoryEntry] = {}
    for entry in path:
        if entry.outcome in (Outcome.FORBIDDEN, Outcome.REGRESSION) and entry.status_before is not None:
            refused.setdefault((entry.status_before, entry.event_status), entry)
    found += [
        Breakpoint(
            kind=BreakpointKind.FORBIDDEN_TRANSITION,
            status_from=before,
            status_to=target,
            detail=entry.reason or f"{before} -> {target} refused",
            event_id=entry.event_id,
        )
        for (before, target), entry in refused.items()
    ]
    return OrderDiagnosis(order=order, path=path, platform=platform, breakpoints=tuple(found))


def _disagreement(local: OrderStatus, platform: PlatformView) -> Breakpoint:
    ahead = can_transition(local, platform.status) and platform.status not in _ENDINGS
    if ahead and local is OrderStatus.PENDING_PAYMENT:
        kind, detail = BreakpointKind.PAID_NOT_RECORDED, "paid on the platform, awaiting payment here"
    elif ahead and STATUS_RANK[platform.status] >= _FIRST_SHIPPED_RANK > STATUS_RANK[local]:
        kind, detail = BreakpointKind.TRACKING_NOT_SHIPPED, "shipped on the platform, not shipped here"
    else:
        kind = BreakpointKind.SOURCES_DISAGREE
        detail = (
            f"platform says {platform.status} ({platform.platform_status}, {platform.source}), here {local}"
        )
    return Breakpoint(
        kind=kind, status_from=local, status_to=platform.status, detail=detail, event_id=platform.event_id
    )


def group_breakpoints(diagnoses: Iterable[OrderDiagnosis], *, sample: int = 20) -> list[BreakpointGroup]:
    """Breakpoints counted by kind × platform × status pair, largest group first."""
    counts: Counter[tuple[BreakpointKind, Platform, str, str]] = Counter()
    members: dict[tuple[BreakpointKind, Platform, str, str], list[str]] = {}
    for diagnosis in diagnoses:
        for point in diagnosis.breakpoints:
            key = (point.kind, diagnosis.order.platform, point.status_from, point.status_to)
            counts[key] += 1
            ids = members.setdefault(key, [])
            if len(ids) < sample:
                ids.append(diagnosis.order.order_id)
    return [
        BreakpointGroup(
            kind=kind,
            platform=platform,
            status_from=status_from,
            status_to=status_to,
            count=count,
            order_ids=tuple(members[(kind, platform, status_from, status_to)]),
        )
        for (kind, platform, status_from, status_to), count in sorted(
            counts.items(), key=lambda item: (-item[1], item[0])
        )
    ]


EXPORT_COLUMNS: tuple[str, ...] = (
    "order_id",
    "platform",
    "shop_id",
    "platform_order_id",
    "order_time",
    "status",
    "platform_status",
    "platform_last_known",
    "last_source",
    "last_operator",
    "breakpoints",
)


def export_rows(diagnoses: Iterable[OrderDiagnosis]) -> list[tuple[str, ...]]:
    """One row per abnormal order, in :data:`EXPORT_COLUMNS` order (no personal data)."""
    rows: list[tuple[str, ...]] = []
    for diagnosis in diagnoses:
        if not diagnosis.abnormal:
            continue
        order = diagnosis.order
        last = diagnosis.last_change
        rows.append(
            (
                order.order_id,
                order.platform,
                order.shop_id,
                order.platform_order_id,
                (order.placed_at or order.created_at).isoformat(),
                order.status,
                order.platform_status,
                diagnosis.platform.status if diagnosis.platform else "",
                last.source if last else "",
                last.operator.actor if last and last.operator else "",
                ";".join(
                    f"{point.kind}:{point.status_from}->{point.status_to}" for point in diagnosis.breakpoints
                ),
            )
        )
    return rows


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f}"
