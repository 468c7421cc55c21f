"""Kuaishou order and refund statuses mapped onto the canonical statuses.

Confirmed (PLATFORMS.md): 30 awaiting shipment, 40 shipped, 50 signed for, 70 complete.
**[unconfirmed]**: 10 awaiting payment and 80 closed, and every refund status value
(``orderRefundList[].refundStatus``, from third-party SDKs): an unknown value is reported as
``UNKNOWN_STATUS``, never guessed. ``docs/platforms/kuaishou.md`` has the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from oms.domain.errors import UnknownStatusError
from oms.domain.status import OrderStatus, RefundStatus

ORDER_STATUS_MAP: Mapping[int, OrderStatus] = {
    10: OrderStatus.PENDING_PAYMENT,  # 待付款 [unconfirmed]
    30: OrderStatus.PAID,  # 已付款, 待发货
    40: OrderStatus.SHIPPED,  # 已发货
    50: OrderStatus.DELIVERED,  # 已签收
    70: OrderStatus.COMPLETED,  # 交易成功
    80: OrderStatus.CLOSED,  # 交易关闭 [unconfirmed]
}

#: ``refundStatus`` → the refund dimension. **[unconfirmed]** values.
REFUND_STATUS_MAP: Mapping[int, RefundStatus] = {
    10: RefundStatus.REQUESTED,  # 买家申请退款, 待商家处理
    11: RefundStatus.REQUESTED,  # 买家申请退货退款
    20: RefundStatus.REQUESTED,  # 商家拒绝, 待买家处理
    30: RefundStatus.REQUESTED,  # 待买家退货
    40: RefundStatus.REQUESTED,  # 待商家确认收货
    50: RefundStatus.REFUNDING,  # 退款执行中
    60: RefundStatus.REFUNDED,  # 退款成功
    70: RefundStatus.NONE,  # 退款关闭 (withdrawn or rejected for good)
}

#: When several refunds exist, the order shows the most advanced one that is still meaningful.
_REFUND_PRECEDENCE = (RefundStatus.REFUNDING, RefundStatus.REQUESTED, RefundStatus.REFUNDED)


def _code(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnknownStatusError(f"{field} is not a Kuaishou status", field=field, value=str(value)[:32])
    try:
        return int(value)
    except ValueError as exc:
        raise UnknownStatusError(
            f"{field} is not a Kuaishou status", field=field, value=str(value)[:32]
        ) from exc


def map_status(status: Any, refund_statuses: Iterable[Any] = ()) -> tuple[OrderStatus, RefundStatus]:
    """The canonical (main, refund) status of a Kuaishou order.

    ``refund_statuses`` are the ``refundStatus`` of each entry of ``orderRefundList``. An open
    refund wins over a finished one; all finished and none open gives ``refunded``, or ``partial``
    when the order is still open (goods kept, part of the money back).

    Examples
    --------
    >>> map_status(40)
    (<OrderStatus.SHIPPED: 'shipped'>, <RefundStatus.NONE: 'none'>)
    >>> map_status(80, [60])
    (<OrderStatus.CLOSED: 'closed'>, <RefundStatus.REFUNDED: 'refunded'>)
    """
    code = _code(status, "status")
    main = ORDER_STATUS_MAP.get(code)
    if main is None:
        raise UnknownStatusError(f"unknown Kuaishou status {code}", field="status", value=str(code))
    refunds = set()
    for value in refund_statuses:
        refund_code = _code(value, "refundStatus")
        refund = REFUND_STATUS_MAP.get(refund_code)
        if refund is None:
            raise UnknownStatusError(
                f"unknown Kuaishou refundStatus {refund_code}", field="refundStatus", value=str(refund_code)
            )
        refunds.add(refund)
    for candidate in _REFUND_PRECEDENCE:
        if candidate in refunds:
            if candidate == RefundStatus.REFUNDED and main not in (OrderStatus.CLOSED, OrderStatus.CANCELLED):
                return main, RefundStatus.PARTIAL
            return main, candidate
    return main, RefundStatus.NONE
