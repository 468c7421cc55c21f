"""Settlement entries and camt.053 statements: pure domain, the official schemas, exact money."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms.adapters.statement_files import render_csv, render_xlsx, validate
from oms.domain.camt053 import CamtVersion, fit, render
from oms.domain.errors import BadRequestError, SchemaInvalidError, StatementInvalidError
from oms.domain.model import Platform
from oms.domain.settlement import (
    REPORTED_COMMISSION_TAG,
    REPORTED_SETTLE_TIME_TAG,
    Direction,
    EntryKind,
    EntrySource,
    EntryStatus,
    FeeRules,
    ManualEntryRequest,
    Month,
    SettlementEntry,
    StatementAccount,
    build_statements,
    order_entries,
)
from oms.domain.status import OrderStatus, RefundStatus
from tests.support.settlement import PAID_AT, order

ROOT = Path(__file__).resolve().parents[2]
RULES = FeeRules.from_json((ROOT / "layers/shared/oms/data/fee_rules.json").read_text(encoding="utf-8"))
OCTOBER = Month(2026, 10)
ACCOUNT = StatementAccount("100001", issuer="douyin")
RECORDED = datetime(2026, 11, 1, tzinfo=UTC)


def entries_of(*orders: object) -> list[SettlementEntry]:
    return [e for o in orders for e in order_entries(o, RULES, recorded_by="test", recorded_at=RECORDED)]  # type: ignore[arg-type]


def statement(
    status: EntryStatus,
    entries: list[SettlementEntry],
    month: Month = OCTOBER,
    channel: Platform = Platform.DOUYIN,
):
    (found,) = [
        s
        for s in build_statements(month, channel, entries, account=ACCOUNT, currencies=("CNY",))
        if s.status is status
    ]
    return found


# --------------------------------------------------------------------------- entries


def test_a_paid_order_is_a_pending_sale_and_its_fees():
    entries = entries_of(order(status=OrderStatus.SHIPPED))
    assert [(e.kind, e.component, e.direction, e.amount, e.status) for e in entries] == [
        (EntryKind.SALE, "-", Direction.CRDT, Decimal("99.90"), EntryStatus.PDNG),
        # 99.90 x 5 % = 4.995 → 5.00 and x 0.6 % = 0.5994 → 0.60 (half-even to the fen)
        (EntryKind.COMMISSION, "commission", Direction.DBIT, Decimal("5.00"), EntryStatus.PDNG),
        (EntryKind.COMMISSION, "payment", Direction.DBIT, Decimal("0.60"), EntryStatus.PDNG),
    ]
    assert {e.booking_date for e in entries} == {date(2026, 10, 12)}
    assert {e.reference for e in entries} == {"PAY0001"}
    assert all(e.fee_rule_version == 1 for e in entries if e.kind is EntryKind.COMMISSION)


def test_an_unpaid_order_has_no_entries():
    assert entries_of(order(status=OrderStatus.PENDING_PAYMENT, paid_at=None)) == []
    assert entries_of(order(status=OrderStatus.CANCELLED, paid_at=None)) == []


def test_a_completed_order_is_booked_on_its_china_completion_day():
    # 16:30 UTC on the 31st is already 1 November in Shanghai.
    done = order(status=OrderStatus.COMPLETED, status_at=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    booked = [e for e in entries_of(done) if e.status is EntryStatus.BOOK]
    assert {e.booking_date for e in booked} == {date(2026, 11, 1)}
    assert sum(e.signed_amount for e in booked) == Decimal("94.30")


def test_a_refunded_order_books_the_refund_and_the_returned_fees():
    refunded = order(
        status=OrderStatus.CLOSED, refund=RefundStatus.REFUNDED, status_at=PAID_AT + timedelta(days=1)
    )
    booked = [e for e in entries_of(refunded) if e.status is EntryStatus.BOOK]
    assert sum(e.signed_amount for e in booked) == 0
    kinds = sorted(str(e.kind) for e in booked)
    assert kinds == sorted(
        ["SALE", "COMMISSION", "COMMISSION", "REFUND", "COMMISSION_REVERSAL", "COMMISSION_REVERSAL"]
    )


def test_a_cancelled_paid_order_is_refunded():
    cancelled = order(status=OrderStatus.CANCELLED, status_at=PAID_AT + timedelta(hours=2))
    refund = [e for e in entries_of(cancelled) if e.kind is EntryKind.REFUND]
    assert [(e.amount, e.status) for e in refund] == [(Decimal("99.90"), EntryStatus.BOOK)]


def test_the_platform_reported_commission_wins_and_the_difference_is_recorded():
    # GIVEN WeChat Channels reports 4.20 of commission where the rules compute 5.00
    reported = order(
        platform=Platform.WECHAT_CHANNELS,
        shop_id="wx00000000000test1",
        status=OrderStatus.COMPLETED,
        tags={REPORTED_COMMISSION_TAG: "4.20", REPORTED_SETTLE_TIME_TAG: "2026-10-20T02:00:00+00:00"},
    )
    booked = [e for e in entries_of(reported) if e.status is EntryStatus.BOOK]
    (adjustment,) = [e for e in booked if e.kind is EntryKind.ADJUSTMENT]
    assert (adjustment.direction, adjustment.amount, adjustment.source) == (
        Direction.CRDT,
        Decimal("0.80"),
        EntrySource.PLATFORM,
    )
    assert (adjustment.computed_amount, adjustment.reported_amount) == (Decimal("5.00"), Decimal("4.20"))
    # THEN the fees booked are what the platform said, and they book on its settle day
    fees = -sum(e.signed_amount for e in booked if e.kind in (EntryKind.COMMISSION, EntryKind.ADJUSTMENT))
    assert fees == Decimal("4.20")
    assert {e.booking_date for e in booked} == {date(2026, 10, 20)}


def test_a_reported_settlement_books_an_order_that_is_not_completed_yet():
    shipped = order(status=OrderStatus.SHIPPED, tags={REPORTED_COMMISSION_TAG: "5.60"})
    assert {e.status for e in entries_of(shipped)} == {EntryStatus.PDNG, EntryStatus.BOOK}
    assert not [e for e in entries_of(shipped) if e.kind is EntryKind.ADJUSTMENT]  # 5.00 + 0.60 = 5.60


@pytest.mark.parametrize("reported", ["abc", "-1", "NaN"])
def test_a_malformed_reported_commission_is_a_schema_error(reported: str):
    with pytest.raises(SchemaInvalidError):
        entries_of(order(status=OrderStatus.COMPLETED, tags={REPORTED_COMMISSION_TAG: reported}))


def test_entry_ids_are_deterministic_and_the_same_for_every_later_version_of_the_order():
    paid = entries_of(order(version=1))
    done = entries_of(order(status=OrderStatus.COMPLETED, version=5, status_at=PAID_AT + timedelta(days=2)))
    assert {e.entry_id for e in paid} < {e.entry_id for e in done}


def test_currencies_use_their_minor_units():
    yen = entries_of(order(platform=Platform.SHOPIFY, shop_id="s.myshopify.com", paid="1999", currency="JPY"))
    assert [e.amount for e in yen] == [Decimal("1999"), Decimal("58")]  # 2.9 % = 57.971, no fixed fee in JPY
    usd = entries_of(
        order(platform=Platform.SHOPIFY, shop_id="s.myshopify.com", paid="10.00", currency="USD")
    )
    assert [e.amount for e in usd] == [Decimal("10.00"), Decimal("0.59")]  # 0.29 + 0.30


# --------------------------------------------------------------------------- fee rules


def test_fee_rules_pick_the_version_in_force_on_the_capture_day():
    rules = FeeRules.from_json(
        '{"channels": {"douyin": ['
        '{"version": 1, "effective_from": "2024-01-01",'
        ' "fees": [{"component": "commission", "rate": "0.05", "label": "c"}]},'
        '{"version": 2, "effective_from": "2026-10-15",'
        ' "fees": [{"component": "commission", "rate": "0.03", "label": "c"}]}'
        "]}}"
    )
    assert rules.version_for(Platform.DOUYIN, date(2026, 10, 14)).version == 1  # type: ignore[union-attr]
    assert rules.version_for(Platform.DOUYIN, date(2026, 10, 15)).version == 2  # type: ignore[union-attr]
    assert rules.version_for(Platform.DOUYIN, date(2023, 1, 1)) is None
    assert rules.version_for(Platform.TAOBAO, date(2026, 1, 1)) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"channels": {"douyin": [{"version": 2, "effective_from": "2024-01-01", "fees": []},'
        ' {"version": 1, "effective_from": "2025-01-01", "fees": []}]}}',
        '{"channels": {"douyin": [{"version": 1, "effective_from": "2024-01-01", "fees": '
        '[{"component": "c", "rate": "1.5", "label": "x"}]}]}}',
        '{"channels": {"ebay": []}}',
    ],
)
def test_invalid_fee_rules_are_refused(text: str):
    with pytest.raises(SchemaInvalidError):
        FeeRules.from_json(text)


# --------------------------------------------------------------------------- statements


def test_pending_entries_never_reach_the_booked_statement():
    # GIVEN one order settled in October and one still shipping at the end of October
    done = order("1", status=OrderStatus.COMPLETED, status_at=PAID_AT + timedelta(days=1))
    shipping = order("2", status=OrderStatus.SHIPPED)
    entries = entries_of(done, shipping)
    booked, pending = statement(EntryStatus.BOOK, entries), statement(EntryStatus.PDNG, entries)
    assert {e.status for e in booked.entries} == {EntryStatus.BOOK}
    assert {e.status for e in pending.entries} == {EntryStatus.PDNG}
    # the settled order's pending entries are not open items any more
    assert {e.platform_order_id for e in pending.entries} == {"2"}
    document = render(booked)
    assert b"PDNG" not in document


def test_an_order_settled_next_month_is_pending_in_october_and_booked_in_november():
    late = order(status=OrderStatus.COMPLETED, status_at=datetime(2026, 11, 3, tzinfo=UTC))
    entries = entries_of(late)
    assert len(statement(EntryStatus.PDNG, entries).entries) == 3
    assert statement(EntryStatus.BOOK, entries).entries == ()
    november = statement(EntryStatus.BOOK, entries, Month(2026, 11))
    assert (november.opening, november.closing) == (Decimal("0.00"), Decimal("94.30"))


def test_a_channel_without_activity_has_equal_opening_and_closing_balances_and_validates():
    for status in EntryStatus:
        empty = statement(status, [])
        assert empty.entries == ()
        assert empty.opening == empty.closing == Decimal("0.00")
        for version in CamtVersion:
            validate(render(empty, version), version)


def test_both_versions_validate_with_every_kind_of_entry():
    refunded = order(
        "1", status=OrderStatus.CLOSED, refund=RefundStatus.REFUNDED, status_at=PAID_AT + timedelta(days=1)
    )
    reported = order("2", status=OrderStatus.COMPLETED, tags={REPORTED_COMMISSION_TAG: "9.99"})
    payout = ManualEntryRequest.model_validate(
        {
            "kind": "PAYOUT",
            "channel": "douyin",
            "shop_id": "100001",
            "amount": "50.00",
            "reference": "PO1",
            "booked_on": "2026-10-31",
        }
    ).to_entry(recorded_by="api:alice", recorded_at=RECORDED)
    chargeback = ManualEntryRequest.model_validate(
        {
            "kind": "CHARGEBACK",
            "channel": "douyin",
            "shop_id": "100001",
            "amount": "9.90",
            "reference": "CB1",
            "booked_on": "2026-10-30",
        }
    ).to_entry(recorded_by="api:alice", recorded_at=RECORDED)
    entries = [*entries_of(refunded, reported, order("3", status=OrderStatus.SHIPPED)), payout, chargeback]
    for status in EntryStatus:
        made = statement(status, entries)
        assert made.entries
        for version in CamtVersion:
            validate(render(made, version), version)


def test_the_document_says_what_the_issue_asks():
    done = order(status=OrderStatus.COMPLETED, status_at=PAID_AT + timedelta(days=1))
    root = ElementTree.fromstring(render(statement(EntryStatus.BOOK, entries_of(done))))
    ns = {"c": CamtVersion.V08.namespace}
    stmt = root.find("c:BkToCstmrStmt/c:Stmt", ns)
    assert stmt is not None
    assert stmt.findtext("c:Id", namespaces=ns) == "DOUYIN-CNY-202610-BOOK"
    assert stmt.findtext("c:Acct/c:Id/c:Othr/c:Id", namespaces=ns) == "100001"
    assert stmt.findtext("c:Acct/c:Id/c:Othr/c:SchmeNm/c:Prtry", namespaces=ns) == "PLATFORM-MERCHANT-ID"
    assert stmt.findtext("c:ElctrncSeqNb", namespaces=ns) == str(2026 * 12 + 10)
    assert stmt.findtext("c:FrToDt/c:FrDtTm", namespaces=ns) == "2026-10-01T00:00:00+08:00"
    balances = {
        b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns): b.findtext("c:Amt", namespaces=ns)
        for b in stmt.findall("c:Bal", ns)
    }
    assert balances == {"OPBD": "0.00", "CLBD": "94.30"}
    entries = stmt.findall("c:Ntry", ns)
    assert len(entries) == 3
    sale = entries[[e.findtext("c:CdtDbtInd", namespaces=ns) for e in entries].index("CRDT")]
    assert sale.findtext("c:AcctSvcrRef", namespaces=ns) == "PAY0001"
    assert sale.findtext("c:BookgDt/c:Dt", namespaces=ns) == "2026-10-13"
    assert sale.findtext("c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", namespaces=ns) == "6900000000000000001"
    assert sale.findtext("c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd", namespaces=ns) == "Sale 6900000000000000001"
    code = [
        sale.findtext(f"c:BkTxCd/c:Domn/{path}", namespaces=ns)
        for path in ("c:Cd", "c:Fmly/c:Cd", "c:Fmly/c:SubFmlyCd")
    ]
    assert code == ["PMNT", "MCRD", "POSP"]


def test_regeneration_renders_the_same_bytes():
    entries = entries_of(order("1", status=OrderStatus.COMPLETED), order("2", status=OrderStatus.SHIPPED))
    for status in EntryStatus:
        first = statement(status, entries)
        again = statement(status, list(reversed(entries)))
        assert render(first) == render(again)
        assert render_csv(first) == render_csv(again)
        assert render_xlsx(first) == render_xlsx(again)


def test_a_document_the_schema_rejects_is_a_typed_error():
    document = render(statement(EntryStatus.BOOK, []))
    broken = document.replace(b"<Cd>OPBD</Cd>", b"<Cd>OPENING-BALANCE</Cd>")
    with pytest.raises(StatementInvalidError) as raised:
        validate(broken, CamtVersion.V08)
    assert raised.value.code == "STATEMENT_INVALID"
    with pytest.raises(StatementInvalidError):
        validate(document, CamtVersion.V02)  # a .08 document is not a .02 one


def test_long_references_are_cut_to_the_schema_length_and_stay_distinct():
    first, second = fit("x" * 40 + "1", 35), fit("x" * 40 + "2", 35)
    assert len(first) == len(second) == 35
    assert first != second
    assert fit("short", 35) == "short"


def test_months_parse_strictly_and_the_monthly_run_targets_the_previous_china_month():
    assert Month.parse("2026-02") == Month(2026, 2)
    for bad in ("2026-2", "2026-13", "26-01", "", "2026-01-01"):
        with pytest.raises(BadRequestError):
            Month.parse(bad)
    assert Month.previous_of(datetime(2026, 10, 31, 18, 0, tzinfo=UTC)) == Month(2026, 10)
    assert Month.previous_of(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == Month(2025, 12)
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2028, 2).last_day == date(2028, 2, 29)


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "0"},
        {"amount": "1.001"},
        {"amount": "1e3"},
        {"kind": "SALE"},
        {"reference": "has space"},
        {"channel": "ebay"},
    ],
)
def test_manual_entries_are_validated(change: dict[str, str]):
    request = {
        "kind": "PAYOUT",
        "channel": "douyin",
        "shop_id": "1",
        "amount": "5.00",
        "reference": "R1",
        "booked_on": "2026-10-31",
    }
    with pytest.raises((BadRequestError, ValueError)):
        ManualEntryRequest.model_validate({**request, **change}).to_entry(
            recorded_by="t", recorded_at=RECORDED
        )


# --------------------------------------------------------------------------- properties

amounts = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2, allow_nan=False, allow_infinity=False
)
entry_specs = st.lists(
    st.tuples(
        st.sampled_from([EntryKind.SALE, EntryKind.COMMISSION, EntryKind.REFUND, EntryKind.PAYOUT]),
        amounts,
        st.integers(min_value=0, max_value=120),  # days since 1 August
        st.sampled_from(list(EntryStatus)),
    ),
    max_size=40,
)


def synthetic(specs: list[tuple[EntryKind, Decimal, int, EntryStatus]]) -> list[SettlementEntry]:
    entries = []
    for index, (kind, amount, day, status) in enumerate(specs):
        direction = Direction.CRDT if kind is EntryKind.SALE else Direction.DBIT
        on = date(2026, 8, 1) + timedelta(days=day)
        base = f"ORDER#{index}#{kind}#-"
        entries.append(
            SettlementEntry(
                entry_id=f"{base}#{status}",
                base_id=base,
                channel=Platform.DOUYIN,
                shop_id="1",
                currency="CNY",
                kind=kind,
                direction=direction,
                amount=amount,
                status=status,
                booking_date=on,
                value_date=on,
                reference=f"R{index}",
                label=f"entry {index}",
                recorded_by="p",
                recorded_at=RECORDED,
            )
        )
    return entries


@settings(max_examples=60, deadline=None)
@given(entry_specs)
def test_closing_is_opening_plus_credits_minus_debits_and_opens_the_next_month(specs):
    entries = synthetic(specs)
    previous = None
    for month in (Month(2026, 8), Month(2026, 9), Month(2026, 10), Month(2026, 11)):
        booked = statement(EntryStatus.BOOK, entries, month)
        credits = sum((e.amount for e in booked.entries if e.direction is Direction.CRDT), Decimal(0))
        debits = sum((e.amount for e in booked.entries if e.direction is Direction.DBIT), Decimal(0))
        assert booked.closing == booked.opening + credits - debits
        assert all(isinstance(value, Decimal) for value in (booked.opening, booked.closing, credits, debits))
        assert booked.closing.as_tuple().exponent == -2
        if previous is not None:
            assert booked.opening == previous.closing
        previous = booked
    # everything booked up to the last month's end is in the last closing balance
    total = sum(
        (
            e.signed_amount
            for e in entries
            if e.status is EntryStatus.BOOK and e.booking_date <= date(2026, 11, 30)
        ),
        Decimal(0),
    )
    assert previous is not None
    assert previous.closing == total


@settings(max_examples=15, deadline=None)
@given(entry_specs)
def test_every_generated_statement_validates_against_both_schemas(specs):
    for made in build_statements(
        OCTOBER, Platform.DOUYIN, synthetic(specs), account=ACCOUNT, currencies=("CNY",)
    ):
        for version in CamtVersion:
            document = render(made, version)
            validate(document, version)
            root = ElementTree.fromstring(document)
            ns = {"c": version.namespace}
            closing = root.find("c:BkToCstmrStmt/c:Stmt/c:Bal[2]", ns)
            assert closing is not None
            amount = Decimal(closing.findtext("c:Amt", namespaces=ns) or "")
            sign = -1 if closing.findtext("c:CdtDbtInd", namespaces=ns) == "DBIT" else 1
            assert sign * amount == made.closing


def test_a_platform_without_a_payment_time_is_captured_when_the_order_was_placed():
    placed = datetime(2026, 10, 20, 1, 0, tzinfo=UTC)
    shopify = order(
        platform=Platform.SHOPIFY, shop_id="s.myshopify.com", paid="10.00", currency="USD", paid_at=None
    )
    shopify = shopify.with_changes(paid_amount=Decimal("10.00"), placed_at=placed)
    assert {e.booking_date for e in entries_of(shopify)} == {date(2026, 10, 20)}
    assert entries_of(shopify.with_changes(status=OrderStatus.PENDING_PAYMENT)) == []
