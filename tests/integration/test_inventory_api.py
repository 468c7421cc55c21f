"""Inventory through the real path: signed admin calls, webhooks → sanitizer → OrderEventsTopic →
InventoryEventsQueue → inventory_events, all on the local stack over HTTP."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal

from local import simulator
from local.stack import LocalStack
from tests.integration.helpers import DOUYIN_SHOP, T0, douyin_truth, minutes, push_douyin


def put(stack: LocalStack, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    result = stack.request(
        "PUT", path, body=json.dumps(body), headers={"content-type": "application/json"}, sign=True
    )
    return result.status, json.loads(result.body)


def main_warehouse(stack: LocalStack, sku: str) -> dict[str, object]:
    result = stack.admin_get(f"/inventory/{sku}")
    assert result.status == 200, result.body
    (warehouse,) = json.loads(result.body)["warehouses"]
    return warehouse


def test_receipts_reservations_and_deductions_follow_the_orders(drained: LocalStack):
    # GIVEN 5 units of TEA-1 received (the receipt posted twice: a retry)
    for _ in range(2):
        status, _body = put(drained, "/inventory/TEA-1", {"reference": "PO-1", "receipt": 5})
        assert status == 200
    assert main_warehouse(drained, "TEA-1")["on_hand"] == 5
    # WHEN a Douyin order for 2 is placed and arrives unpaid THEN 2 are held (30 minutes from placing)
    number = "6900000000000004001"
    placed = drained.clock.now()
    unpaid = douyin_truth(drained, number, 1, minutes(1), create_time=placed)
    push_douyin(drained, unpaid, msg_id="7000000000000004001", tag="100")
    assert drained.drain(timeout=60)
    stock = main_warehouse(drained, "TEA-1")
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (5, 2, 3)
    # WHEN it is paid THEN the hold becomes a deduction
    paid = douyin_truth(
        drained, number, 105, minutes(3), payment_id="PAY2026101200004001", create_time=placed
    )
    push_douyin(drained, paid, msg_id="7000000000000004002")
    assert drained.drain(timeout=60)
    stock = main_warehouse(drained, "TEA-1")
    assert (stock["on_hand"], stock["reserved"]) == (3, 0)
    reasons = [entry["reason"] for entry in stock["recent_ledger"]]  # type: ignore[union-attr]
    assert reasons == ["receipt", "reserve", "deduct"]
    assert drained.queue_depth("InventoryEventsDLQ") == 0


def test_formulas_are_checked_when_saved_versioned_and_used(drained: LocalStack):
    status, body = put(
        drained, "/inventory-formulas/sku:TEA-2", {"formula": "MIN(on_hand, incoming * 0.8) - lockd"}
    )
    assert status == 400
    assert body["error"] == "FORMULA_INVALID"
    assert body["details"] == {"position": 31}  # where "lockd" starts
    put(drained, "/inventory/TEA-2", {"reference": "PO-2", "receipt": 40})
    put(
        drained,
        "/inventory/TEA-2",
        {"incoming": [{"quantity": 25, "expected": "2026-12-01"}], "safety_stock": 3},
    )
    for source in ("on_hand - safety_stock", "MIN(on_hand, incoming * 0.8) - locked"):
        status, body = put(drained, "/inventory-formulas/sku:TEA-2", {"formula": source})
        assert status == 200
    assert body["version"] == 2
    view = json.loads(drained.admin_get("/inventory/TEA-2").body)
    assert view["formula"]["version"] == 2
    assert view["warehouses"][0]["sellable"] == 20  # MIN(40, 25 * 0.8) - 0


def test_bad_changes_are_refused_with_a_code(drained: LocalStack):
    status, body = put(drained, "/inventory/TEA-3", {"reference": "C-1", "adjustment": -2})
    assert (status, body["error"]) == (400, "BAD_REQUEST")  # an adjustment needs a reason
    status, body = put(
        drained, "/inventory/TEA-3", {"reference": "C-1", "adjustment": -2, "reason": "damaged"}
    )
    assert (status, body["error"]) == (400, "INVENTORY_INVALID")  # on hand would go below zero
    unsigned = drained.request("GET", "/inventory/TEA-3")
    assert unsigned.status == 403


def test_cart_event_surges_trip_the_breaker_once_until_an_operator_clears_it(drained: LocalStack):
    # GIVEN 100 sellable units of TEA-4
    put(drained, "/inventory/TEA-4", {"reference": "PO-4", "receipt": 100})

    def carts(*events: tuple[str, int]) -> dict[str, object]:
        body = {"events": [{"event_id": e, "sku": "TEA-4", "quantity": q} for e, q in events]}
        result = drained.request(
            "POST",
            "/inventory/cart-events",
            body=json.dumps(body),
            headers={"content-type": "application/json"},
            sign=True,
        )
        assert result.status == 200, result.body
        return json.loads(result.body)

    # WHEN carts take 30 units (not more than 30%) THEN nothing trips; a resent event is not counted again
    assert carts(("c1", 20), ("c2", 10))["tripped"] == []
    assert carts(("c2", 10))["results"] == [{"event_id": "c2", "counted": False}]
    # WHEN one more unit goes into a cart THEN demand exceeds 30% of sellable: tripped, protective quantity
    assert carts(("c3", 1))["tripped"] == ["TEA-4"]
    breaker = json.loads(drained.admin_get("/inventory/TEA-4").body)["surge_breaker"]
    assert (breaker["demand"], breaker["sellable"], breaker["protective_quantity"]) == (31, 100, 50)
    # WHEN an operator clears it THEN it is gone (and clearing again says so)
    cleared = drained.request("DELETE", "/inventory/TEA-4/surge", sign=True)
    assert json.loads(cleared.body) == {"cleared": True}
    assert json.loads(drained.request("DELETE", "/inventory/TEA-4/surge", sign=True).body) == {
        "cleared": False
    }
    assert json.loads(drained.admin_get("/inventory/TEA-4").body)["surge_breaker"] is None
    status, body = put(drained, "/inventory/TEA-4", {})
    assert (status, body["error"]) == (400, "BAD_REQUEST")


def test_the_health_report_is_written_to_s3_and_downloadable_through_its_links(drained: LocalStack):
    # GIVEN one unit of HEALTH-1, a Douyin order for 2 (the ledger refuses: an oversell) and one
    # for 1 (reserved: nothing left), all through the webhook → inventory_events path
    put(drained, "/inventory/HEALTH-1", {"reference": "PO-H1", "receipt": 1})
    for number, quantity, msg in (
        ("6900000000000004101", 2, "7000000000000004101"),
        ("6900000000000004102", 1, "7000000000000004102"),
    ):
        line = simulator.LineSpec(
            sku_id="3500000000009", quantity=quantity, unit_price=Decimal("9.90"), out_sku_id="HEALTH-1"
        )
        order = simulator.douyin_order(number, DOUYIN_SHOP, 1, minutes(1), [line], create_time=T0)
        drained.simulator.put_order("douyin", DOUYIN_SHOP, order)
        push_douyin(drained, order, msg_id=msg, tag="100")
        assert drained.drain(timeout=60)
    assert main_warehouse(drained, "HEALTH-1")["available"] == 0
    # and the poller's difference files for this month: one for HEALTH-1, one that is not a difference file
    now = datetime.now(UTC)
    bucket = drained.deployed.names["ReportsBucket"]
    day = f"inventory/differences/{now:%Y/%m/%d}"
    difference = (
        "at,sku,channel,ours,theirs,in_flight,delta,likely_cause\r\n"
        f"{now.isoformat()},HEALTH-1,douyin,0,3,0,-3,channel deducted 3 more: a return not synced\r\n"
    )
    drained.s3.put_object(Bucket=bucket, Key=f"{day}/run-1.csv", Body=difference.encode())
    drained.s3.put_object(Bucket=bucket, Key=f"{day}/run-2.csv", Body=b"not,a,difference\n1,2,3\n")

    # WHEN an operator asks for this month's report
    def ask(body: dict[str, object], *, sign: bool = True) -> tuple[int, dict[str, object]]:
        result = drained.request(
            "POST",
            "/inventory/health-reports",
            body=json.dumps(body),
            headers={"content-type": "application/json"},
            sign=sign,
        )
        return result.status, json.loads(result.body) if result.body else {}

    status, report = ask({})
    assert status == 200, report

    # THEN HEALTH-1 is listed with its oversell, stockout and sync reasons; the bad file is named
    (health,) = [sku for sku in report["skus"] if sku["sku"] == "HEALTH-1"]  # type: ignore[union-attr]
    assert {"oversell", "stockout", "sync"} <= set(health["reasons"])
    assert report["unreadable_difference_files"] == [f"{day}/run-2.csv"]
    month = report["month"]
    assert report["keys"] == {
        "html": f"inventory/health/{month}/report.html",
        "csv": f"inventory/health/{month}/report.csv",
    }
    # and both files download with a plain GET through their presigned links
    links = report["links"]
    assert isinstance(links, dict)
    with urllib.request.urlopen(links["csv"], timeout=10) as reply:
        rows = list(csv.DictReader(io.StringIO(reply.read().decode("utf-8-sig"))))
    (row,) = [r for r in rows if r["sku"] == "HEALTH-1"]
    assert (row["oversold_lines"], row["sync_differences"], row["sync_units"]) == ("1", "1", "3")
    assert "accepted by a channel the ledger could not cover" in row["reasons"]
    with urllib.request.urlopen(links["html"], timeout=10) as reply:
        page = reply.read().decode("utf-8")
        assert reply.headers["Content-Type"].startswith("text/html")
    assert "HEALTH-1" in page
    assert "run-2.csv" in page
    assert "<script" not in page
    # and bad or unsigned requests are refused
    assert ask({"month": "2026-13"})[0] == 400
    assert ask({"month": "2999-01"})[1]["error"] == "BAD_REQUEST"
    assert ask({}, sign=False)[0] == 403
