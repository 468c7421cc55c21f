"""Douyin Shop order statuses mapped onto the canonical statuses.

Two platform fields decide: ``order_status`` (the main flow) and ``main_status`` (the main flow
plus partial payment and completed refunds). ``docs/platforms/douyin.md`` has the table. The maps
are module-level data so an operator-visible change is a one-line, reviewed edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.domain.errors import UnknownStatusError
from oms.domain.status import OrderStatus, RefundStatus

#: ``order_status`` → canonical main status.
ORDER_STATUS_MAP: Mapping[int, OrderStatus] = {
    1: OrderStatus.PENDING_PAYMENT,  # 待确认/待支付
    105: OrderStatus.PAID,  # 已支付
    2: OrderStatus.APPROVED,  # 备货中: released to stock preparation
    101: OrderStatus.PARTIALLY_SHIPPED,  # 部分发货
    3: OrderStatus.SHIPPED,  # 已发货（全部发货）
    4: OrderStatus.CANCELLED,  # 已取消 / 已关闭
    5: OrderStatus.COMPLETED,  # 已完成（已收货）
}

#: ``main_status`` → the refund dimension. Every value the platform documents is listed, so an
#: unlisted one is reported rather than silently read as "no refund".
MAIN_STATUS_REFUND: Mapping[int, RefundStatus] = {
    1: RefundStatus.NONE,
    103: RefundStatus.NONE,  # 部分支付
    105: RefundStatus.NONE,
    2: RefundStatus.NONE,
    101: RefundStatus.NONE,
    3: RefundStatus.NONE,
    4: RefundStatus.NONE,
    5: RefundStatus.NONE,
    21: RefundStatus.REFUNDED,  # 发货前退款完结
    22: RefundStatus.REFUNDED,  # 发货后退款完结
    39: RefundStatus.REFUNDED,  # 收货后退款完结
}

#: ``main_status`` values that mean part of the price was paid (presale deposit): the order is
#: treated as paid so it is reviewed, not left waiting for a payment that already happened.
PARTLY_PAID_MAIN_STATUSES = frozenset({103})

#: ``main_status`` values that mean goods left the warehouse before the refund: an order ended
#: there cannot be "cancelled" (the state machine allows that only before shipment), so it closes.
REFUNDED_AFTER_SHIPMENT_MAIN_STATUSES = frozenset({22, 39})


def _as_status_code(value: Any, field: str) -> int:
    """An integer status code, given as a JSON integer or a string of digits (never a float: 3.9 is no 3)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise UnknownStatusError(f"{field} {value!r} is not a Douyin status", field=field, value=str(value)[:64])


def map_status(order_status: Any, main_status: Any = None) -> tuple[OrderStatus, RefundStatus]:
    """The canonical (main, refund) status of a Douyin order.

    Parameters
    ----------
    order_status:
        The order's ``order_status`` (int or digit string).
    main_status:
        The order's ``main_status`` when the snapshot carries it, else ``None``.

    Raises
    ------
    UnknownStatusError
        When either value is not in the maps above; ``details`` carries the field and value.

    Examples
    --------
    >>> map_status(4, 21)
    (<OrderStatus.CANCELLED: 'cancelled'>, <RefundStatus.REFUNDED: 'refunded'>)
    """
    code = _as_status_code(order_status, "order_status")
    status = ORDER_STATUS_MAP.get(code)
    if status is None:
        raise UnknownStatusError(f"unknown Douyin order_status {code}", field="order_status", value=str(code))
    if main_status is None or main_status == "":
        return status, RefundStatus.NONE
    main = _as_status_code(main_status, "main_status")
    refund = MAIN_STATUS_REFUND.get(main)
    if refund is None:
        raise UnknownStatusError(f"unknown Douyin main_status {main}", field="main_status", value=str(main))
    if main in PARTLY_PAID_MAIN_STATUSES and status == OrderStatus.PENDING_PAYMENT:
        status = OrderStatus.PAID
    if main in REFUNDED_AFTER_SHIPMENT_MAIN_STATUSES and status == OrderStatus.CANCELLED:
        status = OrderStatus.CLOSED
    return status, refund
