"""The health report's risk scoring: weights as data, ranking properties, stockout time, facts."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms.adapters.inventory_health import parse_differences
from oms.domain.errors import InventoryInvalidError
from oms.domain.inventory import LedgerEntry, Reason, StockLevel
from oms.domain.inventory_health import (
    HealthWeights,
    InventoryMonth,
    SkuFacts,
    SyncDifference,
    default_weights,
    findings,
    month_facts,
    rank,
    score,
    stockout_seconds,
)
from oms.services.inventory_health import render_html

WEIGHTS = default_weights()
START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 2026-11-01 00:00 China time
END = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)

counts = st.integers(min_value=0, max_value=500)


@st.composite
def facts(draw: st.DrawFn, sku: str | None = None) -> SkuFacts:
    return SkuFacts(
        sku=sku or draw(st.text("ABCXYZ0123", min_size=1, max_size=4)),
        period_days=30.0,
        on_hand=draw(counts),
        available=draw(counts),
        stockout_seconds=float(draw(st.integers(min_value=0, max_value=30 * 86400))),
        oversells=draw(counts),
        sync_differences=draw(counts),
        sync_units=draw(counts),
        deducted=draw(counts),
        expired_holds=draw(counts),
        overdue_holds=draw(counts),
    )


@st.composite
def worse(draw: st.DrawFn, base: SkuFacts) -> SkuFacts:
    """Facts at least as bad in every respect (and strictly worse in one)."""
    more = st.integers(min_value=0, max_value=50)
    candidate = replace(
        base,
        sku=base.sku + "-W",
        stockout_seconds=base.stockout_seconds + draw(more) * 60,
        oversells=base.oversells + draw(more),
        sync_differences=base.sync_differences + draw(more),
        sync_units=base.sync_units + draw(more),
        deducted=base.deducted + draw(more),
        available=max(0, base.available - draw(more)),
        expired_holds=base.expired_holds + draw(more),
        overdue_holds=base.overdue_holds + draw(more),
    )
    return replace(candidate, oversells=candidate.oversells + 1)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_sku_with_worse_facts_never_scores_or_ranks_lower(data: st.DataObject):
    base = data.draw(facts())
    bad = data.draw(worse(base))
    assert score(bad, WEIGHTS) > score(base, WEIGHTS)
    ranked = [r.facts.sku for r in rank([base, bad], WEIGHTS, limit=2)]
    assert ranked[0] == bad.sku


@settings(max_examples=40, deadline=None)
@given(st.lists(facts(), min_size=0, max_size=25, unique_by=lambda f: f.sku), st.randoms())
def test_ranking_is_stable_whatever_order_the_facts_come_in(items: list[SkuFacts], rng: random.Random):
    shuffled = list(items)
    rng.shuffle(shuffled)
    first, second = rank(items, WEIGHTS), rank(shuffled, WEIGHTS)
    assert [(r.rank, r.facts.sku, r.score) for r in first] == [(r.rank, r.facts.sku, r.score) for r in second]
    assert len(first) <= 10
    scores = [r.score for r in first]
    assert scores == sorted(scores, reverse=True)
    assert all(r.score > 0 and r.findings for r in first)


def test_a_quiet_sku_is_not_listed_and_each_finding_has_a_suggestion():
    quiet = SkuFacts(sku="QUIET", period_days=30, on_hand=100, available=100, deducted=30)
    assert rank([quiet], WEIGHTS) == []  # 100 days of cover, nothing went wrong
    noisy = replace(quiet, sku="NOISY", oversells=3, stockout_seconds=7200, available=5, expired_holds=2)
    kinds = [f.kind for f in findings(noisy, WEIGHTS)]
    assert set(kinds) == {"oversell", "stockout", "short_cover", "reservation_leak"}
    assert all(f.suggestion for f in findings(noisy, WEIGHTS))
    short = next(f for f in findings(noisy, WEIGHTS) if f.kind == "short_cover")
    assert "5.0 day(s) of cover at 1.0 unit(s)/day" in short.reason
    assert "order about 9 unit(s)" in short.suggestion


def test_weights_are_data_and_bad_weights_are_refused():
    assert WEIGHTS.oversell > 0
    with pytest.raises(InventoryInvalidError):
        HealthWeights.from_mapping({"oversell": 1})
    values = {name: 1 for name in HealthWeights.__dataclass_fields__}
    with pytest.raises(InventoryInvalidError):
        HealthWeights.from_mapping(values | {"oversell": -1})
    with pytest.raises(InventoryInvalidError):
        HealthWeights.from_mapping(values | {"target_cover_days": 0})


def test_stockout_time_counts_only_time_at_zero_inside_the_period():
    t0 = START + timedelta(days=1)
    points = [(t0, 0), (t0 + timedelta(hours=2), 5), (t0 + timedelta(hours=3), 0)]
    # at zero from t0 for 2 h, then again from t0+3h to the end of the period
    expected = 2 * 3600 + (END - (t0 + timedelta(hours=3))).total_seconds()
    assert stockout_seconds(points, START, END, available_at_start=10) == expected
    # a stamp before the period or a clock running backwards adds nothing negative
    assert stockout_seconds([(START - timedelta(days=1), 3)], START, END, available_at_start=0) == 0
    back = [(t0, 0), (t0 - timedelta(hours=1), 4)]
    assert stockout_seconds(back, START, END, available_at_start=1) == 0


def _entry(seq: int, reason: Reason, on_hand: tuple[int, int], reserved: tuple[int, int]) -> LedgerEntry:
    return LedgerEntry(
        sku="TEA",
        warehouse="main",
        seq=seq,
        reason=reason,
        reference=f"r{seq}",
        on_hand_delta=on_hand[1] - on_hand[0],
        reserved_delta=reserved[1] - reserved[0],
        on_hand_before=on_hand[0],
        reserved_before=reserved[0],
        on_hand_after=on_hand[1],
        reserved_after=reserved[1],
    )


def test_month_facts_from_ledger_entries_incidents_and_differences():
    t = START + timedelta(days=2)
    entries = [
        (t, _entry(2, Reason.RESERVE, (2, 2), (0, 2))),  # sold out from here
        (t + timedelta(minutes=5), _entry(3, Reason.DEDUCT, (2, 1), (2, 1))),
        (t + timedelta(minutes=30), _entry(4, Reason.EXPIRE, (1, 1), (1, 0))),  # one back
        (START - timedelta(days=3), _entry(1, Reason.RECEIPT, (0, 2), (0, 0))),  # before: ignored
    ]
    month = InventoryMonth(
        levels=[StockLevel("TEA", "main", on_hand=1, reserved=0, seq=4)],
        entries=entries,
        overdue_holds={"TEA": 1},
        oversold_lines={"TEA": 3},
    )
    rows = [
        SyncDifference(t, "TEA", "douyin", 1, 4, 0, -3, "a return not synced"),
        SyncDifference(t, "OTHER", "shopify", 5, 3, 0, 2, ""),
        SyncDifference(END, "TEA", "douyin", 1, 2, 0, -1, "after the period"),
    ]
    (other, tea) = month_facts(month, rows, START, END)
    assert tea.sku == "TEA"
    assert tea.stockout_seconds == 30 * 60
    assert (tea.deducted, tea.expired_holds, tea.overdue_holds, tea.oversells) == (1, 1, 1, 3)
    assert (tea.sync_differences, tea.sync_units, tea.available) == (1, 3, 1)
    assert (other.sku, other.sync_differences, other.sync_units) == ("OTHER", 1, 2)
    assert [r.facts.sku for r in rank([other, tea], WEIGHTS)] == ["TEA", "OTHER"]


def test_difference_files_are_parsed_or_refused_whole():
    good = (
        "\ufeffat,sku,channel,ours,theirs,in_flight,delta,likely_cause\r\n"
        "2026-11-03T10:00:00+00:00,TEA,douyin,10,13,0,-3,'=channel deducted 3 more\r\n"
    ).encode()
    (row,) = parse_differences(good) or []
    assert (row.sku, row.delta, row.likely_cause) == ("TEA", -3, "=channel deducted 3 more")
    assert parse_differences(b"sku,delta\nTEA,3\n") is None
    assert parse_differences(good.replace(b",-3,", b",three,")) is None
    assert parse_differences(b"\xff\xfe") is None


def test_the_html_is_self_contained_and_escapes_every_value():
    evil = SkuFacts(sku='<script>alert("x")</script>', period_days=30, oversells=2)
    page = render_html("2026-11", START, END, rank([evil], WEIGHTS), ["inventory/differences/<bad>.csv"])
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;bad&gt;" in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<link" not in page
    assert "<style>" in page


def test_a_sku_first_stocked_in_the_month_was_not_out_before_and_stamps_follow_ledger_order():
    t = START + timedelta(days=10)
    level = StockLevel("NEW", "main", on_hand=1, reserved=0, seq=4)
    entries = [
        (t, _entry(1, Reason.RECEIPT, (0, 1), (0, 0))),
        (t + timedelta(hours=1), _entry(2, Reason.RESERVE, (1, 1), (0, 1))),  # out from here
        # paid 10 minutes *before* it was written (a stamp behind the previous one): still out
        (t + timedelta(minutes=50), _entry(3, Reason.DEDUCT, (1, 0), (1, 0))),
        (t + timedelta(hours=3), _entry(4, Reason.RECEIPT, (0, 1), (0, 0))),  # back
    ]
    entries = [(at, replace(e, sku="NEW")) for at, e in entries]
    month = InventoryMonth(levels=[level], entries=entries, overdue_holds={}, oversold_lines={})
    (new,) = month_facts(month, [], START, END)
    assert new.stockout_seconds == 2 * 3600
