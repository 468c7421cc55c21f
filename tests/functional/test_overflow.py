"""The overflow planner and the arrival count on the deployed Ops table (moto in-process): heartbeats
give the processing rate, an episode alerts once (again only if undelivered), two planners open
one episode, a redelivered change counts one arrival."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import boto3

from local.resources import Deployed
from oms import composition
from oms.adapters.fulfilment_table import DynamoArrivals, DynamoFulfilmentConfig, DynamoOverflowStates
from oms.adapters.warehouse_table import DynamoWarehouseStates
from oms.domain.alerts import Alert
from oms.domain.capacity import WarehouseCapacity
from oms.domain.errors import AlertDeliveryError
from oms.domain.status import OrderStatus
from oms.domain.wms import Heartbeat
from oms.services.fulfilment import OverflowPlanner
from tests.functional.conftest import context
from tests.support.orders import changed, order

NOW = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.alerts: list[Alert] = []
        self.fail = fail

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        if self.fail:
            raise AlertDeliveryError("down", undelivered=[alert.dedupe_key for alert in alerts])
        self.alerts.extend(alerts)


def planner(stack: Deployed, sink: Sink) -> OverflowPlanner:
    table = stack.names["OpsTable"]
    dynamodb = boto3.client("dynamodb")
    return OverflowPlanner(
        DynamoFulfilmentConfig(table, dynamodb),
        DynamoOverflowStates(table, dynamodb),
        DynamoWarehouseStates(table, dynamodb),
        DynamoArrivals(table, dynamodb),
        sink,
    )


def test_an_episode_opens_once_alerts_once_and_clears(stack: Deployed) -> None:
    table = stack.names["OpsTable"]
    dynamodb = boto3.client("dynamodb")
    DynamoFulfilmentConfig(table, dynamodb).put_capacity(
        WarehouseCapacity(warehouse="hangzhou", version=1, capacity_per_hour=100, backup="ningbo"), NOW
    )
    states = DynamoWarehouseStates(table, dynamodb)
    # Two heartbeats 30 min apart: 20 picked up → 40/h measured (below the 100/h capacity)
    states.record("hangzhou", Heartbeat(pending_print=300, printed=50, picked_up=30, time=NOW), NOW)
    later = NOW + timedelta(minutes=30)
    states.record("hangzhou", Heartbeat(pending_print=600, printed=70, picked_up=50, time=later), later)
    [state] = states.all()
    assert (state.previous_picked_up, state.previous_seen) == (30, NOW)

    down = Sink(fail=True)
    assert planner(stack, down).run(later) == {"hangzhou": "opened"}
    # backlog 600 + 20, nothing arriving, processing 40/h: 620 − 3 × 40 = 500 > 400 (4 h of work)
    [episode] = DynamoOverflowStates(table, dynamodb).all().values()
    assert (episode.forecast["processing_per_hour"], episode.forecast["backlog_at_horizon"]) == (40, 500)
    assert episode.alerted is False
    # the alert was not delivered: the next run raises it again, under the same key; then never again
    sink = Sink()
    assert planner(stack, sink).run(later + timedelta(minutes=1)) == {"hangzhou": "active"}
    assert planner(stack, sink).run(later + timedelta(minutes=2)) == {"hangzhou": "active"}
    assert [alert.dedupe_key for alert in sink.alerts] == [f"overflow:hangzhou:{later.isoformat()}"]
    # two planners at the same minute after a fresh episode: one opens it, one alert
    calm = later + timedelta(minutes=40)
    states.record("hangzhou", Heartbeat(pending_print=0, printed=70, picked_up=70, time=calm), calm)
    assert planner(stack, sink).run(calm) == {"hangzhou": "cleared"}
    busy = calm + timedelta(minutes=10)
    states.record("hangzhou", Heartbeat(pending_print=900, printed=70, picked_up=75, time=busy), busy)
    first, second = Sink(), Sink()
    outcomes = [planner(stack, first).run(busy), planner(stack, second).run(busy)]
    assert outcomes == [{"hangzhou": "opened"}, {"hangzhou": "active"}]
    assert (len(first.alerts), len(second.alerts)) == (1, 0)


def test_a_redelivered_change_counts_one_arrival(stack: Deployed) -> None:
    paid = changed(
        order("douyin:100001:6900000000000008001", OrderStatus.PAID, version=2, at=NOW, paid_at=NOW),
        OrderStatus.PENDING_PAYMENT,
        at=NOW,
    )
    deadlines = composition.sla_deadlines()
    assert deadlines.apply(paid) == "tracked"
    assert deadlines.apply(paid) == "stale"
    arrivals = DynamoArrivals(stack.names["OpsTable"], boto3.client("dynamodb"))
    assert arrivals.last_two_hours("default", NOW) == (0, 1)
    assert arrivals.last_two_hours("default", NOW + timedelta(hours=1)) == (1, 0)


def test_a_broken_capacity_document_does_not_stop_the_escalations(stack: Deployed) -> None:
    from functions.sla_escalator import app

    boto3.client("dynamodb").put_item(
        TableName=stack.names["OpsTable"],
        Item={"PK": {"S": "FULFILCONFIG"}, "SK": {"S": "WAREHOUSE#x"}, "document": {"S": "{}"}},
    )
    composition.reset()
    reply = app.handler({"scheduled_time": "2026-11-24T06:30:00Z"}, context("sla_escalator"))
    assert (reply["overflow"], reply["examined"]) == ({}, 0)
