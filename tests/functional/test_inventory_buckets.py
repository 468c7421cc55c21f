"""Hot-SKU buckets through the real adapter on moto: allocation, holds, conversion, expiry, rebalance.

After every step the invariants across buckets hold: level.reserved = held reservations + the units
allocated to buckets; each bucket's allocated = available + held; the ledger replays to the level.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from oms.adapters.inventory_table import DynamoInventoryLedger
from oms.domain.errors import InsufficientStockError, ReservationNotFoundError
from oms.domain.inventory import LineDemand, replay
from tests.support.inventory import create_inventory_table

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoInventoryLedger]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        db = boto3.client("dynamodb")
        ledger = DynamoInventoryLedger(create_inventory_table(db, "inventory"), db)
        ledger.receive("HOT", "WH1", 10, "po-1")
        yield ledger


def check_invariants(ledger: DynamoInventoryLedger) -> None:
    level = ledger.level("HOT", "WH1")
    buckets = ledger.buckets("HOT", "WH1")
    assert all(b.allocated == b.available + b.held and b.available >= 0 for b in buckets)
    assert level.reserved == sum(b.allocated for b in buckets)
    assert 0 <= level.reserved <= level.on_hand
    assert replay(ledger.ledger("HOT", "WH1")) == (level.on_hand, level.reserved)


def line(order: str, quantity: int = 1) -> LineDemand:
    return LineDemand(order, "1", "HOT", "WH1", quantity)


def test_holds_fall_over_between_buckets_and_convert_into_deductions(ledger: DynamoInventoryLedger):
    # GIVEN 10 units shared over 3 buckets
    assert ledger.allocate_buckets("HOT", "WH1", 3, "alloc-1") == [4, 3, 3]
    check_invariants(ledger)
    # WHEN 10 buyers hold 1 unit each THEN all are held, the 11th is refused
    held = {
        f"B{n}": ledger.reserve_from_buckets(line(f"B{n}"), 3, "douyin", NOW + timedelta(minutes=30))
        for n in range(10)
    }
    assert sorted(held.values()).count(0) == 4
    with pytest.raises(InsufficientStockError):
        ledger.reserve_from_buckets(line("B10"), 3, "douyin", NOW + timedelta(minutes=30))
    check_invariants(ledger)
    # WHEN one pays (twice) THEN on_hand drops once and the bucket gives up the hold
    assert ledger.convert_bucket_hold(line("B0"), held["B0"], NOW)
    assert not ledger.convert_bucket_hold(line("B0"), held["B0"], NOW)
    level = ledger.level("HOT", "WH1")
    assert (level.on_hand, level.reserved) == (9, 9)
    check_invariants(ledger)
    # WHEN one cancels THEN its unit is back in its bucket for the next buyer
    assert ledger.release_bucket_hold(line("B1"), held["B1"])
    assert not ledger.release_bucket_hold(line("B1"), held["B1"])
    assert ledger.reserve_from_buckets(line("B11"), 3, "douyin", NOW + timedelta(minutes=30)) == held["B1"]
    check_invariants(ledger)


def test_expired_bucket_holds_are_swept_and_cannot_be_converted(ledger: DynamoInventoryLedger):
    ledger.allocate_buckets("HOT", "WH1", 2, "alloc-1")
    index = ledger.reserve_from_buckets(line("E1", 2), 2, "pinduoduo", NOW + timedelta(minutes=15))
    with pytest.raises(InsufficientStockError):
        ledger.convert_bucket_hold(line("E1", 2), index, NOW + timedelta(minutes=16))
    assert ledger.sweep_bucket_holds("HOT", "WH1", NOW + timedelta(minutes=10)) == 0
    assert ledger.sweep_bucket_holds("HOT", "WH1", NOW + timedelta(minutes=16)) == 1
    with pytest.raises(ReservationNotFoundError):
        ledger.convert_bucket_hold(line("E1", 2), index, NOW + timedelta(minutes=16))
    assert sum(b.available for b in ledger.buckets("HOT", "WH1")) == 10
    check_invariants(ledger)


def test_rebalance_pools_unheld_units_and_adds_new_receipts(ledger: DynamoInventoryLedger):
    ledger.allocate_buckets("HOT", "WH1", 2, "alloc-1")  # [5, 5]
    for n in range(4):
        ledger.reserve_from_buckets(
            LineDemand(f"R{n}", "1", "HOT", "WH1", 1), 1, "douyin", NOW + timedelta(hours=1)
        )
    ledger.receive("HOT", "WH1", 4, "po-2")
    # bucket 0 has 1 left, bucket 1 has 5; 4 new units on the level
    assert ledger.rebalance("HOT", "WH1", "rebalance-1") == [5, 5]
    assert [b.available for b in ledger.buckets("HOT", "WH1")] == [5, 5]
    check_invariants(ledger)
