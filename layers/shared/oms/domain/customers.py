"""One customer across platforms: identity links, duplicate-buyer scoring, standard tags.

Pure: no I/O, no clock, no keys. The phone hash is a function passed in (HMAC-SHA256 under a key
from Secrets Manager, built at the edge); the measures are defined precisely in ``docs/customers.md``.

Identity links are deterministic: the same WeChat unionid, the same platform account (open id or
buyer id within one platform app/shop) or the same complete phone number is the same person, and
joins automatically. Everything weaker (a masked phone, a similar address, the same items) only
raises a review item that a person decides.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rapidfuzz import fuzz

from oms.domain.errors import CustomerConfigInvalidError
from oms.domain.model import Order, Receiver

CUSTOMER_KEY_PREFIX = "c_"
PhoneHasher = Callable[[str], str]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- identity links


def customer_key_for(first_link: str) -> str:
    """The key a new customer gets: derived from its strongest link, so a retry derives the same one."""
    digest = hashlib.blake2b(first_link.encode(), digest_size=15).digest()
    return CUSTOMER_KEY_PREFIX + base64.b32encode(digest).decode().lower()


def is_customer_key(reference: str) -> bool:
    return reference.startswith(CUSTOMER_KEY_PREFIX) and len(reference) == len(CUSTOMER_KEY_PREFIX) + 24


_CN_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def usable_phone(phone: str | None) -> str | None:
    """A complete phone number in canonical form (``+86…`` / E.164), or None.

    Masked (``138****5678``), virtual (``…-1234`` extension numbers) or partial numbers are not
    usable as identity: two different people share a mask.
    """
    if not phone:
        return None
    text = unicodedata.normalize("NFKC", phone)
    compact = re.sub(r"[\s\-()]", "", text)
    if match := _CN_MOBILE.fullmatch(compact):
        return "+86" + match.group(1)
    if _E164.fullmatch(compact):
        return compact
    return None


def identity_links(order: Order, phone_hash: PhoneHasher | None) -> list[str]:
    """The order's deterministic identity links, strongest first (the first names a new customer).

    - ``union#<unionid>``: WeChat's unionid spans the mini-program, Channels and official accounts
      of one WeChat Open Platform account.
    - ``phone#<hmac>``: a complete receiver phone (see :func:`usable_phone`), keyed hash only.
    - ``acct#<platform>#<shop>#open|buyer#<id>``: a platform account; open ids are per app, so
      they link only within one platform and shop.
    """
    links: list[str] = []
    buyer = order.buyer
    if buyer.union_id:
        links.append(f"union#{buyer.union_id}")
    phone = usable_phone(order.receiver.phone if order.receiver else None)
    if phone is not None and phone_hash is not None:
        links.append(f"phone#{phone_hash(phone)}")
    if buyer.open_id:
        links.append(f"acct#{order.platform}#{order.shop_id}#open#{buyer.open_id}")
    if buyer.buyer_id:
        links.append(f"acct#{order.platform}#{order.shop_id}#buyer#{buyer.buyer_id}")
    return links


def link_kind(link: str) -> str:
    return link.split("#", 1)[0]


# --------------------------------------------------------------------------- masked phones


def phone_pattern(phone: str | None) -> str | None:
    """A delivered phone as digits and ``*`` (NFKC, formatting dropped), or None if it shows < 4 digits."""
    if not phone:
        return None
    text = unicodedata.normalize("NFKC", phone)
    if text.startswith("+86"):
        text = text[3:]
    pattern = "".join(char for char in text if char.isdigit() or char == "*")
    return pattern if sum(char.isdigit() for char in pattern) >= 4 else None


def phone_tail(phone: str | None) -> str | None:
    """The last four digits when the number shows them (every platform's mask keeps them)."""
    pattern = phone_pattern(phone)
    if pattern is None or not pattern[-4:].isdigit():
        return None
    return pattern[-4:]


def same_phone(first: str | None, second: str | None) -> bool:
    """Could two delivered (possibly masked) phones be the same number?

    Same length, and every position where both show a digit shows the same digit (at least the
    last four, which every mask keeps). Symmetric by construction.
    """
    a, b = phone_pattern(first), phone_pattern(second)
    if a is None or b is None or len(a) != len(b):
        return False
    if phone_tail(a) is None or phone_tail(a) != phone_tail(b):
        return False
    return all(x == y for x, y in zip(a, b, strict=True) if x != "*" and y != "*")


# --------------------------------------------------------------------------- Chinese addresses

#: Longest first, so 广西壮族自治区 loses the whole suffix, not only 区.
PROVINCE_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)
CITY_SUFFIXES = ("自治州", "地区", "市", "盟")
DISTRICT_SUFFIXES = ("自治县", "新区", "区", "县", "市", "旗")
MUNICIPALITIES = ("北京", "上海", "天津", "重庆")
_SEPARATORS = re.compile(r"[\s,，、.。·\-—_/]+")
_SPLIT = re.compile(
    r"^(?P<province>.+?(?:维吾尔自治区|壮族自治区|回族自治区|特别行政区|自治区|省)|"
    + "|".join(f"{city}(?:市)?" for city in MUNICIPALITIES)
    + r")?(?P<city>.+?(?:自治州|地区|市|盟))?(?P<district>.+?(?:自治县|新区|区|县|市|旗))?(?P<rest>.*)$"
)


def _fold(text: str | None) -> str:
    if not text:
        return ""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))


def _strip_suffix(name: str, suffixes: Sequence[str]) -> str:
    for suffix in suffixes:
        # Keep at least two characters: 市中区 stays 市中, not 市中 → 市.
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


class NormalisedAddress(_Frozen):
    province: str = ""
    city: str = ""
    district: str = ""
    rest: str = ""

    def text(self) -> str:
        return "".join((self.province, self.city, self.district, self.rest))


def normalise_address(
    province: str | None = None,
    city: str | None = None,
    district: str | None = None,
    rest: str | None = None,
) -> NormalisedAddress:
    """NFKC (全角 → 半角), separators and spaces dropped, administrative suffixes cut.

    When no region comes as a field, the regions are split off the front of ``rest``
    (``广东省深圳市南山区科技园`` → 广东 / 深圳 / 南山 / 科技园). A municipality's city repeats its
    province (上海市上海市) and is dropped.
    """
    parts = {"province": _fold(province), "city": _fold(city), "district": _fold(district)}
    remainder = _fold(rest)
    if remainder and not any(parts.values()):
        # The whole address came as one string: split the regions off its front.
        match = _SPLIT.match(remainder)
        if match is not None:
            parts = {key: match.group(key) or "" for key in ("province", "city", "district")}
            remainder = match.group("rest")
    for key, suffixes in (
        ("province", PROVINCE_SUFFIXES),
        ("city", CITY_SUFFIXES),
        ("district", DISTRICT_SUFFIXES),
    ):
        full = parts[key]
        parts[key] = _strip_suffix(full, suffixes)
        # A region repeated at the front of the detail (as buyers type it) is dropped.
        for form in (full, parts[key]):
            if form and remainder.startswith(form):
                remainder = remainder[len(form) :]
                break
    if parts["province"] in MUNICIPALITIES and parts["city"] in (parts["province"], "市辖"):
        parts["city"] = ""
    return NormalisedAddress(
        province=parts["province"], city=parts["city"], district=parts["district"], rest=remainder
    )


def receiver_address(receiver: Receiver | None) -> NormalisedAddress | None:
    """The receiver's address as delivered (masked parts included), normalised; None when absent."""
    if receiver is None:
        return None
    rest = "".join(part for part in (receiver.street, receiver.detail) if part)
    address = normalise_address(receiver.province, receiver.city, receiver.district, rest)
    return address if address.text() else None


def address_similarity(first: NormalisedAddress, second: NormalisedAddress) -> float:
    """rapidfuzz ``fuzz.ratio`` (normalised Indel similarity) of the normalised texts, 0..1.

    Symmetric; two empty addresses are not similar (0.0): nothing is known.
    """
    a, b = first.text(), second.text()
    if not a or not b:
        return 0.0
    return float(fuzz.ratio(a, b)) / 100.0


# --------------------------------------------------------------------------- items


def item_keys(order: Order) -> frozenset[str]:
    """What an order bought, comparable across platforms: the merchant's SKU code where given."""
    return frozenset((line.out_sku_id or line.sku_id) for line in order.lines if line.quantity > 0)


def item_overlap(first: Iterable[str], second: Iterable[str]) -> float:
    """The overlap (Szymkiewicz–Simpson) coefficient |A ∩ B| / min(|A|, |B|); 0.0 if either is empty."""
    a, b = frozenset(first), frozenset(second)
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# --------------------------------------------------------------------------- the duplicate-buyer rule


class DuplicateRule(_Frozen):
    """Thresholds of the duplicate-buyer rule; a finding records the version it was made under.

    A pair of orders of two *different* customers is proposed for review when **all** hold: the
    phones may be the same number (:func:`same_phone`) and the orders were placed within
    ``phone_window_seconds``; address similarity is strictly above ``address_threshold``; item
    overlap is strictly above ``item_threshold``.
    """

    version: int = Field(default=1, ge=1)
    phone_window_seconds: int = Field(default=7200, gt=0, le=30 * 86400)
    address_threshold: float = Field(default=0.85, ge=0.0, lt=1.0)
    item_threshold: float = Field(default=0.60, ge=0.0, lt=1.0)

    @classmethod
    def parse(cls, text: str | None) -> DuplicateRule:
        """The rule from its JSON configuration (empty: the defaults)."""
        if not text:
            return cls()
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            raise CustomerConfigInvalidError(
                "the duplicate-buyer rule does not validate",
                errors=[f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()],
            ) from error


class OrderFacts(_Frozen):
    """What the rule compares about one order (read from the order as stored)."""

    order_id: str
    customer_key: str
    placed_at: datetime
    phone: str | None = Field(default=None, repr=False)
    address: NormalisedAddress | None = Field(default=None, repr=False)
    items: frozenset[str] = frozenset()

    @classmethod
    def of(cls, order: Order, customer_key: str) -> OrderFacts:
        return cls(
            order_id=order.order_id,
            customer_key=customer_key,
            placed_at=order.placed_at or order.paid_at or order.created_at,
            phone=order.receiver.phone if order.receiver else None,
            address=receiver_address(order.receiver),
            items=item_keys(order),
        )


class DuplicateScores(_Frozen):
    minutes_apart: float
    same_phone: bool
    address_similarity: float
    item_overlap: float


class DuplicateFinding(_Frozen):
    """A pair the rule proposes for review (never merged without a person)."""

    pair_id: str
    customers: tuple[str, str]
    orders: tuple[str, str]
    rule_version: int
    scores: DuplicateScores


def pair_id(first: str, second: str) -> str:
    """One id per unordered pair of customers (a rejected pair is never proposed again)."""
    low, high = sorted((first, second))
    return "p_" + hashlib.blake2b(f"{low}|{high}".encode(), digest_size=12).hexdigest()


def score(first: OrderFacts, second: OrderFacts) -> DuplicateScores:
    """The three measures of a pair; symmetric in its arguments."""
    apart = abs((first.placed_at - second.placed_at).total_seconds()) / 60.0
    similarity = (
        address_similarity(first.address, second.address)
        if first.address is not None and second.address is not None
        else 0.0
    )
    return DuplicateScores(
        minutes_apart=apart,
        same_phone=same_phone(first.phone, second.phone),
        address_similarity=similarity,
        item_overlap=item_overlap(first.items, second.items),
    )


def evaluate(rule: DuplicateRule, first: OrderFacts, second: OrderFacts) -> DuplicateFinding | None:
    """A finding when the pair of orders of two different customers meets every threshold."""
    if first.customer_key == second.customer_key:
        return None
    scores = score(first, second)
    if not (
        scores.same_phone
        and scores.minutes_apart * 60 <= rule.phone_window_seconds
        and scores.address_similarity > rule.address_threshold
        and scores.item_overlap > rule.item_threshold
    ):
        return None
    low, high = sorted((first, second), key=lambda facts: facts.customer_key)
    return DuplicateFinding(
        pair_id=pair_id(low.customer_key, high.customer_key),
        customers=(low.customer_key, high.customer_key),
        orders=(low.order_id, high.order_id),
        rule_version=rule.version,
        scores=scores,
    )


def window(rule: DuplicateRule, placed_at: datetime) -> tuple[datetime, datetime]:
    span = timedelta(seconds=rule.phone_window_seconds)
    return placed_at - span, placed_at + span


# --------------------------------------------------------------------------- platform fields as tags

TagTarget = Literal["order", "customer", "both"]
STANDARD_TAGS = (
    "source.channel",  # live | short_video | note | search | ...
    "source.note_url",
    "source.live_room_id",
    "source.video_id",
    "source.author_id",
    "promo.coupon_ids",
    "promo.campaign_id",
)


class TagRule(_Frozen):
    """One platform field → one standard tag; ``values`` translates codes (``{"1": "live"}``)."""

    platform: str
    field: str = Field(min_length=1)
    tag: str
    applies_to: TagTarget = "both"
    values: dict[str, str] = Field(default_factory=dict)
    template: str | None = None  # e.g. "https://www.xiaohongshu.com/explore/{value}"
    constant: str | None = None  # the tag's value whenever the field is present (room id → channel "live")
    #: Values that mean "none" (Douyin sends room_id 0 for an order not placed in a live room).
    ignore: tuple[str, ...] = ("0",)

    @model_validator(mode="after")
    def _known_tag(self) -> TagRule:
        if self.tag not in STANDARD_TAGS:
            raise ValueError(f"unknown standard tag {self.tag!r}")
        if self.template is not None and "{value}" not in self.template:
            raise ValueError("template must contain {value}")
        return self


class TagMapping(_Frozen):
    version: int = Field(ge=1)
    rules: tuple[TagRule, ...]

    @classmethod
    def parse(cls, text: str | bytes) -> TagMapping:
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            raise CustomerConfigInvalidError(
                "the platform tag mapping does not validate",
                errors=[f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()],
            ) from error

    def apply(self, platform: str, tags: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """(order tags, customer tags) in standard names, from an order's platform tags.

        A code not in ``values`` (when ``values`` is given) is dropped rather than guessed.
        """
        on_order: dict[str, str] = {}
        on_customer: dict[str, str] = {}
        for rule in self.rules:
            if rule.platform != platform or not (raw := tags.get(rule.field)) or raw in rule.ignore:
                continue
            value = rule.constant or (rule.values.get(raw) if rule.values else raw)
            if value is None:
                continue
            if rule.template is not None and rule.constant is None:
                value = rule.template.format(value=value)
            if rule.applies_to in ("order", "both"):
                on_order.setdefault(rule.tag, value)
            if rule.applies_to in ("customer", "both"):
                on_customer.setdefault(rule.tag, value)
        return on_order, on_customer


# --------------------------------------------------------------------------- records


class CustomerProfile(_Frozen):
    key: str
    created_at: datetime
    merged_into: str | None = None
    merge_id: str | None = None
    #: Every customer merged into this one (transitively): their timelines are this one's too.
    members: frozenset[str] = frozenset()
    tags: dict[str, str] = Field(default_factory=dict)
    platforms: frozenset[str] = frozenset()


class _Stored(_Frozen):
    """A record stored as one JSON ``body`` (plus the attributes conditions and updates touch)."""

    def as_item(self) -> dict[str, str]:
        return {"body": self.model_dump_json(exclude_none=True)}


TimelineKind = Literal["order_placed", "status_changed", "after_sale", "order_changed"]


class TimelineEntry(_Stored):
    """One stored order change on a customer's time axis."""

    at: datetime
    kind: TimelineKind
    change_id: str
    order_id: str
    platform: str
    shop_id: str
    platform_order_id: str
    version: int
    event_type: str
    status_before: str | None = None
    status_after: str
    refund_before: str | None = None
    refund_after: str
    total_amount: str | None = None
    currency: str = "CNY"
    tags: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_item(cls, item: Mapping[str, object]) -> TimelineEntry:
        return cls.model_validate_json(str(item["body"]))

    @classmethod
    def of(
        cls,
        order: Order,
        *,
        change_id: str,
        at: datetime,
        event_type: str,
        status_before: str | None,
        refund_before: str | None,
        tags: Mapping[str, str],
    ) -> TimelineEntry:
        if status_before is None:
            kind: TimelineKind = "order_placed"
        elif refund_before != str(order.refund_status):
            kind = "after_sale"
        elif status_before != str(order.status):
            kind = "status_changed"
        else:
            kind = "order_changed"
        return cls(
            at=at,
            kind=kind,
            change_id=change_id,
            order_id=order.order_id,
            platform=str(order.platform),
            shop_id=order.shop_id,
            platform_order_id=order.platform_order_id,
            version=order.version,
            event_type=event_type,
            status_before=status_before,
            status_after=str(order.status),
            refund_before=refund_before,
            refund_after=str(order.refund_status),
            total_amount=None if order.total_amount is None else str(order.total_amount),
            currency=order.currency,
            tags=dict(tags),
        )


ReviewStatus = Literal["open", "merged", "rejected", "same_already"]


class ReviewItem(_Stored):
    """A pair the duplicate rule proposed, and what a person decided."""

    pair_id: str
    customers: tuple[str, str]
    orders: tuple[str, str]
    rule_version: int
    scores: DuplicateScores
    created_at: datetime
    status: ReviewStatus = "open"
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None
    merge_id: str | None = None

    def as_item(self) -> dict[str, str]:
        return {"body": self.model_dump_json(exclude_none=True), "status": self.status}

    @classmethod
    def from_item(cls, item: Mapping[str, object]) -> ReviewItem:
        decided = {
            key: item[key]
            for key in ("status", "decided_by", "decided_at", "note", "merge_id")
            if item.get(key)
        }
        return cls.model_validate({**json.loads(str(item["body"])), **decided})

    @classmethod
    def of(cls, finding: DuplicateFinding, created_at: datetime) -> ReviewItem:
        return cls(
            pair_id=finding.pair_id,
            customers=finding.customers,
            orders=finding.orders,
            rule_version=finding.rule_version,
            scores=finding.scores,
            created_at=created_at,
        )


class MergeRecord(_Stored):
    """``merged`` (and ``moved``: it and every customer merged into it) went into ``survivor``."""

    merge_id: str
    survivor: str
    merged: str
    moved: tuple[str, ...]
    by: str
    why: str
    at: datetime
    automatic: bool = False
    review_id: str | None = None
    undone_at: datetime | None = None
    undone_by: str | None = None
    undo_note: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, object]) -> MergeRecord:
        undo = {key: item[key] for key in ("undone_at", "undone_by", "undo_note") if item.get(key)}
        return cls.model_validate({**json.loads(str(item["body"])), **undo})
