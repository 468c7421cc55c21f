"""Inventory through the real path: signed admin calls, webhooks → sanitizer → OrderEventsTopic →
InventoryEventsQueue → inventory_events, all on the local stack over HTTP."""

from __future__ import annotations

import json

from local.stack import LocalStack
from tests.integration.helpers import douyin_truth, minutes, push_douyin


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
    # WHEN a Douyin order for 2 arrives unpaid THEN 2 are reserved
    number = "6900000000000004001"
    push_douyin(
        drained, douyin_truth(drained, number, 1, minutes(1)), msg_id="7000000000000004001", tag="100"
    )
    assert drained.drain(timeout=60)
    stock = main_warehouse(drained, "TEA-1")
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (5, 2, 3)
    # WHEN it is paid THEN the hold becomes a deduction
    paid = douyin_truth(drained, number, 105, minutes(3), payment_id="PAY2026101200004001")
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
