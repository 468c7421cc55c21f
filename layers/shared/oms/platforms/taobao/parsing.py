"""Taobao / Tmall trade (``taobao.trade.fullinfo.get``'s ``trade``) → canonical event.

Amounts are decimal strings in **yuan**; times are ``yyyy-MM-dd HH:mm:ss`` in UTC+8. Receiver
fields arrive masked (and behind ``oaid`` for decryption, which is never done here): kept as
delivered. The refund dimension is read from the per-line ``refund_status`` of ``orders.order``.

Judgement calls (``docs/platforms/taobao.md`` has the table): ``TRADE_CLOSED`` (closed after
payment because everything was refunded) is ``closed`` + ``refunded``, as it can follow a
shipment; ``TRADE_CLOSED_BY_TAOBAO`` (closed before payment) is ``cancelled``;
``PAID_FORBID_CONSIGN`` (paid, shipping blocked, e.g. a group not formed) is ``paid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError, UnknownStatusError
from oms.domain.ids import content_hash
from oms.domain.model import (
    BuyerRef,
    EventSource,
    OrderEvent,
    OrderLine,
    Platform,
    Receiver,
    parse_payment_id,
)
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms._common import identifier, major_amount, optional_identifier, require, schema_violation
from oms.platforms.pinduoduo.signing import china_time, optional_china_time

PLATFORM = Platform.TAOBAO
CURRENCY = "CNY"
POLL_EVENT = "taobao.trade.fullinfo.get"

STATUS_MAP: Mapping[str, OrderStatus] = {
    "TRADE_NO_CREATE_PAY": OrderStatus.PENDING_PAYMENT,
    "WAIT_BUYER_PAY": OrderStatus.PENDING_PAYMENT,
    "PAY_PENDING": OrderStatus.PENDING_PAYMENT,
    "WAIT_PRE_AUTH_CONFIRM": OrderStatus.PENDING_PAYMENT,
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "PAID_FORBID_CONSIGN": OrderStatus.PAID,
    "SELLER_CONSIGNED_PART": OrderStatus.PARTIALLY_SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_BUYER_SIGNED": OrderStatus.DELIVERED,
    "TRADE_FINISHED": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.CLOSED,
    "TRADE_CLOSED_BY_TAOBAO": OrderStatus.CANCELLED,
}
REFUND_MAP: Mapping[str, RefundStatus] = {
    "NO_REFUND": RefundStatus.NONE,
    "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
    "SELLER_REFUSE_BUYER": RefundStatus.REQUESTED,  # refused, but the buyer may still appeal
    "WAIT_BUYER_RETURN_GOODS": RefundStatus.REFUNDING,
    "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.REFUNDING,
    "CLOSED": RefundStatus.NONE,
    "SUCCESS": RefundStatus.REFUNDED,
}
_OPEN_REFUNDS = (RefundStatus.REFUNDING, RefundStatus.REQUESTED)


def map_status(status: object) -> OrderStatus:
    mapped = STATUS_MAP.get(status) if isinstance(status, str) else None
    if mapped is None:
        raise UnknownStatusError("unknown Taobao trade status", field="status", value=str(status)[:40])
    return mapped


def map_refund(status: object) -> RefundStatus:
    if status is None or status == "":
        return RefundStatus.NONE
    mapped = REFUND_MAP.get(status) if isinstance(status, str) else None
    if mapped is None:
        raise UnknownStatusError(
            "unknown Taobao refund_status", field="refund_status", value=str(status)[:40]
        )
    return mapped


def refund_of(trade_status: OrderStatus, orders: list[Mapping[str, Any]]) -> RefundStatus:
    """The trade's refund dimension: an open refund first, then refunded (all lines) or partial."""
    if trade_status is OrderStatus.CLOSED:
        return RefundStatus.REFUNDED
    line_refunds = [map_refund(order.get("refund_status")) for order in orders]
    for open_status in _OPEN_REFUNDS:
        if open_status in line_refunds:
            return open_status
    refunded = sum(1 for refund in line_refunds if refund is RefundStatus.REFUNDED)
    if refunded == 0:
        return RefundStatus.NONE
    return RefundStatus.REFUNDED if refunded == len(line_refunds) else RefundStatus.PARTIAL


def dedupe_id(trade: Mapping[str, Any]) -> str:
    """One id per trade version: (tid, modified, status)."""
    return content_hash(
        "taobao",
        str(trade.get("tid_str") or trade.get("tid") or ""),
        str(trade.get("modified", "")),
        str(trade.get("status", "")),
    )


def _yuan(node: Mapping[str, Any], key: str, path: str) -> Decimal | None:
    value = node.get(key)
    return None if value is None or value == "" else major_amount(value, CURRENCY, field=f"{path}.{key}")


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _orders(trade: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    container = trade.get("orders")
    orders = container.get("order") if isinstance(container, Mapping) else container
    if orders is None:
        return []
    if not isinstance(orders, list) or not all(isinstance(order, Mapping) for order in orders):
        raise SchemaInvalidError("trade.orders.order is not a list of objects", field="trade.orders.order")
    return orders


def parse_trade(trade: Mapping[str, Any], envelope: IntakeEnvelope) -> OrderEvent:
    """The canonical event of one cleaned ``trade``.

    Raises
    ------
    SchemaInvalidError, UnknownStatusError, PaymentParseError
    """
    try:
        return _parse(trade, envelope)
    except ValidationError as exc:
        raise schema_violation(exc, what="Taobao trade") from None


def _parse(trade: Mapping[str, Any], envelope: IntakeEnvelope) -> OrderEvent:
    tid = identifier(trade.get("tid_str") or require(trade, "tid", where="trade"), field="trade.tid")
    if not envelope.shop_id:
        raise SchemaInvalidError("the envelope names no Taobao shop", field="shop_id")
    status_text = require(trade, "status", where="trade")
    status = map_status(status_text)
    orders = _orders(trade)
    paid_at = optional_china_time(trade.get("pay_time"), field="trade.pay_time")
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=PLATFORM,
        shop_id=envelope.shop_id,
        platform_order_id=tid,
        event_type=envelope.event_hint or POLL_EVENT,
        event_time=china_time(require(trade, "modified", where="trade"), field="trade.modified"),
        source=EventSource.POLL,
        status=status,
        refund_status=refund_of(status, orders),
        platform_status=str(status_text),
        currency=CURRENCY,
        total_amount=_yuan(trade, "payment", "trade"),
        paid_amount=_yuan(trade, "payment", "trade") if paid_at else None,
        shipping_amount=_yuan(trade, "post_fee", "trade"),
        payment_id=parse_payment_id(trade.get("alipay_no"), field="trade.alipay_no"),
        placed_at=optional_china_time(trade.get("created"), field="trade.created"),
        paid_at=paid_at,
        lines=_lines(orders),
        buyer=BuyerRef(open_id=_text(trade.get("buyer_open_uid"))),
        receiver=_receiver(trade),
        tags=_tags(trade),
    )


def _lines(orders: list[Mapping[str, Any]]) -> tuple[OrderLine, ...]:
    lines = []
    for index, order in enumerate(orders):
        path = f"trade.orders.order[{index}]"
        oid = identifier(order.get("oid_str") or require(order, "oid", where=path), field=f"{path}.oid")
        sku_id = optional_identifier(order.get("sku_id"), field=f"{path}.sku_id") or identifier(
            require(order, "num_iid", where=path), field=f"{path}.num_iid"
        )
        count = require(order, "num", where=path)
        if isinstance(count, bool) or not isinstance(count, int | str) or not str(count).isdigit():
            raise SchemaInvalidError(f"{path}.num is not a count", field=f"{path}.num")
        lines.append(
            OrderLine(
                line_id=oid,
                sku_id=sku_id,
                out_sku_id=_text(order.get("outer_sku_id")) or _text(order.get("outer_iid")),
                quantity=int(count),
                unit_price=_yuan(order, "price", path),
                title=_text(order.get("title")),
            )
        )
    return tuple(lines)


def _receiver(trade: Mapping[str, Any]) -> Receiver | None:
    if not any(
        trade.get(key) for key in ("receiver_name", "receiver_mobile", "receiver_address", "receiver_state")
    ):
        return None
    return Receiver(
        name=_text(trade.get("receiver_name")),
        phone=_text(trade.get("receiver_mobile")),
        province=_text(trade.get("receiver_state")),
        city=_text(trade.get("receiver_city")),
        district=_text(trade.get("receiver_district")),
        street=_text(trade.get("receiver_town")),
        detail=_text(trade.get("receiver_address")),
        encrypted={"oaid": str(trade["oaid"])} if trade.get("oaid") else {},
        masked=True,
    )


def _tags(trade: Mapping[str, Any]) -> dict[str, str]:
    tags = {key: str(trade[key]) for key in ("type", "shipping_type", "seller_nick") if trade.get(key)}
    for key in ("total_fee", "discount_fee"):
        amount = _yuan(trade, key, "trade")
        if amount is not None:
            tags[key] = str(amount)
    return tags
