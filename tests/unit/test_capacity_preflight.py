"""The capacity forecast, overflow routing and pre-flight checks (pure), with hypothesis properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from oms.domain.capacity import (
    WarehouseCapacity,
    arrival_rate,
    decide_route,
    forecast,
    heartbeat_backlog,
    processing_rate,
    routes_to_backup,
    routing_bucket,
)
from oms.domain.model import Order, OrderLine, Receiver
from oms.domain.preflight import (
    BlockCode,
    CourierAccount,
    PreflightConfig,
    PreflightFacts,
    WaybillTemplate,
    dry_run,
    risk_reasons,
)
from oms.domain.status import OrderStatus
from tests.support.orders import order

NOW = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
HANGZHOU = WarehouseCapacity(warehouse="hangzhou", version=1, capacity_per_hour=100, backup="ningbo")

rates = st.floats(min_value=0, max_value=10_000, allow_nan=False)


@settings(max_examples=150)
@given(backlog=rates, arrivals=rates, more=rates, measured=st.none() | rates)
def test_the_forecast_is_never_negative_and_monotone_in_arrivals(
    backlog: float, arrivals: float, more: float, measured: float | None
) -> None:
    low = forecast(
        HANGZHOU, NOW, backlog_now=backlog, arrivals_per_hour=arrivals, measured_processing_per_hour=measured
    )
    high = forecast(
        HANGZHOU,
        NOW,
        backlog_now=backlog,
        arrivals_per_hour=arrivals + more,
        measured_processing_per_hour=measured,
    )
    assert low.backlog_at_horizon >= 0
    assert high.backlog_at_horizon >= low.backlog_at_horizon
    assert high.overloaded or not low.overloaded  # more arrivals never clear an overload
    # processing never beats the configured capacity, whatever a heartbeat measured
    assert low.processing_per_hour <= HANGZHOU.capacity_per_hour


@settings(max_examples=100)
@given(backlog=rates, extra=rates, arrivals=rates)
def test_the_forecast_is_monotone_in_the_current_backlog(
    backlog: float, extra: float, arrivals: float
) -> None:
    low = forecast(
        HANGZHOU, NOW, backlog_now=backlog, arrivals_per_hour=arrivals, measured_processing_per_hour=None
    )
    high = forecast(
        HANGZHOU,
        NOW,
        backlog_now=backlog + extra,
        arrivals_per_hour=arrivals,
        measured_processing_per_hour=None,
    )
    assert high.backlog_at_horizon >= low.backlog_at_horizon


def test_overload_is_forecast_three_hours_ahead_with_when_it_happens() -> None:
    # 100/h capacity, limit 4 h of work = 400; 250 waiting, 160/h arriving: +60/h → 430 in 3 h
    result = forecast(
        HANGZHOU, NOW, backlog_now=250, arrivals_per_hour=160, measured_processing_per_hour=None
    )
    assert (result.backlog_at_horizon, result.limit, result.overloaded) == (430, 400, True)
    assert result.overload_at == NOW + timedelta(hours=2.5)
    # a slower warehouse (measured 80/h) is forecast at its measured rate
    slow = forecast(HANGZHOU, NOW, backlog_now=0, arrivals_per_hour=100, measured_processing_per_hour=80)
    assert (slow.processing_per_hour, slow.backlog_at_horizon) == (80, 60)
    # it clears only well under the limit (hysteresis)
    near = forecast(HANGZHOU, NOW, backlog_now=350, arrivals_per_hour=100, measured_processing_per_hour=None)
    assert not near.overloaded
    assert not near.cleared


def test_heartbeat_inputs() -> None:
    assert heartbeat_backlog(pending_print=12, printed=40, picked_up=38) == 14
    assert heartbeat_backlog(pending_print=3, printed=5, picked_up=9) == 3
    seen = NOW
    assert processing_rate(130, 100, seen, seen - timedelta(minutes=30)) == 60
    assert processing_rate(10, 100, seen, seen - timedelta(minutes=30)) is None  # counters reset
    assert processing_rate(130, None, seen, None) is None
    assert arrival_rate(previous_hour=60, this_hour=20, at=NOW) == 50  # half of the previous hour + this one


@settings(max_examples=30, deadline=None)
@given(share=st.floats(min_value=0, max_value=1), seed=st.integers(min_value=0, max_value=10**6))
def test_the_routing_share_is_met_over_many_orders_and_stable_per_order(share: float, seed: int) -> None:
    ids = [f"douyin:100001:69{seed:07d}{index:05d}" for index in range(2000)]
    routed = [order_id for order_id in ids if routes_to_backup(order_id, share)]
    # 2000 draws: 4 standard deviations of a binomial at most 0.045
    assert abs(len(routed) / len(ids) - share) < 0.045
    assert routed == [order_id for order_id in ids if routes_to_backup(order_id, share)]
    assert all(0 <= routing_bucket(order_id) < 1 for order_id in ids[:50])


def test_a_route_names_its_reason_and_only_an_episode_reroutes() -> None:
    reason = "hangzhou backlog forecast 430 in 3 h > limit 400"
    ids = [f"o{index}" for index in range(200)]
    decisions = [decide_route(order_id, "hangzhou", HANGZHOU, reason) for order_id in ids]
    rerouted = [decision for decision in decisions if decision.decision == "rerouted"]
    assert rerouted
    assert all(decision.warehouse == "ningbo" and reason in decision.reason for decision in rerouted)
    kept = [decision for decision in decisions if decision.decision == "kept"]
    assert kept
    assert all(decision.warehouse == "hangzhou" for decision in kept)
    assert decide_route("o1", "hangzhou", HANGZHOU, None).decision == "home"
    with pytest.raises(ValidationError):
        WarehouseCapacity(warehouse="hangzhou", version=1, capacity_per_hour=10, backup="hangzhou")
    with pytest.raises(ValidationError):
        WarehouseCapacity(warehouse="hangzhou", version=1, capacity_per_hour=10, horizon_hours=2)


CONFIG = PreflightConfig(
    version=1,
    default_carriers={"hangzhou": "sf"},
    waybill_templates=(WaybillTemplate(carrier="sf", warehouse="hangzhou"),),
    courier_accounts={"sf": CourierAccount()},
    wms_skus={"hangzhou": ("TEA-1",)},
)


RECEIVER = Receiver(
    name="张*", phone="138****0000", province="浙江省", city="杭州市", district="西湖区", detail="**"
)
LINE = OrderLine(
    line_id="1", sku_id="3500000000001", out_sku_id="TEA-1", quantity=2, unit_price=Decimal("1499.50")
)


def _order(amount: str = "2999.00", receiver: Receiver | None = RECEIVER, **tags: str) -> Order:
    return order(
        "douyin:100001:6900000000000000001",
        OrderStatus.PAID,
        version=2,
        at=NOW,
        paid_at=NOW,
        tags=tags,
        paid_amount=Decimal(amount),
        lines=(LINE,),
        receiver=receiver,
    )


def test_high_risk_orders_are_named_by_the_configured_rules() -> None:
    facts = PreflightFacts.of(_order(sku_class="custom", presale_ship_by="2026-12-10"), "hangzhou", CONFIG)
    assert risk_reasons(facts, CONFIG.risk) == ["amount 2999.00 over 2000", "presale", "custom-made"]
    cheap = PreflightFacts.of(_order("99.00"), "hangzhou", CONFIG)
    assert risk_reasons(cheap, CONFIG.risk) == []
    assert (cheap.carrier, cheap.lines, cheap.missing_address) == ("sf", (("TEA-1", 2),), ())


def test_each_check_returns_its_stable_code() -> None:
    facts = PreflightFacts.of(_order(), "hangzhou", CONFIG)
    assert dry_run(facts, CONFIG, {"TEA-1": 2}) == []
    assert [reason.code for reason in dry_run(facts, CONFIG, {"TEA-1": 1})] == [BlockCode.OUT_OF_STOCK]
    no_template = CONFIG.model_copy(update={"waybill_templates": ()})
    assert [reason.code for reason in dry_run(facts, no_template, {"TEA-1": 2})] == [
        BlockCode.NO_WAYBILL_TEMPLATE
    ]
    arrears = CONFIG.model_copy(update={"courier_accounts": {"sf": CourierAccount(in_arrears=True)}})
    assert [reason.code for reason in dry_run(facts, arrears, {"TEA-1": 2})] == [BlockCode.COURIER_IN_ARREARS]
    inactive = CONFIG.model_copy(update={"courier_accounts": {}})
    assert [reason.code for reason in dry_run(facts, inactive, {"TEA-1": 2})] == [BlockCode.COURIER_INACTIVE]
    unmapped = CONFIG.model_copy(update={"wms_skus": {"hangzhou": ("OTHER",)}})
    assert [reason.code for reason in dry_run(facts, unmapped, {"TEA-1": 2})] == [BlockCode.SKU_NOT_MAPPED]
    no_carrier = PreflightFacts.of(_order(), "ningbo", CONFIG)
    assert BlockCode.NO_CARRIER in {reason.code for reason in dry_run(no_carrier, CONFIG, {"TEA-1": 2})}
    partial = Receiver(province="浙江省", city="杭州市", name="张*", phone="1")
    nowhere = PreflightFacts.of(_order(receiver=partial), "hangzhou", CONFIG)
    [reason] = dry_run(nowhere, CONFIG, {"TEA-1": 2})
    assert (reason.code, reason.detail) == (BlockCode.ADDRESS_INCOMPLETE, "missing district, detail")
