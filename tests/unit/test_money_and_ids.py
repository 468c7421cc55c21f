from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.domain.errors import ErrorCode, OmsError, PaymentParseError, SchemaInvalidError
from oms.domain.ids import is_unified_order_id, unified_order_id
from oms.domain.model import parse_payment_id
from oms.domain.money import from_major, from_minor


def test_fen_become_exact_yuan():
    assert from_minor(12345) == Decimal("123.45")
    assert from_minor("1") == Decimal("0.01")
    assert from_minor(100, "JPY") == Decimal("100")


def test_major_units_are_parsed_from_strings_never_floats():
    assert from_major("19.90") == Decimal("19.90")
    with pytest.raises(SchemaInvalidError):
        from_major(19.9)  # type: ignore[arg-type]
    with pytest.raises(SchemaInvalidError):
        from_major("NaN")


@given(st.integers(min_value=0, max_value=10**12))
def test_minor_to_major_round_trips(fen):
    assert from_minor(fen) * 100 == fen


def test_unified_ids_are_deterministic_and_distinct():
    first = unified_order_id("douyin", "shop", "1")
    assert first == unified_order_id("douyin", "shop", "1")
    assert first != unified_order_id("douyin", "shop", "2")
    assert first != unified_order_id("kuaishou", "shop", "1")
    assert is_unified_order_id(first)
    assert not is_unified_order_id("6918000000000000001")


def test_payment_ids_that_do_not_parse_raise_pay_parse_err():
    assert parse_payment_id("4200001234202602051234567890") == "4200001234202602051234567890"
    assert parse_payment_id(None) is None
    for bad in ["PAY1%E2%80%8B", "PAY1\u200b", "pay id", "x" * 65]:
        with pytest.raises(PaymentParseError) as caught:
            parse_payment_id(bad)
        assert caught.value.code is ErrorCode.PAY_PARSE_ERR
        assert isinstance(caught.value, OmsError)
