"""Diagnosis and forced correction over the local API, on orders made by signed pushes."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.stack import LOCAL_VIEWER_ACCESS_KEY, LOCAL_VIEWER_SECRET_KEY, LocalStack
from oms.adapters.orders_table import DynamoOrdersRepository
from oms.domain.model import EventSource, OrderEvent, Platform
from oms.domain.state_machine import decide
from oms.domain.status import OrderStatus
from tests.integration.helpers import DOUYIN_SHOP, douyin_truth, get_order, minutes, push_douyin
from tests.support.order_changes import received_changes, subscribe_probe

pytestmark = pytest.mark.integration

VIEWER = (LOCAL_VIEWER_ACCESS_KEY, LOCAL_VIEWER_SECRET_KEY)


def post(stack: LocalStack, path: str, body: dict[str, Any], **options: Any) -> Any:
    return stack.request(
        "POST",
        path,
        body=json.dumps(body),
        headers={"content-type": "application/json"},
        sign=True,
        timeout=60,
        **options,
    )


def pushed(stack: LocalStack, number: str, status: int, at: datetime, msg_id: str) -> None:
    order = douyin_truth(stack, number, status, at)
    assert push_douyin(stack, order, msg_id=msg_id).status == 200
    assert stack.drain(timeout=60)


def test_a_forced_correction_is_audited_and_visible_in_the_diagnosis(drained: LocalStack):
    number = "6900000000000300001"
    pushed(drained, number, 105, minutes(5), "7000000000000300001")
    # a later push that the rules refuse (shipped -> pending payment is backwards) after shipment
    pushed(drained, number, 3, minutes(50), "7000000000000300002")
    pushed(drained, number, 1, minutes(60), "7000000000000300003")
    reference = f"douyin:{DOUYIN_SHOP}:{number}"
    probe = subscribe_probe(drained, "forced-changes-probe")

    # WHEN an administrator forces the order back to "paid" without validation
    reply = post(
        drained,
        f"/orders/{reference}/force-status",
        {"status": "paid", "mode": "skip_validation", "reason": "parcel returned before pickup"},
    )
    assert reply.status == 200, reply.text
    assert reply.json()["result"] == "forced"
    assert (reply.json()["status_before"], reply.json()["status_after"]) == ("shipped", "paid")

    # THEN the order is paid, its history holds the operator's entry with who/why/mode
    view = get_order(drained, number).json()
    assert view["order"]["status"] == "paid"
    forced = [entry for entry in view["history"] if entry["source"] == "operator"]
    assert len(forced) == 1
    assert forced[0]["operator"]["actor"].endswith(":user/testing")
    assert forced[0]["operator"]["mode"] == "skip_validation"
    assert forced[0]["operator"]["reason"] == "parcel returned before pickup"

    # AND the change is published like any stored change
    published = [
        change for change in received_changes(drained, probe) if change.order.platform_order_id == number
    ]
    assert [(change.entry.source, change.status_after) for change in published] == [("operator", "paid")]

    # AND the audit query lists it
    audit = drained.admin_get("/audit/forced-changes").json()
    assert [change["order_id"] for change in audit["changes"]] == [view["order"]["order_id"]]
    assert audit["changes"][0]["status_before"] == "shipped"

    # AND the diagnosis shows the path with the forced step, and the platform disagreeing
    diagnosis = post(drained, "/orders/diagnose", {"orders": [number]}).json()
    [result] = diagnosis["orders"]
    assert [step["source"] for step in result["path"]] == ["push", "push", "push", "operator"]
    assert [step["outcome"] for step in result["path"]] == ["created", "applied", "regression", "applied"]
    assert result["platform_last_known"]["status"] == "pending_payment"
    kinds = {(point["kind"], point["status_from"], point["status_to"]) for point in result["breakpoints"]}
    assert ("sources_disagree", "paid", "pending_payment") in kinds
    assert ("forbidden_transition", "shipped", "pending_payment") in kinds
    # AND the export lists it as abnormal, last changed by the operator
    link = diagnosis["export"]["links"]["csv"]
    with urllib.request.urlopen(link, timeout=10) as response:
        rows = list(csv.DictReader(io.StringIO(response.read().decode("utf-8-sig"))))
    assert [(row["order_id"], row["last_source"]) for row in rows] == [(result["order_id"], "operator")]
    assert rows[0]["last_operator"].endswith(":user/testing")


def test_a_validated_force_refuses_an_illegal_transition_and_a_non_admin_is_refused(drained: LocalStack):
    number = "6900000000000300101"
    pushed(drained, number, 3, minutes(5), "7000000000000300101")
    # mode validated: shipped -> paid is backwards, refused with a typed error
    refused = post(
        drained, f"/orders/{number}/force-status", {"status": "paid", "mode": "validated", "reason": "x"}
    )
    assert refused.status == 409
    assert refused.json()["error"] == "FORCE_REFUSED"
    # a valid SigV4 identity that is not an administrator: 403
    denied = post(
        drained,
        f"/orders/{number}/force-status",
        {"status": "completed", "mode": "validated", "reason": "x"},
        identity=VIEWER,
    )
    assert denied.status == 403
    assert denied.json()["error"] == "ADMIN_REQUIRED"
    bulk_denied = post(
        drained,
        "/orders/force-status",
        {"orders": [number], "status": "completed", "mode": "validated", "reason": "x"},
        identity=VIEWER,
    )
    assert bulk_denied.status == 403
    # an unknown status is a bad request, whatever the mode
    unknown = post(
        drained,
        f"/orders/{number}/force-status",
        {"status": "teleported", "mode": "skip_validation", "reason": "x"},
    )
    assert unknown.status == 400
    assert get_order(drained, number).json()["order"]["status"] == "shipped"
    # the viewer can still diagnose (read-only)
    assert post(drained, "/orders/diagnose", {"orders": [number]}, identity=VIEWER).status == 200


def test_a_bulk_correction_reports_per_order_outcomes_and_a_retry_applies_nothing_twice(drained: LocalStack):
    numbers = [f"69000000000003002{index:02d}" for index in range(3)]
    for index, number in enumerate(numbers):
        pushed(drained, number, 105, minutes(5), f"70000000000003002{index:02d}")
    body = {
        "orders": [*numbers, "no-such-order", {"order": numbers[0], "status": "pending_payment"}],
        "status": "approved",
        "mode": "validated",
        "reason": "warehouse confirmed release",
        "request_id": "bulk-2026-10-12-1",
    }
    first = post(drained, "/orders/force-status", body)
    assert first.status == 200, first.text
    results = [(item["reference"], item["result"]) for item in first.json()["orders"]]
    assert results[3] == ("no-such-order", "not_found")
    assert [result for _, result in results[:3]] == ["forced", "forced", "forced"]
    # numbers[0] named a second time: refused, never raced against its first mention
    assert results[4] == (numbers[0], "refused")
    again = post(drained, "/orders/force-status", body).json()
    assert [item["result"] for item in again["orders"][:3]] == ["already_applied"] * 3
    for number in numbers:
        history = get_order(drained, number).json()["history"]
        assert sum(entry["source"] == "operator" for entry in history) == 1


THOUSAND = 1_000


def _seed(stack: LocalStack, index: int, now: datetime) -> tuple[str, str | None]:
    """Seed one order by the repository (the sanitizer's own write path); returns its breakpoint kind."""
    repository = DynamoOrdersRepository(stack.deployed.names["OrdersTable"], stack.dynamodb)
    platform = (Platform.DOUYIN, Platform.SHOPIFY, Platform.KUAISHOU)[index % 3]
    number = f"DIAG{index:06d}"

    def event(status: OrderStatus, at: datetime, suffix: str) -> OrderEvent:
        return OrderEvent(
            event_id=f"{number}-{suffix}",
            platform=platform,
            shop_id="shop-1",
            platform_order_id=number,
            event_type="test",
            event_time=at,
            source=EventSource.PUSH,
            status=status,
            platform_status=str(status),
        )

    kind: str | None = None
    events = [event(OrderStatus.PAID, now - timedelta(hours=1), "a")]
    if index % 10 == 1:  # stuck: paid for four days
        events = [event(OrderStatus.PAID, now - timedelta(days=4), "a")]
        kind = "stuck"
    elif index % 10 == 2:  # a refused regression
        events += [
            event(OrderStatus.SHIPPED, now - timedelta(minutes=50), "b"),
            event(OrderStatus.PAID, now - timedelta(minutes=40), "c"),
        ]
        kind = "forbidden_transition"
    order = None
    for item in events:
        decision = decide(order, item, received_at=item.event_time, now=item.event_time)
        assert repository.save(decision)
        order = decision.after or order
    return number, kind


def test_a_thousand_order_diagnosis_groups_common_breakpoints(drained: LocalStack):
    now = datetime.now(UTC)
    seeded = [_seed(drained, index, now) for index in range(THOUSAND)]
    references = [number for number, _ in seeded]
    started = time.monotonic()
    reply = post(drained, "/orders/diagnose", {"orders": references})
    elapsed = time.monotonic() - started
    print(f"\n1,000-order diagnosis on the local stack: {elapsed:.2f} s")  # measured, not asserted
    assert reply.status == 200, reply.text
    body = reply.json()
    assert body["summary"]["diagnosed"] == THOUSAND
    expected: dict[tuple[str, str], int] = {}
    for index, (_, kind) in enumerate(seeded):
        if kind:
            platform = ("douyin", "shopify", "kuaishou")[index % 3]
            expected[(kind, platform)] = expected.get((kind, platform), 0) + 1
    # the regression leaves the platform's last word (paid) behind the order (shipped) as well
    for platform in ("douyin", "shopify", "kuaishou"):
        expected[("sources_disagree", platform)] = expected[("forbidden_transition", platform)]
    groups = {(group["kind"], group["platform"]): group["count"] for group in body["groups"]}
    assert groups == expected
    pairs = {(group["kind"], group["status_from"], group["status_to"]) for group in body["groups"]}
    assert pairs == {
        ("stuck", "paid", "paid"),
        ("forbidden_transition", "shipped", "paid"),
        ("sources_disagree", "shipped", "paid"),
    }
    assert body["summary"]["abnormal"] == sum(1 for _, kind in seeded if kind)
    xlsx = drained.s3.get_object(
        Bucket=drained.deployed.names["ReportsBucket"], Key=body["export"]["keys"]["xlsx"]
    )["Body"].read()
    assert xlsx[:2] == b"PK"  # a zip container (Office Open XML)
