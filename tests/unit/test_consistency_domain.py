"""Diagnosis, forced correction and reconciliation as pure functions (examples and properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms.domain.correction import force_event_id, force_status
from oms.domain.diagnosis import BreakpointKind, diagnose, export_rows, group_breakpoints
from oms.domain.errors import AdminRequiredError, ForceRefusedError
from oms.domain.model import (
    EventSource,
    ForceMode,
    HistoryEntry,
    OperatorMark,
    Order,
    OrderEvent,
    Outcome,
    Platform,
)
from oms.domain.reconciliation import Comparison, compare, reconciliation_event
from oms.domain.state_machine import decide
from oms.domain.status import STATUS_RANK, OrderStatus, can_transition
from oms.services.consistency import require_admin
from oms.services.reconcile import Pacer

T0 = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


def event(
    status: OrderStatus,
    minute: int,
    *,
    number: str = "6918000000000000001",
    platform: Platform = Platform.DOUYIN,
    source: EventSource = EventSource.PUSH,
    suffix: str = "",
) -> OrderEvent:
    return OrderEvent(
        event_id=f"{number}-{status}-{minute}{suffix}",
        platform=platform,
        shop_id="shop-1",
        platform_order_id=number,
        event_type="test",
        event_time=T0 + timedelta(minutes=minute),
        source=source,
        status=status,
        platform_status=f"raw-{status}",
    )


def fold(events: list[OrderEvent]) -> tuple[Order, list[HistoryEntry]]:
    order: Order | None = None
    history: list[HistoryEntry] = []
    for item in events:
        decision = decide(order, item, received_at=item.event_time, now=item.event_time)
        order = decision.after or order
        history.append(decision.entry)
    assert order is not None
    return order, history


MARK = OperatorMark(actor="arn:aws:iam::123456789012:user/admin", mode=ForceMode.VALIDATED, reason="checked")


# --------------------------------------------------------------------------- diagnosis


def test_an_order_that_followed_its_platform_has_no_breakpoint():
    order, history = fold([event(OrderStatus.PAID, 0), event(OrderStatus.SHIPPED, 10)])
    diagnosis = diagnose(order, history, now=NOW)
    assert diagnosis.breakpoints == ()
    assert diagnosis.platform is not None
    assert diagnosis.platform.status == OrderStatus.SHIPPED
    assert export_rows([diagnosis]) == []


def test_a_refused_backwards_event_shows_as_forbidden_and_as_the_platform_disagreeing():
    order, history = fold([event(OrderStatus.SHIPPED, 0), event(OrderStatus.PAID, 10)])
    kinds = {
        (point.kind, point.status_from, point.status_to)
        for point in diagnose(order, history, now=NOW).breakpoints
    }
    assert kinds == {
        (BreakpointKind.FORBIDDEN_TRANSITION, "shipped", "paid"),
        (BreakpointKind.SOURCES_DISAGREE, "shipped", "paid"),
    }


def test_the_platform_ahead_is_paid_not_recorded_or_tracking_not_shipped():
    pending, _ = fold([event(OrderStatus.PENDING_PAYMENT, 0)])
    said_paid = decide(pending, event(OrderStatus.PAID, 5), received_at=NOW, now=NOW).entry
    # the order as it was (the paid fact known but not applied, e.g. a forced change in between)
    diagnosis = diagnose(pending, [*fold([event(OrderStatus.PENDING_PAYMENT, 0)])[1], said_paid], now=NOW)
    assert [point.kind for point in diagnosis.breakpoints] == [BreakpointKind.PAID_NOT_RECORDED]
    paid, paid_history = fold([event(OrderStatus.PAID, 0)])
    said_shipped = decide(paid, event(OrderStatus.SHIPPED, 5), received_at=NOW, now=NOW).entry
    diagnosis = diagnose(paid, [*paid_history, said_shipped], now=NOW)
    assert [point.kind for point in diagnosis.breakpoints] == [BreakpointKind.TRACKING_NOT_SHIPPED]


def test_stuck_follows_the_thresholds_given_as_data():
    order, history = fold([event(OrderStatus.PAID, 0)])
    late = T0 + timedelta(hours=49)
    assert [point.kind for point in diagnose(order, history, now=late).breakpoints] == [BreakpointKind.STUCK]
    assert (
        diagnose(order, history, now=late, thresholds={OrderStatus.PAID: timedelta(days=3)}).breakpoints == ()
    )


def test_a_forced_change_is_the_last_change_and_the_platform_disagrees():
    order, history = fold([event(OrderStatus.SHIPPED, 0)])
    forced = force_status(
        order,
        OrderStatus.PAID,
        mark=MARK.model_copy(update={"mode": ForceMode.SKIP_VALIDATION}),
        event_id="force-1",
        now=NOW,
    )
    assert forced.after is not None
    diagnosis = diagnose(forced.after, [*history, forced.entry], now=NOW)
    assert diagnosis.last_change is not None
    assert diagnosis.last_change.source is EventSource.OPERATOR
    [row] = export_rows([diagnosis])
    assert row[-2] == MARK.actor  # last_operator
    # the platform still says shipped: from the order's side, a shipment it does not reflect
    assert [point.kind for point in diagnosis.breakpoints] == [BreakpointKind.TRACKING_NOT_SHIPPED]


statuses = st.sampled_from(list(OrderStatus))


@st.composite
def orders_with_histories(draw: st.DrawFn) -> tuple[Order, list[HistoryEntry]]:
    platform = draw(st.sampled_from([Platform.DOUYIN, Platform.SHOPIFY, Platform.KUAISHOU]))
    number = str(draw(st.integers(min_value=1, max_value=10**9)))
    steps = draw(
        st.lists(st.tuples(statuses, st.integers(min_value=0, max_value=600)), min_size=1, max_size=6)
    )
    return fold(
        [
            event(status, minute, number=number, platform=platform, suffix=f"-{index}")
            for index, (status, minute) in enumerate(steps)
        ]
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(orders_with_histories(), min_size=1, max_size=25), st.integers(min_value=0, max_value=2000))
def test_grouping_counts_every_breakpoint_once(batch: list[tuple[Order, list[HistoryEntry]]], minutes: int):
    now = T0 + timedelta(minutes=minutes)
    diagnoses = [diagnose(order, history, now=now) for order, history in batch]
    groups = group_breakpoints(diagnoses)
    assert sum(group.count for group in groups) == sum(len(diagnosis.breakpoints) for diagnosis in diagnoses)
    for group in groups:
        members = [
            diagnosis
            for diagnosis in diagnoses
            for point in diagnosis.breakpoints
            if (point.kind, diagnosis.order.platform, point.status_from, point.status_to)
            == (group.kind, group.platform, group.status_from, group.status_to)
        ]
        assert group.count == len(members)
    assert [group.count for group in groups] == sorted((group.count for group in groups), reverse=True)
    assert len(export_rows(diagnoses)) == sum(diagnosis.abnormal for diagnosis in diagnoses)


# --------------------------------------------------------------------------- forced correction


def test_validated_refuses_what_the_rules_refuse_and_the_same_status():
    order, _ = fold([event(OrderStatus.SHIPPED, 0)])
    with pytest.raises(ForceRefusedError):
        force_status(order, OrderStatus.PAID, mark=MARK, event_id="f", now=NOW)
    with pytest.raises(ForceRefusedError):
        force_status(
            order,
            OrderStatus.SHIPPED,
            mark=MARK.model_copy(update={"mode": ForceMode.SKIP_VALIDATION}),
            event_id="f",
            now=NOW,
        )


@settings(max_examples=200, deadline=None)
@given(statuses, statuses, st.sampled_from(list(ForceMode)), st.integers(min_value=-600, max_value=600))
def test_a_forced_change_is_a_canonical_audited_step_and_older_platform_facts_stay_stale(
    current: OrderStatus, target: OrderStatus, mode: ForceMode, skew: int
):
    order, _ = fold([event(current, 0)])
    mark = MARK.model_copy(update={"mode": mode})
    now = T0 + timedelta(minutes=skew)  # the operator's clock may even be behind the platform's
    allowed = target != current and (mode is ForceMode.SKIP_VALIDATION or can_transition(current, target))
    if not allowed:
        with pytest.raises(ForceRefusedError):
            force_status(order, target, mark=mark, event_id="f", now=now)
        return
    decision = force_status(order, target, mark=mark, event_id="f", now=now)
    assert decision.after is not None
    assert decision.after.status in set(OrderStatus)
    assert decision.after.version == order.version + 1
    assert decision.after.status_key > order.status_key
    assert decision.entry.source is EventSource.OPERATOR
    assert decision.entry.operator == mark
    assert (decision.entry.status_before, decision.entry.status_after) == (current, target)
    # a platform fact no newer than what the order reflected before the correction changes nothing
    replay = decide(decision.after, event(current, 0, suffix="-late"), received_at=now, now=now)
    assert replay.outcome in (Outcome.STALE, Outcome.DUPLICATE)


def test_one_request_forces_one_order_once():
    assert force_event_id("req-1", "o_a") == force_event_id("req-1", "o_a")
    assert force_event_id("req-1", "o_a") != force_event_id("req-2", "o_a")


def test_only_configured_administrators_may_force():
    admins = ("arn:aws:iam::123456789012:user/admin", "arn:aws:iam::123456789012:role/ops/OmsAdmin")
    require_admin("arn:aws:iam::123456789012:user/admin", admins)
    require_admin("arn:aws:sts::123456789012:assumed-role/OmsAdmin/alice", admins)
    for caller in (
        "arn:aws:iam::123456789012:user/viewer",
        "arn:aws:sts::123456789012:assumed-role/Viewer/bob",
        "arn:aws:sts::999999999999:assumed-role/OmsAdmin/mallory",
        "unknown",
    ):
        with pytest.raises(AdminRequiredError):
            require_admin(caller, admins)
    with pytest.raises(AdminRequiredError):
        require_admin("arn:aws:iam::123456789012:user/admin", ())


# --------------------------------------------------------------------------- reconciliation


@given(statuses, statuses)
def test_comparison_is_exactly_one_of_four(local: OrderStatus, platform: OrderStatus):
    comparison = compare(local, platform)
    if comparison is Comparison.PLATFORM_AHEAD:
        assert can_transition(local, platform)
    elif comparison is Comparison.LOCAL_AHEAD:
        assert can_transition(platform, local)
        assert not can_transition(local, platform)
    elif comparison is Comparison.SAME:
        assert local == platform
    else:
        assert not can_transition(local, platform)
        assert not can_transition(platform, local)
        assert local != platform


def test_a_reconciliation_event_id_is_the_truth_it_carries():
    truth = event(OrderStatus.SHIPPED, 30)
    first, again = (
        reconciliation_event(truth),
        reconciliation_event(truth.model_copy(update={"event_id": "other"})),
    )
    assert first.event_id == again.event_id
    assert first.source is EventSource.RECONCILE
    later = reconciliation_event(
        truth.model_copy(update={"event_time": truth.event_time + timedelta(seconds=1)})
    )
    assert later.event_id != first.event_id
    assert STATUS_RANK[first.status] == STATUS_RANK[truth.status]


def test_the_pacer_keeps_each_platform_under_its_rate_after_the_burst():
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer({"shopify": (2.0, 3)}, monotonic=lambda: clock[0], sleep=sleep)
    for _ in range(7):
        pacer.wait("shopify")
    # three from the burst, then one every half second
    assert slept == pytest.approx([0.5, 0.5, 0.5, 0.5])
    pacer.wait("douyin")  # another platform's bucket is untouched
    assert len(slept) == 4
