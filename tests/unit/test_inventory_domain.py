"""Pure stock math: movements refuse to break invariants; the ledger replays; bucket order is stable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.domain.errors import InsufficientStockError, InventoryInvalidError
from oms.domain.inventory import (
    LineDemand,
    StockLevel,
    adjustment,
    apply,
    bucket_order,
    deduct,
    plan_reservations,
    rebalance_targets,
    receipt,
    release,
    replay,
    reserve,
)

LEVEL = StockLevel("SKU", "WH", on_hand=5, reserved=2, seq=0)


def test_movements_record_before_and_after():
    after, entries = apply(StockLevel("SKU", "WH"), [receipt(5, "po"), reserve(2, "o#1"), deduct(2, "o#1")])
    assert (after.on_hand, after.reserved, after.seq) == (3, 0, 3)
    assert [(e.on_hand_before, e.on_hand_after, e.reserved_after) for e in entries] == [
        (0, 5, 0),
        (5, 5, 2),
        (5, 3, 0),
    ]
    assert replay(entries) == (3, 0)


def test_invariant_breaking_movements_are_refused():
    with pytest.raises(InsufficientStockError) as short:
        apply(LEVEL, [reserve(4, "o#1")])
    assert short.value.details["short"][0]["available"] == 3
    with pytest.raises(InventoryInvalidError):
        apply(LEVEL, [adjustment(-4, "count")])  # would leave 1 on hand for 2 reserved
    with pytest.raises(InventoryInvalidError):
        apply(LEVEL, [release(3, "o#1")])
    with pytest.raises(InventoryInvalidError):
        receipt(0, "po")


def test_all_lines_or_none_and_each_line_once():
    lines = [LineDemand("o", "1", "SKU", "WH", 2), LineDemand("o", "2", "OTHER", "WH", 1)]
    with pytest.raises(InsufficientStockError) as short:
        plan_reservations({("SKU", "WH"): LEVEL}, lines)
    assert [s["sku"] for s in short.value.details["short"]] == ["OTHER"]
    with pytest.raises(InventoryInvalidError):
        plan_reservations({("SKU", "WH"): LEVEL}, [lines[0], lines[0]])


def test_a_broken_ledger_chain_is_detected():
    _, entries = apply(StockLevel("SKU", "WH"), [receipt(5, "a"), receipt(1, "b")])
    with pytest.raises(InventoryInvalidError):
        replay(entries[1:])


@given(st.text(min_size=1, max_size=30), st.integers(1, 16))
def test_bucket_order_visits_every_bucket_once_from_a_stable_start(reference: str, count: int):
    order = bucket_order(reference, count)
    assert sorted(order) == list(range(count))
    assert order == bucket_order(reference, count)


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_rebalance_shares_everything_evenly(available: int, count: int):
    shares = rebalance_targets(available, count)
    assert sum(shares) == available
    assert max(shares) - min(shares) <= 1
