"""The surge breaker service: count demand, trip once, alert, hold a protective quantity until cleared.

Demand comes from two places: each new unpaid reservation (``InventoryEvents``) and the cart events
an own storefront posts to ``POST /inventory/cart-events``. Each is counted once (by its id). The
protective quantity is what the channels should show while the breaker is tripped (the
inventory_poller, when it exists, pushes it; today ``GET /inventory/{sku}`` shows it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oms.domain.alerts import Alert, Severity
from oms.domain.errors import BadRequestError
from oms.domain.surge import SurgeRule, SurgeVerdict, judge, window_slots
from oms.services.ports import AlertSink, SurgeRecords

#: Cart events one request may carry.
MAX_CART_EVENTS = 100


@dataclass(frozen=True, slots=True)
class SurgeBreaker:
    records: SurgeRecords
    alerts: AlertSink
    clock: Callable[[], datetime]
    rule: SurgeRule = field(default_factory=SurgeRule)

    def record(self, sku: str, units: int, event_id: str, at: datetime | None = None) -> SurgeVerdict | None:
        """Count demand; returns the verdict, or None when this event was counted before."""
        moment = at or self.clock()
        if not self.records.record_demand(sku, units, moment, event_id):
            return None
        sellable = sum(max(0, level.available - level.safety_stock) for level in self.records.levels(sku))
        verdict = judge(
            self.records.demand(sku, window_slots(moment, self.rule)), moment, sellable, self.rule
        )
        if verdict.tripped and self.records.trip_breaker(sku, verdict, moment):
            self.alerts.raise_alerts([_surge_alert(sku, verdict, self.rule, moment)])
        return verdict

    def cart_events(self, body: Mapping[str, Any]) -> dict[str, Any]:
        events = body.get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_CART_EVENTS:
            raise BadRequestError(f"events is a list of 1 to {MAX_CART_EVENTS} cart events", field="events")
        results: list[dict[str, Any]] = []
        for event in events:
            sku, units, event_id = _cart_event(event)
            verdict = self.record(sku, units, f"cart#{event_id}")
            results.append(
                {"event_id": event_id, "counted": verdict is not None}
                | ({"tripped": verdict.tripped} if verdict else {})
            )
        return {"results": results, "tripped": sorted(_tripped(self.records, events))}

    def clear(self, sku: str) -> bool:
        return self.records.clear_breaker(sku)


def _tripped(records: SurgeRecords, events: Sequence[Any]) -> set[str]:
    return {str(e["sku"]) for e in events if records.breaker(str(e["sku"])) is not None}


def _cart_event(event: Any) -> tuple[str, int, str]:
    if not isinstance(event, dict):
        raise BadRequestError("a cart event is an object {event_id, sku, quantity}", field="events")
    sku, event_id, quantity = event.get("sku"), event.get("event_id"), event.get("quantity")
    if not isinstance(sku, str) or not sku or not isinstance(event_id, str) or not event_id:
        raise BadRequestError("a cart event needs sku and event_id (strings)", field="events")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 10_000:
        raise BadRequestError("a cart event's quantity is 1 to 10000", field="events")
    return sku, quantity, event_id[:128]


def _surge_alert(sku: str, verdict: SurgeVerdict, rule: SurgeRule, at: datetime) -> Alert:
    minutes = int(rule.window.total_seconds() // 60)
    return Alert(
        kind="inventory.surge",
        severity=Severity.WARNING,
        title=f"Demand surge on {sku}: {verdict.demand} units in {minutes} min, {verdict.sellable} sellable",
        dedupe_key=f"inventory.surge#{sku}#{at.isoformat()}",
        lines=(
            f"threshold {rule.threshold:.0%} of sellable within {minutes} minutes",
            f"protective quantity for the channels: {verdict.protective_quantity} until cleared "
            f"(DELETE /inventory/{sku}/surge)",
        ),
        facts={
            "sku": sku,
            "demand": verdict.demand,
            "sellable": verdict.sellable,
            "protective_quantity": verdict.protective_quantity,
        },
        recipient_role="inventory_planner",
    )
