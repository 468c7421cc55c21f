"""The return chain and the return code: canonical form, hashing, verification, MAC truncation.

Properties: verification of an untouched chain always passes; any single alteration, removal or
swap of stored events is detected, at the event it touched.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms.domain.errors import ReturnCodeInvalidError
from oms.domain.return_chain import (
    GENESIS,
    Anchor,
    AnchorStatus,
    CanonicalFormError,
    LinkProblem,
    StoredLink,
    canonical_json,
    digest_root,
    link_hash,
    verify_chain,
)
from oms.domain.returns import (
    CODE_LENGTH,
    CROCKFORD,
    Flag,
    ReturnLine,
    ScanKind,
    code_matches,
    gap_rule,
    issue_code,
    mask_name,
    new_return_id,
    normalise_code,
    parse_code,
    scan_flags,
    scan_signature,
)

KEY = b"k" * 64
LINES = (ReturnLine(line_id="L1", sku_id="SKU-1", quantity=2),)

# --------------------------------------------------------------------------- canonical form


def test_canonical_json_sorts_keys_and_drops_whitespace_like_jcs():
    assert canonical_json({"b": 1, "a": [True, None, "é"], "c": {"z": "x", "y": 0}}) == (
        '{"a":[true,null,"é"],"b":1,"c":{"y":0,"z":"x"}}'.encode()
    )


@pytest.mark.parametrize("value", [1.5, {"gps": 30.1}, [float("nan")], {1: "x"}, {"at": datetime.now(UTC)}])
def test_values_without_one_canonical_spelling_are_refused(value: Any):
    with pytest.raises(CanonicalFormError):
        canonical_json(value)


def test_a_link_hash_is_sha256_of_the_canonical_event_then_the_previous_hash():
    event = {"seq": 1, "kind": "opened"}
    expected = hashlib.sha256(b'{"kind":"opened","seq":1}' + bytes(32)).hexdigest()
    assert link_hash(event, GENESIS) == expected


# --------------------------------------------------------------------------- chains

events = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["pickup", "receipt", "gap_detected"]),
            "data": st.dictionaries(
                st.text(min_size=1, max_size=8),
                st.one_of(st.text(max_size=12), st.integers(-(10**6), 10**6), st.booleans(), st.none()),
                max_size=4,
            ),
        }
    ),
    min_size=1,
    max_size=8,
)


def build(bodies: list[dict[str, Any]]) -> list[StoredLink]:
    links, previous = [], GENESIS
    for position, body in enumerate(bodies, start=1):
        event = {"seq": position, "return_id": "0123456789", **body}
        digest = link_hash(event, previous)
        links.append(StoredLink(position, event, digest, previous))
        previous = digest
    return links


@settings(max_examples=200, deadline=None)
@given(events)
def test_an_untouched_chain_always_verifies(bodies: list[dict[str, Any]]):
    links = build(bodies)
    head = links[-1]
    anchor = Anchor(head.position, head.hash, "returns/digests/d.json", "2026-11-24", "root")
    result = verify_chain(links, head.position, head.hash, anchor)
    assert result.intact
    assert result.ok
    assert result.broken is None
    assert result.events_checked == len(links)
    assert result.anchor_status == AnchorStatus.MATCHES


@settings(max_examples=300, deadline=None)
@given(events, st.data())
def test_any_single_alteration_is_detected_at_the_altered_event(
    bodies: list[dict[str, Any]], data: st.DataObject
):
    links = build(bodies)
    index = data.draw(st.integers(0, len(links) - 1))
    target = links[index]
    what = data.draw(st.sampled_from(["field", "hash", "previous_hash", "unreadable"]))
    assert target.event is not None
    if what == "field":
        event = json.loads(json.dumps(target.event))
        event["data"] = {**event["data"], "tampered": data.draw(st.text(max_size=5))}
        altered = StoredLink(target.position, event, target.hash, target.previous_hash)
    elif what == "hash":
        altered = StoredLink(
            target.position,
            target.event,
            "f" * 64 if target.hash != "f" * 64 else "e" * 64,
            target.previous_hash,
        )
    elif what == "previous_hash":
        altered = StoredLink(target.position, target.event, target.hash, "a" * 64)
    else:
        altered = StoredLink(target.position, None, target.hash, target.previous_hash)
    tampered = [*links[:index], altered, *links[index + 1 :]]
    head = links[-1]
    result = verify_chain(tampered, head.position, head.hash)
    assert not result.intact
    assert result.broken is not None
    assert (result.broken.seq, result.broken.problem) == (target.position, LinkProblem.ALTERED)


@settings(max_examples=200, deadline=None)
@given(events, st.data())
def test_an_event_rewritten_together_with_its_hash_is_named_by_the_next_link(
    bodies: list[dict[str, Any]], data: st.DataObject
):
    links = build(bodies)
    head = links[-1]
    index = data.draw(st.integers(0, len(links) - 1))
    target = links[index]
    assert target.event is not None
    event = {**target.event, "data": {"rewritten": True}}
    rehashed = StoredLink(
        target.position, event, link_hash(event, target.previous_hash), target.previous_hash
    )
    tampered = [*links[:index], rehashed, *links[index + 1 :]]
    # The head is only as good as the table: the anchored digest is what catches a rewritten tail.
    anchor = Anchor(head.position, head.hash, "returns/digests/d.json", "2026-11-24", "root")
    head_hash = rehashed.hash if index == len(links) - 1 else head.hash
    result = verify_chain(tampered, head.position, head_hash, anchor)
    if index < len(links) - 1:
        assert result.broken is not None
        assert (result.broken.seq, result.broken.problem) == (target.position, LinkProblem.ALTERED)
    assert result.anchor_status == AnchorStatus.MISMATCH
    assert not result.ok


@settings(max_examples=200, deadline=None)
@given(events, st.data())
def test_any_single_removal_is_detected_at_the_missing_event(
    bodies: list[dict[str, Any]], data: st.DataObject
):
    links = build(bodies)
    index = data.draw(st.integers(0, len(links) - 1))
    head = links[-1]
    result = verify_chain([*links[:index], *links[index + 1 :]], head.position, head.hash)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.problem) == (index + 1, LinkProblem.REMOVED)


@settings(max_examples=200, deadline=None)
@given(events.filter(lambda bodies: len(bodies) >= 2), st.data())
def test_any_swap_of_two_stored_events_is_detected_as_reordered(
    bodies: list[dict[str, Any]], data: st.DataObject
):
    links = build(bodies)
    first = data.draw(st.integers(0, len(links) - 2))
    second = data.draw(st.integers(first + 1, len(links) - 1))
    swapped = list(links)
    # The items keep their keys (positions); their contents trade places.
    a, b = links[first], links[second]
    swapped[first] = StoredLink(a.position, b.event, b.hash, b.previous_hash)
    swapped[second] = StoredLink(b.position, a.event, a.hash, a.previous_hash)
    head = links[-1]
    result = verify_chain(swapped, head.position, head.hash)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.problem) == (first + 1, LinkProblem.REORDERED)


def test_an_event_beyond_the_head_is_reported_as_inserted():
    links = build([{"kind": "pickup", "data": {}}, {"kind": "receipt", "data": {}}])
    result = verify_chain(links, 1, links[0].hash)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.problem) == (2, LinkProblem.INSERTED)


def test_the_digest_root_does_not_depend_on_the_order_heads_are_listed():
    heads = [{"return_id": "B", "seq": 2, "hash": "b"}, {"return_id": "A", "seq": 1, "hash": "a"}]
    assert digest_root(heads) == digest_root(list(reversed(heads)))


# --------------------------------------------------------------------------- codes


def test_a_code_is_19_crockford_characters_and_checks_against_its_order_and_lines():
    return_id = new_return_id(bytes(range(7)))
    code = issue_code(KEY, "1", return_id, "order-1", LINES)
    assert len(code) == CODE_LENGTH == 19
    assert set(code) <= set(CROCKFORD)
    parsed = parse_code(code)
    assert (parsed.key_version, parsed.return_id) == ("1", return_id)
    assert code_matches(KEY, parsed, "order-1", LINES)
    # Bound to the order and lines: the same code does not check for another order or other lines
    assert not code_matches(KEY, parsed, "order-2", LINES)
    assert not code_matches(KEY, parsed, "order-1", (ReturnLine(line_id="L1", sku_id="SKU-1", quantity=3),))
    assert not code_matches(b"x" * 64, parsed, "order-1", LINES)


def test_codes_read_from_a_label_are_normalised_as_crockford_allows():
    code = issue_code(KEY, "1", new_return_id(b"\xff" * 7), "order-1", LINES)
    sloppy = "-".join((code[:5], code[5:10], code[10:])).lower().replace("0", "o").replace("1", "l")
    assert normalise_code(sloppy) == code
    assert parse_code(sloppy).code == code


@pytest.mark.parametrize("text", ["", "R123", "U" * 19, "0" * 20, "!" * 19])
def test_malformed_codes_are_refused(text: str):
    with pytest.raises(ReturnCodeInvalidError):
        parse_code(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=7, max_size=7), st.integers(0, 7), st.sampled_from(CROCKFORD))
def test_changing_any_mac_character_breaks_the_code(seed: bytes, position: int, replacement: str):
    code = issue_code(KEY, "1", new_return_id(seed), "order-1", LINES)
    mac_index = 11 + position
    forged = code[:mac_index] + replacement + code[mac_index + 1 :]
    assert code_matches(KEY, parse_code(forged), "order-1", LINES) == (forged == code)


# --------------------------------------------------------------------------- rules


def test_scan_flags_mark_what_is_doubtful_without_refusing_it():
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert scan_flags(ScanKind.PICKUP, 0, 0, now, now) == []
    assert scan_flags(ScanKind.PICKUP, 1, 0, now, now) == [Flag.SECOND_PICKUP]
    assert scan_flags(ScanKind.RECEIPT, 0, 0, now, now) == [Flag.RECEIPT_WITHOUT_PICKUP]
    assert scan_flags(ScanKind.RECEIPT, 1, 1, now - timedelta(hours=1), now) == [
        Flag.SECOND_RECEIPT,
        Flag.DEVICE_CLOCK_SKEW,
    ]


def test_the_72_hour_rule():
    pickup = datetime(2026, 11, 24, tzinfo=UTC)
    assert gap_rule(pickup, None, pickup + timedelta(hours=72)) is None
    assert gap_rule(pickup, None, pickup + timedelta(hours=72, seconds=1)) == Flag.NO_RECEIPT_72H
    assert gap_rule(pickup, pickup + timedelta(hours=71), pickup + timedelta(hours=200)) is None
    assert (
        gap_rule(pickup, pickup + timedelta(hours=73), pickup + timedelta(hours=73)) == Flag.LATE_RECEIPT_72H
    )


def test_names_are_masked_for_customers():
    assert [mask_name(name) for name in ("Wang Lei", "李", "", "王小明")] == ["W******", "*", "", "王**"]


def test_a_scan_signature_covers_method_path_time_and_body():
    base = scan_signature(b"key", "POST", "/returns/X/scans", "1700000000", b"{}")
    assert base != scan_signature(b"key", "POST", "/returns/Y/scans", "1700000000", b"{}")
    assert base != scan_signature(b"key", "POST", "/returns/X/scans", "1700000001", b"{}")
    assert base != scan_signature(b"key", "POST", "/returns/X/scans", "1700000000", b"{ }")
    assert len(base) == 64
