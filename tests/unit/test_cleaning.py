from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.domain.cleaning import (
    DEFAULT_RULES,
    INVISIBLE_CHARACTERS,
    CleaningRule,
    Transform,
    clean_payload,
    clean_text,
)


def test_the_2026_02_05_payment_id_loses_its_zero_width_space():
    # GIVEN a Douyin payment id with a trailing U+200B (bytes E2 80 8B)
    payload = {"data": {"channel_payment_no": "PAY20260205201500\u200b"}}
    # WHEN it is cleaned
    cleaned, applied = clean_payload(payload, "douyin")
    # THEN the character is gone and the rule that removed it is recorded with its path
    assert cleaned["data"]["channel_payment_no"] == "PAY20260205201500"
    assert [(rule.name, rule.version, rule.path) for rule in applied] == [
        ("strip-invisible", 1, "data.channel_payment_no")
    ]


@pytest.mark.parametrize("char", list(INVISIBLE_CHARACTERS))
def test_every_listed_invisible_character_is_removed(char):
    assert clean_text(f"12{char}34") == "1234"


def test_identifiers_are_folded_to_ascii_but_free_text_keeps_full_width_punctuation():
    payload = {
        "order_id": " １２３ＡＢ ",
        "sku_list": [{"sku_id": "ＳＫＵ－１"}],
        "remark": "请尽快发货，谢谢！",
    }
    cleaned, applied = clean_payload(payload, "douyin")
    assert cleaned["order_id"] == "123AB"
    assert cleaned["sku_list"][0]["sku_id"] == "SKU-1"
    assert cleaned["remark"] == "请尽快发货，谢谢！"
    assert {rule.path for rule in applied} == {"order_id", "sku_list[0].sku_id"}


def test_percent_encoded_invisible_characters_need_their_own_rule():
    payload = {"channel_payment_no": "PAY1%E2%80%8B"}
    cleaned, applied = clean_payload(payload, "douyin")
    assert cleaned == payload
    assert applied == ()
    rule = CleaningRule(
        name="douyin-pay-id-encoded-zwsp",
        version=1,
        transform=Transform.STRIP_PERCENT_ENCODED_INVISIBLE,
        fields=("*channel_payment_no",),
        platforms=("douyin",),
    )
    cleaned, applied = clean_payload(payload, "douyin", (*DEFAULT_RULES, rule))
    assert cleaned["channel_payment_no"] == "PAY1"
    assert applied[0].name == "douyin-pay-id-encoded-zwsp"
    # a rule scoped to one platform leaves the others alone
    assert clean_payload(payload, "shopify", (rule,))[0] == payload


def test_non_string_leaves_are_untouched():
    payload = {"order_status": 105, "paid": True, "amount": None, "items": [1, 2.5]}
    assert clean_payload(payload, "douyin") == (payload, ())


@given(st.text())
def test_cleaning_is_idempotent(text):
    once = clean_text(text)
    assert clean_text(once) == once
    assert not set(once) & set(INVISIBLE_CHARACTERS)


def test_rule_names_are_validated():
    with pytest.raises(ValueError, match="name"):
        CleaningRule(name="Bad Name!", version=1, transform=Transform.TRIM)
