"""Payload inspection: what hides in a payload is shown as escapes, names and UTF-8 bytes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from oms.domain.inspection import MAX_OFFSETS, inspect_bytes, inspect_text


def test_the_incident_payment_id_shows_its_zero_width_space_and_bytes():
    # GIVEN the payment id as Douyin's iOS SDK sent it: a raw U+200B at the end
    found = inspect_text("PAY20260205201500\u200b")
    # THEN the escape, the name and the bytes E2 80 8B are shown
    assert found.escaped == "PAY20260205201500\\u{200B}"
    (char,) = found.characters
    assert (char.code_point, char.name, char.utf8, char.kind, char.invisible) == (
        "U+200B",
        "ZERO WIDTH SPACE",
        "E2 80 8B",
        "format",
        True,
    )
    assert char.offsets == (17,)
    assert found.suspicious


def test_a_percent_encoded_zero_width_space_is_flagged_as_an_encoded_invisible_character():
    found = inspect_text('{"channel_payment_no":"PAY1%E2%80%8B"}')
    assert found.characters == ()  # nothing unusual to the eye: it is all ASCII
    (encoded,) = found.encoded
    assert (encoded.text, encoded.encoding, encoded.decodes_to, encoded.utf8, encoded.name) == (
        "%E2%80%8B",
        "percent",
        "U+200B",
        "E2 80 8B",
        "ZERO WIDTH SPACE",
    )
    assert found.suspicious


def test_json_escaped_invisibles_are_flagged_and_visible_escapes_are_not():
    found = inspect_text(json.dumps({"a": "x\u200by", "b": "张三", "c": "\U0001f600"}))  # ensure_ascii
    assert [item.text for item in found.encoded] == ["\\u200b"]
    assert found.characters == ()


def test_encoded_sequences_next_to_visible_or_broken_ones_are_still_found():
    found = inspect_text("a%E4%B8%AD%E2%80%8B%FF%EF%BB%BFb")  # 中, ZWSP, a stray byte, BOM
    assert [(item.text, item.decodes_to) for item in found.encoded] == [
        ("%E2%80%8B", "U+200B"),
        ("%EF%BB%BF", "U+FEFF"),
    ]


def test_visible_non_ascii_is_escaped_but_not_suspicious():
    found = inspect_text("收货人: 张三")
    assert found.escaped.startswith("\\u{6536}\\u{8D27}\\u{4EBA}: ")
    assert {item.kind for item in found.characters} == {"visible"}
    assert not found.suspicious


def test_bytes_that_are_not_utf8_are_shown_as_bytes():
    found = inspect_bytes(b"ok\xff\xfe")
    assert found.escaped == "ok\\x{FF}\\x{FE}"
    assert [(item.code_point, item.kind, item.utf8) for item in found.characters] == [
        ("0xFF", "invalid_utf8", "FF"),
        ("0xFE", "invalid_utf8", "FE"),
    ]
    assert found.bytes_total == 4


def test_controls_have_names_and_repeated_characters_are_counted_once():
    found = inspect_text("a\nb\nc\t" + "\u00a0" * (MAX_OFFSETS + 5))
    by_point = {item.code_point: item for item in found.characters}
    assert by_point["U+000A"].name == "LINE FEED"
    assert by_point["U+000A"].count == 2
    assert by_point["U+00A0"].count == MAX_OFFSETS + 5
    assert len(by_point["U+00A0"].offsets) == MAX_OFFSETS
    assert by_point["U+00A0"].kind == "space"


@given(st.text(max_size=200))
def test_the_escaped_form_is_printable_ascii_and_lists_every_unusual_character(text: str):
    found = inspect_text(text)
    assert all(" " <= char <= "~" for char in found.escaped)
    unusual = {char for char in text if not " " <= char <= "~"}
    assert len(found.characters) == len(unusual)
    assert sum(item.count for item in found.characters) == sum(1 for char in text if char in unusual)
