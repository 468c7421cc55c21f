"""WooCommerce order statuses mapped onto the canonical statuses.

WooCommerce has one ``status`` and no shipment state: ``completed`` means fulfilled and done.
``failed`` (a declined payment) is not terminal in WooCommerce, the buyer may pay again, so it stays
``pending_payment``. ``refunded`` closes the order (``closed`` is reachable from any open state);
``refunds[]`` on an order that is not ``refunded`` is a partial refund. ``docs/platforms/woocommerce.md``
has the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.domain.errors import SchemaInvalidError, UnknownStatusError
from oms.domain.status import OrderStatus, RefundStatus

STATUS_MAP: Mapping[str, OrderStatus] = {
    "checkout-draft": OrderStatus.PENDING_PAYMENT,
    "pending": OrderStatus.PENDING_PAYMENT,
    "on-hold": OrderStatus.PENDING_PAYMENT,  # awaiting a manual payment confirmation (BACS, cheque)
    "failed": OrderStatus.PENDING_PAYMENT,  # declined; the buyer may still pay
    "processing": OrderStatus.PAID,
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.CLOSED,
    # Not an order status but WordPress's: an order moved to the bin (what ``order.deleted`` leaves
    # behind when the order API is asked) is no longer worked on.
    "trash": OrderStatus.CLOSED,
}

REFUND_MAP: Mapping[str, RefundStatus] = {"refunded": RefundStatus.REFUNDED}


def map_status(order: Mapping[str, Any]) -> tuple[OrderStatus, RefundStatus]:
    """The canonical (main, refund) status of a WooCommerce order object.

    Raises
    ------
    SchemaInvalidError
        ``status`` is missing.
    UnknownStatusError
        ``status`` is not in :data:`STATUS_MAP` (e.g. a plugin's custom status).

    Examples
    --------
    >>> map_status({"status": "processing", "refunds": [{"id": 1, "total": "-5.00"}]})
    (<OrderStatus.PAID: 'paid'>, <RefundStatus.PARTIAL: 'partial'>)
    """
    status = order.get("status")
    if status is None or status == "":
        raise SchemaInvalidError("WooCommerce order has no status", field="status")
    if not isinstance(status, str) or status.removeprefix("wc-") not in STATUS_MAP:
        raise UnknownStatusError(
            f"unknown WooCommerce status {status!r}", field="status", value=str(status)[:64]
        )
    name = status.removeprefix("wc-")
    refund = REFUND_MAP.get(name)
    if refund is None:
        refunds = order.get("refunds")
        refund = RefundStatus.PARTIAL if isinstance(refunds, list) and refunds else RefundStatus.NONE
    return STATUS_MAP[name], refund
