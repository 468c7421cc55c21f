"""Fulfilment SLA services: deadlines from order changes, and the three-level escalator.

:class:`SlaDeadlines` consumes ``OrderChanged`` (at least once, unordered): a paid or approved
order gets its deadline from the current policy set; a shipped, delivered, completed, cancelled or
closed order closes it (recording when it shipped, for the on-time rate). Every write carries the
order's version, so a late, older change never overwrites a newer one.

:class:`SlaEscalator` runs on a schedule: it reads only the deadline index's hour buckets from
``lookback`` ago to two hours ahead, claims each due level with a conditional write (exactly one
concurrent run wins), hands all the run's alerts to the ``AlertSink`` in one call (one grouped
message per recipient) and gives a claim back when its alert was not delivered, so the next run
retries it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from oms.domain.alerts import Alert, Severity
from oms.domain.capacity import RoutingDecision, arrival_hour
from oms.domain.errors import AlertDeliveryError, BadRequestError
from oms.domain.fulfilment_health import stuck_between
from oms.domain.model import Order
from oms.domain.order_events import OrderChanged
from oms.domain.sla import (
    FINAL_LEVEL,
    GROUPINGS,
    LEVEL_ROLES,
    LOOKAHEAD,
    SlaFacts,
    SlaPolicySet,
    SlaRecord,
    buckets_between,
    days_between,
    due_level,
    outcome,
    summarize,
)
from oms.domain.status import OrderStatus
from oms.services.ports import AlertSink, Clock

#: Statuses whose order is waiting to be shipped (its deadline runs)
AWAITING_SHIPMENT = frozenset({OrderStatus.PAID, OrderStatus.APPROVED, OrderStatus.PARTIALLY_SHIPPED})
#: Statuses that end the wait because the parcel left
SHIPPED = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED})
#: Statuses that end the wait because there is nothing to ship
CANCELLED = frozenset({OrderStatus.CANCELLED, OrderStatus.CLOSED})

LEVEL_SEVERITY = {1: Severity.WARNING, 2: Severity.CRITICAL, 3: Severity.CRITICAL}


class SlaStore(Protocol):
    def track(self, record: SlaRecord, *, arrival: tuple[str, str] | None = None) -> bool: ...

    def get(self, order_id: str) -> SlaRecord | None: ...

    def due(self, buckets: list[str], until: datetime) -> list[SlaRecord]: ...

    def claim_level(self, order_id: str, seen: int, level: int, token: str, *, final: bool) -> bool: ...

    def release_level(self, record: SlaRecord, level: int, token: str) -> None: ...

    def mark_handled(self, order_id: str, reason: str, now: datetime) -> bool: ...

    def by_deadline(self, days: list[str], start: datetime, end: datetime) -> list[SlaRecord]: ...


class SlaPolicySource(Protocol):
    def current(self) -> SlaPolicySet | None: ...


class Router(Protocol):
    def route(self, order_id: str, home: str) -> RoutingDecision: ...


class Screen(Protocol):
    def screen(self, order: Order, warehouse: str) -> str: ...

    def close(self, order: Order, reason: str) -> None: ...


class SlaDeadlines:
    def __init__(
        self,
        store: SlaStore,
        policies: Callable[[], SlaPolicySet],
        router: Router | None = None,
        preflight: Screen | None = None,
    ) -> None:
        self._store = store
        self._policies = policies
        self._router = router
        self._preflight = preflight

    def apply(self, change: OrderChanged) -> str:
        """Track, move or close the order's deadline; returns what happened (for metrics).

        A new order (no deadline yet) is routed first: during its home warehouse's overflow
        episode it may go to the backup. The decision is kept for the order's later changes.
        """
        order = change.order
        if order.status not in AWAITING_SHIPMENT | SHIPPED | CANCELLED:
            return "ignored"
        if order.status in SHIPPED and order.paid_at is None:
            return "ignored"  # never paid through us (e.g. imported shipped): no promise to measure
        policies = self._policies()
        facts = SlaFacts.of(order, fallback_paid_at=change.entry.event_time)
        previous = self._store.get(order.order_id)
        route = self._route(order.order_id, facts.warehouse, previous, order.status in AWAITING_SHIPMENT)
        facts = replace(facts, warehouse=route.warehouse)
        record = SlaRecord(
            order_id=order.order_id,
            channel=facts.channel,
            warehouse=facts.warehouse,
            sku_class=facts.sku_class,
            paid_at=facts.paid_at,
            deadline=policies.deadline(facts),
            policy_version=policies.version,
            order_version=order.version,
            merchant=order.shop_id,
            reference=order.platform_order_id,
            home_warehouse=route.home_warehouse,
            routing=route.decision,
            routing_reason=route.reason,
            presale_ship_by=facts.presale_ship_by,
        )
        if order.status in SHIPPED:
            shipped_at = change.entry.event_time if change.status_changed else order.updated_at
            if previous is not None and previous.shipped_at is not None:
                shipped_at = min(shipped_at, previous.shipped_at)
            record = _closed(record, "shipped", shipped_at)
        elif order.status in CANCELLED:
            record = _closed(record, "cancelled", None)
        arrival = None
        if previous is None and record.open:
            arrival = (record.warehouse, arrival_hour(record.paid_at))
        if not self._store.track(record, arrival=arrival):
            return "stale"
        if self._preflight is not None:
            if record.open:
                self._preflight.screen(order, record.warehouse)
            else:
                self._preflight.close(order, record.closed_reason)
        return "tracked" if record.open else "closed"

    def _route(self, order_id: str, home: str, previous: SlaRecord | None, awaiting: bool) -> RoutingDecision:
        if previous is not None and (previous.home_warehouse or previous.warehouse) == home:
            # Decided when the order arrived: retries and later changes keep it.
            return RoutingDecision(
                warehouse=previous.warehouse,
                home_warehouse=home,
                decision=previous.routing or "home",
                reason=previous.routing_reason,
            )
        if previous is None and awaiting and self._router is not None:
            return self._router.route(order_id, home)
        return RoutingDecision(warehouse=home, home_warehouse=home, decision="home")


def _closed(record: SlaRecord, reason: str, shipped_at: datetime | None) -> SlaRecord:
    return replace(record, level_sent=0, shipped_at=shipped_at, closed_reason=reason)


@dataclass
class EscalationReport:
    examined: int = 0
    #: level → alerts raised at that level in this run
    raised: dict[int, int] = field(default_factory=dict)
    lost_races: int = 0
    released: int = 0


class SlaEscalator:
    def __init__(
        self,
        store: SlaStore,
        alerts: AlertSink,
        clock: Clock,
        new_token: Callable[[], str],
        lookback: timedelta = timedelta(hours=8),
    ) -> None:
        self._store = store
        self._alerts = alerts
        self._clock = clock
        self._new_token = new_token
        self._lookback = lookback

    def run(
        self, now: datetime | None = None, offline_warehouses: frozenset[str] = frozenset()
    ) -> EscalationReport:
        """One pass at ``now`` (the schedule's time: a delayed invocation still judges its minute).

        Orders routed to a warehouse in ``offline_warehouses`` are flagged in their alerts.
        """
        now = now or self._clock()
        report = EscalationReport()
        until = now + LOOKAHEAD
        token = self._new_token()
        claimed: list[tuple[SlaRecord, int, list[Alert]]] = []
        for record in self._store.due(buckets_between(now - self._lookback, until), until):
            report.examined += 1
            target = due_level(record.deadline, now)
            if target <= record.level_sent:
                continue
            if not self._store.claim_level(
                record.order_id, record.level_sent, target, token, final=target >= FINAL_LEVEL
            ):
                report.lost_races += 1
                continue
            offline = record.warehouse in offline_warehouses
            alerts = [
                escalation_alert(record, level, now, warehouse_offline=offline)
                for level in range(record.level_sent + 1, target + 1)
            ]
            claimed.append((record, target, alerts))
        all_alerts = [alert for _, _, alerts in claimed for alert in alerts]
        undelivered: set[str] = set()
        try:
            self._alerts.raise_alerts(all_alerts)
        except AlertDeliveryError as error:
            undelivered = set(error.details.get("undelivered", ()))
        for record, target, alerts in claimed:
            if any(alert.dedupe_key in undelivered for alert in alerts):
                self._store.release_level(record, target, token)
                report.released += 1
                continue
            for alert in alerts:
                level = int(alert.facts["level"])
                report.raised[level] = report.raised.get(level, 0) + 1
        return report


def escalation_alert(
    record: SlaRecord, level: int, now: datetime, *, warehouse_offline: bool = False
) -> Alert:
    overdue = now - record.deadline
    if overdue > timedelta(0):
        when = f"overdue by {_duration(overdue)}"
    elif overdue == timedelta(0):
        when = "due now"
    else:
        when = f"due in {_duration(-overdue)}"
    return Alert(
        kind=f"sla.level{level}",
        severity=LEVEL_SEVERITY[level],
        title=(
            f"SLA level {level}: {record.channel} order {record.reference or record.order_id}"
            f" not shipped, {when}"
        ),
        dedupe_key=f"sla:{record.order_id}:L{level}",
        lines=(
            f"order {record.order_id}, shop {record.merchant}, warehouse {record.warehouse},"
            f" SKU class {record.sku_class}",
            f"ship by {record.deadline.isoformat()} (policy v{record.policy_version})",
            *(
                [f"warehouse {record.warehouse} is OFFLINE (no heartbeat): reroute or call it"]
                if warehouse_offline
                else []
            ),
        ),
        facts={
            "order_id": record.order_id,
            "level": level,
            "warehouse": record.warehouse,
            "merchant": record.merchant,
            "deadline": record.deadline.isoformat(),
            "warehouse_offline": int(warehouse_offline),
        },
        recipient_role=LEVEL_ROLES[level],
    )


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


#: The longest period one dashboard request reads (one query per day of deadlines)
MAX_REPORT_DAYS = 92


class StageFactReader(Protocol):
    def read(self, order_ids: Iterable[str]) -> dict[str, dict[str, datetime]]: ...


class SlaReports:
    """``GET /fulfillment/sla``: promised vs achieved per channel, warehouse or SKU class."""

    def __init__(self, store: SlaStore, clock: Clock, stages: StageFactReader | None = None) -> None:
        self._store = store
        self._clock = clock
        self._stages = stages

    def summary(self, query: Mapping[str, str]) -> dict[str, object]:
        group_by = query.get("group_by", "channel")
        if group_by not in GROUPINGS:
            raise BadRequestError("group_by is one of channel, warehouse, sku", group_by=group_by[:20])
        now = self._clock()
        try:
            end = _instant(query["to"]) if query.get("to") else now
            start = _instant(query["from"]) if query.get("from") else end - timedelta(days=7)
        except ValueError as error:
            raise BadRequestError("from and to are ISO 8601 times with an offset") from error
        if start > end or end - start > timedelta(days=MAX_REPORT_DAYS):
            raise BadRequestError(f"from must be before to, at most {MAX_REPORT_DAYS} days apart")
        records = self._store.by_deadline(days_between(start, end), start, end)
        return {
            "group_by": group_by,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "groups": summarize(records, group_by, now, self._stuck(records, now)),
        }

    def _stuck(self, records: list[SlaRecord], now: datetime) -> dict[str, str]:
        """Late and overdue orders: the stages they were between at their deadline (WMS facts)."""
        missed = [record for record in records if outcome(record, now) in ("late", "overdue")]
        if self._stages is None or not missed:
            return {}
        facts = self._stages.read(record.order_id for record in missed)
        stuck = {}
        for record in missed:
            where = stuck_between({"paid": record.paid_at} | facts.get(record.order_id, {}), record.deadline)
            if where:
                stuck[record.order_id] = where
        return stuck


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment
