"""The sellable-formula language: parsing, positions of errors, exact evaluation; bundles; allocation."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.domain.errors import FormulaInvalidError, InventoryInvalidError
from oms.domain.formula import Inputs, evaluate, parse, sellable
from oms.domain.inventory import LineDemand
from oms.domain.sellable import Bundle, ChannelRule, allocate, bundle_sellable, explode


def inputs(**values: int) -> Inputs:
    incoming = {7: 30, 14: 50}
    return Inputs(
        values=values, incoming_within=lambda days: sum(q for d, q in incoming.items() if d <= days)
    )


def test_the_merchants_example_works():
    tree = parse("MIN(on_hand, incoming * 0.8) - locked")
    assert evaluate(tree, inputs(on_hand=100, incoming=50, locked=5)) == Decimal("35")
    assert sellable(tree, inputs(on_hand=20, incoming=500, locked=5)) == 15
    assert sellable(tree, inputs(on_hand=2, incoming=0, locked=5)) == 0  # never below zero


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("-on_hand + 10", 0),
        ("FLOOR(7 / 2) + CEIL(0.2)", 4),
        ("max(1, 2, on_hand)", 10),
        ("on_hand - incoming_within(7)", -20),
        ("Incoming_Within(14) / 0", 0),
        ("floor(on_hand * 0.15)", 1),
    ],
)
def test_arithmetic_and_functions(source: str, expected: int):
    assert evaluate(parse(source), inputs(on_hand=10)) == expected


@pytest.mark.parametrize(
    ("source", "position", "words"),
    [
        ("", 0, "empty"),
        ("on_hand +", 9, "found 'the end'"),
        ("on_hand + stock", 10, "unknown variable 'stock'"),
        ("MIN(on_hand)", 0, "at least 2"),
        ("FLOOR(1, 2)", 0, "takes 1"),
        ("SUM(1, 2)", 0, "unknown function"),
        ("(on_hand - 1", 12, "expected ')'"),
        ("on_hand $ 2", 8, "unexpected character '$'"),
        ("on_hand 2", 8, "unexpected '2'"),
        ("__import__('os')", 11, "unexpected character"),
        ("__import__(on_hand)", 0, "unknown function"),
        ("x" * 501, 500, "at most"),
    ],
)
def test_a_bad_formula_is_rejected_with_its_position(source: str, position: int, words: str):
    with pytest.raises(FormulaInvalidError) as raised:
        parse(source)
    assert raised.value.details["position"] == position
    assert words in raised.value.message


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> tuple[str, Fraction]:
    """A random expression and its exact value, computed independently of the parser."""
    if depth > 3 or draw(st.booleans()):
        number = draw(st.integers(0, 50))
        return str(number), Fraction(number)
    left_text, left = draw(expressions(depth + 1))
    right_text, right = draw(expressions(depth + 1))
    operator = draw(st.sampled_from("+-*"))
    value = {"+": left + right, "-": left - right, "*": left * right}[operator]
    if draw(st.booleans()):
        return f"MIN({left_text}, {right_text})", min(left, right)
    return f"({left_text} {operator} {right_text})", value


@given(expressions())
def test_the_parser_agrees_with_exact_arithmetic(case: tuple[str, Fraction]):
    source, value = case
    assert Fraction(evaluate(parse(source), inputs())) == value


def test_bundles_are_limited_by_their_scarcest_component_and_reserve_components():
    kit = Bundle("KIT", {"CUP": 2, "LID": 1})
    assert bundle_sellable(kit, {"CUP": 9, "LID": 10}) == 4
    assert bundle_sellable(kit, {"CUP": 9}) == 0
    lines = explode(LineDemand("o", "1", "KIT", "main", 3), kit)
    assert [(x.line_id, x.sku, x.quantity) for x in lines] == [("1/CUP", "CUP", 6), ("1/LID", "LID", 3)]
    with pytest.raises(InventoryInvalidError):
        Bundle("KIT", {"KIT": 1})


def test_channel_allocation_applies_share_buffer_and_maximum():
    rules = {
        "douyin": ChannelRule(share_percent=50, buffer=2),
        "shopify": ChannelRule(maximum=10),
        "pinduoduo": ChannelRule(share_percent=30, buffer=100),
    }
    assert allocate(100, rules) == {"douyin": 48, "shopify": 10, "pinduoduo": 0}
    assert allocate(-5, rules) == {"douyin": 0, "shopify": 0, "pinduoduo": 0}
    with pytest.raises(InventoryInvalidError):
        ChannelRule(share_percent=120)
