"""Settlement entries: what each order (and each payout) does to the merchant's account at a channel.

The account is the merchant's balance *at the platform* (Douyin, WeChat Channels, …), reported
to finance like a bank account: a sale credits it, the platform's commission and fees debit it,
a refund or chargeback debits it, a payout to the merchant's bank debits it. ``docs/settlements.md``
explains the model for finance; ``docs/decisions.md`` D50-D59 the choices.

Entries are a pure function of the order as it stands after a change (:func:`order_entries`),
never of the transition, so a change processed twice, late or out of order implies the same
entries. Each entry has a deterministic id and is written once (a conditional put): the set of
entries only grows, and what a statement was built from can be built again.

Two statuses, as camt.053 knows them:

- ``PDNG`` (pending): the sale is captured, the platform holds the money until the order settles.
- ``BOOK`` (booked): the order settled (completed, closed, cancelled after payment, refunded),
  or the platform reported the settlement itself. A settled order has both its pending and its
  booked entries; a statement of pending items lists only those not booked by the month's end.

Money is ``Decimal`` quantised to the currency's ISO 4217 minor units; amounts are never floats.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from oms.domain.errors import BadRequestError, SchemaInvalidError
from oms.domain.model import Order, Platform
from oms.domain.money import minor_units, quantize
from oms.domain.status import OrderStatus, RefundStatus

#: Statements are cut at China midnight (UTC+8, no daylight saving): the merchants' books are there.
STATEMENT_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

#: Order tags where a platform reports the settlement itself (WeChat Channels ``settle_info``).
REPORTED_COMMISSION_TAG = "settle_info.commission_fee"
REPORTED_SETTLE_TIME_TAG = "settle_info.settle_time"

NO_COMPONENT = "-"


class EntryKind(StrEnum):
    SALE = "SALE"
    COMMISSION = "COMMISSION"  # one entry per fee component (commission, payment fee, …)
    COMMISSION_REVERSAL = "COMMISSION_REVERSAL"  # fees the platform returns when it refunds
    REFUND = "REFUND"
    CHARGEBACK = "CHARGEBACK"
    PAYOUT = "PAYOUT"
    ADJUSTMENT = "ADJUSTMENT"  # platform-reported settlement minus the computed one


class EntryStatus(StrEnum):
    BOOK = "BOOK"
    PDNG = "PDNG"


class Direction(StrEnum):
    CRDT = "CRDT"
    DBIT = "DBIT"


class EntrySource(StrEnum):
    COMPUTED = "computed"  # from the order and the channel's fee rules
    PLATFORM = "platform"  # from the platform's own settlement report
    OPERATOR = "operator"  # recorded through the API (payouts, chargebacks)


@dataclass(frozen=True, slots=True)
class BankTransactionCode:
    """ISO 20022 bank transaction code (ExternalBankTransaction{Domain,Family,SubFamily}1Code)."""

    domain: str
    family: str
    sub_family: str


#: The standard codes each kind is reported with (docs/settlements.md says why each).
BANK_TRANSACTION_CODES: Mapping[tuple[EntryKind, Direction], BankTransactionCode] = {
    (EntryKind.SALE, Direction.CRDT): BankTransactionCode("PMNT", "MCRD", "POSP"),
    (EntryKind.COMMISSION, Direction.DBIT): BankTransactionCode("PMNT", "MCRD", "COMM"),
    (EntryKind.COMMISSION_REVERSAL, Direction.CRDT): BankTransactionCode("PMNT", "MCRD", "CAJT"),
    (EntryKind.REFUND, Direction.DBIT): BankTransactionCode("PMNT", "MCRD", "DAJT"),
    (EntryKind.CHARGEBACK, Direction.DBIT): BankTransactionCode("PMNT", "MCRD", "DAJT"),
    (EntryKind.PAYOUT, Direction.DBIT): BankTransactionCode("PMNT", "ICDT", "DMCT"),
    (EntryKind.ADJUSTMENT, Direction.DBIT): BankTransactionCode("PMNT", "MCRD", "DAJT"),
    (EntryKind.ADJUSTMENT, Direction.CRDT): BankTransactionCode("PMNT", "MCRD", "CAJT"),
}


def _non_negative(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("amount must be a finite, non-negative decimal")
    return value


Amount = Annotated[Decimal, AfterValidator(_non_negative)]


class SettlementEntry(BaseModel):
    """One movement on the merchant's account at a channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``{base_id}#{status}``: deterministic, so a replay writes the same entry (and is refused).
    entry_id: str = Field(min_length=1, max_length=400)
    #: What the entry is about, status aside: the pending and the booked entry of a sale share it.
    base_id: str = Field(min_length=1, max_length=396)
    channel: Platform
    shop_id: str
    currency: str = Field(min_length=3, max_length=3)
    kind: EntryKind
    component: str = NO_COMPONENT
    direction: Direction
    amount: Amount
    status: EntryStatus
    booking_date: date
    value_date: date
    order_id: str | None = None
    platform_order_id: str | None = None
    #: The platform's transaction id (payment id, refund id, payout id), else the platform order id.
    reference: str = Field(min_length=1, max_length=128)
    label: str = Field(min_length=1, max_length=140)
    source: EntrySource = EntrySource.COMPUTED
    fee_rule_version: int | None = None
    #: For a platform-reported amount: what the fee rules computed, and what the platform said.
    computed_amount: Decimal | None = None
    reported_amount: Decimal | None = None
    #: The order change (or API request) that recorded it, for the audit trail.
    recorded_by: str
    recorded_at: datetime

    @property
    def signed_amount(self) -> Decimal:
        return self.amount if self.direction is Direction.CRDT else -self.amount

    @property
    def bank_transaction_code(self) -> BankTransactionCode:
        return BANK_TRANSACTION_CODES[(self.kind, self.direction)]

    @property
    def entry_ref(self) -> str:
        """A unique reference of at most 35 characters (camt.053 ``NtryRef``)."""
        return "E" + hashlib.sha256(self.entry_id.encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- fee rules


class FeeComponent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    component: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    rate: Decimal = Field(ge=0, le=1)
    #: A fixed amount per sale, by currency (Shopify's 0.30 USD); other currencies pay none.
    fixed: dict[str, Decimal] = Field(default_factory=dict)
    label: str = Field(min_length=1, max_length=100)

    def amount(self, sale: Decimal, currency: str) -> Decimal:
        return quantize(sale * self.rate + self.fixed.get(currency, Decimal(0)), currency)


class FeeRuleVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    effective_from: date
    fees: tuple[FeeComponent, ...]


class FeeRules(BaseModel):
    """Every channel's fee rule versions (``oms/data/fee_rules.json``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    channels: dict[Platform, tuple[FeeRuleVersion, ...]]

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        try:
            rules = cls.model_validate_json(text)
        except ValidationError as exc:
            raise SchemaInvalidError("fee rules do not validate", field=_location(exc)) from None
        for channel, versions in rules.channels.items():
            numbers = [version.version for version in versions]
            starts = [version.effective_from for version in versions]
            if numbers != sorted(set(numbers)) or starts != sorted(set(starts)):
                raise SchemaInvalidError(
                    "fee rule versions must increase with their effective dates", field=str(channel)
                )
        return rules

    def version_for(self, channel: Platform, on: date) -> FeeRuleVersion | None:
        """The rule version in force on ``on`` (None: the channel charges nothing we know of)."""
        current = None
        for version in self.channels.get(channel, ()):
            if version.effective_from <= on:
                current = version
        return current


def _location(exc: ValidationError) -> str:
    errors = exc.errors()
    return ".".join(str(part) for part in errors[0]["loc"]) if errors else "fee_rules"


# --------------------------------------------------------------------------- entries from orders


def china_date(moment: datetime) -> date:
    return moment.astimezone(STATEMENT_TZ).date()


def order_entries(
    order: Order, rules: FeeRules, *, recorded_by: str, recorded_at: datetime
) -> list[SettlementEntry]:
    """Every entry the order implies as it stands now (the consumer writes those not yet written).

    - Captured (paid, with an amount): the sale (credit) and each fee (debit), pending.
    - Settled (completed or closed, cancelled after payment, refunded in full, or the platform
      reported its settlement): the same, booked on the settlement day; if refunded in full, the
      refund (debit) and the fees' reversal (credit) too.
    - Reported by the platform (WeChat ``settle_info.commission_fee``): an adjustment for the
      reported commission minus the computed one, when they differ: the report wins.

    Partial refunds carry no amount in the canonical order yet, so they are not booked here
    (docs/settlements.md, "What is not covered").
    """
    captured = _captured(order)
    if captured is None:
        return []
    captured_at, sale = captured
    currency = order.currency.upper()
    sale = quantize(sale, currency)
    captured_on = china_date(captured_at)
    rule = rules.version_for(order.platform, captured_on)
    fees = [(fee, fee.amount(sale, currency)) for fee in (rule.fees if rule else ())]
    reference = order.payment_id or order.platform_order_id
    common: dict[str, Any] = {
        "channel": order.platform,
        "shop_id": order.shop_id,
        "currency": currency,
        "order_id": order.order_id,
        "platform_order_id": order.platform_order_id,
        "reference": reference,
        "recorded_by": recorded_by,
        "recorded_at": recorded_at,
    }
    base = f"ORDER#{order.order_id}"

    def entry(
        kind: EntryKind,
        direction: Direction,
        amount: Decimal,
        *,
        status: EntryStatus,
        on: date,
        label: str,
        component: str = NO_COMPONENT,
        **extra: Any,
    ) -> SettlementEntry:
        base_id = f"{base}#{kind}#{component}"
        return SettlementEntry(
            entry_id=f"{base_id}#{status}",
            base_id=base_id,
            kind=kind,
            component=component,
            direction=direction,
            amount=amount,
            status=status,
            booking_date=on,
            value_date=on,
            label=label[:140],
            fee_rule_version=rule.version if rule and kind is not EntryKind.SALE else None,
            **common,
            **extra,
        )

    number = order.platform_order_id

    def sale_and_fees(status: EntryStatus, on: date) -> list[SettlementEntry]:
        made = [entry(EntryKind.SALE, Direction.CRDT, sale, status=status, on=on, label=f"Sale {number}")]
        made += [
            entry(
                EntryKind.COMMISSION,
                Direction.DBIT,
                amount,
                status=status,
                on=on,
                label=f"{fee.label} {number}",
                component=fee.component,
            )
            for fee, amount in fees
            if amount > 0
        ]
        return made

    entries = sale_and_fees(EntryStatus.PDNG, captured_on)
    refunded = order.refund_status is RefundStatus.REFUNDED or order.status is OrderStatus.CANCELLED
    reported = _reported_commission(order, currency)
    settled_at = _settled_at(order, refunded, reported is not None)
    if settled_at is None:
        return entries
    booked: dict[str, Any] = {"status": EntryStatus.BOOK, "on": max(china_date(settled_at), captured_on)}
    entries += sale_and_fees(**booked)
    net_fees = sum((amount for _, amount in fees), Decimal(0))
    if refunded:
        entries.append(entry(EntryKind.REFUND, Direction.DBIT, sale, label=f"Refund {number}", **booked))
        entries += [
            entry(
                EntryKind.COMMISSION_REVERSAL,
                Direction.CRDT,
                amount,
                label=f"{fee.label} returned {number}",
                component=fee.component,
                **booked,
            )
            for fee, amount in fees
            if amount > 0
        ]
        net_fees = Decimal(0)
    if reported is not None and reported != net_fees:
        difference = reported - net_fees
        entries.append(
            entry(
                EntryKind.ADJUSTMENT,
                Direction.DBIT if difference > 0 else Direction.CRDT,
                abs(difference),
                label=f"Platform-reported commission {number}",
                component="reported_commission",
                source=EntrySource.PLATFORM,
                computed_amount=net_fees,
                reported_amount=reported,
                **booked,
            )
        )
    return entries


def _captured(order: Order) -> tuple[datetime, Decimal] | None:
    """When the sale was captured and for how much, or None for an unpaid order.

    Platforms that give no payment time (Shopify) but report a paid amount on a paid order were
    captured when the order was placed.
    """
    if order.paid_at is not None:
        sale = order.paid_amount if order.paid_amount is not None else order.total_amount
        captured_at = order.paid_at
    elif order.paid_amount is not None and order.status is not OrderStatus.PENDING_PAYMENT:
        sale, captured_at = order.paid_amount, order.placed_at or order.created_at
    else:
        return None
    return (captured_at, sale) if sale is not None and sale > 0 else None


def _reported_commission(order: Order, currency: str) -> Decimal | None:
    text = order.tags.get(REPORTED_COMMISSION_TAG)
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise SchemaInvalidError(
            "reported commission is not a decimal", field=REPORTED_COMMISSION_TAG
        ) from None
    if not amount.is_finite() or amount < 0:
        raise SchemaInvalidError("reported commission is out of range", field=REPORTED_COMMISSION_TAG)
    return quantize(amount, currency, field=REPORTED_COMMISSION_TAG)


def _settled_at(order: Order, refunded: bool, reported: bool) -> datetime | None:
    """When the order settled, or None while the platform still holds the money."""
    if reported:
        settle_time = order.tags.get(REPORTED_SETTLE_TIME_TAG)
        if settle_time:
            try:
                return datetime.fromisoformat(settle_time).astimezone(UTC)
            except ValueError:
                raise SchemaInvalidError(
                    "settle time is not ISO 8601", field=REPORTED_SETTLE_TIME_TAG
                ) from None
    if refunded and order.refund_status is RefundStatus.REFUNDED:
        return order.refund_key.at
    if order.status in (OrderStatus.COMPLETED, OrderStatus.CLOSED, OrderStatus.CANCELLED):
        return order.status_key.at
    return order.status_key.at if reported else None


class ManualEntryRequest(BaseModel):
    """A payout or chargeback an operator records (``POST /settlements/entries``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal[EntryKind.PAYOUT, EntryKind.CHARGEBACK]
    channel: Platform
    shop_id: str = Field(min_length=1, max_length=128)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    amount: str = Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,5})?$")
    reference: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-./]{0,63}$")
    booked_on: date
    order_id: str | None = Field(default=None, max_length=300)
    label: str | None = Field(default=None, max_length=140)

    def to_entry(self, *, recorded_by: str, recorded_at: datetime) -> SettlementEntry:
        amount = quantize(Decimal(self.amount), self.currency, field="amount")
        if amount <= 0 or amount != Decimal(self.amount):
            raise BadRequestError(
                f"amount must be positive with at most {minor_units(self.currency)} decimals", field="amount"
            )
        base_id = f"{self.kind}#{self.channel}#{self.reference}"
        label = (
            self.label
            or f"{'Payout to bank' if self.kind is EntryKind.PAYOUT else 'Chargeback'} {self.reference}"
        )
        return SettlementEntry(
            entry_id=f"{base_id}#{EntryStatus.BOOK}",
            base_id=base_id,
            channel=self.channel,
            shop_id=self.shop_id,
            currency=self.currency,
            kind=self.kind,
            direction=Direction.DBIT,
            amount=amount,
            status=EntryStatus.BOOK,
            booking_date=self.booked_on,
            value_date=self.booked_on,
            order_id=self.order_id,
            reference=self.reference,
            label=label,
            source=EntrySource.OPERATOR,
            recorded_by=recorded_by,
            recorded_at=recorded_at,
        )


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``yyyy-mm``; BadRequestError for anything else."""
        try:
            year, month = (int(part) for part in text.split("-"))
            date(year, month, 1)
        except (ValueError, TypeError):
            raise BadRequestError("month must be yyyy-mm", field="month") from None
        if len(text) != 7 or year < 2000:
            raise BadRequestError("month must be yyyy-mm", field="month")
        return cls(year, month)

    @classmethod
    def previous_of(cls, moment: datetime) -> Month:
        """The month before the China calendar month ``moment`` falls in (the monthly run's target)."""
        first = china_date(moment).replace(day=1)
        before = first - timedelta(days=1)
        return cls(before.year, before.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.first_day, time(0, 0), STATEMENT_TZ)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.last_day, time(23, 59, 59), STATEMENT_TZ)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def compact(self) -> str:
        return f"{self.year:04d}{self.month:02d}"


@dataclass(frozen=True, slots=True)
class StatementAccount:
    """The merchant's account at a channel, as ``Acct/Id/Othr`` names it."""

    account_id: str  # Max34Text
    scheme: str = "PLATFORM-MERCHANT-ID"
    issuer: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Statement:
    """One camt.053 statement: a month, a channel, a currency, a status."""

    month: Month
    channel: Platform
    currency: str
    status: EntryStatus
    account: StatementAccount
    opening: Decimal
    entries: tuple[SettlementEntry, ...]
    #: Deterministic creation time: the latest ``recorded_at`` the statement depends on.
    created_at: datetime

    @property
    def statement_id(self) -> str:
        return f"{self.channel.upper()}-{self.currency}-{self.month.compact}-{self.status}"

    @property
    def sequence_number(self) -> int:
        """``ElctrncSeqNb``: increases by one each month (yyyy × 12 + mm)."""
        return self.month.year * 12 + self.month.month

    @property
    def credits(self) -> Decimal:
        return sum((e.amount for e in self.entries if e.direction is Direction.CRDT), Decimal(0))

    @property
    def debits(self) -> Decimal:
        return sum((e.amount for e in self.entries if e.direction is Direction.DBIT), Decimal(0))

    @property
    def closing(self) -> Decimal:
        return quantize(self.opening + self.credits - self.debits, self.currency)

    @property
    def digest(self) -> str:
        """A hash of everything the document says: equal digests, equal documents."""
        content = json.dumps(
            {
                "id": self.statement_id,
                "account": [self.account.account_id, self.account.scheme, self.account.issuer],
                "opening": str(self.opening),
                "entries": [
                    entry.model_dump(mode="json", exclude={"recorded_at", "recorded_by"})
                    for entry in self.entries
                ],
            },
            sort_keys=True,
        )
        return hashlib.sha256(content.encode("utf-8")).hexdigest()

    @property
    def message_id(self) -> str:
        """``GrpHdr/MsgId``: unique per content, stable across identical regenerations."""
        return "OMS" + self.digest[:32]


def build_statements(
    month: Month,
    channel: Platform,
    entries: Iterable[SettlementEntry],
    *,
    account: StatementAccount,
    currencies: Sequence[str] = (),
) -> list[Statement]:
    """The booked and pending statements of a month for every currency the channel used.

    ``entries`` are the channel's entries booked up to the month's end (any earlier month
    included: the booked statement's opening balance is the sum of everything booked before).
    ``currencies`` are always reported, even without activity (a statement with equal opening
    and closing balances).

    - Booked: entries ``BOOK`` dated in the month; opening = every ``BOOK`` entry before it,
      i.e. the previous month's closing balance.
    - Pending: entries ``PDNG`` dated up to the month's end that were not booked by then (the open
      items at the end of the month); opening 0, so the closing balance is what is still pending.
    """
    by_currency: dict[str, list[SettlementEntry]] = {currency: [] for currency in currencies}
    for entry in entries:
        if entry.channel is not channel:
            raise ValueError("an entry of another channel")
        if entry.booking_date <= month.last_day:
            by_currency.setdefault(entry.currency, []).append(entry)
    statements: list[Statement] = []
    for currency in sorted(by_currency):
        items = by_currency[currency]
        booked = [e for e in items if e.status is EntryStatus.BOOK]
        booked_ids = {e.base_id for e in booked}
        in_month = sorted(
            (e for e in booked if e.booking_date >= month.first_day),
            key=lambda e: (e.booking_date, e.entry_id),
        )
        opening = quantize(
            sum((e.signed_amount for e in booked if e.booking_date < month.first_day), Decimal(0)), currency
        )
        pending = sorted(
            (e for e in items if e.status is EntryStatus.PDNG and e.base_id not in booked_ids),
            key=lambda e: (e.booking_date, e.entry_id),
        )
        for status, listed, opening_balance, depends_on in (
            (EntryStatus.BOOK, in_month, opening, booked),
            (EntryStatus.PDNG, pending, Decimal(0), items),
        ):
            created = max((e.recorded_at for e in depends_on), default=month.ends_at)
            statements.append(
                Statement(
                    month=month,
                    channel=channel,
                    currency=currency,
                    status=status,
                    account=account,
                    opening=quantize(opening_balance, currency),
                    entries=tuple(listed),
                    created_at=created.astimezone(UTC),
                )
            )
    return statements
