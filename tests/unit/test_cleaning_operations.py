"""The operations operators' rules can use: percent-decoding and regex replacement."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from oms.domain.cleaning import CleaningRule, Transform, clean_payload, percent_decode


def rule(transform: Transform, **changes: object) -> CleaningRule:
    return CleaningRule(name="op-rule", version=1, transform=transform, fields=("*payment_no",), **changes)


def test_percent_decode_decodes_utf8_runs_and_keeps_anything_else():
    assert percent_decode("PAY1%E2%80%8B") == "PAY1\u200b"
    assert percent_decode("a%20b+c") == "a b+c"  # not form decoding: + stays
    assert percent_decode("%FF%41") == "%FF%41"  # the run is not UTF-8: kept verbatim
    assert percent_decode("100%") == "100%"


def test_percent_decode_then_strip_invisible_fixes_the_incident_payment_id_only_where_told():
    payload = {"channel_payment_no": "PAY1%E2%80%8B", "remark": "PAY1%E2%80%8B"}
    cleaned, applied = clean_payload(payload, "douyin", (rule(Transform.PERCENT_DECODE_STRIP_INVISIBLE),))
    assert cleaned == {"channel_payment_no": "PAY1", "remark": "PAY1%E2%80%8B"}
    assert [(item.name, item.path) for item in applied] == [("op-rule", "channel_payment_no")]


def test_regex_replace_uses_its_pattern_and_groups():
    swap = rule(Transform.REGEX_REPLACE, pattern=r"^(\d{4})-(\d+)$", replacement=r"\2-\1")
    assert swap.apply("2026-0205") == "0205-2026"
    assert swap.apply("untouched") == "untouched"


@given(st.text(alphabet="%0123456789ABCDEFabcdefxyz", max_size=40))
def test_percent_decode_never_raises_and_is_a_no_op_without_percent_signs(value: str):
    decoded = percent_decode(value)
    if "%" not in value:
        assert decoded == value


@pytest.mark.parametrize("pattern", ["(x+)+y", "(x*)*", "(?:ab|a)+", r"(\w)\1"])
def test_patterns_that_can_backtrack_exponentially_are_refused(pattern: str):
    with pytest.raises(ValidationError, match="pattern refused"):
        rule(Transform.REGEX_REPLACE, pattern=pattern)
