"""Fulfilment SLA through the real path: signed platform pushes → sanitizer → OrderEventsTopic →
SlaQueue → SlaDeadlines; the scheduled escalator on the simulated clock; every notification checked
and recorded by the local notification sink (signatures, tokens, SigV4).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from local.scheduler import only_functions
from local.stack import HttpResult, LocalStack
from oms.adapters.sla_table import DynamoSlaStore
from oms.domain.alerts import Alert
from oms.domain.ids import unified_order_id
from oms.domain.sla import DEFAULT_POLICIES
from oms.domain.status import OrderStatus
from oms.domain.wms import heartbeat_signature
from oms.services.sla import SlaDeadlines, SlaEscalator
from tests.integration.helpers import DOUYIN_SHOP, T0, douyin_truth, minutes, push_douyin
from tests.support.orders import changed, order

#: Douyin's simulated pay_time is create_time + 60 s; the default policy promises 48 h.
DEADLINE = T0 + timedelta(minutes=1) + timedelta(hours=48)
#: The schedule these tests are about: the other per-minute jobs would only add idle invocations.
ESCALATOR = only_functions("SlaEscalatorFunction")
ORDERS = ("6900000000000005001", "6900000000000005002", "6900000000000005003")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack whose clock starts just before level 1 of orders created at T0."""
    log: Path = tmp_path_factory.mktemp("functions") / "functions.log"
    with LocalStack(
        api_port=0,
        clock_start=DEADLINE - timedelta(hours=2, minutes=2),
        extra_env={"SLA_LOOKBACK_HOURS": "6"},
        function_log=log,
    ) as running:
        yield running


def sla_record(stack: LocalStack, platform_order_id: str) -> dict[str, str]:
    order_id = unified_order_id("douyin", DOUYIN_SHOP, platform_order_id)
    item = stack.dynamodb.get_item(
        TableName=stack.deployed.names["OpsTable"],
        Key={"PK": {"S": f"SLA#{order_id}"}, "SK": {"S": "DEADLINE"}},
    ).get("Item", {})
    return {name: next(iter(value.values())) for name, value in item.items()}


def test_a_backlog_escalates_level_by_level_once_per_order_grouped_per_recipient(stack: LocalStack) -> None:
    # GIVEN three Douyin orders paid at T0 + 1 min, pushed signed through the webhook
    for number, platform_order in enumerate(ORDERS):
        paid = douyin_truth(stack, platform_order, 105, minutes(1), payment_id=f"PAY{platform_order}")
        assert push_douyin(stack, paid, msg_id=f"71000000000000050{number}").status == 200
    assert stack.drain(timeout=60)
    # THEN each has its deadline, found through the order change fan-out
    record = sla_record(stack, ORDERS[0])
    assert record["deadline"] == DEADLINE.isoformat()
    assert record["GSI1PK"] == f"SLADUE#{DEADLINE.strftime('%Y-%m-%dT%H')}"

    # WHEN the clock reaches level 1 (deadline - 2 h)
    stack.clock.advance(timedelta(minutes=3), only=ESCALATOR)
    # THEN the warehouse lead got ONE DingTalk message naming the three orders
    [lead] = stack.notifications.sent("dingtalk")
    assert lead.text.startswith("3 alerts: sla.level1")
    assert all(f"douyin order {number} " in lead.text for number in ORDERS)

    # WHEN one order ships, and the clock passes the deadline and then + 4 h
    shipped = douyin_truth(
        stack, ORDERS[0], 3, DEADLINE - timedelta(minutes=30), payment_id=f"PAY{ORDERS[0]}"
    )
    push_douyin(stack, shipped, msg_id="7100000000000005099", tag="102")
    assert stack.drain(timeout=60)
    stack.clock.advance(timedelta(hours=2), only=ESCALATOR)
    stack.clock.advance(timedelta(hours=4), only=ESCALATOR)
    # THEN level 2 made a Feishu task per open order plus one bot message; level 3 one call
    tasks = stack.notifications.sent("feishu_task")
    assert sorted(task.body["summary"].split()[5] for task in tasks) == list(ORDERS[1:])
    [bot] = stack.notifications.sent("feishu")
    assert bot.text.count("SLA level 2") == 2
    [call] = stack.notifications.sent("connect_voice")
    assert call.body["Attributes"]["count"] == "2"
    # AND nothing more, however often the escalator keeps running; every message was signed right
    stack.clock.advance(timedelta(minutes=30), only=ESCALATOR)
    assert len(stack.notifications.sent()) == 1 + 2 + 1 + 1
    assert stack.notifications.refusals == []
    assert sla_record(stack, ORDERS[0])["closed_reason"] == "shipped"
    assert stack.poller_errors() == []


def test_the_dashboard_reports_promised_vs_achieved_by_warehouse(stack: LocalStack) -> None:
    # (after the backlog above: one of three orders shipped in time, two overdue past level 3)
    window = {
        "from": (DEADLINE - timedelta(hours=1)).isoformat(),
        "to": (DEADLINE + timedelta(hours=1)).isoformat(),
    }
    reply = stack.admin_get("/fulfillment/sla", group_by="warehouse", **window)
    assert reply.status == 200, reply.text
    [row] = reply.json()["groups"]
    assert (row["warehouse"], row["promised"], row["achieved"], row["overdue"]) == ("default", 3, 1, 2)
    assert row["timeout_reasons"] == {"overdue_after_level_3": 2}
    refused = stack.admin_get("/fulfillment/sla", group_by="colour")
    assert (refused.status, refused.json()["error"]) == (400, "BAD_REQUEST")
    assert stack.request("GET", "/fulfillment/sla").status == 403  # IAM only


class RecordingSink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        with self._lock:
            self.alerts.extend(alerts)


def test_two_escalators_running_at_once_send_each_level_once(stack: LocalStack) -> None:
    # GIVEN 20 orders past their deadline (long before this stack's clock: the schedule ignores them)
    paid_at = T0 - timedelta(days=30)
    store = DynamoSlaStore(stack.deployed.names["OpsTable"], stack.dynamodb)
    deadlines = SlaDeadlines(store, lambda: DEFAULT_POLICIES)
    for number in range(20):
        after = order(f"douyin#R{number}", OrderStatus.PAID, version=2, at=paid_at, paid_at=paid_at)
        deadlines.apply(changed(after, OrderStatus.PENDING_PAYMENT, at=paid_at))
    now = paid_at + timedelta(hours=48)
    recorded = RecordingSink()
    barrier = threading.Barrier(2)

    def run() -> None:
        escalator = SlaEscalator(store, recorded, clock=lambda: now, new_token=lambda: uuid.uuid4().hex)
        barrier.wait()
        escalator.run(now)

    # WHEN two escalators run at the same instant (the locked moto server is atomic per request, as DynamoDB)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN levels 1 and 2 of every order were raised exactly once between them
    keys = sorted(alert.dedupe_key for alert in recorded.alerts)
    assert keys == sorted(f"sla:douyin#R{n}:L{level}" for n in range(20) for level in (1, 2))


def post_heartbeat(
    stack: LocalStack, warehouse: str, body: dict[str, object], *, secret: str | None = None
) -> HttpResult:
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    raw = json.dumps(body).encode()
    timestamp = str(int(time.time()))
    signature = heartbeat_signature(
        secret or credentials["warehouses"][warehouse]["secret"], timestamp, warehouse, raw
    )
    headers = {
        "content-type": "application/json",
        "x-warehouse-id": warehouse,
        "x-timestamp": timestamp,
        "x-signature": signature,
    }
    return stack.request("POST", "/wms/heartbeat", body=raw, headers=headers)


def counts(at: datetime) -> dict[str, object]:
    return {"pending_print": 12, "printed": 40, "picked_up": 38, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_a_silent_warehouse_raises_one_offline_alert_and_one_recovery_message(stack: LocalStack) -> None:
    assert stack.clock is not None
    # GIVEN Ningbo reports in
    assert post_heartbeat(stack, "ningbo", counts(stack.clock.now())).json() == {
        "warehouse": "ningbo",
        "stale": False,
        "recovered": False,
    }
    # AND forged, unknown and malformed heartbeats are refused and change nothing
    assert post_heartbeat(stack, "ningbo", counts(stack.clock.now()), secret="forged").status == 401
    assert post_heartbeat(stack, "atlantis", counts(stack.clock.now()), secret="x").status == 401
    bad = post_heartbeat(stack, "ningbo", {"pending_print": -1, "time": "yesterday"})
    assert (bad.status, bad.json()["error"]) == (400, "HEARTBEAT_INVALID")
    before = len(stack.notifications.sent("wecom"))
    # WHEN it falls silent for 15 minutes plus the 5 minutes' grace, and stays silent
    stack.clock.advance(timedelta(minutes=19), only=ESCALATOR)
    assert len(stack.notifications.sent("wecom")) == before
    stack.clock.advance(timedelta(minutes=30), only=ESCALATOR)
    # THEN exactly one offline alert went out
    offline = stack.notifications.sent("wecom")[before:]
    assert [message.text.split(":")[0] for message in offline] == ["Warehouse ningbo offline"]
    # WHEN it reports again, THEN one recovery message; a repeated heartbeat sends nothing more
    assert post_heartbeat(stack, "ningbo", counts(stack.clock.now())).json()["recovered"] is True
    assert post_heartbeat(stack, "ningbo", counts(stack.clock.now())).json() == {
        "warehouse": "ningbo",
        "stale": True,
        "recovered": False,
    }
    stack.clock.advance(timedelta(minutes=5), only=ESCALATOR)
    texts = [message.text for message in stack.notifications.sent("wecom")[before:]]
    assert len(texts) == 2
    assert texts[1].startswith("Warehouse ningbo back online")
    assert stack.notifications.refusals == []
