"""Property tests: for any interleaving of any subset of an order's lifecycle events, with
duplicates and reordering, the final state equals applying them in event-time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from oms.domain.model import Order, OrderEvent, Outcome, Platform
from oms.domain.state_machine import decide
from oms.domain.status import (
    REFUND_RANK,
    STATUS_RANK,
    TERMINAL_STATUSES,
    OrderStatus,
    RefundStatus,
    can_transition,
)

T0 = datetime(2026, 2, 5, 12, 0, tzinfo=UTC)


@st.composite
def lifecycles(draw: st.DrawFn) -> list[OrderEvent]:
    """One order's events as a platform would emit them: a valid path, time never going back."""
    status = draw(st.sampled_from([OrderStatus.PENDING_PAYMENT, OrderStatus.PAID]))
    at = T0
    events: list[OrderEvent] = []
    for index in range(draw(st.integers(min_value=1, max_value=9))):
        if index:
            at += timedelta(seconds=draw(st.integers(min_value=0, max_value=3)))
            nexts = [s for s in OrderStatus if can_transition(status, s)]
            # Same-status refreshes happen (Xiaohongshu's status 4 twice); so do equal timestamps.
            candidates = [*nexts, status]
            status = draw(st.sampled_from(candidates))
        refund = draw(st.sampled_from(list(RefundStatus)))
        events.append(
            OrderEvent(
                event_id=f"e{index}",
                platform=Platform.DOUYIN,
                shop_id="shop-1",
                platform_order_id="6918000000000000001",
                event_type="test",
                event_time=at,
                status=status,
                refund_status=refund,
                platform_status=str(status),
            )
        )
        if status in TERMINAL_STATUSES and draw(st.booleans()):
            break
    return _time_consistent(events)


def _time_consistent(events: list[OrderEvent]) -> list[OrderEvent]:
    """At equal timestamps a lifecycle can only advance, so rank must grow with position there."""
    kept: list[OrderEvent] = []
    for event in events:
        if (
            kept
            and event.event_time == kept[-1].event_time
            and STATUS_RANK[event.status] < STATUS_RANK[kept[-1].status]
        ):
            continue
        kept.append(event)
    return kept


def fold(events: list[OrderEvent]) -> tuple[Order | None, list[Outcome]]:
    """Apply events one by one as the repository would (an event id is recorded once)."""
    order: Order | None = None
    recorded: set[str] = set()
    outcomes = []
    for event in events:
        if event.event_id in recorded:
            outcomes.append(Outcome.DUPLICATE)
            continue
        decision = decide(order, event, received_at=T0, now=T0)
        outcomes.append(decision.outcome)
        if decision.outcome is not Outcome.DUPLICATE:
            recorded.add(event.event_id)
        if decision.after is not None:
            assert order is None or STATUS_RANK[decision.after.status] >= STATUS_RANK[order.status]
            assert order is None or decision.after.version == order.version + 1
            order = decision.after
    return order, outcomes


def state(order: Order | None) -> tuple[object, ...]:
    assert order is not None
    return (order.status, order.refund_status, order.status_key, order.refund_key)


def event_time_order(event: OrderEvent) -> tuple[datetime, int, int]:
    return (event.event_time, STATUS_RANK[event.status], REFUND_RANK[event.refund_status])


@settings(max_examples=400, deadline=None)
@given(
    events=lifecycles(),
    picks=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=25),
    shuffle=st.randoms(use_true_random=False),
)
def test_any_arrival_order_with_duplicates_converges_to_the_event_time_order(events, picks, shuffle):
    # GIVEN any subset of the lifecycle, some events pushed twice, in any order
    arrived = [events[pick % len(events)] for pick in picks]
    shuffle.shuffle(arrived)
    # WHEN they are applied as they arrive
    final, outcomes = fold(arrived)
    # THEN the order equals the one built by applying the distinct events in event-time order
    distinct = list({event.event_id: event for event in arrived}.values())
    expected, _ = fold(sorted(distinct, key=event_time_order))
    assert state(final) == state(expected)
    # AND every repeat of an event id was a no-op
    assert outcomes.count(Outcome.DUPLICATE) >= len(arrived) - len(distinct)


@settings(max_examples=200, deadline=None)
@given(events=lifecycles(), shuffle=st.randoms(use_true_random=False))
def test_only_created_or_applied_events_change_the_order(events, shuffle):
    shuffle.shuffle(events)
    order: Order | None = None
    for event in events:
        decision = decide(order, event, received_at=T0, now=T0)
        if decision.after is None:
            continue
        if not decision.outcome.changes_order:
            # an ignored event may only move a register's key, never what the order shows
            assert (decision.after.status, decision.after.refund_status) == (
                order.status,
                order.refund_status,
            )
        order = decision.after


@given(
    a=st.sampled_from(list(OrderStatus)),
    b=st.sampled_from(list(OrderStatus)),
    c=st.sampled_from(list(OrderStatus)),
)
def test_allowed_transitions_are_transitively_closed(a, b, c):
    if can_transition(a, b) and can_transition(b, c):
        assert can_transition(a, c)


@given(a=st.sampled_from(list(OrderStatus)), b=st.sampled_from(list(OrderStatus)))
def test_an_allowed_transition_never_lowers_the_rank(a, b):
    if can_transition(a, b):
        assert STATUS_RANK[b] > STATUS_RANK[a]
