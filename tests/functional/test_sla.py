"""SLA deadlines from order changes and the escalator, through their handlers, against moto.

Deliveries are asserted on the local notification sink (signatures checked); the exactly-once
properties are asserted on the Ops table's conditional claims, with two escalators running at once
and with hypothesis choosing run times.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.notification_sink import NotificationSink
from local.resources import Deployed
from oms import composition
from oms.domain.alerts import Alert
from oms.domain.sla import SlaPolicySet, SlaRule
from oms.domain.status import OrderStatus
from oms.services.ports import AlertSink
from oms.services.sla import SlaEscalator
from tests.functional.conftest import CREDENTIALS, context
from tests.support.orders import changed, order

PAID = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DEADLINE = PAID + timedelta(hours=48)  # the built-in default policy


@pytest.fixture(scope="module")
def sink() -> Iterator[NotificationSink]:
    running = NotificationSink(
        CREDENTIALS["notifiers"], aws_credentials={"FOOBARKEY": "FOOBARSECRET"}
    ).start()
    yield running
    running.stop()


@pytest.fixture
def sla(stack: Deployed, sink: NotificationSink, monkeypatch: pytest.MonkeyPatch) -> NotificationSink:
    sink.clear()
    monkeypatch.setenv("NOTIFIER_SECRET_NAME", "oms-local/notifiers")
    monkeypatch.setenv("NOTIFIER_BASE_URLS", json.dumps(sink.base_urls()))
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", sink.url)
    composition.reset()
    return sink


def deliver(stack: Deployed, *changes: Any) -> dict[str, Any]:
    """Invoke the SLA consumer the way the SlaQueue event source would."""
    from functions.sla_deadlines import app

    records = [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": "r",
            "body": change.to_json(),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": stack.arns.get("SlaQueue", "arn:aws:sqs:us-east-1:123456789012:SlaQueue"),
            "awsRegion": "us-east-1",
        }
        for change in changes
    ]
    return app.handler({"Records": records}, context("sla_deadlines"))


def escalate(at: datetime) -> dict[str, Any]:
    from functions.sla_escalator import app

    return app.handler({"scheduled_time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}, context("sla_escalator"))


def paid(order_id: str, version: int = 2, **kwargs: Any) -> Any:
    return changed(
        order(order_id, OrderStatus.PAID, version=version, at=PAID, paid_at=PAID, **kwargs),
        OrderStatus.PENDING_PAYMENT,
        at=PAID,
    )


def shipped(order_id: str, at: datetime, version: int = 3) -> Any:
    return changed(
        order(order_id, OrderStatus.SHIPPED, version=version, at=at, paid_at=PAID), OrderStatus.PAID, at=at
    )


def test_a_paid_order_gets_its_deadline_and_each_level_fires_once_at_its_time(
    stack: Deployed, sla: NotificationSink
) -> None:
    # GIVEN two orders paid at the same moment
    assert deliver(stack, paid("douyin#A1"), paid("douyin#A2")) == {"batchItemFailures": []}
    record = composition.sla_store().get("douyin#A1")
    assert record is not None
    assert record.deadline == DEADLINE
    # WHEN the escalator runs before level 1, at level 1 (twice), at the deadline, and at +4 h
    assert escalate(DEADLINE - timedelta(hours=2, minutes=1))["raised"] == {}
    assert escalate(DEADLINE - timedelta(hours=2))["raised"] == {"1": 2}
    assert escalate(DEADLINE - timedelta(hours=1))["raised"] == {}
    assert escalate(DEADLINE)["raised"] == {"2": 2}
    assert escalate(DEADLINE + timedelta(hours=4))["raised"] == {"3": 2}
    assert escalate(DEADLINE + timedelta(hours=5))["examined"] == 0  # closed after the last level
    # THEN the lead got one DingTalk message for both orders, the owner two tasks and one bot
    # message, the duty manager one call
    [lead] = sla.sent("dingtalk")
    assert "douyin order A1 " in lead.text
    assert "douyin order A2 " in lead.text
    assert len(sla.sent("feishu_task")) == 2
    assert len(sla.sent("feishu")) == 1
    [call] = sla.sent("connect_voice")
    assert call.body["Attributes"]["count"] == "2"
    assert sla.refusals == []


def test_shipping_stops_further_levels_and_records_on_time(stack: Deployed, sla: NotificationSink) -> None:
    deliver(stack, paid("douyin#B1"))
    escalate(DEADLINE - timedelta(hours=2))
    # WHEN it ships before the deadline (the change may arrive late, even after an older one)
    deliver(stack, shipped("douyin#B1", DEADLINE - timedelta(minutes=30)), paid("douyin#B1"))
    # THEN no further level fires, and the record says shipped on time
    assert escalate(DEADLINE + timedelta(hours=4))["raised"] == {}
    record = composition.sla_store().get("douyin#B1")
    assert record is not None
    assert record.closed_reason == "shipped"
    assert record.on_time() is True
    assert len(sla.sent("dingtalk")) == 1


def test_marking_an_order_handled_stops_further_levels(stack: Deployed, sla: NotificationSink) -> None:
    deliver(stack, paid("douyin#H1"))
    escalate(DEADLINE)
    assert composition.sla_store().mark_handled("douyin#H1", "handled", DEADLINE) is True
    assert composition.sla_store().mark_handled("douyin#H1", "handled", DEADLINE) is False
    assert escalate(DEADLINE + timedelta(hours=4))["raised"] == {}


def test_an_escalator_that_was_down_sends_every_missed_level_once(
    stack: Deployed, sla: NotificationSink
) -> None:
    deliver(stack, paid("douyin#D1"))
    assert escalate(DEADLINE + timedelta(hours=6))["raised"] == {"1": 1, "2": 1, "3": 1}
    assert escalate(DEADLINE + timedelta(hours=6))["raised"] == {}


def test_a_published_policy_and_a_warehouse_change_move_the_deadline(
    stack: Deployed, sla: NotificationSink
) -> None:
    # GIVEN a policy version promising 12 h from the Hangzhou warehouse
    policies = SlaPolicySet(version=2, rules=(SlaRule(hours=48), SlaRule(warehouse="hangzhou", hours=12)))
    composition.sla_policies().publish(policies, PAID)
    deliver(stack, paid("douyin#W1"))
    record = composition.sla_store().get("douyin#W1")
    assert record is not None
    assert (record.deadline, record.policy_version) == (PAID + timedelta(hours=48), 2)
    # WHEN the order is routed to Hangzhou (a newer version)
    deliver(stack, paid("douyin#W1", version=3, tags={"warehouse": "hangzhou"}))
    moved = composition.sla_store().get("douyin#W1")
    assert moved is not None
    assert moved.deadline == PAID + timedelta(hours=12)
    # AND the escalator finds it under its new hour (level 1, never due under the old deadline, too)
    assert escalate(PAID + timedelta(hours=12))["raised"] == {"1": 1, "2": 1}


def test_a_malformed_change_fails_alone(stack: Deployed, sla: NotificationSink) -> None:
    from functions.sla_deadlines import app

    good = paid("douyin#M1")
    event = {
        "Records": [
            {
                "messageId": "bad",
                "receiptHandle": "r",
                "body": '{"order": 1}',
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn",
                "awsRegion": "us-east-1",
            },
            {
                "messageId": "good",
                "receiptHandle": "r",
                "body": good.to_json(),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn",
                "awsRegion": "us-east-1",
            },
        ]
    }
    assert app.handler(event, context("sla_deadlines")) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert composition.sla_store().get("douyin#M1") is not None


class RecordingSink(AlertSink):
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        self.alerts.extend(alerts)


# Two escalators at once: tests/integration/test_sla_escalation.py (moto's in-process backend does
# not serialise concurrent conditional writes; the local stack's locked moto server does, as DynamoDB).


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    runs=st.lists(st.integers(min_value=-180, max_value=420), min_size=1, max_size=8),
    ship_after=st.one_of(st.none(), st.integers(min_value=-180, max_value=420)),
)
def test_whatever_the_run_times_each_level_fires_at_most_once_and_only_when_due(
    stack: Deployed, runs: list[int], ship_after: int | None
) -> None:
    # GIVEN an order, escalator runs at arbitrary minutes around its deadline (repeats allowed),
    # and maybe a shipment at some minute
    order_id = f"douyin#P{uuid.uuid4().hex[:10]}"
    composition.sla_deadlines().apply(paid(order_id))
    recorded = RecordingSink()
    escalator = SlaEscalator(
        composition.sla_store(),
        recorded,
        clock=lambda: DEADLINE,
        new_token=lambda: uuid.uuid4().hex,
        lookback=timedelta(hours=8),
    )
    events = sorted(
        [(minute, "run") for minute in runs] + ([(ship_after, "ship")] if ship_after is not None else [])
    )
    shipped_at: int | None = None
    for minute, what in events:
        at = DEADLINE + timedelta(minutes=minute)
        if what == "ship":
            composition.sla_deadlines().apply(shipped(order_id, at))
            shipped_at = minute
        else:
            escalator.run(at)
    # THEN no level fired twice, and exactly the levels due at some run before shipping fired
    levels = [int(alert.facts["level"]) for alert in recorded.alerts if alert.facts["order_id"] == order_id]
    assert len(levels) == len(set(levels))
    # (a run and a shipment in the same minute: the run goes first)
    before_ship = [minute for minute in runs if shipped_at is None or minute <= shipped_at]
    thresholds = {1: -120, 2: 0, 3: 240}
    expected = {
        level for level, threshold in thresholds.items() if any(minute >= threshold for minute in before_ship)
    }
    assert set(levels) == expected
    composition.sla_store().mark_handled(order_id, "test over", DEADLINE)  # keep the index small
