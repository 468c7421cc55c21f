"""A consumer's DLQ redriven to its source through the real path: signed pushes → sanitizer →
OrderEventsTopic → InventoryEventsQueue → a broken inventory consumer → InventoryEventsDLQ; then the
fix, ``GET /dlq/consumers``, a dry run and a filtered ``POST /dlq/consumers/redrive``; the stock
moves exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from local import redrive as redrive_cli
from local.event_source import SqsPoller
from local.stack import HttpResult, LocalStack
from oms.domain.ids import unified_order_id
from tests.integration.helpers import DOUYIN_SHOP, douyin_truth, minutes, push_douyin

SKU = "TEA-1"  # the helpers' order line: 2 units of TEA-1


class BrokenRelease:
    """The inventory consumer as a bad deployment left it: every invocation fails."""

    def __init__(self, function: Any) -> None:
        self.logical_id = function.logical_id
        self.calls = 0

    def invoke(self, event: dict[str, object]) -> object:
        self.calls += 1
        raise RuntimeError("the deployed inventory consumer cannot load its configuration")


def admin(stack: LocalStack, method: str, path: str, body: dict[str, Any] | None = None) -> HttpResult:
    payload = json.dumps(body) if body is not None else ""
    return stack.request(method, path, body=payload, headers={"content-type": "application/json"}, sign=True)


def stock(stack: LocalStack) -> dict[str, Any]:
    (warehouse,) = stack.admin_get(f"/inventory/{SKU}").json()["warehouses"]
    return dict(warehouse)


@pytest.fixture
def inventory_poller(stack: LocalStack) -> Iterator[SqsPoller]:
    (poller,) = [p for p in stack.pollers if p.mapping.function.logical_id == "InventoryEventsFunction"]
    original = poller.mapping
    yield poller
    poller.mapping = original


def test_a_failed_consumer_is_redriven_to_its_source_and_applies_once(
    stack: LocalStack, inventory_poller: SqsPoller, capsys: pytest.CaptureFixture[str]
) -> None:
    assert admin(stack, "PUT", f"/inventory/{SKU}", {"reference": "PO-R1", "receipt": 10}).status == 200
    healthy = inventory_poller.mapping
    broken = BrokenRelease(healthy.function)
    inventory_poller.mapping = replace(healthy, function=broken)  # type: ignore[arg-type]
    # GIVEN two unpaid orders whose changes the broken consumer fails until they are dead letters
    numbers = ("6900000000000009101", "6900000000000009102")
    for index, number in enumerate(numbers):
        order = douyin_truth(stack, number, 1, minutes(1))
        assert push_douyin(stack, order, msg_id=f"710000000000000910{index}", tag="100").status == 200
    assert stack.drain(timeout=60)
    assert broken.calls >= 2
    assert stack.queue_depth("InventoryEventsDLQ") == 2
    assert (stock(stack)["reserved"], stock(stack)["on_hand"]) == (0, 10)
    letters = peek_bodies(stack, "InventoryEventsDLQ")
    listed = stack.admin_get("/dlq/consumers")
    assert listed.status == 200, listed.text
    assert listed.json()["queues"]["InventoryEventsDLQ"] == 2
    assert set(listed.json()["queues"]) >= {"InventoryEventsDLQ", "SettlementDLQ", "CustomersDLQ", "SlaDLQ"}

    # WHEN the consumer is fixed and an operator looks first (dry run), then redrives one order
    inventory_poller.mapping = healthy
    first = unified_order_id("douyin", DOUYIN_SHOP, numbers[0])
    dry = admin(stack, "POST", "/dlq/consumers/redrive", {"queue": "InventoryEventsDLQ", "dry_run": True})
    assert (dry.status, dry.json()["would_redrive"], dry.json()["redriven"]) == (200, 2, 0), dry.text
    assert stack.queue_depth("InventoryEventsDLQ") == 2
    one = admin(stack, "POST", "/dlq/consumers/redrive", {"queue": "InventoryEventsDLQ", "order_id": first})
    assert (one.json()["redriven"], one.json()["skipped"]) == (1, 1), one.text
    [moved] = [result for result in one.json()["results"] if result["action"] == "redriven"]
    assert moved["change_id"] == f"{first}#v1"
    assert stack.drain(timeout=60)
    # THEN that order's units are reserved once; the other order's letter is still in the DLQ
    assert stock(stack)["reserved"] == 2
    assert stack.queue_depth("InventoryEventsDLQ") == 1

    # WHEN everything left is redriven, and the same change arrives once more (a crash between the
    # redrive's send and its delete leaves a copy behind)
    # (by the operators' command line: make redrive ARGS="--queue InventoryEventsDLQ")
    arguments = ["--api-url", stack.api_url, "--queue", "InventoryEventsDLQ"]
    assert redrive_cli.run(redrive_cli.build_parser().parse_args(arguments)) == 0
    assert "redriven 1" in capsys.readouterr().out
    assert stack.drain(timeout=60)
    again = stack.sqs.send_message(
        QueueUrl=stack.deployed.queue_urls["InventoryEventsQueue"], MessageBody=letters[first]
    )
    assert again["MessageId"]
    assert stack.drain(timeout=60)
    # THEN both orders hold their units exactly once, and the DLQ is empty
    assert (stock(stack)["reserved"], stock(stack)["on_hand"]) == (4, 10)
    reasons = [entry["reason"] for entry in stock(stack)["recent_ledger"]]
    assert sorted(reasons) == ["receipt", "reserve", "reserve"]
    assert stack.queue_depth("InventoryEventsDLQ") == 0
    assert (
        admin(stack, "POST", "/dlq/consumers/redrive", {"queue": "InventoryEventsDLQ"}).json()["scanned"] == 0
    )


def test_a_redrive_names_a_known_consumer_dlq(stack: LocalStack) -> None:
    unknown = admin(stack, "POST", "/dlq/consumers/redrive", {"queue": "IntakeDLQ"})
    assert (unknown.status, unknown.json()["error"]) == (400, "BAD_REQUEST")
    assert "InventoryEventsDLQ" in unknown.text
    invalid = admin(stack, "POST", "/dlq/consumers/redrive", {"queue": "SlaDLQ", "max_messages": 0})
    assert (invalid.status, invalid.json()["error"]) == (400, "BAD_REQUEST")
    assert stack.request("POST", "/dlq/consumers/redrive", body="{}").status == 403  # IAM only


def peek_bodies(stack: LocalStack, queue: str) -> dict[str, str]:
    """Order id → the body of its letter, read without taking the letters (visible again at once)."""
    reply = stack.sqs.receive_message(
        QueueUrl=stack.deployed.queue_urls[queue], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return {json.loads(m["Body"])["order"]["order_id"]: m["Body"] for m in reply.get("Messages", [])}
