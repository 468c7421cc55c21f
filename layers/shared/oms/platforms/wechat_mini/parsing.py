"""WeChat mini-program orders → canonical events: payment and refund notifications, shipping snapshots.

Three kinds of message carry an order's state:

- a **payment notification** (``original_type`` ``transaction``), whose ``trade_state`` says how the
  payment stands (:data:`TRADE_STATE_MAP`); amounts are in **fen**, times ISO 8601 with ``+08:00``;
- a **refund notification** (``original_type`` ``refund``), whose ``refund_status`` is the refund
  dimension (:data:`REFUND_STATE_MAP`); its main status is ``paid``, the least an order with a
  refund can be, so it never moves an order backwards (the state machine applies the refund
  dimension on its own);
- a **shipping-management snapshot** (``/wxa/sec/order/get_order``), whose ``order_state`` says how
  far the goods went (:data:`ORDER_STATE_MAP`).

Judgement calls, documented in ``docs/platforms/wechat_mini.md``: a payment that was never made and
then ``CLOSED``/``REVOKED`` is ``cancelled`` (nothing shipped); ``order_state`` 5 (refunded) is
``closed`` with refund ``refunded``, because it can follow a shipment, which ``cancelled`` may not.

The mini-program is the shop: ``shop_id`` is its appid, the order id the merchant's
``out_trade_no`` / ``merchant_trade_no``. WeChat Pay carries no goods lines and no receiver.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError, UnknownStatusError
from oms.domain.model import BuyerRef, EventSource, OrderEvent, Platform, parse_payment_id
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms._common import (
    identifier,
    minor_amount,
    optional_utc_from_iso,
    optional_utc_from_unix,
    require,
    schema_violation,
    utc_from_iso,
)

PLATFORM = Platform.WECHAT_MINI
DEFAULT_CURRENCY = "CNY"

#: Payment ``trade_state`` → canonical status (and the refund status it implies).
TRADE_STATE_MAP: Mapping[str, tuple[OrderStatus, RefundStatus]] = {
    "NOTPAY": (OrderStatus.PENDING_PAYMENT, RefundStatus.NONE),
    "USERPAYING": (OrderStatus.PENDING_PAYMENT, RefundStatus.NONE),
    "PAYERROR": (OrderStatus.PENDING_PAYMENT, RefundStatus.NONE),
    "SUCCESS": (OrderStatus.PAID, RefundStatus.NONE),
    # "转入退款": paid, and a refund has started.
    "REFUND": (OrderStatus.PAID, RefundStatus.REFUNDING),
    # Closed or revoked before payment: nothing can have shipped.
    "CLOSED": (OrderStatus.CANCELLED, RefundStatus.NONE),
    "REVOKED": (OrderStatus.CANCELLED, RefundStatus.NONE),
}

#: Refund ``refund_status`` → refund dimension (SUCCESS is refined to ``partial`` by the amounts).
REFUND_STATE_MAP: Mapping[str, RefundStatus] = {
    "PROCESSING": RefundStatus.REFUNDING,
    "SUCCESS": RefundStatus.REFUNDED,
    # Closed: the refund did not happen; the order is back to no refund.
    "CLOSED": RefundStatus.NONE,
    # Abnormal: money stuck (card closed...): still being refunded, someone must act.
    "ABNORMAL": RefundStatus.REFUNDING,
}

#: Shipping-management ``order_state`` → canonical status and refund status.
ORDER_STATE_MAP: Mapping[int, tuple[OrderStatus, RefundStatus]] = {
    1: (OrderStatus.PAID, RefundStatus.NONE),
    2: (OrderStatus.SHIPPED, RefundStatus.NONE),
    3: (OrderStatus.DELIVERED, RefundStatus.NONE),
    4: (OrderStatus.COMPLETED, RefundStatus.NONE),
    5: (OrderStatus.CLOSED, RefundStatus.REFUNDED),
}

SNAPSHOT_EVENT = "shipping.order_snapshot"


def trade_state(value: object) -> tuple[OrderStatus, RefundStatus]:
    """The canonical pair of a payment ``trade_state``; ``UnknownStatusError`` otherwise."""
    mapped = TRADE_STATE_MAP.get(value) if isinstance(value, str) else None
    if mapped is None:
        raise UnknownStatusError(
            "unknown WeChat Pay trade_state", platform=str(PLATFORM), status=str(value)[:32]
        )
    return mapped


def refund_state(value: object) -> RefundStatus:
    """The refund dimension of a refund notification's ``refund_status``."""
    mapped = REFUND_STATE_MAP.get(value) if isinstance(value, str) else None
    if mapped is None:
        raise UnknownStatusError(
            "unknown WeChat Pay refund_status", platform=str(PLATFORM), status=str(value)[:32]
        )
    return mapped


def order_state(value: object) -> tuple[OrderStatus, RefundStatus]:
    """The canonical pair of a shipping-management ``order_state``."""
    code: int | None = None
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            code = int(value)
        except ValueError:
            code = None
    mapped = ORDER_STATE_MAP.get(code) if code is not None else None
    if mapped is None:
        raise UnknownStatusError(
            "unknown WeChat shipping order_state", platform=str(PLATFORM), status=str(value)[:32]
        )
    return mapped


def is_shipping_snapshot(node: Mapping[str, Any]) -> bool:
    return "order_state" in node and "merchant_trade_no" in node


def parse_message(
    message: Mapping[str, Any], snapshot: Mapping[str, Any] | None, envelope: IntakeEnvelope
) -> OrderEvent:
    """The canonical event of a decoded notification, or of a shipping snapshot.

    Raises
    ------
    SchemaInvalidError, UnknownStatusError, PaymentParseError
        A missing or malformed field, an undocumented state, an invalid transaction id.
    """
    try:
        if snapshot is not None and is_shipping_snapshot(snapshot):
            return _parse_shipping(snapshot, envelope)
        if is_shipping_snapshot(message):
            return _parse_shipping(message, envelope)
        resource = message.get("resource")
        if not isinstance(resource, Mapping):
            raise SchemaInvalidError("notification has no decrypted resource", field="resource")
        original_type = message.get("original_type") or (
            "refund" if "refund_status" in resource else "transaction"
        )
        if original_type == "refund":
            return _parse_refund(message, resource, envelope)
        return _parse_transaction(message, resource, envelope)
    except ValidationError as exc:
        raise schema_violation(exc, what="WeChat Pay notification") from None


def _shop_id(envelope: IntakeEnvelope, resource: Mapping[str, Any]) -> str:
    shop_id = envelope.shop_id or resource.get("appid") or envelope.app_id
    if not shop_id:
        raise SchemaInvalidError("the notification names no mini-program (appid)", field="appid")
    return str(shop_id)


def _amounts(resource: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    amount = resource.get("amount")
    if not isinstance(amount, Mapping):
        raise SchemaInvalidError("resource.amount is missing", field="resource.amount")
    currency = amount.get("currency") or DEFAULT_CURRENCY
    if not isinstance(currency, str) or len(currency) != 3:
        raise SchemaInvalidError(
            "resource.amount.currency is not a currency code", field="resource.amount.currency"
        )
    return currency, amount


def _fen(amount: Mapping[str, Any], key: str, currency: str) -> Decimal | None:
    value = amount.get(key)
    return None if value is None else minor_amount(value, currency, field=f"resource.amount.{key}")


def _event_time(message: Mapping[str, Any], resource: Mapping[str, Any]) -> datetime:
    moment = optional_utc_from_iso(resource.get("success_time"), field="resource.success_time")
    if moment is not None:
        return moment
    return utc_from_iso(require(message, "create_time"), field="create_time")


def _common_tags(message: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, str]:
    tags = {}
    for key in ("mchid", "sp_mchid", "sub_mchid", "trade_type", "bank_type", "out_refund_no", "refund_id"):
        value = resource.get(key)
        if value not in (None, ""):
            tags[key] = str(value)
    if message.get("id"):
        tags["notification_id"] = str(message["id"])
    return tags


def _parse_transaction(
    message: Mapping[str, Any], resource: Mapping[str, Any], envelope: IntakeEnvelope
) -> OrderEvent:
    order_id = identifier(require(resource, "out_trade_no", where="resource"), field="resource.out_trade_no")
    state = require(resource, "trade_state", where="resource")
    status, refund = trade_state(state)
    currency, amount = _amounts(resource)
    payer = resource.get("payer")
    paid = status is OrderStatus.PAID
    success_time = optional_utc_from_iso(resource.get("success_time"), field="resource.success_time")
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=PLATFORM,
        shop_id=_shop_id(envelope, resource),
        platform_order_id=order_id,
        event_type=str(message.get("event_type") or "TRANSACTION"),
        event_time=_event_time(message, resource),
        source=EventSource.PUSH,
        status=status,
        refund_status=refund,
        platform_status=str(state),
        currency=currency,
        total_amount=_fen(amount, "total", currency),
        paid_amount=_fen(amount, "payer_total", currency) if paid else None,
        payment_id=parse_payment_id(resource.get("transaction_id"), field="resource.transaction_id"),
        paid_at=success_time if paid else None,
        buyer=BuyerRef(
            open_id=str(payer["openid"]) if isinstance(payer, Mapping) and payer.get("openid") else None
        ),
        tags=_common_tags(message, resource),
    )


def _parse_refund(
    message: Mapping[str, Any], resource: Mapping[str, Any], envelope: IntakeEnvelope
) -> OrderEvent:
    order_id = identifier(require(resource, "out_trade_no", where="resource"), field="resource.out_trade_no")
    state = require(resource, "refund_status", where="resource")
    refund = refund_state(state)
    currency, amount = _amounts(resource)
    total, refunded = _fen(amount, "total", currency), _fen(amount, "refund", currency)
    if refund is RefundStatus.REFUNDED and total is not None and refunded is not None and refunded < total:
        refund = RefundStatus.PARTIAL
    tags = _common_tags(message, resource)
    if refunded is not None:
        tags["refund_amount"] = str(refunded)
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=PLATFORM,
        shop_id=_shop_id(envelope, resource),
        platform_order_id=order_id,
        event_type=str(message.get("event_type") or "REFUND"),
        event_time=_event_time(message, resource),
        source=EventSource.PUSH,
        status=OrderStatus.PAID,
        refund_status=refund,
        platform_status=f"REFUND.{state}",
        currency=currency,
        total_amount=total,
        payment_id=parse_payment_id(resource.get("transaction_id"), field="resource.transaction_id"),
        tags=tags,
    )


def _parse_shipping(order: Mapping[str, Any], envelope: IntakeEnvelope) -> OrderEvent:
    order_id = identifier(require(order, "merchant_trade_no", where="order"), field="order.merchant_trade_no")
    status, refund = order_state(require(order, "order_state", where="order"))
    paid_amount = order.get("paid_amount")
    paid_at = optional_utc_from_unix(order.get("pay_time"), field="order.pay_time")
    shop_id = envelope.shop_id or envelope.app_id
    if not shop_id:
        raise SchemaInvalidError("the envelope names no mini-program (appid)", field="shop_id")
    tags: dict[str, str] = {}
    for key in ("merchant_id", "sub_merchant_id", "in_complaint"):
        if order.get(key) not in (None, ""):
            tags[key] = str(order[key]).lower() if isinstance(order[key], bool) else str(order[key])
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=PLATFORM,
        shop_id=shop_id,
        platform_order_id=order_id,
        event_type=SNAPSHOT_EVENT,
        # get_order carries no update time: the snapshot is as of when it was taken.
        event_time=envelope.received_at,
        source=EventSource.RECONCILE,
        status=status,
        refund_status=refund,
        # order_state shows a full refund (5) and nothing about partial or pending ones.
        refund_known=refund is not RefundStatus.NONE,
        platform_status=f"order_state.{order['order_state']}",
        currency=DEFAULT_CURRENCY,
        total_amount=None
        if paid_amount is None
        else minor_amount(paid_amount, DEFAULT_CURRENCY, field="order.paid_amount"),
        paid_amount=None
        if paid_amount is None
        else minor_amount(paid_amount, DEFAULT_CURRENCY, field="order.paid_amount"),
        payment_id=parse_payment_id(order.get("transaction_id"), field="order.transaction_id"),
        placed_at=optional_utc_from_unix(order.get("trade_create_time"), field="order.trade_create_time"),
        paid_at=paid_at,
        buyer=BuyerRef(open_id=str(order["openid"]) if order.get("openid") else None),
        tags=tags,
    )
