"""Xiaohongshu order statuses mapped onto the canonical statuses.

``orderStatus`` is the main flow (PLATFORMS.md). The after-sale dimension comes from the order
detail's ``orderAfterSalesStatus``, whose values are **[unconfirmed]** (third-party SDKs, not an
official page): an unknown value is reported, never read as "no refund". ``docs/platforms/
xiaohongshu.md`` has the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.domain.errors import UnknownStatusError
from oms.domain.status import OrderStatus, RefundStatus

#: ``orderStatus`` → canonical main status.
ORDER_STATUS_MAP: Mapping[int, OrderStatus] = {
    1: OrderStatus.PENDING_PAYMENT,  # 待支付
    2: OrderStatus.PAID,  # 已支付/处理中
    3: OrderStatus.PAID,  # 清关中: cross-border customs, not yet released for shipment
    4: OrderStatus.APPROVED,  # 待发货: released to the warehouse (may be pushed twice)
    5: OrderStatus.PARTIALLY_SHIPPED,  # 部分发货
    6: OrderStatus.SHIPPED,  # 待收货
    7: OrderStatus.COMPLETED,  # 已完成
    8: OrderStatus.CLOSED,  # 已关闭
    9: OrderStatus.CANCELLED,  # 已取消
    10: OrderStatus.DELIVERED,  # 换货申请中: goods received, an exchange is requested
}

#: ``orderAfterSalesStatus`` → the refund dimension. **[unconfirmed]** values.
AFTER_SALES_STATUS_MAP: Mapping[int, RefundStatus] = {
    1: RefundStatus.NONE,  # 无售后
    2: RefundStatus.REQUESTED,  # 售后处理中
    3: RefundStatus.REFUNDED,  # 售后完成
    4: RefundStatus.NONE,  # 售后拒绝
    5: RefundStatus.NONE,  # 售后关闭
    6: RefundStatus.REQUESTED,  # 平台介入中
    7: RefundStatus.NONE,  # 售后取消
}


def _code(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnknownStatusError(f"{field} is not a Xiaohongshu status", field=field, value=str(value)[:32])
    try:
        return int(value)
    except ValueError as exc:
        raise UnknownStatusError(
            f"{field} is not a Xiaohongshu status", field=field, value=str(value)[:32]
        ) from exc


def map_status(order_status: Any, after_sales_status: Any = None) -> tuple[OrderStatus, RefundStatus]:
    """The canonical (main, refund) status of a Xiaohongshu order.

    Raises
    ------
    UnknownStatusError
        When a value is not in the maps above.

    Examples
    --------
    >>> map_status(4)
    (<OrderStatus.APPROVED: 'approved'>, <RefundStatus.NONE: 'none'>)
    >>> map_status(8, 3)
    (<OrderStatus.CLOSED: 'closed'>, <RefundStatus.REFUNDED: 'refunded'>)
    """
    code = _code(order_status, "orderStatus")
    status = ORDER_STATUS_MAP.get(code)
    if status is None:
        raise UnknownStatusError(
            f"unknown Xiaohongshu orderStatus {code}", field="orderStatus", value=str(code)
        )
    if after_sales_status is None or after_sales_status == "":
        return status, RefundStatus.NONE
    after = _code(after_sales_status, "orderAfterSalesStatus")
    refund = AFTER_SALES_STATUS_MAP.get(after)
    if refund is None:
        raise UnknownStatusError(
            f"unknown Xiaohongshu orderAfterSalesStatus {after}",
            field="orderAfterSalesStatus",
            value=str(after),
        )
    return status, refund
