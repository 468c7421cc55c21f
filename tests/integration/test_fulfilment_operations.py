"""Capacity forecast, overflow routing, the pre-flight sandbox and the SLA operator API through the
real path: signed Douyin pushes → sanitizer → OrderEventsTopic → SlaQueue → SlaDeadlines; signed WMS
heartbeats; the escalator (with the overflow planner) fired by the simulated clock; every operator
call a SigV4-signed admin request; alerts read back from the local notification sink.

Douyin orders carry no ``warehouse`` tag, so they belong to the ``default`` warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local import simulator
from local.fulfilment_chapter import admin, escalator_minute, signed_heartbeat
from local.stack import HttpResult, LocalStack
from oms.domain.capacity import routes_to_backup
from oms.domain.ids import unified_order_id
from tests.integration.helpers import DOUYIN_SHOP, LINES, push_douyin

START = datetime(2026, 11, 24, 6, 5, tzinfo=UTC)
POLICIES_V2 = {
    "version": 2,
    "rules": [{"hours": 48}, {"warehouse": "default", "hours": 36}, {"warehouse": "ningbo", "hours": 24}],
}
CAPACITY = {
    "version": 1,
    "capacity_per_hour": 2,
    "backup": "ningbo",
    "overflow_share": 0.5,
    "backlog_limit_hours": 1,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log: Path = tmp_path_factory.mktemp("functions") / "functions.log"
    with LocalStack(api_port=0, clock_start=START, function_log=log) as running:
        yield running


def call(stack: LocalStack, method: str, path: str, body: Any = None) -> HttpResult:
    return admin(stack, method, path, body)


def heartbeat(stack: LocalStack, warehouse: str, pending_print: int) -> int:
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    return signed_heartbeat(stack, credentials, warehouse, pending_print).status


def pay(stack: LocalStack, numbers: list[str], first_msg: int) -> None:
    """Douyin orders paid a minute ago (simulated time), pushed signed, processed to the end."""
    assert stack.clock is not None
    created = stack.clock.now() - timedelta(minutes=2)
    for index, number in enumerate(numbers):
        order = simulator.douyin_order(
            number,
            DOUYIN_SHOP,
            105,
            created + timedelta(minutes=1),
            LINES,
            create_time=created,
            payment_id=f"PAY{number}",
        )
        stack.simulator.put_order("douyin", DOUYIN_SHOP, order)
        assert push_douyin(stack, order, msg_id=f"73000000000{first_msg + index:08d}").status == 200
    assert stack.drain(timeout=60)


def fulfilment(stack: LocalStack, number: str) -> dict[str, Any]:
    reply = stack.admin_get(f"/fulfillment/orders/{unified_order_id('douyin', DOUYIN_SHOP, number)}")
    assert reply.status == 200, reply.text
    return dict(reply.json())


def test_a_published_policy_moves_the_open_deadlines_once(stack: LocalStack) -> None:
    numbers = ["6900000000000009001", "6900000000000009002"]
    pay(stack, numbers, 1)
    paid = datetime.fromisoformat(fulfilment(stack, numbers[0])["paid_at"])
    assert fulfilment(stack, numbers[0])["deadline"] == (paid + timedelta(hours=48)).isoformat()

    reply = call(stack, "PUT", "/fulfillment/sla-policies", POLICIES_V2)
    assert reply.status == 200, reply.text
    assert reply.json()["recomputed"] == {"moved": 2, "unchanged": 0, "skipped": 0}
    record = fulfilment(stack, numbers[0])
    assert (record["deadline"], record["policy_version"]) == ((paid + timedelta(hours=36)).isoformat(), 2)
    # the same document again resumes (nothing left to move); another one under v2 is refused
    again = call(stack, "PUT", "/fulfillment/sla-policies", POLICIES_V2)
    assert (again.status, again.json()["status"], again.json()["recomputed"]["moved"]) == (
        200,
        "unchanged",
        0,
    )
    conflict = call(stack, "PUT", "/fulfillment/sla-policies", POLICIES_V2 | {"rules": [{"hours": 12}]})
    assert (conflict.status, conflict.json()["error"]) == (409, "SLA_POLICY_CONFLICT")
    skipped = call(stack, "PUT", "/fulfillment/sla-policies", POLICIES_V2 | {"version": 4})
    assert (skipped.status, skipped.json()["error"]) == (409, "SLA_POLICY_CONFLICT")
    invalid = call(
        stack,
        "PUT",
        "/fulfillment/sla-policies",
        {"version": 3, "rules": [{"channel": "douyin", "hours": 1}]},
    )
    assert (invalid.status, invalid.json()["error"]) == (400, "SLA_POLICY_INVALID")

    # an operator takes one order in hand: its deadline closes; twice is a conflict
    handled = call(
        stack, "POST", f"/fulfillment/orders/{record['order_id']}/handled", {"reason": "called the buyer"}
    )
    assert handled.status == 200, handled.text
    assert fulfilment(stack, numbers[0])["closed_reason"] == "handled: called the buyer"
    twice = call(stack, "POST", f"/fulfillment/orders/{record['order_id']}/handled", {})
    assert (twice.status, twice.json()["error"]) == (409, "SLA_DEADLINE_CLOSED")
    missing = call(stack, "POST", "/fulfillment/orders/douyin:100001:0/handled", {})
    assert (missing.status, missing.json()["error"]) == (404, "SLA_DEADLINE_NOT_FOUND")
    assert stack.request("PUT", "/fulfillment/sla-policies", body=json.dumps(POLICIES_V2)).status == 403


def test_overload_forecast_reroutes_a_share_of_new_orders_until_it_clears(stack: LocalStack) -> None:
    # GIVEN the default warehouse does 2 orders/h and may hold 1 h of work; ningbo is its backup
    bad = call(stack, "PUT", "/fulfillment/warehouses/default", CAPACITY | {"backup": "default"})
    assert (bad.status, bad.json()["error"]) == (400, "FULFILMENT_CONFIG_INVALID")
    assert call(stack, "PUT", "/fulfillment/warehouses/default", CAPACITY).status == 200
    stale = call(stack, "PUT", "/fulfillment/warehouses/default", CAPACITY)
    assert (stale.status, stale.json()["error"]) == (409, "FULFILMENT_CONFIG_CONFLICT")
    # WHEN its WMS reports 10 orders waiting to print (the limit is 2 h × 1 h of work = 2)
    assert heartbeat(stack, "default", pending_print=10) == 200
    escalator_minute(stack)
    escalator_minute(stack)  # a second run: the same episode, no second alert
    # THEN one overload alert (WeCom, the route for fulfilment.*)
    alerts = [message for message in stack.notifications.sent("wecom") if "overload forecast" in message.text]
    assert len(alerts) == 1, [message.text for message in alerts]
    assert "50% of new orders go to ningbo" in alerts[0].text
    [warehouse] = stack.admin_get("/fulfillment/warehouses").json()["warehouses"]
    assert warehouse["overflow"]["active"] is True
    # (the two orders of the first test arrived this hour: 10 + (2 − 2/h) × 3 h = 10)
    assert warehouse["overflow"]["forecast"]["backlog_at_horizon"] == 10

    # WHEN new orders arrive: a stable half (by order id) goes to ningbo, its deadline ningbo's 24 h
    numbers = [f"69000000000000091{index:02d}" for index in range(8)]
    pay(stack, numbers, 100)
    expected = sorted(
        number for number in numbers if routes_to_backup(unified_order_id("douyin", DOUYIN_SHOP, number), 0.5)
    )
    assert 0 < len(expected) < len(numbers)
    records = {number: fulfilment(stack, number) for number in numbers}
    rerouted = sorted(number for number, record in records.items() if record["warehouse"] == "ningbo")
    assert rerouted == expected
    for number, record in records.items():
        paid = datetime.fromisoformat(record["paid_at"])
        if number in expected:
            assert record["routing"]["decision"] == "rerouted"
            assert record["routing"]["reason"].startswith(
                "overflow to ningbo (50% share): default backlog forecast"
            )
            assert record["deadline"] == (paid + timedelta(hours=24)).isoformat()
        else:
            assert (record["routing"]["decision"], record["warehouse"]) == ("kept", "default")
            assert record["deadline"] == (paid + timedelta(hours=36)).isoformat()
    # a later change of a rerouted order (approved by the platform) keeps its decision
    pay(stack, expected[:1], 150)
    assert fulfilment(stack, expected[0])["warehouse"] == "ningbo"

    # WHEN two quiet hours later the WMS has caught up, the forecast clears: routing stops
    assert stack.clock is not None
    stack.clock.advance(timedelta(hours=2), only=lambda target: False)
    assert heartbeat(stack, "default", pending_print=0) == 200
    escalator_minute(stack)
    [warehouse] = stack.admin_get("/fulfillment/warehouses").json()["warehouses"]
    assert warehouse["overflow"]["active"] is False
    later = ["6900000000000009201", "6900000000000009202"]
    pay(stack, later, 200)
    assert [fulfilment(stack, number)["routing"]["decision"] for number in later] == ["home", "home"]
    assert len([m for m in stack.notifications.sent("wecom") if "overload forecast" in m.text]) == 1


def test_high_risk_orders_are_held_until_a_recheck_passes(stack: LocalStack) -> None:
    # GIVEN high risk is over 200 (the test order pays 2 × 128), sf delivers for the default warehouse
    config = {
        "version": 1,
        "risk": {"amount_over": "200"},
        "default_carriers": {"default": "sf", "ningbo": "sf"},
        "courier_accounts": {"sf": {"active": True, "in_arrears": True}},
        "wms_skus": {"default": ["TEA-1"], "ningbo": ["TEA-1"]},
    }
    assert call(stack, "PUT", "/fulfillment/preflight-config", config).status == 200
    # WHEN a high-risk order arrives (no waybill template, the courier in arrears, no stock)
    number = "6900000000000009301"
    pay(stack, [number], 300)
    # THEN it is held, with every reason
    listed = stack.admin_get("/fulfillment/preflight", state="blocked")
    assert listed.status == 200, listed.text
    [held] = listed.json()["orders"]
    warehouse = held["warehouse"]
    assert [reason["code"] for reason in held["reasons"]] == [
        "PREFLIGHT_COURIER_IN_ARREARS",
        "PREFLIGHT_NO_WAYBILL_TEMPLATE",
        "PREFLIGHT_OUT_OF_STOCK",
    ]
    assert held["risk"][0].startswith("amount 256")
    # WHEN the operator fixes part of it, a re-check keeps it held with what is left
    fixed = config | {
        "version": 2,
        "courier_accounts": {"sf": {}},
        "waybill_templates": [{"carrier": "sf", "warehouse": warehouse}],
    }
    assert call(stack, "PUT", "/fulfillment/preflight-config", fixed).status == 200
    assert call(stack, "POST", "/fulfillment/preflight/recheck").json() == {
        "released": [],
        "still_blocked": [held["order_id"]],
    }
    # AND after stock is received in that warehouse, the re-check releases it
    receipt = {"warehouse": warehouse, "reference": "PO-PREFLIGHT-1", "receipt": 5}
    assert call(stack, "PUT", "/inventory/TEA-1", receipt).status == 200
    assert call(stack, "POST", "/fulfillment/preflight/recheck").json()["released"] == [held["order_id"]]
    assert stack.admin_get("/fulfillment/preflight", state="blocked").json()["orders"] == []
    assert fulfilment(stack, number)["preflight"]["state"] == "released"
    refused = stack.admin_get("/fulfillment/preflight", state="passed")
    assert (refused.status, refused.json()["error"]) == (400, "BAD_REQUEST")
    assert stack.poller_errors() == []
