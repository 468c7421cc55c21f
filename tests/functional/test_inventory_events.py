"""Order changes → stock, through the inventory_events handler on moto (tables from template.yaml).

Each test hands the handler an SQS batch of ``OrderChanged`` bodies, as the OrderEventsTopic
subscription delivers them (raw message delivery), and reads the ledger back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from local.resources import Deployed
from oms import composition
from oms.adapters.inventory_table import DynamoInventoryLedger
from oms.domain.inventory import ReservationState, replay
from oms.domain.model import EventKey, EventSource, HistoryEntry, Order, OrderLine, Outcome, Platform
from oms.domain.order_events import OrderChanged
from oms.domain.status import OrderStatus, RefundStatus
from tests.functional.conftest import context, receive_all
from tests.support.events import sqs_event

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def change(
    status: OrderStatus,
    *,
    version: int,
    before: OrderStatus | None = None,
    refund: RefundStatus = RefundStatus.NONE,
    order_id: str = "o-1",
    platform: Platform = Platform.DOUYIN,
    lines: tuple[tuple[str, int], ...] = (("SKU-1", 2), ("SKU-2", 1)),
    placed_at: datetime | None = None,
) -> OrderChanged:
    key = EventKey(at=T0, rank=version)
    order = Order(
        order_id=order_id,
        platform=platform,
        shop_id="s",
        platform_order_id=order_id,
        status=status,
        refund_status=refund,
        platform_status=str(status),
        status_key=key,
        refund_key=key,
        version=version,
        lines=tuple(
            OrderLine(line_id=str(n), sku_id=f"p-{sku}", out_sku_id=sku, quantity=q)
            for n, (sku, q) in enumerate(lines, 1)
        ),
        last_event_id=f"e{version}",
        placed_at=placed_at,
        created_at=T0,
        updated_at=T0,
    )
    entry = HistoryEntry(
        order_id=order_id,
        event_id=f"e{version}",
        event_type="test",
        source=EventSource.PUSH,
        event_time=T0,
        received_at=T0,
        recorded_at=T0,
        outcome=Outcome.CREATED if version == 1 else Outcome.APPLIED,
        platform_status=str(status),
        status_before=before,
        status_after=status,
        event_status=status,
        event_refund_status=refund,
        version_after=version,
    )
    return OrderChanged(order=order, entry=entry)


@pytest.fixture
def ledger(stack: Deployed, monkeypatch: pytest.MonkeyPatch) -> DynamoInventoryLedger:
    clock = {"now": T0}
    monkeypatch.setattr(composition, "utc_now", lambda: clock["now"])
    composition.reset()
    ledger = DynamoInventoryLedger(stack.names["InventoryTable"], boto3.client("dynamodb"))
    ledger.receive("SKU-1", "main", 10, "po-1")
    ledger.receive("SKU-2", "main", 1, "po-2")
    ledger.clock = clock  # type: ignore[attr-defined]
    return ledger


def deliver(stack: Deployed, *changes: OrderChanged) -> dict[str, object]:
    """Publish to OrderEventsTopic, receive what the subscription delivered, hand it to the handler."""
    from functions.inventory_events import app

    sns = boto3.client("sns")
    for one in changes:
        sns.publish(TopicArn=stack.arns["OrderEventsTopic"], Message=one.to_json())
    messages = receive_all(stack, "InventoryEventsQueue")
    assert [json.loads(m["Body"])["order"]["version"] for m in messages] == [c.version for c in changes]
    sqs = boto3.client("sqs")
    for message in messages:
        sqs.delete_message(
            QueueUrl=stack.queue_urls["InventoryEventsQueue"], ReceiptHandle=message["ReceiptHandle"]
        )
    return app.handler(sqs_event(messages, stack.arns["InventoryEventsQueue"]), context("inventory"))


def test_unpaid_reserves_paid_deducts_and_duplicates_change_nothing(
    stack: Deployed, ledger: DynamoInventoryLedger
):
    # GIVEN an unpaid order, delivered twice
    unpaid = change(OrderStatus.PENDING_PAYMENT, version=1)
    assert deliver(stack, unpaid, unpaid) == {"batchItemFailures": []}
    # THEN both lines hold stock once
    assert (ledger.level("SKU-1", "main").reserved, ledger.level("SKU-2", "main").reserved) == (2, 1)
    # WHEN it is paid (delivered twice, and the stale unpaid change again after it)
    paid = change(OrderStatus.PAID, version=2, before=OrderStatus.PENDING_PAYMENT)
    deliver(stack, paid, paid, unpaid)
    # THEN the holds became deductions, once
    one, two = ledger.level("SKU-1", "main"), ledger.level("SKU-2", "main")
    assert (one.on_hand, one.reserved, two.on_hand, two.reserved) == (8, 0, 0, 0)
    assert {r.state for r in ledger.reservations("o-1")} == {ReservationState.CONVERTED}
    assert replay(ledger.ledger("SKU-1", "main")) == (8, 0)
    # WHEN it is refunded before shipment THEN the goods go back on hand
    refunded = change(OrderStatus.PAID, version=3, before=OrderStatus.PAID, refund=RefundStatus.REFUNDED)
    deliver(stack, refunded, refunded)
    assert ledger.level("SKU-1", "main").on_hand == 10
    assert {r.state for r in ledger.reservations("o-1")} == {ReservationState.RESTOCKED}


def test_a_multi_line_order_reserves_all_lines_or_none_and_alerts_the_oversell(
    stack: Deployed, ledger: DynamoInventoryLedger, caplog: pytest.LogCaptureFixture
):
    # GIVEN SKU-2 has 1 unit and an order wants 2 of it (and 2 of SKU-1)
    greedy = change(
        OrderStatus.PENDING_PAYMENT, version=1, order_id="o-2", lines=(("SKU-1", 2), ("SKU-2", 2))
    )
    # WHEN it arrives THEN nothing is held for either line, and the message succeeds
    assert deliver(stack, greedy) == {"batchItemFailures": []}
    assert ledger.level("SKU-1", "main").reserved == 0
    assert ledger.reservations("o-2") == []
    assert any(getattr(record, "alert_kind", None) == "inventory.oversell" for record in caplog.records)


def test_a_sku_the_ledger_never_held_is_left_out_without_an_alert(
    stack: Deployed, ledger: DynamoInventoryLedger, caplog: pytest.LogCaptureFixture
):
    # GIVEN an order for SKU-1 (received) and SKU-9 (never received, counted or planned)
    mixed = change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-9", lines=(("SKU-1", 1), ("SKU-9", 5)))
    untracked = change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-10", lines=(("SKU-9", 5),))
    # WHEN both arrive THEN only the tracked line holds stock, and nobody is told of an oversell
    assert deliver(stack, mixed, untracked) == {"batchItemFailures": []}
    assert [(r.sku, r.quantity) for r in ledger.reservations("o-9")] == [("SKU-1", 1)]
    assert ledger.reservations("o-10") == []
    assert not ledger.tracks("SKU-9", "main")
    assert not any(getattr(record, "alert_kind", None) == "inventory.oversell" for record in caplog.records)


def test_a_hold_runs_from_when_the_order_was_placed(stack: Deployed, ledger: DynamoInventoryLedger):
    # GIVEN an unpaid Douyin order placed 20 minutes before the consumer hears of it (hold: 30 min)
    placed = T0 - timedelta(minutes=20)
    unpaid = change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-11", placed_at=placed)
    assert deliver(stack, unpaid) == {"batchItemFailures": []}
    # THEN its holds end when the platform would cancel it, 10 minutes from now
    assert {r.expires_at for r in ledger.reservations("o-11")} == {placed + timedelta(minutes=30)}


def test_cancel_releases_and_a_late_paid_change_does_not_deduct(
    stack: Deployed, ledger: DynamoInventoryLedger
):
    deliver(stack, change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-3"))
    cancelled = change(OrderStatus.CANCELLED, version=3, before=OrderStatus.PENDING_PAYMENT, order_id="o-3")
    late_paid = change(OrderStatus.PAID, version=2, before=OrderStatus.PENDING_PAYMENT, order_id="o-3")
    deliver(stack, cancelled, late_paid)
    level = ledger.level("SKU-1", "main")
    assert (level.on_hand, level.reserved) == (10, 0)
    # and a cancellation that arrives before its order's first change closes the lines for good
    deliver(
        stack, change(OrderStatus.CANCELLED, version=2, before=OrderStatus.PENDING_PAYMENT, order_id="o-4")
    )
    deliver(stack, change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-4"))
    assert ledger.level("SKU-1", "main").reserved == 0


def test_the_sweep_expires_unpaid_holds_and_a_late_payment_takes_what_is_available(
    stack: Deployed, ledger: DynamoInventoryLedger
):
    from functions.inventory_events import app

    # GIVEN an unpaid order held 30 minutes (Douyin has no hold of its own)
    deliver(stack, change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-5"))
    ledger.clock["now"] = T0 + timedelta(minutes=29)  # type: ignore[attr-defined]
    assert app.handler(json.loads((ROOT / "events/inventory_events/sweep.json").read_text()), context()) == {
        "expired": 0
    }
    # WHEN the hold runs out and the schedule sweeps (a late sweep uses the time it was due)
    assert app.handler({"sweep": True, "scheduled_time": "2026-11-24T12:30:00Z"}, context()) == {"expired": 0}
    ledger.clock["now"] = T0 + timedelta(minutes=31)  # type: ignore[attr-defined]
    assert app.handler({"sweep": True}, context()) == {"expired": 2}
    assert ledger.level("SKU-1", "main").reserved == 0
    assert {r.state for r in ledger.reservations("o-5")} == {ReservationState.EXPIRED}
    # WHEN it is paid after all THEN it takes the units that are still there
    deliver(stack, change(OrderStatus.PAID, version=2, before=OrderStatus.PENDING_PAYMENT, order_id="o-5"))
    assert ledger.level("SKU-1", "main").on_hand == 8
    assert [e.reason for e in ledger.ledger("SKU-1", "main")][-3:] == [
        "reserve",
        "expire",
        "deduct_unreserved",
    ]


def test_a_malformed_change_fails_only_its_record(stack: Deployed, ledger: DynamoInventoryLedger):
    from functions.inventory_events import app

    good = change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-6")
    messages = [
        {"MessageId": "bad", "ReceiptHandle": "r0", "Body": '{"order": {}}', "MD5OfBody": ""},
        {"MessageId": "good", "ReceiptHandle": "r1", "Body": good.to_json(), "MD5OfBody": ""},
    ]
    result = app.handler(sqs_event(messages, stack.arns["InventoryEventsQueue"]), context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert ledger.level("SKU-1", "main").reserved == 2
