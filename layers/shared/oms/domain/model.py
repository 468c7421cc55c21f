"""The canonical order event and the order aggregate it builds.

Platform adapters turn every push or pulled snapshot into an :class:`OrderEvent`; the state
machine (:mod:`oms.domain.state_machine`) folds events into an :class:`Order`. Times are UTC and
timezone-aware; money is ``Decimal`` in major units (yuan) with the currency's minor units.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field, model_validator

from oms.domain.errors import PaymentParseError
from oms.domain.ids import unified_order_id
from oms.domain.status import REFUND_RANK, STATUS_RANK, OrderStatus, RefundStatus


class Platform(StrEnum):
    DOUYIN = "douyin"
    SHOPIFY = "shopify"
    WECHAT_CHANNELS = "wechat_channels"
    WECHAT_MINI = "wechat_mini"
    XIAOHONGSHU = "xiaohongshu"
    KUAISHOU = "kuaishou"
    PINDUODUO = "pinduoduo"
    TAOBAO = "taobao"
    WOOCOMMERCE = "woocommerce"


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
NonEmptyId = Annotated[str, Field(min_length=1, max_length=128)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class OrderLine(_Frozen):
    line_id: NonEmptyId
    sku_id: NonEmptyId
    out_sku_id: str | None = None  # the merchant's own SKU code, where the platform carries it
    quantity: int = Field(ge=0)
    unit_price: Decimal | None = None
    title: str | None = None


class BuyerRef(_Frozen):
    """Platform buyer identifiers as delivered (open ids are per-app pseudonyms, not PII)."""

    buyer_id: str | None = None
    open_id: str | None = None
    union_id: str | None = None


class Receiver(_Frozen):
    """Receiver data exactly as the platform delivers it: masked or encrypted, never decrypted.

    Fields are excluded from ``repr`` so that a logged model never prints them.
    """

    name: str | None = Field(default=None, repr=False)
    phone: str | None = Field(default=None, repr=False)
    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = Field(default=None, repr=False)
    detail: str | None = Field(default=None, repr=False)
    encrypted: dict[str, str] = Field(default_factory=dict, repr=False)
    masked: bool = True


class AppliedRule(_Frozen):
    """A cleaning rule that changed the payload, and where."""

    name: str
    version: int
    path: str


class Cohort(StrEnum):
    """The side of a cleaning rule's canary rollout an order falls on."""

    CANARY = "canary"  # the rule's new version applies to this order
    BASELINE = "baseline"  # it does not (the previous version, or no version, applies)


class RolloutMark(_Frozen):
    """Which side of a running canary an event was processed on, so the two sides can be compared.

    ``bucket`` is the order's stable position (0-99) for this rule: the order is in the canary
    while ``bucket < percentage``, so raising the percentage only ever adds orders to it.
    """

    rule_id: str
    version: int = Field(ge=1)
    cohort: Cohort
    bucket: int = Field(ge=0, le=99)


class EventKey(_Frozen):
    """Orders events of one dimension: event time first, then the rank of the status it carries."""

    at: UtcDatetime
    rank: int

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, EventKey):
            return NotImplemented
        return (self.at, self.rank) < (other.at, other.rank)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, EventKey):
            return NotImplemented
        return (self.at, self.rank) > (other.at, other.rank)


class EventSource(StrEnum):
    PUSH = "push"
    POLL = "poll"
    RECONCILE = "reconcile"
    OPERATOR = "operator"


class OrderEvent(_Frozen):
    """One fact about one platform order, in canonical form."""

    event_id: NonEmptyId
    platform: Platform
    shop_id: NonEmptyId
    platform_order_id: NonEmptyId
    event_type: str
    event_time: UtcDatetime
    source: EventSource = EventSource.PUSH
    status: OrderStatus
    refund_status: RefundStatus = RefundStatus.NONE
    #: False when the source cannot see every refund state (WeChat's mini-program ``get_order``
    #: shows a full refund but not a partial or pending one): its ``refund_status`` is then no fact
    #: about refunds and never overwrites one.
    refund_known: bool = True
    platform_status: str
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    total_amount: Decimal | None = None
    paid_amount: Decimal | None = None
    shipping_amount: Decimal | None = None
    payment_id: str | None = None
    placed_at: UtcDatetime | None = None
    paid_at: UtcDatetime | None = None
    lines: tuple[OrderLine, ...] = ()
    buyer: BuyerRef = Field(default_factory=BuyerRef)
    receiver: Receiver | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    cleaning: tuple[AppliedRule, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def order_id(self) -> str:
        return unified_order_id(self.platform, self.shop_id, self.platform_order_id)

    @property
    def status_key(self) -> EventKey:
        return EventKey(at=self.event_time, rank=STATUS_RANK[self.status])

    @property
    def refund_key(self) -> EventKey:
        return EventKey(at=self.event_time, rank=REFUND_RANK[self.refund_status])

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        # ``order_id`` is derived; accept it in serialised input but never trust it.
        if isinstance(data, dict) and "order_id" in data:
            data = {key: value for key, value in data.items() if key != "order_id"}
        return data


class Order(_Frozen):
    """The canonical order: the fold of every applied event."""

    order_id: str
    platform: Platform
    shop_id: str
    platform_order_id: str
    status: OrderStatus
    refund_status: RefundStatus
    platform_status: str
    status_key: EventKey
    refund_key: EventKey
    version: int = Field(ge=1)
    currency: str = "CNY"
    total_amount: Decimal | None = None
    paid_amount: Decimal | None = None
    shipping_amount: Decimal | None = None
    payment_id: str | None = None
    placed_at: UtcDatetime | None = None
    paid_at: UtcDatetime | None = None
    lines: tuple[OrderLine, ...] = ()
    buyer: BuyerRef = Field(default_factory=BuyerRef)
    receiver: Receiver | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    last_event_id: str
    created_at: UtcDatetime
    updated_at: UtcDatetime

    def with_changes(self, **changes: Any) -> Self:
        return self.model_copy(update=changes)


class Outcome(StrEnum):
    CREATED = "created"  # first event of an order
    APPLIED = "applied"  # changed the order
    STALE = "stale"  # older than (or as old as) what the order already reflects
    REGRESSION = "regression"  # newer, but would move the order backwards: ignored
    FORBIDDEN = "forbidden"  # newer, but a transition the rules forbid: ignored, flagged
    DUPLICATE = "duplicate"  # the same event id was already recorded

    @property
    def changes_order(self) -> bool:
        return self in (Outcome.CREATED, Outcome.APPLIED)


class ForceMode(StrEnum):
    """How an operator's forced status change is checked."""

    VALIDATED = "validated"  # only a transition the rules allow
    SKIP_VALIDATION = "skip_validation"  # any canonical status (never an unknown one)


class OperatorMark(_Frozen):
    """Who forced a status change, how and why (the audit record rides on the history entry)."""

    actor: str = Field(min_length=1, max_length=2048)
    mode: ForceMode
    reason: str = Field(min_length=1, max_length=500)
    request_id: str | None = None


class HistoryEntry(_Frozen):
    """One event as the order's history records it, applied or not."""

    order_id: str
    event_id: str
    event_type: str
    source: EventSource
    event_time: UtcDatetime
    received_at: UtcDatetime
    recorded_at: UtcDatetime
    outcome: Outcome
    platform_status: str
    status_before: OrderStatus | None = None
    status_after: OrderStatus | None = None
    refund_before: RefundStatus | None = None
    refund_after: RefundStatus | None = None
    event_status: OrderStatus
    event_refund_status: RefundStatus
    version_after: int | None = None
    reason: str | None = None
    trace_id: str | None = None
    raw_location: str | None = None
    cleaning: tuple[AppliedRule, ...] = ()
    #: The revision of the operators' rule set the event was cleaned with (None: built-in rules only).
    ruleset_revision: int | None = None
    #: Set while a canary rule ran on the event's platform: which side of it the event was on.
    rollout: RolloutMark | None = None
    #: Set on an operator's forced change (source ``operator``): the audit record.
    operator: OperatorMark | None = None


class Stage(StrEnum):
    """Where in the pipeline a message was when something happened to it."""

    INTAKE = "intake"
    DECODE = "decode"
    CLEAN = "clean"
    FETCH = "fetch"
    PARSE = "parse"
    APPLY = "apply"


class FailureRecord(_Frozen):
    """A message that failed, with what an operator needs to find, fix and replay it."""

    trace_id: str
    platform: Platform | None  # None when the queue message was not even a readable envelope
    stage: Stage
    code: str
    message: str
    occurred_at: UtcDatetime
    order_ref: str | None = None  # platform:shop:platform_order_id, as far as it is known
    message_id: str | None = None  # the queue message id
    receive_count: int = 1
    raw_location: str | None = None
    details: dict[str, str] = Field(default_factory=dict)
    #: When intake received the message (None when the queue message was not readable).
    received_at: UtcDatetime | None = None
    #: How many times the message had been redriven from the DLQ before this attempt.
    redrive: int = Field(default=0, ge=0)
    ruleset_revision: int | None = None
    rollout: RolloutMark | None = None
    #: The platform's order snapshot (JSON, possibly cut short) when the failure came after a fetch.
    fetched: str | None = None

    @property
    def attempt_key(self) -> str:
        """Sorts attempts in the order they happened: redrive run first, then the receive count."""
        return f"{self.redrive:02d}.{self.receive_count:04d}"


PAYMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"


def parse_payment_id(value: object, *, field: str = "payment_id") -> str | None:
    """A platform payment / transaction id, or ``None`` when absent.

    Raises ``PaymentParseError`` (``PAY_PARSE_ERR``) for anything but 1-64 ASCII letters,
    digits, ``_`` and ``-``: a payment id that does not parse is never stored half-understood.
    """
    if value is None or value == "":
        return None
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not re.fullmatch(PAYMENT_ID_PATTERN, text):
        raise PaymentParseError(f"{field} is not a valid payment id", field=field, value=ascii(value)[:80])
    return text
