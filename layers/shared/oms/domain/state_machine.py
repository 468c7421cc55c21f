"""Folding an event into an order: monotonic, order-independent, duplicate-proof.

Two registers are kept per order, each ordered by :class:`EventKey` (event time, then status rank):

- the main status, which only moves along transitions :func:`can_transition` allows;
- the refund status, which follows the newest refund fact (refunds can be withdrawn).

An event no newer than what an order reflects is *stale* and changes nothing. For events drawn
from one lifecycle the result is the same whatever the arrival order, duplicates included: the
property tests in ``tests/unit/test_state_machine_properties.py`` check exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from oms.domain.model import HistoryEntry, Order, OrderEvent, Outcome, RolloutMark
from oms.domain.status import STATUS_RANK, can_transition


@dataclass(frozen=True, slots=True)
class Decision:
    """What applying one event does: the outcome, the order after it, and its history entry."""

    outcome: Outcome
    before: Order | None
    #: The order to store, or None when nothing changed. An ignored event may still advance a
    #: register's key (a newer refund fact with the same value), so ``after`` is not only for APPLIED.
    after: Order | None
    entry: HistoryEntry


def decide(
    order: Order | None,
    event: OrderEvent,
    *,
    received_at: datetime,
    now: datetime,
    trace_id: str | None = None,
    raw_location: str | None = None,
    ruleset_revision: int | None = None,
    rollout: RolloutMark | None = None,
) -> Decision:
    """Decide what ``event`` does to ``order`` (``None`` when the order is not known yet).

    ``trace_id``, ``raw_location``, ``ruleset_revision`` and ``rollout`` say how the event reached
    us and how it was cleaned; they are recorded on its history entry and change no decision.
    """
    arrival = _Arrival(
        received_at=received_at,
        now=now,
        trace_id=trace_id,
        raw_location=raw_location,
        ruleset_revision=ruleset_revision,
        rollout=rollout,
    )
    if order is None:
        return _decision(Outcome.CREATED, None, _create(event, now), event, arrival)
    if event.event_id == order.last_event_id:
        return _decision(Outcome.DUPLICATE, order, None, event, arrival)

    changes: dict[str, object] = {}
    visible = False  # whether the change shows (status, refund, data), not only a newer key
    reason: str | None = None
    if event.status_key > order.status_key:
        if event.status == order.status or can_transition(order.status, event.status):
            changes |= _snapshot_fields(event)
            changes |= {"status": event.status, "status_key": event.status_key}
            visible = True
        elif STATUS_RANK[event.status] < STATUS_RANK[order.status]:
            reason = f"{order.status} -> {event.status} would move the order backwards"
        else:
            reason = f"{order.status} -> {event.status} is not an allowed transition"
    if event.refund_known and event.refund_key > order.refund_key:
        # The key advances even when the value stays: an older refund fact arriving later must lose.
        changes |= {"refund_status": event.refund_status, "refund_key": event.refund_key}
        visible |= event.refund_status != order.refund_status

    if visible:
        outcome = Outcome.APPLIED
    elif reason is None:
        outcome = Outcome.STALE
    elif STATUS_RANK[event.status] < STATUS_RANK[order.status]:
        outcome = Outcome.REGRESSION
    else:
        outcome = Outcome.FORBIDDEN
    after: Order | None = None
    if changes:
        after = order.with_changes(
            **changes, version=order.version + 1, last_event_id=event.event_id, updated_at=now
        )
    return _decision(outcome, order, after, event, arrival, reason=reason)


def _snapshot_fields(event: OrderEvent) -> dict[str, object]:
    """Fields an event's snapshot refreshes; absent values keep what the order had."""
    fields: dict[str, object] = {"platform_status": event.platform_status, "currency": event.currency}
    optional = {
        "total_amount": event.total_amount,
        "paid_amount": event.paid_amount,
        "shipping_amount": event.shipping_amount,
        "payment_id": event.payment_id,
        "placed_at": event.placed_at,
        "paid_at": event.paid_at,
        "receiver": event.receiver,
    }
    fields |= {name: value for name, value in optional.items() if value is not None}
    if event.lines:
        fields["lines"] = event.lines
    if event.buyer.model_dump(exclude_none=True):
        fields["buyer"] = event.buyer
    if event.tags:
        fields["tags"] = event.tags
    return fields


def _create(event: OrderEvent, now: datetime) -> Order:
    return Order(
        order_id=event.order_id,
        platform=event.platform,
        shop_id=event.shop_id,
        platform_order_id=event.platform_order_id,
        status=event.status,
        refund_status=event.refund_status,
        platform_status=event.platform_status,
        status_key=event.status_key,
        refund_key=event.refund_key,
        version=1,
        currency=event.currency,
        total_amount=event.total_amount,
        paid_amount=event.paid_amount,
        shipping_amount=event.shipping_amount,
        payment_id=event.payment_id,
        placed_at=event.placed_at,
        paid_at=event.paid_at,
        lines=event.lines,
        buyer=event.buyer,
        receiver=event.receiver,
        tags=event.tags,
        last_event_id=event.event_id,
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True, slots=True)
class _Arrival:
    """How and when an event reached us: recorded on its history entry."""

    received_at: datetime
    now: datetime
    trace_id: str | None
    raw_location: str | None
    ruleset_revision: int | None = None
    rollout: RolloutMark | None = None


def _decision(
    outcome: Outcome,
    before: Order | None,
    after: Order | None,
    event: OrderEvent,
    arrival: _Arrival,
    *,
    reason: str | None = None,
) -> Decision:
    current = after or before
    entry = HistoryEntry(
        order_id=event.order_id,
        event_id=event.event_id,
        event_type=event.event_type,
        source=event.source,
        event_time=event.event_time,
        received_at=arrival.received_at,
        recorded_at=arrival.now,
        outcome=outcome,
        platform_status=event.platform_status,
        status_before=before.status if before else None,
        status_after=current.status if current else None,
        refund_before=before.refund_status if before else None,
        refund_after=current.refund_status if current else None,
        event_status=event.status,
        event_refund_status=event.refund_status,
        version_after=after.version if after else None,
        reason=reason,
        trace_id=arrival.trace_id,
        raw_location=arrival.raw_location,
        cleaning=event.cleaning,
        ruleset_revision=arrival.ruleset_revision,
        rollout=arrival.rollout,
    )
    return Decision(outcome=outcome, before=before, after=after, entry=entry)
