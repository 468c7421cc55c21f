"""Shopify order state (four fields) mapped onto the canonical statuses.

Shopify has no single order status: ``cancelled_at``, ``closed_at`` (archived),
``financial_status`` and ``fulfillment_status`` together say where an order is. The rules, in
the order they are applied (``docs/platforms/shopify.md`` has the full table):

1. ``cancelled_at`` set → ``cancelled`` if nothing shipped, else ``closed`` (the state machine
   allows ``cancelled`` only before shipment).
2. Nothing shipped (``fulfillment_status`` null, ``unfulfilled`` or ``restocked``) → by
   ``financial_status``: ``pending``/``authorized`` → ``pending_payment``; ``partially_paid``/
   ``paid``/``partially_refunded`` → ``paid`` (approval for the warehouse is this order center's
   decision, not Shopify's); ``voided`` (authorization released) → ``cancelled``; ``expired``
   (authorization lapsed, nobody acted) and ``refunded`` (nothing left to ship or collect; an
   open order would keep fulfilment deadlines running) → ``closed``.
3. Something shipped but the payment was ``voided``/``expired`` → ``closed``.
4. ``fulfilled`` → ``shipped``, or ``completed`` once the order is also archived (``closed_at``);
   ``partial`` → ``partially_shipped``.

The refund dimension: ``partially_refunded`` → ``partial``, ``refunded`` → ``refunded``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.domain.errors import SchemaInvalidError, UnknownStatusError
from oms.domain.status import OrderStatus, RefundStatus

#: ``financial_status`` → the main status of an order with nothing shipped and not cancelled.
FINANCIAL_STATUS_MAP: Mapping[str, OrderStatus] = {
    "pending": OrderStatus.PENDING_PAYMENT,
    "authorized": OrderStatus.PENDING_PAYMENT,
    "partially_paid": OrderStatus.PAID,
    "paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PAID,
    "refunded": OrderStatus.CLOSED,
    "voided": OrderStatus.CANCELLED,
    "expired": OrderStatus.CLOSED,
}

#: ``financial_status`` → the refund dimension.
FINANCIAL_REFUND_MAP: Mapping[str, RefundStatus] = {
    "pending": RefundStatus.NONE,
    "authorized": RefundStatus.NONE,
    "partially_paid": RefundStatus.NONE,
    "paid": RefundStatus.NONE,
    "partially_refunded": RefundStatus.PARTIAL,
    "refunded": RefundStatus.REFUNDED,
    "voided": RefundStatus.NONE,
    "expired": RefundStatus.NONE,
}

#: ``fulfillment_status`` → what has shipped. ``None`` is Shopify's "unfulfilled"; ``restocked``
#: means the unshipped items went back to stock, so nothing shipped.
FULFILLMENT_STATUS_MAP: Mapping[str | None, OrderStatus | None] = {
    None: None,
    "unfulfilled": None,
    "restocked": None,
    "partial": OrderStatus.PARTIALLY_SHIPPED,
    "fulfilled": OrderStatus.SHIPPED,
}

#: Financial states in which the payment was never collected: goods already out close the order.
PAYMENT_FAILED_STATUSES = frozenset({"voided", "expired"})


def map_status(order: Mapping[str, Any]) -> tuple[OrderStatus, RefundStatus]:
    """The canonical (main, refund) status of a Shopify order object.

    Raises
    ------
    SchemaInvalidError
        ``financial_status`` is missing.
    UnknownStatusError
        ``financial_status`` or ``fulfillment_status`` has a value not in the maps above.

    Examples
    --------
    >>> map_status({"financial_status": "paid", "fulfillment_status": "partial"})
    (<OrderStatus.PARTIALLY_SHIPPED: 'partially_shipped'>, <RefundStatus.NONE: 'none'>)
    """
    financial = order.get("financial_status")
    if financial is None or financial == "":
        raise SchemaInvalidError("Shopify order has no financial_status", field="financial_status")
    if not isinstance(financial, str) or financial not in FINANCIAL_STATUS_MAP:
        raise UnknownStatusError(
            f"unknown Shopify financial_status {financial!r}", field="financial_status", value=str(financial)
        )
    fulfillment = order.get("fulfillment_status")
    if fulfillment == "":
        fulfillment = None
    if not (fulfillment is None or isinstance(fulfillment, str)) or fulfillment not in FULFILLMENT_STATUS_MAP:
        raise UnknownStatusError(
            f"unknown Shopify fulfillment_status {fulfillment!r}",
            field="fulfillment_status",
            value=str(fulfillment),
        )
    refund = FINANCIAL_REFUND_MAP[financial]
    shipped = FULFILLMENT_STATUS_MAP[fulfillment]
    return _main_status(order, financial, shipped), refund


def _main_status(order: Mapping[str, Any], financial: str, shipped: OrderStatus | None) -> OrderStatus:
    if order.get("cancelled_at"):
        return OrderStatus.CANCELLED if shipped is None else OrderStatus.CLOSED
    if shipped is None:
        return FINANCIAL_STATUS_MAP[financial]
    if financial in PAYMENT_FAILED_STATUSES:
        return OrderStatus.CLOSED
    if shipped == OrderStatus.SHIPPED and order.get("closed_at"):
        return OrderStatus.COMPLETED
    return shipped


def platform_status(order: Mapping[str, Any]) -> str:
    """A compact, readable record of the four fields the status was derived from."""
    parts = [
        f"financial={order.get('financial_status')}",
        f"fulfillment={order.get('fulfillment_status') or 'unfulfilled'}",
    ]
    if order.get("cancelled_at"):
        parts.append("cancelled")
    if order.get("closed_at"):
        parts.append("closed")
    return ";".join(parts)
