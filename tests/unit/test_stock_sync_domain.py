"""The sync's pure rules: targets, what the channel should show, differences and their likely cause."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources

import pytest

from oms.domain.errors import BadRequestError
from oms.domain.inventory import LedgerEntry, Reason
from oms.domain.sellable import ChannelRule
from oms.domain.stock_sync import (
    REPORT_COLUMNS,
    Listing,
    SyncState,
    channel_sales,
    expected_quantity,
    judge,
    listing_from_request,
    load_cause_rules,
    may_claim,
    needs_push,
    report_csv,
    target_quantity,
    unseen_at_push,
)

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
RULES = load_cause_rules(resources.files("oms.data").joinpath("stock_causes.json").read_text("utf-8"))
LISTING = Listing(sku="S-1", platform="douyin", shop_id="100001", channel_sku_id="9", product_id="8")


def entry(seq: int, reason: Reason, reference: str, reserved: int, on_hand: int = 0) -> LedgerEntry:
    return LedgerEntry("S-1", "main", seq, reason, reference, on_hand, reserved, 0, 0, 0, 0)


def test_the_target_is_the_allocation_capped_by_the_surge_breaker() -> None:
    rule = ChannelRule(share_percent=50, buffer=2, maximum=30)
    assert target_quantity(100, rule, None) == 30
    assert target_quantity(40, rule, None) == 18
    assert target_quantity(40, rule, 5) == 5
    assert target_quantity(0, rule, None) == 0


def test_push_only_what_changed_unless_healing() -> None:
    assert needs_push(10, SyncState())
    assert not needs_push(10, SyncState(last_pushed=10))
    assert needs_push(10, SyncState(last_pushed=10), heal=True)


def test_a_claim_needs_a_newer_computation_and_no_push_under_way() -> None:
    state = SyncState(computed_at="2026-11-25T08:00:01.000000Z", lease_until="2026-11-25T08:00:30.000000Z")
    assert not may_claim(state, "2026-11-25T08:00:00.000000Z", "2026-11-25T08:00:40.000000Z")
    assert not may_claim(state, "2026-11-25T08:00:02.000000Z", "2026-11-25T08:00:10.000000Z")
    assert may_claim(state, "2026-11-25T08:00:02.000000Z", "2026-11-25T08:00:40.000000Z")


def test_channel_sales_count_the_channels_own_reservations_net_of_releases() -> None:
    entries = [
        entry(1, Reason.RESERVE, "o1#1", 3),
        entry(2, Reason.RESERVE, "o2#1", 2),
        entry(3, Reason.RELEASE, "o1#1", -3),
        entry(4, Reason.DEDUCT, "o2#1", -2, -2),
        entry(5, Reason.DEDUCT_UNRESERVED, "o3#1", 0, -4),
    ]
    channels = {"o1#1": "douyin", "o2#1": "shopify", "o3#1": "douyin"}
    assert channel_sales(entries, channels, "douyin") == 4
    assert channel_sales(entries, channels, "shopify") == 2


def test_orders_in_flight_at_a_push_are_not_counted_again() -> None:
    assert expected_quantity(97, 2, 0) == 95
    assert expected_quantity(97, 2, 2) == 97
    assert expected_quantity(97, 5, 2) == 94
    assert expected_quantity(3, 10) == 0
    assert unseen_at_push(97, 95, 3) == 2
    assert unseen_at_push(97, 90, 3) == 3
    assert unseen_at_push(97, 99, 3) == 0
    assert unseen_at_push(None, 95, 3) == 0


@pytest.mark.parametrize(
    ("ours", "theirs", "in_flight", "earlier", "delta", "cause"),
    [
        (100, 98, 2, (), None, None),  # explained by orders in flight
        (100, 98, 0, (), None, None),  # 2% of 100: not beyond
        (100, 97, 0, (), -3, "channel deducted 3 more: a return not synced"),
        (100, 90, 1, (), -9, "channel deducted 9 more: orders the order center never received"),
        (50, 55, 0, (), 5, "channel shows 5 more: stock edited in the channel's back office"),
        (52, 47, 0, (47,), -5, "channel is 5 off and still shows a value pushed earlier: a push was lost"),
        (0, 1, 0, (), 1, "channel shows 1 more"),
    ],
)
def test_differences_beyond_the_threshold_get_a_likely_cause(
    ours: int, theirs: int, in_flight: int, earlier: tuple[int, ...], delta: int | None, cause: str | None
) -> None:
    found = judge(
        at=AT,
        listing=LISTING,
        ours=ours,
        theirs=theirs,
        in_flight=in_flight,
        threshold_percent=Decimal(2),
        rules=RULES,
        earlier_pushes=earlier,
    )
    if delta is None:
        assert found is None
        return
    assert found is not None
    assert found.delta == delta
    assert cause is not None
    assert found.likely_cause.startswith(cause)


def test_the_report_has_exactly_the_agreed_columns() -> None:
    found = judge(
        at=AT, listing=LISTING, ours=10, theirs=7, in_flight=0, threshold_percent=Decimal(2), rules=RULES
    )
    assert found is not None
    text = report_csv([found])
    rows = list(csv.reader(io.StringIO(text)))
    assert (
        tuple(rows[0])
        == REPORT_COLUMNS
        == (
            "at",
            "sku",
            "channel",
            "ours",
            "theirs",
            "in_flight",
            "delta",
            "likely_cause",
        )
    )
    assert rows[1] == [AT.isoformat(), "S-1", "douyin:100001", "10", "7", "0", "-3", found.likely_cause]


def test_text_cells_cannot_become_spreadsheet_formulas() -> None:
    listing = Listing(sku="=HYPERLINK(1)", platform="douyin", shop_id="1", channel_sku_id="9", product_id="8")
    found = judge(
        at=AT, listing=listing, ours=10, theirs=7, in_flight=0, threshold_percent=Decimal(2), rules=RULES
    )
    assert found is not None
    row = list(csv.reader(io.StringIO(report_csv([found]))))[1]
    assert (row[1], row[6]) == ("'=HYPERLINK(1)", "-3")


def test_a_listing_request_is_checked() -> None:
    listing = listing_from_request(
        "S-1", {"platform": "shopify", "shop_id": "a.myshopify.com", "channel_sku_id": 1, "location_id": "2"}
    )
    assert (listing.channel_sku_id, listing.rule.share_percent) == ("1", 100)
    for body, field in (
        ({"platform": "wechat_mini", "shop_id": "x", "channel_sku_id": "1"}, None),
        ({"platform": "douyin", "shop_id": "x", "channel_sku_id": "1"}, "product_id"),
        (
            {
                "platform": "douyin",
                "shop_id": "x",
                "channel_sku_id": "1",
                "product_id": "2",
                "share_percent": 101,
            },
            "allocation",
        ),
        ({"platform": "douyin", "shop_id": "x"}, "channel_sku_id"),
    ):
        with pytest.raises(BadRequestError) as refused:
            listing_from_request("S-1", body)
        assert refused.value.details.get("field") == field
