"""Pinduoduo order detail (``pdd.order.information.get``'s ``order_info``) → canonical event.

Amounts are in **yuan** (decimal strings: the client and :func:`decode` keep JSON fractions as their
exact text); times are ``yyyy-MM-dd HH:mm:ss`` in UTC+8. Receiver fields arrive encrypted
(``~…~`` ciphertexts) with ``*_mask`` copies: the masks are the receiver, the ciphertexts are kept
as delivered in ``Receiver.encrypted``, never decrypted here.

Status (``docs/platforms/pinduoduo.md``): ``order_status`` 1 awaiting shipment → ``paid`` (the API
lists only orders that were paid and grouped), 2 shipped → ``shipped``, 3 signed for →
``delivered``. ``refund_status`` 1 none, 2 after-sale in progress → ``requested``, 3 refunding →
``refunding``, 4 refunded → ``refunded``. An order refunded before shipment (1 + 4) is
``cancelled`` (Pinduoduo cancels it; nothing shipped); after shipment the main status stays, since
a refund after shipment may cover only part of the order.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError, UnknownStatusError
from oms.domain.ids import content_hash
from oms.domain.model import EventSource, OrderEvent, OrderLine, Platform, Receiver, parse_payment_id
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms._common import identifier, major_amount, optional_identifier, require, schema_violation
from oms.platforms.pinduoduo.signing import china_time, optional_china_time

PLATFORM = Platform.PINDUODUO
CURRENCY = "CNY"
POLL_EVENT = "pdd.order.information.get"

ORDER_STATUS_MAP: Mapping[int, OrderStatus] = {
    1: OrderStatus.PAID,  # 待发货
    2: OrderStatus.SHIPPED,  # 已发货待签收
    3: OrderStatus.DELIVERED,  # 已签收
}
REFUND_STATUS_MAP: Mapping[int, RefundStatus] = {
    1: RefundStatus.NONE,  # 无售后或售后关闭
    2: RefundStatus.REQUESTED,  # 售后处理中
    3: RefundStatus.REFUNDING,  # 退款中
    4: RefundStatus.REFUNDED,  # 退款成功
}
_ENCRYPTED_KEYS = ("receiver_name", "receiver_phone", "receiver_address", "address")
_TAG_KEYS = (
    "confirm_status",
    "trade_type",
    "pay_type",
    "tracking_number",
    "logistics_id",
    "is_presale",
    "group_status",
    "discount_amount",
    "seller_discount",
    "platform_discount",
)


def _code(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnknownStatusError(f"{field} is not a Pinduoduo status", field=field, value=str(value)[:32])
    try:
        return int(value)
    except ValueError:
        raise UnknownStatusError(
            f"{field} is not a Pinduoduo status", field=field, value=str(value)[:32]
        ) from None


def map_status(order_status: object, refund_status: object = 1) -> tuple[OrderStatus, RefundStatus]:
    """The canonical (main, refund) pair; ``UnknownStatusError`` for an undocumented value.

    Examples
    --------
    >>> map_status(1, 4)
    (<OrderStatus.CANCELLED: 'cancelled'>, <RefundStatus.REFUNDED: 'refunded'>)
    """
    main = ORDER_STATUS_MAP.get(_code(order_status, "order_status"))
    if main is None:
        raise UnknownStatusError(
            "unknown Pinduoduo order_status", field="order_status", value=str(order_status)
        )
    refund = REFUND_STATUS_MAP.get(_code(refund_status, "refund_status"))
    if refund is None:
        raise UnknownStatusError(
            "unknown Pinduoduo refund_status", field="refund_status", value=str(refund_status)
        )
    if main is OrderStatus.PAID and refund is RefundStatus.REFUNDED:
        main = OrderStatus.CANCELLED
    return main, refund


def dedupe_id(info: Mapping[str, Any]) -> str:
    """One id per order version: (order, updated_at, statuses), so overlapping pulls collapse."""
    return content_hash(
        "pinduoduo",
        str(info.get("order_sn", "")),
        str(info.get("updated_at", "")),
        str(info.get("order_status", "")),
        str(info.get("refund_status", "")),
    )


def _yuan(node: Mapping[str, Any], key: str, path: str) -> Decimal | None:
    value = node.get(key)
    if value is None or value == "":
        return None
    return major_amount(value, CURRENCY, field=f"{path}.{key}")


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def parse_order(info: Mapping[str, Any], envelope: IntakeEnvelope) -> OrderEvent:
    """The canonical event of one ``order_info`` (cleaned), pulled by the order poller.

    Raises
    ------
    SchemaInvalidError, UnknownStatusError, PaymentParseError
    """
    try:
        return _parse(info, envelope)
    except ValidationError as exc:
        raise schema_violation(exc, what="Pinduoduo order") from None


def _parse(info: Mapping[str, Any], envelope: IntakeEnvelope) -> OrderEvent:
    order_sn = identifier(require(info, "order_sn", where="order_info"), field="order_info.order_sn")
    if not envelope.shop_id:
        raise SchemaInvalidError("the envelope names no Pinduoduo mall", field="shop_id")
    order_status = require(info, "order_status", where="order_info")
    refund_status = info.get("refund_status", 1)
    status, refund = map_status(order_status, refund_status)
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=PLATFORM,
        shop_id=envelope.shop_id,
        platform_order_id=order_sn,
        event_type=envelope.event_hint or POLL_EVENT,
        event_time=china_time(require(info, "updated_at", where="order_info"), field="order_info.updated_at"),
        source=EventSource.POLL,
        status=status,
        refund_status=refund,
        platform_status=f"{order_status}/{refund_status}",
        currency=CURRENCY,
        total_amount=_yuan(info, "pay_amount", "order_info"),
        paid_amount=_yuan(info, "pay_amount", "order_info"),
        shipping_amount=_yuan(info, "postage", "order_info"),
        payment_id=parse_payment_id(info.get("pay_no"), field="order_info.pay_no"),
        placed_at=optional_china_time(info.get("created_time"), field="order_info.created_time"),
        paid_at=optional_china_time(
            info.get("pay_time") or info.get("confirm_time"), field="order_info.pay_time"
        ),
        lines=_lines(info),
        receiver=_receiver(info),
        tags={key: str(info[key]) for key in _TAG_KEYS if info.get(key) not in (None, "")}
        | (
            {"goods_amount": str(_yuan(info, "goods_amount", "order_info"))}
            if info.get("goods_amount")
            else {}
        ),
    )


def _lines(info: Mapping[str, Any]) -> tuple[OrderLine, ...]:
    items = info.get("item_list") or []
    if not isinstance(items, list):
        raise SchemaInvalidError("order_info.item_list is not a list", field="order_info.item_list")
    lines: list[OrderLine] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        path = f"order_info.item_list[{index}]"
        if not isinstance(item, Mapping):
            raise SchemaInvalidError(f"{path} is not an object", field=path)
        sku_id = identifier(require(item, "sku_id", where=path), field=f"{path}.sku_id")
        goods_id = optional_identifier(item.get("goods_id"), field=f"{path}.goods_id")
        base = f"{goods_id}:{sku_id}" if goods_id else sku_id
        seen[base] = seen.get(base, 0) + 1
        count = require(item, "goods_count", where=path)
        if isinstance(count, bool) or not isinstance(count, int | str) or not str(count).isdigit():
            raise SchemaInvalidError(f"{path}.goods_count is not a count", field=f"{path}.goods_count")
        lines.append(
            OrderLine(
                line_id=base if seen[base] == 1 else f"{base}#{seen[base]}",
                sku_id=sku_id,
                out_sku_id=_text(item.get("outer_id")),
                quantity=int(count),
                unit_price=_yuan(item, "goods_price", path),
                title=_text(item.get("goods_name")),
            )
        )
    return tuple(lines)


def _receiver(info: Mapping[str, Any]) -> Receiver | None:
    encrypted = {key: str(info[key]) for key in _ENCRYPTED_KEYS if info.get(key)}
    masks = [info.get(key) for key in ("receiver_name_mask", "receiver_phone_mask", "address_mask")]
    if not encrypted and not any(masks) and not info.get("province"):
        return None
    return Receiver(
        name=_text(info.get("receiver_name_mask")),
        phone=_text(info.get("receiver_phone_mask")),
        province=_text(info.get("province")),
        city=_text(info.get("city")),
        district=_text(info.get("town")),
        detail=_text(info.get("address_mask") or info.get("receiver_address_mask")),
        encrypted=encrypted,
        masked=True,
    )
