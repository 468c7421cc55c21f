"""The pure customer measures: phones, Chinese addresses, item overlap, the duplicate rule, tag mapping."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.domain.customers import (
    DuplicateRule,
    OrderFacts,
    TagMapping,
    address_similarity,
    evaluate,
    identity_links,
    item_overlap,
    normalise_address,
    pair_id,
    phone_pattern,
    same_phone,
    score,
    usable_phone,
)
from oms.domain.errors import CustomerConfigInvalidError
from oms.domain.model import BuyerRef, Order, Platform, Receiver
from oms.domain.status import OrderStatus, RefundStatus

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CHINESE = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), min_size=2, max_size=8)
ADDRESS = st.tuples(
    CHINESE, CHINESE, CHINESE, st.text(alphabet="路号栋单元室0123456789", min_size=1, max_size=10)
)


def to_fullwidth(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("８６１３８１２３４５６７８", "+8613812345678"),  # full-width digits (NFKC)
        ("+14155550123", "+14155550123"),
        ("138****5678", None),
        ("*******5678", None),
        ("12345", None),
        ("", None),
        (None, None),
    ],
)
def test_only_complete_numbers_are_usable_as_identity(phone: str | None, expected: str | None):
    assert usable_phone(phone) == expected


def test_masks_of_one_number_match_and_masks_of_different_tails_do_not():
    assert same_phone("138****5678", "*******5678")
    assert same_phone("138****5678", "13812345678")
    assert not same_phone("138****5678", "139****5678")  # a shown digit differs
    assert not same_phone("138****5678", "138****5679")
    assert not same_phone("138****5678", "38****5678")  # another length
    assert not same_phone("****", "****")  # no digits shown
    assert not same_phone(None, "138****5678")


PHONES = st.builds(
    lambda digits, mask: "".join(
        "*" if masked else digit for digit, masked in zip(digits, mask, strict=True)
    ),
    st.text(alphabet="0123456789", min_size=11, max_size=11),
    st.lists(st.booleans(), min_size=11, max_size=11).map(lambda mask: mask[:7] + [False] * 4),
)


@given(PHONES, PHONES)
def test_same_phone_is_symmetric(first: str, second: str):
    assert same_phone(first, second) == same_phone(second, first)


@given(PHONES)
def test_a_phone_is_the_same_as_itself_whatever_its_formatting(phone: str):
    assert same_phone(phone, to_fullwidth(" ".join([phone[:3], phone[3:7], phone[7:]])))
    assert phone_pattern(phone) == phone


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("广东省", "深圳市", "南山区", "科技园路1号"), ("广东", "深圳", "南山", "科技园路1号")),
        (("广东省", "深圳市", "南山区", "科技园路1号"), (None, None, None, "广东省深圳市南山区科技园路１号")),
        (("广东省", "深圳市", "南山区", "科技园路1号"), ("广东省 ", " 深圳市", "南山区", "科技园路 1 号")),
        (("上海市", "上海市", "浦东新区", "张江路88号"), (None, None, None, "上海浦东张江路88号")),
        (("广西壮族自治区", "南宁市", "青秀区", "民族大道1号"), ("广西", "南宁", "青秀", "民族大道1号")),
        (
            ("新疆维吾尔自治区", "乌鲁木齐市", "天山区", "解放北路1号"),
            ("新疆", "乌鲁木齐", "天山", "解放北路1号"),
        ),
        (("四川省", "甘孜藏族自治州", "康定市", "向阳街1号"), ("四川", "甘孜藏族", "康定", "向阳街1号")),
        (("广东省", "深圳市", "南山区", "南山区科技园路1号"), ("广东", "深圳", "南山", "科技园路1号")),
    ],
)
def test_variants_of_one_chinese_address_normalise_alike(first: tuple, second: tuple):
    a, b = normalise_address(*first), normalise_address(*second)
    assert a.text() == b.text()
    assert address_similarity(a, b) == 1.0


def test_short_region_names_keep_their_suffix_character():
    # 市中区 (Jinan) minus 区 is 市中; never cut to a single character
    assert normalise_address("山东省", "济南市", "市中区", "经十路1号").district == "市中"
    assert normalise_address("北京市", "北京市", "东城区", "1号").city == ""


def test_different_addresses_score_low():
    a = normalise_address("广东省", "深圳市", "南山区", "科技园路1号")
    b = normalise_address("浙江省", "杭州市", "西湖区", "文三路99号")
    assert address_similarity(a, b) < 0.3
    assert address_similarity(a, normalise_address()) == 0.0


@given(ADDRESS, ADDRESS)
def test_address_similarity_is_symmetric_and_bounded(first: tuple, second: tuple):
    a, b = normalise_address(*first), normalise_address(*second)
    assert address_similarity(a, b) == address_similarity(b, a)
    assert 0.0 <= address_similarity(a, b) <= 1.0


@given(
    ADDRESS,
    st.sampled_from(["省", "市", "自治区"]),
    st.sampled_from(["市", "地区"]),
    st.sampled_from(["区", "县"]),
)
def test_suffixes_widths_and_spaces_do_not_change_an_address(parts: tuple, p: str, c: str, d: str):
    province, city, district, rest = parts
    plain = normalise_address(province, city, district, rest)
    decorated = normalise_address(
        f" {province}{p}", f"{city}{c} ", f"{district}{d}", " ".join(to_fullwidth(rest))
    )
    assert unicodedata.normalize("NFKC", decorated.text()) == decorated.text()
    assert address_similarity(plain, decorated) == 1.0


# --------------------------------------------------------------------------- items


def test_item_overlap_is_the_overlap_coefficient():
    assert item_overlap({"a"}, {"a", "b", "c"}) == 1.0  # a reorder of one item from a basket
    assert item_overlap({"a", "b"}, {"b", "c"}) == 0.5
    assert item_overlap(set(), {"a"}) == 0.0


@given(st.frozensets(st.sampled_from("abcdefg")), st.frozensets(st.sampled_from("abcdefg")))
def test_item_overlap_is_symmetric_and_bounded(a: frozenset, b: frozenset):
    assert item_overlap(a, b) == item_overlap(b, a)
    assert 0.0 <= item_overlap(a, b) <= 1.0


# --------------------------------------------------------------------------- the rule


def facts(
    key: str, *, minutes: float = 0, phone: str = "138****5678", rest: str = "科技园路1号", items=("a",)
):
    return OrderFacts(
        order_id=f"o-{key}-{minutes}",
        customer_key=key,
        placed_at=T0 + timedelta(minutes=minutes),
        phone=phone,
        address=normalise_address("广东", "深圳", "南山", rest),
        items=frozenset(items),
    )


RULE = DuplicateRule()


def test_the_rule_proposes_a_pair_that_meets_every_threshold():
    finding = evaluate(RULE, facts("c_b", minutes=60), facts("c_a"))
    assert finding is not None
    assert finding.customers == ("c_a", "c_b")
    assert finding.pair_id == pair_id("c_b", "c_a")
    assert finding.rule_version == RULE.version


def test_the_time_window_edge_is_inclusive():
    assert evaluate(RULE, facts("c_a"), facts("c_b", minutes=120)) is not None
    assert evaluate(RULE, facts("c_a"), facts("c_b", minutes=120.02)) is None


def test_the_similarity_thresholds_are_strict():
    a, b = (
        facts("c_a", rest="科技园路1号", items=("a", "b")),
        facts("c_b", rest="科技园路2号", items=("b", "c")),
    )
    measured = score(a, b)
    assert measured.item_overlap == 0.5
    assert 0.85 < measured.address_similarity < 1.0
    at_edges = DuplicateRule(address_threshold=measured.address_similarity, item_threshold=0.5)
    assert evaluate(at_edges, a, b) is None
    assert (
        evaluate(at_edges.model_copy(update={"item_threshold": 0.4999}), a, b) is None
    )  # address still at its edge
    below = DuplicateRule(address_threshold=measured.address_similarity - 1e-9, item_threshold=0.4999)
    assert evaluate(below, a, b) is not None


def test_one_customer_is_never_its_own_duplicate_and_other_phones_are_not_duplicates():
    assert evaluate(RULE, facts("c_a"), facts("c_a", minutes=5)) is None
    assert evaluate(RULE, facts("c_a"), facts("c_b", phone="139****5678")) is None
    assert evaluate(RULE, facts("c_a"), facts("c_b", items=("z",))) is None
    assert evaluate(RULE, facts("c_a"), facts("c_b", rest="滨海大道3333号腾讯大厦")) is None


@given(
    st.floats(min_value=0, max_value=300),
    st.frozensets(st.sampled_from("abcd"), min_size=1),
    st.frozensets(st.sampled_from("abcd"), min_size=1),
    st.text(alphabet="科技园路号一二三123", min_size=1, max_size=12),
)
def test_scores_and_findings_are_symmetric(minutes: float, a_items, b_items, rest: str):
    a, b = facts("c_a", items=a_items), facts("c_b", minutes=minutes, items=b_items, rest=rest)
    assert score(a, b) == score(b, a)
    assert evaluate(RULE, a, b) == evaluate(RULE, b, a)


def test_the_rule_configuration_is_validated_with_a_typed_error():
    assert DuplicateRule.parse("") == DuplicateRule()
    assert DuplicateRule.parse('{"version": 2, "item_threshold": 0.7}').item_threshold == 0.7
    with pytest.raises(CustomerConfigInvalidError) as raised:
        DuplicateRule.parse('{"version": 0, "address_threshold": 1.5, "surprise": 1}')
    assert len(raised.value.details["errors"]) == 3


# --------------------------------------------------------------------------- links and tags


def order(**changes) -> Order:
    base = Order(
        order_id="o_x",
        platform=Platform.WECHAT_CHANNELS,
        shop_id="shop",
        platform_order_id="1",
        status=OrderStatus.PAID,
        refund_status=RefundStatus.NONE,
        platform_status="20",
        status_key={"at": T0, "rank": 1},
        refund_key={"at": T0, "rank": 0},
        version=1,
        last_event_id="e",
        created_at=T0,
        updated_at=T0,
    )
    return base.with_changes(**changes)


def test_links_are_strongest_first_and_the_phone_only_as_a_keyed_hash():
    links = identity_links(
        order(buyer=BuyerRef(open_id="o1", union_id="u1"), receiver=Receiver(phone="13812345678")),
        lambda text: f"H({text})",
    )
    assert links == ["union#u1", "phone#H(+8613812345678)", "acct#wechat_channels#shop#open#o1"]
    masked = identity_links(order(receiver=Receiver(phone="138****5678")), lambda text: "h")
    assert masked == []


def test_the_tag_mapping_is_validated_data():
    mapping = TagMapping.parse(
        '{"version": 1, "rules": [{"platform": "douyin", "field": "room_id", "tag": "source.live_room_id"}]}'
    )
    assert mapping.apply("douyin", {"room_id": "0"}) == ({}, {})  # Douyin's "no live room"
    assert mapping.apply("douyin", {"room_id": "7"}) == (
        {"source.live_room_id": "7"},
        {"source.live_room_id": "7"},
    )
    with pytest.raises(CustomerConfigInvalidError):
        TagMapping.parse('{"version": 1, "rules": [{"platform": "douyin", "field": "x", "tag": "made.up"}]}')
