"""Stock math: counters, movements, ledger entries and reservations (pure; docs/inventory.md).

A :class:`StockLevel` is one SKU in one warehouse. Every change to it is a :class:`Movement`
(a reason, a reference and the deltas of ``on_hand`` and ``reserved``); :func:`apply` turns a
level and its movements into the next level and one :class:`LedgerEntry` per movement, with the
before/after values the entry records. :func:`apply` refuses any movement that would break an
invariant, so the adapter only writes what this module accepted, and its write conditions
re-check the same invariants against what is stored:

- ``on_hand >= 0`` and ``reserved >= 0``;
- ``reserved <= on_hand`` (nothing is promised that is not in the warehouse);
- the ledger sums to the counters (each entry's ``after`` is the next entry's ``before``).

Reservations belong to an order line. A line holds at most one reservation; the reservation's
state only moves forward (:data:`TRANSITIONS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from oms.domain.errors import InsufficientStockError, InventoryInvalidError

#: The hold of an unpaid order's reservation when its channel has no setting of its own.
DEFAULT_HOLD = timedelta(minutes=30)


class Reason(StrEnum):
    """Why a counter moved (a ledger entry's ``reason``)."""

    RECEIPT = "receipt"  # goods arrived: on_hand +
    ADJUSTMENT = "adjustment"  # stock count, damage, transfer: on_hand ±
    RESERVE = "reserve"  # an unpaid order line holds stock: reserved +
    RELEASE = "release"  # the order was cancelled/closed/refunded before payment: reserved -
    EXPIRE = "expire"  # the hold ran out unpaid (the sweeper): reserved -
    DEDUCT = "deduct"  # paid: the held units leave the stock: on_hand -, reserved -
    DEDUCT_UNRESERVED = "deduct_unreserved"  # paid without (or after) a hold: on_hand -
    RESTOCK = "restock"  # refunded after payment but before shipment: on_hand +
    BUCKET_ALLOCATE = "bucket_allocate"  # units handed to a hot SKU's buckets: reserved +
    BUCKET_RETURN = "bucket_return"  # unused bucket units given back: reserved -
    BUCKET_DEDUCT = "bucket_deduct"  # a bucket hold was paid: on_hand -, reserved -


class ReservationState(StrEnum):
    HELD = "held"
    CONVERTED = "converted"  # paid: deducted from on_hand
    RELEASED = "released"
    EXPIRED = "expired"
    RESTOCKED = "restocked"  # converted, then refunded before shipment


#: The only moves a reservation makes; anything else is a duplicate or a late message.
TRANSITIONS: Mapping[ReservationState, frozenset[ReservationState]] = {
    ReservationState.HELD: frozenset(
        {ReservationState.CONVERTED, ReservationState.RELEASED, ReservationState.EXPIRED}
    ),
    ReservationState.CONVERTED: frozenset({ReservationState.RESTOCKED}),
    ReservationState.RELEASED: frozenset(),
    ReservationState.EXPIRED: frozenset(),
    ReservationState.RESTOCKED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Incoming:
    """Stock on its way: a purchase order or a transfer, with the day it is expected."""

    quantity: int
    expected: date
    reference: str = ""


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One SKU in one warehouse. ``seq`` counts the ledger entries written so far."""

    sku: str
    warehouse: str
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    seq: int = 0
    incoming: tuple[Incoming, ...] = ()

    @property
    def available(self) -> int:
        """What a new reservation may take."""
        return self.on_hand - self.reserved

    @property
    def key(self) -> tuple[str, str]:
        return (self.sku, self.warehouse)

    def incoming_within(self, days: float, today: date) -> int:
        """Units expected to arrive within ``days`` of ``today`` (overdue ones count)."""
        horizon = today + timedelta(days=days)
        return sum(item.quantity for item in self.incoming if item.expected <= horizon)

    @property
    def incoming_total(self) -> int:
        return sum(item.quantity for item in self.incoming)


@dataclass(frozen=True, slots=True)
class Movement:
    reason: Reason
    reference: str
    on_hand_delta: int = 0
    reserved_delta: int = 0


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement as recorded: the ledger of a level replays to its counters."""

    sku: str
    warehouse: str
    seq: int
    reason: Reason
    reference: str
    on_hand_delta: int
    reserved_delta: int
    on_hand_before: int
    reserved_before: int
    on_hand_after: int
    reserved_after: int


def check_invariants(level: StockLevel) -> None:
    if level.on_hand < 0 or level.reserved < 0 or level.reserved > level.on_hand:
        raise InventoryInvalidError(
            "stock invariant broken",
            sku=level.sku,
            warehouse=level.warehouse,
            on_hand=level.on_hand,
            reserved=level.reserved,
        )


def apply(level: StockLevel, movements: Sequence[Movement]) -> tuple[StockLevel, list[LedgerEntry]]:
    """The level after ``movements`` and their ledger entries; raises instead of breaking an invariant.

    A reservation or a deduction that does not fit raises :class:`InsufficientStockError`; any
    other movement that would break an invariant (an adjustment below the reserved units, a
    release of more than is reserved) raises :class:`InventoryInvalidError`.
    """
    entries: list[LedgerEntry] = []
    current = level
    for movement in movements:
        after = replace(
            current,
            on_hand=current.on_hand + movement.on_hand_delta,
            reserved=current.reserved + movement.reserved_delta,
            seq=current.seq + 1,
        )
        if after.on_hand < 0 or after.reserved < 0 or after.reserved > after.on_hand:
            if movement.reason in _TAKING:
                raise InsufficientStockError(
                    "not enough stock",
                    short=[
                        {
                            "sku": current.sku,
                            "warehouse": current.warehouse,
                            "requested": _requested(movement),
                            "available": current.available,
                        }
                    ],
                )
            raise InventoryInvalidError(
                f"{movement.reason} would break a stock invariant",
                sku=current.sku,
                warehouse=current.warehouse,
                on_hand=after.on_hand,
                reserved=after.reserved,
            )
        entries.append(
            LedgerEntry(
                sku=current.sku,
                warehouse=current.warehouse,
                seq=after.seq,
                reason=movement.reason,
                reference=movement.reference,
                on_hand_delta=movement.on_hand_delta,
                reserved_delta=movement.reserved_delta,
                on_hand_before=current.on_hand,
                reserved_before=current.reserved,
                on_hand_after=after.on_hand,
                reserved_after=after.reserved,
            )
        )
        current = after
    return current, entries


_TAKING = frozenset({Reason.RESERVE, Reason.DEDUCT_UNRESERVED, Reason.BUCKET_ALLOCATE})


def _requested(movement: Movement) -> int:
    return max(movement.reserved_delta, -movement.on_hand_delta)


def replay(entries: Iterable[LedgerEntry]) -> tuple[int, int]:
    """The (on_hand, reserved) the ledger sums to; a broken chain raises."""
    on_hand = reserved = 0
    for entry in sorted(entries, key=lambda e: e.seq):
        if (entry.on_hand_before, entry.reserved_before) != (on_hand, reserved):
            raise InventoryInvalidError("ledger chain broken", sku=entry.sku, seq=entry.seq)
        on_hand += entry.on_hand_delta
        reserved += entry.reserved_delta
        if (entry.on_hand_after, entry.reserved_after) != (on_hand, reserved):
            raise InventoryInvalidError("ledger entry does not add up", sku=entry.sku, seq=entry.seq)
    return on_hand, reserved


# ----------------------------------------------------------------------------- movements


def positive(quantity: int, what: str) -> int:
    if quantity <= 0:
        raise InventoryInvalidError(f"{what} must be a positive quantity", quantity=quantity)
    return quantity


def receipt(quantity: int, reference: str) -> Movement:
    return Movement(Reason.RECEIPT, reference, on_hand_delta=positive(quantity, "a receipt"))


def adjustment(delta: int, reference: str) -> Movement:
    if delta == 0:
        raise InventoryInvalidError("an adjustment must change the stock", quantity=delta)
    return Movement(Reason.ADJUSTMENT, reference, on_hand_delta=delta)


def reserve(quantity: int, reference: str) -> Movement:
    return Movement(Reason.RESERVE, reference, reserved_delta=positive(quantity, "a reservation"))


def release(quantity: int, reference: str, *, expired: bool = False) -> Movement:
    reason = Reason.EXPIRE if expired else Reason.RELEASE
    return Movement(reason, reference, reserved_delta=-positive(quantity, "a release"))


def deduct(quantity: int, reference: str) -> Movement:
    q = positive(quantity, "a deduction")
    return Movement(Reason.DEDUCT, reference, on_hand_delta=-q, reserved_delta=-q)


def deduct_unreserved(quantity: int, reference: str) -> Movement:
    return Movement(Reason.DEDUCT_UNRESERVED, reference, on_hand_delta=-positive(quantity, "a deduction"))


def restock(quantity: int, reference: str) -> Movement:
    return Movement(Reason.RESTOCK, reference, on_hand_delta=positive(quantity, "a restock"))


# ----------------------------------------------------------------------------- order lines


class Action(StrEnum):
    """What an order change does to a line's stock; with (order, line) the idempotency key."""

    RESERVE = "reserve"
    CONVERT = "convert"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class LineDemand:
    """An order line's claim on one SKU in one warehouse."""

    order_id: str
    line_id: str
    sku: str
    warehouse: str
    quantity: int

    @property
    def reference(self) -> str:
        return f"{self.order_id}#{self.line_id}"


@dataclass(frozen=True, slots=True)
class Reservation:
    order_id: str
    line_id: str
    sku: str
    warehouse: str
    quantity: int
    state: ReservationState
    channel: str
    expires_at: datetime
    #: The hot-SKU bucket holding it; None for a reservation on the level itself
    bucket: int | None = None

    @property
    def reference(self) -> str:
        return f"{self.order_id}#{self.line_id}"

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def can_move(self, to: ReservationState) -> bool:
        return to in TRANSITIONS[self.state]


def hold_until(now: datetime, channel: str, holds: Mapping[str, timedelta]) -> datetime:
    """When an unpaid order's reservation on ``channel`` expires."""
    return now + holds.get(channel, DEFAULT_HOLD)


def demand_by_level(lines: Sequence[LineDemand]) -> dict[tuple[str, str], list[LineDemand]]:
    """Lines grouped by the level they draw on (one write per level in a transaction)."""
    grouped: dict[tuple[str, str], list[LineDemand]] = {}
    for line in lines:
        positive(line.quantity, "an order line")
        grouped.setdefault((line.sku, line.warehouse), []).append(line)
    references = [line.reference for line in lines]
    if len(set(references)) != len(references):
        raise InventoryInvalidError("an order line appears twice", lines=references)
    return grouped


def plan_reservations(
    levels: Mapping[tuple[str, str], StockLevel], lines: Sequence[LineDemand]
) -> dict[tuple[str, str], tuple[StockLevel, list[LedgerEntry]]]:
    """All lines' reservations or none: every short line is reported together."""
    planned: dict[tuple[str, str], tuple[StockLevel, list[LedgerEntry]]] = {}
    short: list[object] = []
    for key, group in demand_by_level(lines).items():
        level = levels.get(key) or StockLevel(sku=key[0], warehouse=key[1])
        try:
            planned[key] = apply(level, [reserve(line.quantity, line.reference) for line in group])
        except InsufficientStockError:
            short.append(
                {
                    "sku": key[0],
                    "warehouse": key[1],
                    "requested": sum(line.quantity for line in group),
                    "available": level.available,
                }
            )
    if short:
        raise InsufficientStockError("not enough stock for every line", short=short)
    return planned


# ----------------------------------------------------------------------------- hot SKU buckets


@dataclass(frozen=True, slots=True)
class Bucket:
    """A slice of a hot SKU's stock in an item of its own.

    The level counts the units handed to buckets as reserved (:data:`Reason.BUCKET_ALLOCATE`), so
    the level's invariants cover them; inside a bucket ``allocated = available + sum(holds)``.
    """

    sku: str
    warehouse: str
    index: int
    allocated: int = 0
    available: int = 0
    holds: Mapping[str, int] = field(default_factory=dict)

    @property
    def held(self) -> int:
        return sum(self.holds.values())


def bucket_order(reference: str, count: int) -> list[int]:
    """The buckets a line tries, in order: a stable start spreads lines, then the rest in turn."""
    if count <= 0:
        raise InventoryInvalidError("a hot SKU needs at least one bucket", buckets=count)
    start = _stable_hash(reference) % count
    return [(start + step) % count for step in range(count)]


def _stable_hash(text: str) -> int:
    # FNV-1a: Python's hash() is salted per process; the start bucket must not be.
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def rebalance_targets(available: int, count: int) -> list[int]:
    """Split ``available`` units over ``count`` buckets as evenly as possible."""
    if count <= 0:
        raise InventoryInvalidError("a hot SKU needs at least one bucket", buckets=count)
    base, extra = divmod(max(available, 0), count)
    return [base + (1 if index < extra else 0) for index in range(count)]
