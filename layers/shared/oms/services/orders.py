"""Applying canonical events to orders, and reading orders back by any reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from oms.domain.errors import BadRequestError, ConcurrentUpdateError, OrderAmbiguousError, OrderNotFoundError
from oms.domain.ids import is_unified_order_id, unified_order_id
from oms.domain.model import HistoryEntry, Order, OrderEvent, Outcome, Platform, RolloutMark
from oms.domain.order_events import OrderChanged
from oms.domain.state_machine import Decision, decide
from oms.services.ports import Clock, OrderChangePublisher, OrdersRepository

#: Optimistic-concurrency retries before giving the message back to the queue.
MAX_APPLY_ATTEMPTS = 4


def apply_event(
    orders: OrdersRepository,
    event: OrderEvent,
    *,
    publisher: OrderChangePublisher,
    received_at: datetime,
    clock: Clock,
    trace_id: str | None = None,
    raw_location: str | None = None,
    ruleset_revision: int | None = None,
    rollout: RolloutMark | None = None,
) -> Decision:
    """Fold ``event`` into its order with a conditional write; safe to retry and to run concurrently.

    The decision is re-taken on a fresh read whenever another writer got there first. A
    duplicate (the event id is already in the order's history) changes nothing.

    Every stored change is published (:class:`~oms.domain.order_events.OrderChanged`) after the
    write. The write and the publish cannot be one transaction, so a duplicate of an event that
    changed the order publishes its change again: a publish lost to a crash or a refusal between
    the two is made good by the message's retry, and consumers, keyed on ``change_id``, take the
    second copy as a no-op (docs/decisions.md D14).
    """
    for _ in range(MAX_APPLY_ATTEMPTS):
        current = orders.get(event.order_id)
        decision = decide(
            current,
            event,
            received_at=received_at,
            now=clock(),
            trace_id=trace_id,
            raw_location=raw_location,
            ruleset_revision=ruleset_revision,
            rollout=rollout,
        )
        if decision.outcome is Outcome.DUPLICATE:
            republish_change(orders, publisher, event.order_id, event.event_id)
            return decision
        try:
            written = orders.save(decision)
        except ConcurrentUpdateError:
            continue
        if not written:
            republish_change(orders, publisher, event.order_id, event.event_id)
            return Decision(
                outcome=Outcome.DUPLICATE,
                before=current,
                after=None,
                entry=decision.entry.model_copy(update={"outcome": Outcome.DUPLICATE}),
            )
        publish_decision(publisher, decision)
        return decision
    raise ConcurrentUpdateError(
        "order kept changing while the event was applied", order_id=event.order_id, event_id=event.event_id
    )


def publish_decision(publisher: OrderChangePublisher, decision: Decision) -> None:
    """Publish a decision that was just stored, when it changed the order."""
    if decision.outcome.changes_order and decision.after is not None:
        publisher.publish(OrderChanged(order=decision.after, entry=decision.entry))


def republish_change(
    orders: OrdersRepository, publisher: OrderChangePublisher, order_id: str, event_id: str
) -> None:
    """Publish again the change an already recorded event made (nothing when it changed nothing)."""
    entry = orders.entry(order_id, event_id)
    if entry is None or not entry.outcome.changes_order:
        return
    order = orders.get(order_id)
    if order is not None:
        publisher.publish(OrderChanged(order=order, entry=entry))


@dataclass(frozen=True, slots=True)
class OrderView:
    order: Order
    history: list[HistoryEntry]


class OrderQueries:
    def __init__(self, orders: OrdersRepository) -> None:
        self._orders = orders

    def resolve(self, reference: str) -> str:
        """The unified id of a unified id, ``platform:shop:platform_order_id`` or a bare order number."""
        reference = reference.strip()
        if not reference:
            raise BadRequestError("empty order reference")
        if is_unified_order_id(reference):
            return reference
        parts = reference.split(":", 2)
        if len(parts) == 3 and parts[0] in Platform.__members__.values():
            return unified_order_id(*parts)
        candidates = self._orders.find_by_platform_order_id(reference)
        if not candidates:
            raise OrderNotFoundError("no order with this reference", reference=reference)
        if len(candidates) > 1:
            raise OrderAmbiguousError(
                "several orders carry this platform order number", reference=reference, candidates=candidates
            )
        return candidates[0]

    def get(self, reference: str) -> OrderView:
        order_id = self.resolve(reference)
        order = self._orders.get(order_id)
        if order is None:
            raise OrderNotFoundError("no order with this reference", reference=reference)
        return OrderView(order=order, history=self._orders.history(order_id))
