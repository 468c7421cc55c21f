"""Canonical order statuses and the transitions the rules allow.

The main status moves forward along ``MAIN_PATH`` (skipping states is allowed: pushes get lost);
``cancelled`` is reachable only before anything ships, ``closed`` from any open state.
``completed``, ``cancelled`` and ``closed`` are terminal. Refunds are tracked beside the main
status, in their own dimension. ``docs/state-machine.md`` has the diagram and the platform maps.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"  # paid, awaiting review
    APPROVED = "approved"  # released to the warehouse
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    CLOSED = "closed"


class RefundStatus(StrEnum):
    NONE = "none"
    REQUESTED = "requested"
    REFUNDING = "refunding"
    PARTIAL = "partial"
    REFUNDED = "refunded"


MAIN_PATH: tuple[OrderStatus, ...] = (
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.PAID,
    OrderStatus.APPROVED,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
)

TERMINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.CLOSED})
OPEN_STATUSES = frozenset(OrderStatus) - TERMINAL_STATUSES
CANCELLABLE_STATUSES = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.APPROVED})

_TERMINAL_RANK = len(MAIN_PATH)
STATUS_RANK: dict[OrderStatus, int] = {
    **{status: rank for rank, status in enumerate(MAIN_PATH)},
    OrderStatus.CANCELLED: _TERMINAL_RANK,
    OrderStatus.CLOSED: _TERMINAL_RANK,
}

REFUND_RANK: dict[RefundStatus, int] = {status: rank for rank, status in enumerate(RefundStatus)}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """True when the rules allow moving an order from ``current`` to ``target``.

    The relation is transitively closed: if a→b and b→c are allowed, so is a→c, which is what
    lets a lost push be skipped and keeps the outcome independent of arrival order.
    """
    if current == target or current in TERMINAL_STATUSES:
        return False
    if target == OrderStatus.CANCELLED:
        return current in CANCELLABLE_STATUSES
    if target == OrderStatus.CLOSED:
        return True
    return STATUS_RANK[target] > STATUS_RANK[current]
