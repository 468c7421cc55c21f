"""Demo chapter: the same evening the default warehouse's backlog builds, and a big order is risky.

On the simulated clock, through the admin API (SigV4) and signed pushes and heartbeats:

1. The operator publishes SLA policy v2 (the backup warehouse ``ningbo`` promises 24 h) and sets the
   default warehouse's capacity (4 orders/h, 2 h of work at most, backup ``ningbo``, 30 % share).
2. Its WMS reports 40 orders waiting to print; the next escalator minute forecasts overload 3 h
   ahead: one alert (WeCom), and 30 % of the next 12 orders — chosen by order id — go to ningbo,
   with the reason on each order and ningbo's deadline.
3. The pre-flight sandbox holds a 1,999 order (high risk over 1,000): no waybill template for its
   warehouse, no stock there. The operator adds the template and receives stock; a re-check
   releases it.

The oracle: the rerouted orders are exactly those whose id hashes into the share; one alert; the
held order listed with its reasons, then released.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from local import simulator
from local.chapters import Chapter
from local.simulator import LineSpec
from local.stack import HttpResult, LocalStack
from oms.domain.capacity import routes_to_backup
from oms.domain.ids import unified_order_id
from oms.domain.wms import heartbeat_signature

SHOP = "100001"
APP = "7000000000000000001"
HOME = "default"  # Douyin orders carry no warehouse tag
BACKUP = "ningbo"
SHARE = 0.3
ORDERS = tuple(f"6900000000000888{index:03d}" for index in range(12))
RISKY = "6900000000000888500"
LINES = (LineSpec(sku_id="3500000000001", quantity=1, unit_price=Decimal("99.00"), out_sku_id="TEA-1"),)
RISKY_LINES = (
    LineSpec(sku_id="3500000000001", quantity=1, unit_price=Decimal("1999.00"), out_sku_id="TEA-1"),
)
POLICIES = {"version": 2, "rules": [{"hours": 48}, {"warehouse": BACKUP, "hours": 24}]}
CAPACITY = {
    "version": 1,
    "capacity_per_hour": 4,
    "backup": BACKUP,
    "overflow_share": SHARE,
    "backlog_limit_hours": 2,
}


def admin(stack: LocalStack, method: str, path: str, body: Any = None) -> HttpResult:
    payload = json.dumps(body) if body is not None else ""
    return stack.request(method, path, body=payload, headers={"content-type": "application/json"}, sign=True)


def signed_heartbeat(
    stack: LocalStack, credentials: Mapping[str, Any], warehouse: str, pending_print: int
) -> HttpResult:
    """A WMS heartbeat at the simulated time, signed with the warehouse's own secret."""
    assert stack.clock is not None
    at = stack.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({"pending_print": pending_print, "printed": 0, "picked_up": 0, "time": at}).encode()
    timestamp = str(int(time.time()))  # the signature's freshness is checked against the real time
    secret = credentials["warehouses"][warehouse]["secret"]
    headers = {
        "content-type": "application/json",
        "x-warehouse-id": warehouse,
        "x-timestamp": timestamp,
        "x-signature": heartbeat_signature(secret, timestamp, warehouse, body),
    }
    return stack.request("POST", "/wms/heartbeat", body=body, headers=headers)


def escalator_minute(stack: LocalStack) -> None:
    """One simulated minute firing only the escalator (it runs the overflow planner first)."""
    assert stack.clock is not None
    stack.clock.advance(
        timedelta(minutes=1), only=lambda target: "SlaEscalator" in target.function.logical_id
    )


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(name="fulfilment_capacity")
    assert stack.clock is not None
    before = len(stack.notifications.sent())
    app = credentials["douyin"][APP]

    def pay(number: str, msg_id: str, lines: tuple[LineSpec, ...]) -> None:
        assert stack.clock is not None
        created = stack.clock.now() - timedelta(minutes=2)
        order = simulator.douyin_order(
            number,
            SHOP,
            105,
            created + timedelta(minutes=1),
            lines,
            create_time=created,
            payment_id=f"PAY{number}",
        )
        stack.simulator.put_order("douyin", SHOP, order)
        message = simulator.douyin_order_message(order, "101", msg_id)
        headers, body = simulator.douyin_push([message], app["app_key"], app["app_secret"])
        stack.request("POST", "/webhooks/douyin", body=body, headers=headers)

    def record(number: str) -> dict[str, Any]:
        reply = stack.admin_get(f"/fulfillment/orders/{unified_order_id('douyin', SHOP, number)}")
        return dict(reply.json()) if reply.status == 200 else {}

    statuses = {
        "policy": admin(stack, "PUT", "/fulfillment/sla-policies", POLICIES).status,
        "capacity": admin(stack, "PUT", f"/fulfillment/warehouses/{HOME}", CAPACITY).status,
        "heartbeat": signed_heartbeat(stack, credentials, HOME, pending_print=40).status,
    }
    escalator_minute(stack)
    for index, number in enumerate(ORDERS):
        pay(number, f"7200000000000888{index:03d}", LINES)
    stack.drain(timeout=60)
    records = {number: record(number) for number in ORDERS}
    rerouted = sorted(number for number, got in records.items() if got.get("warehouse") == BACKUP)
    expected = sorted(
        number for number in ORDERS if routes_to_backup(unified_order_id("douyin", SHOP, number), SHARE)
    )
    on_backup_deadline = [
        number
        for number in rerouted
        if records[number]["deadline"]
        == (datetime.fromisoformat(records[number]["paid_at"]) + timedelta(hours=24)).isoformat()
    ]
    alerts = [
        message
        for message in stack.notifications.sent()[before:]
        if message.service == "wecom" and "overload forecast" in message.text
    ]

    # The pre-flight sandbox: a risky order is held, the operator fixes the config, a re-check releases it
    preflight = {
        "version": 1,
        "risk": {"amount_over": "1000"},
        "default_carriers": {HOME: "sf", BACKUP: "sf"},
        "courier_accounts": {"sf": {}},
        "wms_skus": {HOME: ["TEA-1"], BACKUP: ["TEA-1"]},
    }
    statuses["preflight_config"] = admin(stack, "PUT", "/fulfillment/preflight-config", preflight).status
    pay(RISKY, "7200000000000888500", RISKY_LINES)
    stack.drain(timeout=60)
    held = stack.admin_get("/fulfillment/preflight", state="blocked").json().get("orders", [])
    risky_id = unified_order_id("douyin", SHOP, RISKY)
    blocked = [entry for entry in held if entry["order_id"] == risky_id]
    reasons = sorted(reason["code"] for entry in blocked for reason in entry["reasons"])
    warehouse = blocked[0]["warehouse"] if blocked else HOME
    fixed = preflight | {
        "version": 2,
        "waybill_templates": [{"carrier": "sf", "warehouse": w} for w in (HOME, BACKUP)],
    }
    statuses["preflight_fix"] = admin(stack, "PUT", "/fulfillment/preflight-config", fixed).status
    receipt = {"warehouse": warehouse, "reference": "PO-DEMO-PREFLIGHT", "receipt": 3}
    statuses["receipt"] = admin(stack, "PUT", "/inventory/TEA-1", receipt).status
    recheck = admin(stack, "POST", "/fulfillment/preflight/recheck").json()
    released = recheck.get("released", [])
    final_state = (record(RISKY).get("preflight") or {}).get("state")

    chapter.summary = {
        "new_orders": len(ORDERS),
        "orders_rerouted": len(rerouted),
        "rerouted_to": BACKUP,
        "overload_alerts": len(alerts),
        "preflight_blocked": len(blocked),
        "preflight_reasons": reasons,
        "preflight_released": len(released),
        "operator_calls": statuses,
    }
    chapter.lines = [
        f"Capacity: {HOME} overload forecast 3 h ahead ({len(alerts)} alert); {len(rerouted)} of"
        f" {len(ORDERS)} new orders rerouted to {BACKUP} ({SHARE:.0%} share, 24 h deadline)",
        f"  pre-flight: {len(blocked)} order held ({', '.join(reasons)}),"
        f" released after the fix: {len(released)}",
    ]
    expected_reasons = ["PREFLIGHT_NO_WAYBILL_TEMPLATE", "PREFLIGHT_OUT_OF_STOCK"]
    checks = [
        (all(status == 200 for status in statuses.values()), f"operator calls failed: {statuses}"),
        (rerouted == expected, f"rerouted {rerouted}, the share by order id says {expected}"),
        (on_backup_deadline == rerouted, f"rerouted orders without ningbo's 24 h deadline: {rerouted}"),
        (
            all(
                records[number].get("routing", {}).get("reason", "").startswith("overflow to")
                for number in rerouted
            ),
            "a rerouted order without its reason",
        ),
        (len(alerts) == 1, f"one overload alert, got {len(alerts)}"),
        (reasons == expected_reasons, f"held for {expected_reasons}, got {reasons}"),
        (released == [risky_id], f"released {released}"),
        (final_state == "released", f"the risky order's pre-flight is {final_state}"),
        (not stack.notifications.refusals, f"services refused {stack.notifications.refusals}"),
    ]
    chapter.mismatches = [message for ok, message in checks if not ok]
    return chapter
