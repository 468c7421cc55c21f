from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oms.domain.model import OrderEvent, Outcome, Platform
from oms.domain.state_machine import decide
from oms.domain.status import OrderStatus, RefundStatus, can_transition

T0 = datetime(2026, 2, 5, 12, 0, tzinfo=UTC)


def event(
    event_id: str, status: OrderStatus, seconds: int, refund: RefundStatus = RefundStatus.NONE
) -> OrderEvent:
    return OrderEvent(
        event_id=event_id,
        platform=Platform.SHOPIFY,
        shop_id="demo.myshopify.com",
        platform_order_id="1001",
        event_type="orders/updated",
        event_time=T0 + timedelta(seconds=seconds),
        status=status,
        refund_status=refund,
        platform_status=str(status),
    )


def apply(*events: OrderEvent):
    order = None
    decisions = []
    for item in events:
        decision = decide(order, item, received_at=T0, now=T0)
        decisions.append(decision)
        order = decision.after or order
    return order, decisions


def test_first_event_creates_the_order_at_version_1():
    order, (decision,) = apply(event("a", OrderStatus.PAID, 0))
    assert decision.outcome is Outcome.CREATED
    assert order.version == 1
    assert order.status is OrderStatus.PAID
    assert decision.entry.status_before is None
    assert decision.entry.status_after is OrderStatus.PAID


def test_an_older_event_is_recorded_as_stale_and_changes_nothing():
    order, decisions = apply(event("b", OrderStatus.SHIPPED, 10), event("a", OrderStatus.PAID, 5))
    assert decisions[1].outcome is Outcome.STALE
    assert decisions[1].after is None
    assert order.status is OrderStatus.SHIPPED
    assert order.version == 1


def test_a_newer_event_that_moves_backwards_is_a_regression():
    order, decisions = apply(event("a", OrderStatus.SHIPPED, 0), event("b", OrderStatus.PAID, 5))
    assert decisions[1].outcome is Outcome.REGRESSION
    assert "backwards" in decisions[1].entry.reason
    assert order.status is OrderStatus.SHIPPED


def test_cancelling_a_shipped_order_is_forbidden_and_flagged():
    order, decisions = apply(event("a", OrderStatus.SHIPPED, 0), event("b", OrderStatus.CANCELLED, 5))
    assert decisions[1].outcome is Outcome.FORBIDDEN
    assert order.status is OrderStatus.SHIPPED


def test_lost_pushes_may_be_skipped():
    order, decisions = apply(event("a", OrderStatus.PENDING_PAYMENT, 0), event("b", OrderStatus.SHIPPED, 5))
    assert decisions[1].outcome is Outcome.APPLIED
    assert order.status is OrderStatus.SHIPPED
    assert order.version == 2


def test_the_same_event_again_is_a_duplicate():
    first = event("a", OrderStatus.PAID, 0)
    _, decisions = apply(first, first)
    assert decisions[1].outcome is Outcome.DUPLICATE


def test_equal_timestamps_are_ordered_by_status_rank():
    order, decisions = apply(event("b", OrderStatus.APPROVED, 0), event("a", OrderStatus.PAID, 0))
    assert decisions[1].outcome is Outcome.STALE
    assert order.status is OrderStatus.APPROVED


def test_refunds_move_beside_the_main_status_even_after_completion():
    order, decisions = apply(
        event("a", OrderStatus.COMPLETED, 0), event("b", OrderStatus.COMPLETED, 5, RefundStatus.REQUESTED)
    )
    assert decisions[1].outcome is Outcome.APPLIED
    assert order.status is OrderStatus.COMPLETED
    assert order.refund_status is RefundStatus.REQUESTED


def test_a_withdrawn_refund_request_goes_back_to_none():
    order, _ = apply(
        event("a", OrderStatus.PAID, 0, RefundStatus.REQUESTED),
        event("b", OrderStatus.PAID, 5, RefundStatus.NONE),
    )
    assert order.refund_status is RefundStatus.NONE


def test_a_source_blind_to_refunds_never_clears_one():
    # WeChat's mini-program get_order shows no partial refund: its "none" is not a fact about refunds
    blind = event("c", OrderStatus.SHIPPED, 60).model_copy(update={"refund_known": False})
    order, decisions = apply(
        event("a", OrderStatus.PAID, 0), event("b", OrderStatus.PAID, 5, RefundStatus.PARTIAL), blind
    )
    assert decisions[2].outcome is Outcome.APPLIED
    assert order.status is OrderStatus.SHIPPED
    assert order.refund_status is RefundStatus.PARTIAL


def test_a_blind_snapshot_of_the_same_status_keeps_the_refund():
    blind = event("c", OrderStatus.PAID, 60).model_copy(update={"refund_known": False})
    order, _ = apply(event("a", OrderStatus.PAID, 0, RefundStatus.PARTIAL), blind)
    assert order.refund_status is RefundStatus.PARTIAL


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, True),
        (OrderStatus.PAID, OrderStatus.CANCELLED, True),
        (OrderStatus.APPROVED, OrderStatus.CANCELLED, True),
        (OrderStatus.PARTIALLY_SHIPPED, OrderStatus.CANCELLED, False),
        (OrderStatus.SHIPPED, OrderStatus.CLOSED, True),
        (OrderStatus.COMPLETED, OrderStatus.CLOSED, False),
        (OrderStatus.CANCELLED, OrderStatus.PAID, False),
        (OrderStatus.SHIPPED, OrderStatus.PAID, False),
        (OrderStatus.PAID, OrderStatus.PAID, False),
    ],
)
def test_transition_table(current, target, allowed):
    assert can_transition(current, target) is allowed
