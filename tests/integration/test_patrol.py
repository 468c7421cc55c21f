"""The reconciliation patrol on the local stack: schedule → plan → patrol queue → worker → report."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local import simulator
from local.scheduler import only_functions
from local.stack import LocalStack
from oms import composition
from oms.adapters.http import Urllib3Transport
from oms.adapters.patrol import DynamoPatrolLog, SignedPlatformTruth
from oms.config import settings
from oms.domain.model import OrderEvent, Platform
from oms.services.reconcile import OpenOrderRef, PatrolWorker
from tests.integration.helpers import (
    DOUYIN_SHOP,
    LINES,
    SHOPIFY_SHOP,
    douyin_truth,
    get_order,
    minutes,
    push_douyin,
    push_shopify,
)
from tests.support.order_changes import received_changes, subscribe_probe

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack with no settle time: an order changed a moment ago is patrolled too."""
    log: Path = tmp_path_factory.mktemp("functions") / "functions.log"
    with LocalStack(api_port=0, function_log=log, extra_env={"RECONCILE_SETTLE_SECONDS": "0"}) as running:
        yield running


def pushed(stack: LocalStack, number: str, status: int, minute: int, msg_id: str) -> dict[str, Any]:
    order = douyin_truth(stack, number, status, minutes(minute))
    assert push_douyin(stack, order, msg_id=msg_id).status == 200
    assert stack.drain(timeout=60)
    return order


#: The patrol's schedule: the other schedules stay paused for its 15-minute jump.
PATROL = only_functions("OrderReconcilerFunction")


def patrol(stack: LocalStack) -> dict[str, Any]:
    """Let the simulated clock fire the 15-minute schedule, drain, and read the patrol's report."""
    firings = [
        firing
        for firing in stack.clock.advance(timedelta(minutes=15), only=PATROL)
        if "Reconciler" in firing.function_id
    ]
    assert len(firings) == 1, firings
    assert firings[0].error is None, firings
    assert stack.drain(timeout=120)
    return report_of(stack, str(firings[0].result["patrol_id"]))  # type: ignore[index]


def report_of(stack: LocalStack, patrol_id: str) -> dict[str, Any]:
    bucket = stack.deployed.names["ReportsBucket"]
    keys = [
        item["Key"]
        for item in stack.s3.list_objects_v2(Bucket=bucket, Prefix="patrols/").get("Contents", [])
        if item["Key"].endswith(f"/{patrol_id}.json")
    ]
    assert len(keys) == 1, keys
    return dict(json.loads(stack.s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()))


def about(report: dict[str, Any], number: str) -> dict[str, list[dict[str, Any]]]:
    return {
        part: [item for item in report[part] if item["platform_order_id"] == number]
        for part in ("healed", "conflicts", "action_items", "unreachable")
    }


def test_a_lost_push_is_healed_and_the_late_push_then_is_stale(drained: LocalStack):
    number = "6900000000000400001"
    pushed(drained, number, 105, 5, "7000000000000400001")
    # the shipment's push is lost: only the platform knows
    shipped = douyin_truth(drained, number, 3, minutes(50))
    report = patrol(drained)
    found = about(report, number)
    assert [(item["local_status"], item["platform_status"]) for item in found["healed"]] == [
        ("paid", "shipped")
    ]
    view = get_order(drained, number).json()
    assert view["order"]["status"] == "shipped"
    assert [entry["source"] for entry in view["history"]] == ["push", "reconcile"]
    assert report["counts"]["healed"] >= 1
    assert report["duration_seconds"] >= 0
    # WHEN the lost push finally arrives, it changes nothing
    assert push_douyin(drained, shipped, msg_id="7000000000000400002", tag="102").status == 200
    assert drained.drain(timeout=60)
    history = get_order(drained, number).json()["history"]
    assert [(entry["source"], entry["outcome"]) for entry in history] == [
        ("push", "created"),
        ("reconcile", "applied"),
        ("push", "stale"),
    ]
    # AND the next patrol finds the order in sync
    assert about(patrol(drained), number) == {
        "healed": [],
        "conflicts": [],
        "action_items": [],
        "unreachable": [],
    }


def test_a_lost_shopify_fulfilment_is_healed_and_published(drained: LocalStack):
    order_id = 5600000000401
    paid = simulator.shopify_order(order_id, SHOPIFY_SHOP, "paid", minutes(5), LINES)
    drained.simulator.put_order("shopify", SHOPIFY_SHOP, paid)
    assert push_shopify(drained, paid, "orders/paid", "wh-401").status == 200
    assert drained.drain(timeout=60)
    probe = subscribe_probe(drained, "patrol-changes-probe")
    # the fulfilment webhook is lost (Shopify warns of delays up to a day)
    drained.simulator.put_order(
        "shopify",
        SHOPIFY_SHOP,
        simulator.shopify_order(order_id, SHOPIFY_SHOP, "fulfilled", minutes(45), LINES),
    )
    found = about(patrol(drained), str(order_id))
    assert [(item["local_status"], item["platform_status"]) for item in found["healed"]] == [
        ("paid", "shipped")
    ]
    published = [
        change
        for change in received_changes(drained, probe)
        if change.order.platform_order_id == str(order_id)
    ]
    assert [(change.entry.source, change.status_after) for change in published] == [("reconcile", "shipped")]


def test_a_platform_going_backwards_is_a_conflict_never_a_regression(drained: LocalStack):
    number = "6900000000000400101"
    pushed(drained, number, 3, 20, "7000000000000400101")
    douyin_truth(drained, number, 105, minutes(60))  # the platform now says "paid", later
    found = about(patrol(drained), number)
    [conflict] = found["conflicts"]
    assert (conflict["local_status"], conflict["platform_status"]) == ("shipped", "paid")
    assert "backwards" in conflict["reason"]
    view = get_order(drained, number).json()
    assert view["order"]["status"] == "shipped"
    # the evidence is in the order's path: an ignored reconciliation event
    assert [(entry["source"], entry["outcome"]) for entry in view["history"]][-1] == (
        "reconcile",
        "regression",
    )
    # a second patrol records no second copy of the same evidence
    assert len(about(patrol(drained), number)["conflicts"]) == 1
    history = get_order(drained, number).json()["history"]
    assert sum(entry["source"] == "reconcile" for entry in history) == 1


def test_local_ahead_by_an_operator_is_an_action_item(drained: LocalStack):
    number = "6900000000000400201"
    pushed(drained, number, 105, 5, "7000000000000400201")
    forced = drained.request(
        "POST",
        f"/orders/{number}/force-status",
        body=json.dumps({"status": "shipped", "mode": "validated", "reason": "shipped from the back office"}),
        headers={"content-type": "application/json"},
        sign=True,
    )
    assert forced.status == 200, forced.text
    found = about(patrol(drained), number)
    assert [(item["local_status"], item["platform_status"]) for item in found["action_items"]] == [
        ("shipped", "paid")
    ]
    assert get_order(drained, number).json()["order"]["status"] == "shipped"


class MeetingTruth:
    """The platform's truth, handed out only once both patrols have asked: they race to write."""

    def __init__(self, truth: SignedPlatformTruth) -> None:
        self._truth = truth
        self._meeting = threading.Barrier(2)

    def fetch(self, platform: Platform, shop_id: str, platform_order_id: str) -> OrderEvent:
        event = self._truth.fetch(platform, shop_id, platform_order_id)
        self._meeting.wait(timeout=30)
        return event


def test_two_patrols_at_once_apply_nothing_twice(drained: LocalStack):
    numbers = [f"69000000000004003{index:02d}" for index in range(6)]
    for index, number in enumerate(numbers):
        pushed(drained, number, 105, 5, f"70000000000004003{index:02d}")
        douyin_truth(drained, number, 3, minutes(40))  # every shipment push lost
    truth = MeetingTruth(
        SignedPlatformTruth(
            secrets=composition.secret_store(),
            transport=Urllib3Transport(),
            base_urls=settings().platform_base_urls,
            clock=composition.utc_now,
        )
    )
    workers = [
        PatrolWorker(
            orders=composition.orders_repository(),
            truth=truth,
            publisher=composition.order_change_publisher(),
            log=DynamoPatrolLog(settings().ops_table, drained.dynamodb),
            reports=composition.report_store(),
            alerts=composition.alert_sink(),
            clock=composition.utc_now,
        )
        for _ in (0, 1)
    ]
    refs = [
        OpenOrderRef(
            order_id=get_order(drained, number).json()["order"]["order_id"],
            platform=Platform.DOUYIN,
            shop_id=DOUYIN_SHOP,
            platform_order_id=number,
        )
        for number in numbers
    ]
    results: list[list[dict[str, Any]]] = [[], []]
    start = threading.Barrier(2)

    def run(slot: int) -> None:
        start.wait()
        results[slot] = [workers[slot].reconcile(ref) for ref in refs]

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, number in enumerate(numbers):
        verdicts = sorted(str(results[slot][index]["verdict"]) for slot in (0, 1))
        # both read the order and the same truth before either wrote: one applies, one finds it done
        assert verdicts == ["already_healed", "healed"], (number, verdicts)
        history = get_order(drained, number).json()["history"]
        assert [entry["source"] for entry in history] == ["push", "reconcile"]
