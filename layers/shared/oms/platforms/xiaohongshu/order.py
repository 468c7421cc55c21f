"""A Xiaohongshu order detail (``order.getOrderDetail`` → ``data``) as a canonical event.

Times are Unix **milliseconds**; ``totalPayAmount``, ``totalShippingFree`` and the line amounts
are in **fen**, while an after-sale's ``refundFee`` is in **yuan** (kept as the ``refund_fee`` tag,
in yuan). The receiver sits behind ``openAddressId`` (decrypted only through
``order.getOrderReceiverInfo``, never here): it is kept as delivered, with the region names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError
from oms.domain.model import BuyerRef, OrderEvent, OrderLine, Platform, Receiver, parse_payment_id
from oms.platforms._common import identifier, major_amount, minor_amount, optional_identifier, require
from oms.platforms.xiaohongshu.status import map_status

CURRENCY = "CNY"
WHERE = "order"
#: Event type of a snapshot that reached us without a push tag (the reconciler's pull).
SNAPSHOT_EVENT_TYPE = "xiaohongshu_order_snapshot"
#: ``noteId``: the note the order was placed from (field name unconfirmed: docs/customers.md).
TAG_FIELDS: tuple[str, ...] = (
    "orderType",
    "orderStatus",
    "orderAfterSalesStatus",
    "logistics",
    "planInfoId",
    "noteId",
)
_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def utc_from_ms(value: Any, *, field: str) -> datetime:
    """A Unix time in milliseconds (int or digit string) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SchemaInvalidError(f"{field} is not a time in milliseconds", field=field)
    try:
        millis = int(value)
    except ValueError as exc:
        raise SchemaInvalidError(f"{field} is not a time in milliseconds", field=field) from exc
    if not 0 <= millis <= _MAX_MS:
        raise SchemaInvalidError(f"{field} is out of range", field=field)
    seconds, remainder = divmod(millis, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=remainder * 1000)


def optional_utc_from_ms(value: Any, *, field: str) -> datetime | None:
    """Like :func:`utc_from_ms`; ``None``, ``""`` and ``0`` (the platform's "not yet") give None."""
    if value is None or value in ("", 0, "0"):
        return None
    return utc_from_ms(value, field=field)


def order_event(
    message: Mapping[str, Any], snapshot: Mapping[str, Any], envelope: IntakeEnvelope
) -> OrderEvent:
    """The canonical event for one decoded, cleaned push message and its order detail.

    Raises
    ------
    SchemaInvalidError
        A required field is missing or malformed, or the detail is of another order.
    UnknownStatusError
        ``orderStatus`` or ``orderAfterSalesStatus`` is not mapped.
    """
    data = message.get("data")
    data = data if isinstance(data, Mapping) else {}
    platform_order_id = identifier(require(snapshot, "orderId", where=WHERE), field=f"{WHERE}.orderId")
    pushed = optional_identifier(data.get("orderId"), field="data.orderId")
    if pushed is not None and pushed != platform_order_id:
        raise SchemaInvalidError("Xiaohongshu detail is of another order than the message", field="orderId")
    shop_id = (
        optional_identifier(message.get("sellerId"), field="sellerId")
        or optional_identifier(snapshot.get("sellerId"), field=f"{WHERE}.sellerId")
        or envelope.shop_id
    )
    if not shop_id:
        raise SchemaInvalidError("Xiaohongshu order has no sellerId", field="sellerId")
    order_status = require(snapshot, "orderStatus", where=WHERE)
    after_sales = snapshot.get("orderAfterSalesStatus")
    status, refund_status = map_status(order_status, after_sales)
    updated = snapshot.get("orderUpdateTime") or data.get("updateTime")
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=Platform.XIAOHONGSHU,
        shop_id=shop_id,
        platform_order_id=platform_order_id,
        event_type=str(message.get("msgTag") or envelope.event_hint or SNAPSHOT_EVENT_TYPE),
        event_time=utc_from_ms(updated, field=f"{WHERE}.orderUpdateTime"),
        status=status,
        refund_status=refund_status,
        platform_status=f"orderStatus={order_status}"
        + (f";orderAfterSalesStatus={after_sales}" if after_sales not in (None, "") else ""),
        currency=CURRENCY,
        total_amount=_fen(snapshot, "totalPayAmount"),
        paid_amount=_fen(snapshot, "totalPayAmount") if snapshot.get("orderPaidTime") else None,
        shipping_amount=_fen(snapshot, "totalShippingFree"),
        payment_id=parse_payment_id(snapshot.get("paymentNo"), field="paymentNo"),
        placed_at=optional_utc_from_ms(snapshot.get("orderCreatedTime"), field=f"{WHERE}.orderCreatedTime"),
        paid_at=optional_utc_from_ms(snapshot.get("orderPaidTime"), field=f"{WHERE}.orderPaidTime"),
        lines=_lines(snapshot),
        buyer=BuyerRef(buyer_id=_text(snapshot.get("userId"))),
        receiver=_receiver(snapshot),
        tags=_tags(snapshot, data),
    )


def _fen(source: Mapping[str, Any], key: str, where: str = WHERE) -> Decimal | None:
    value = source.get(key)
    if value is None or value == "":
        return None
    return minor_amount(value, CURRENCY, field=f"{where}.{key}")


def _lines(snapshot: Mapping[str, Any]) -> tuple[OrderLine, ...]:
    items = snapshot.get("itemList")
    if not isinstance(items, list):
        raise SchemaInvalidError("Xiaohongshu order has no itemList", field=f"{WHERE}.itemList")
    lines = []
    for index, item in enumerate(items):
        where = f"{WHERE}.itemList[{index}]"
        if not isinstance(item, Mapping):
            raise SchemaInvalidError(f"{where} is not an object", field=where)
        sku_id = identifier(require(item, "skuId", where=where), field=f"{where}.skuId")
        quantity = _quantity(require(item, "skuQuantity", where=where), f"{where}.skuQuantity")
        paid = _fen(item, "totalPaidAmount", where)
        unit_price = None
        if paid is not None and quantity:
            unit_price = (paid / quantity).quantize(Decimal("0.01"))
        lines.append(
            OrderLine(
                line_id=f"{sku_id}#{index}",
                sku_id=sku_id,
                out_sku_id=_text(item.get("erpcode")),
                quantity=quantity,
                unit_price=unit_price,
                title=_text(item.get("skuName") or item.get("itemName")),
            )
        )
    return tuple(lines)


def _quantity(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SchemaInvalidError(f"{field} is not a quantity", field=field)
    try:
        quantity = int(value)
    except ValueError as exc:
        raise SchemaInvalidError(f"{field} is not a quantity", field=field) from exc
    if quantity < 0:
        raise SchemaInvalidError(f"{field} is negative", field=field)
    return quantity


def _receiver(snapshot: Mapping[str, Any]) -> Receiver | None:
    open_address_id = _text(snapshot.get("openAddressId"))
    receiver = Receiver(
        province=_text(snapshot.get("receiverProvinceName")),
        city=_text(snapshot.get("receiverCityName")),
        district=_text(snapshot.get("receiverDistrictName")),
        encrypted={"openAddressId": open_address_id} if open_address_id else {},
        masked=True,
    )
    return None if receiver == Receiver() else receiver


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value) or None


def _tags(snapshot: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, str]:
    tags = {key: text for key in TAG_FIELDS if (text := _text(snapshot.get(key))) is not None}
    # After-sale pushes carry the refund in yuan (unlike the order's fen): kept in yuan.
    refund_fee = data.get("refundFee")
    if isinstance(refund_fee, float) and not isinstance(refund_fee, bool):
        # A JSON number: its shortest repr is the decimal the platform wrote ("12.5"), never binary noise.
        refund_fee = repr(refund_fee)
    if refund_fee not in (None, ""):
        tags["refund_fee"] = str(major_amount(refund_fee, CURRENCY, field="data.refundFee"))
    if returns_id := _text(data.get("returnsId")):
        tags["returns_id"] = returns_id
    return tags
