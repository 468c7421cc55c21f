"""A Douyin order snapshot (``order.orderDetail`` → ``shop_order_detail``) as a canonical event.

Field names follow PLATFORMS.md; where the live API is known to use another name for the same
thing (``sku_order_list[].order_id`` for the SKU order id, ``origin_amount`` for the unit price)
that name is read as a fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError
from oms.domain.model import BuyerRef, OrderEvent, OrderLine, Platform, Receiver, parse_payment_id
from oms.platforms._common import (
    identifier,
    minor_amount,
    optional_identifier,
    optional_utc_from_unix,
    require,
    utc_from_unix,
)
from oms.platforms.douyin.push import event_type
from oms.platforms.douyin.status import map_status

CURRENCY = "CNY"
WHERE = "shop_order_detail"

#: Platform fields kept as tags on the event (as text). Descriptive ``*_desc`` twins are left out.
#: Per SKU order: the live room, short video and author the order came from (0 or absent: none).
SOURCE_FIELDS: tuple[str, ...] = ("room_id", "video_id", "author_id")
TAG_FIELDS: tuple[str, ...] = (
    "shop_id",
    "order_status",
    "main_status",
    "b_type",
    "sub_b_type",
    "biz",
    "order_type",
    "trade_type",
    "pay_type",
    "c_biz",
)

#: Encrypted receiver fields, kept exactly as delivered (never decrypted here).
ENCRYPTED_FIELDS: tuple[str, ...] = ("encrypt_post_receiver", "encrypt_post_tel")


def order_event(
    message: Mapping[str, Any], snapshot: Mapping[str, Any] | None, envelope: IntakeEnvelope
) -> OrderEvent:
    """The canonical event for one decoded, cleaned push message and its order snapshot.

    Parameters
    ----------
    message:
        The decoded message (``{"tag", "msg_id", "data": {...}}``).
    snapshot:
        The order as ``order.orderDetail`` returns it under ``data.shop_order_detail``.
    envelope:
        The intake envelope; its ``dedupe_id`` (the ``msg_id``) becomes the event id.

    Raises
    ------
    SchemaInvalidError
        A required field is missing or malformed (``details["field"]`` names it), or the snapshot
        is of another order than the message.
    UnknownStatusError
        ``order_status`` or ``main_status`` is not mapped.
    PaymentParseError
        ``channel_payment_no`` is not a valid payment id.
    """
    data = message.get("data")
    if not isinstance(data, Mapping):
        raise SchemaInvalidError("Douyin message has no data object", field="data")
    if snapshot is None:
        raise SchemaInvalidError("a Douyin order event needs the order snapshot", field=WHERE)

    platform_order_id = identifier(require(snapshot, "order_id", where=WHERE), field=f"{WHERE}.order_id")
    pushed_order_id = optional_identifier(data.get("p_id"), field="data.p_id")
    if pushed_order_id is not None and pushed_order_id != platform_order_id:
        raise SchemaInvalidError(
            "Douyin snapshot is of another order than the message", field=f"{WHERE}.order_id"
        )
    shop_id = (
        optional_identifier(snapshot.get("shop_id"), field=f"{WHERE}.shop_id")
        or optional_identifier(data.get("shop_id"), field="data.shop_id")
        or envelope.shop_id
    )
    if not shop_id:
        raise SchemaInvalidError("Douyin order has no shop_id", field="data.shop_id")

    order_status = require(snapshot, "order_status", where=WHERE)
    main_status = snapshot.get("main_status")
    status, refund_status = map_status(order_status, main_status)

    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=Platform.DOUYIN,
        shop_id=shop_id,
        platform_order_id=platform_order_id,
        event_type=event_type(message.get("tag")),
        event_time=utc_from_unix(require(snapshot, "update_time", where=WHERE), field=f"{WHERE}.update_time"),
        status=status,
        refund_status=refund_status,
        platform_status=_platform_status(order_status, main_status),
        currency=CURRENCY,
        total_amount=_fen(snapshot, "order_amount"),
        paid_amount=_fen(snapshot, "pay_amount"),
        shipping_amount=_fen(snapshot, "post_amount"),
        payment_id=parse_payment_id(snapshot.get("channel_payment_no"), field="channel_payment_no"),
        placed_at=optional_utc_from_unix(snapshot.get("create_time"), field=f"{WHERE}.create_time"),
        paid_at=optional_utc_from_unix(snapshot.get("pay_time"), field=f"{WHERE}.pay_time"),
        lines=_lines(snapshot),
        buyer=BuyerRef(open_id=_text_or_none(snapshot.get("doudian_open_id"))),
        receiver=_receiver(snapshot),
        tags=_tags(snapshot, data),
    )


def _platform_status(order_status: Any, main_status: Any) -> str:
    if main_status is None or main_status == "":
        return f"order_status={order_status}"
    return f"order_status={order_status};main_status={main_status}"


def _fen(snapshot: Mapping[str, Any], key: str) -> Decimal | None:
    value = snapshot.get(key)
    if value is None or value == "":
        return None
    return minor_amount(value, CURRENCY, field=f"{WHERE}.{key}")


def _lines(snapshot: Mapping[str, Any]) -> tuple[OrderLine, ...]:
    items = snapshot.get("sku_order_list")
    if items is None:
        raise SchemaInvalidError("Douyin order has no sku_order_list", field=f"{WHERE}.sku_order_list")
    if not isinstance(items, list):
        raise SchemaInvalidError("sku_order_list is not a list", field=f"{WHERE}.sku_order_list")
    lines = []
    for index, item in enumerate(items):
        where = f"{WHERE}.sku_order_list[{index}]"
        if not isinstance(item, Mapping):
            raise SchemaInvalidError(f"{where} is not an object", field=where)
        line_id = item.get("sku_order_id") or item.get("order_id")
        price = item.get("sku_price")
        price_key = "sku_price"
        if price is None or price == "":
            price, price_key = item.get("origin_amount"), "origin_amount"
        lines.append(
            OrderLine(
                line_id=identifier(line_id, field=f"{where}.sku_order_id"),
                sku_id=identifier(require(item, "sku_id", where=where), field=f"{where}.sku_id"),
                out_sku_id=_text_or_none(item.get("out_sku_id")),
                quantity=_quantity(require(item, "item_num", where=where), f"{where}.item_num"),
                unit_price=None
                if price is None or price == ""
                else minor_amount(price, CURRENCY, field=f"{where}.{price_key}"),
                title=_text_or_none(item.get("product_name")),
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
    masked_address = _object(snapshot.get("mask_post_addr"))
    address = _object(snapshot.get("post_addr"))
    encrypted = {key: value for key in ENCRYPTED_FIELDS if (value := _text_or_none(snapshot.get(key)))}
    if encrypted_detail := _text_or_none(address.get("encrypt_detail")):
        encrypted["post_addr.encrypt_detail"] = encrypted_detail
    receiver = Receiver(
        name=_text_or_none(snapshot.get("mask_post_receiver")),
        phone=_text_or_none(snapshot.get("mask_post_tel")),
        province=_region(masked_address, address, "province"),
        city=_region(masked_address, address, "city"),
        district=_region(masked_address, address, "town"),
        street=_region(masked_address, address, "street"),
        detail=_text_or_none(masked_address.get("detail")),
        encrypted=encrypted,
        masked=True,
    )
    if receiver == Receiver():
        return None
    return receiver


def _region(masked: Mapping[str, Any], clear: Mapping[str, Any], key: str) -> str | None:
    # Regions come as {"id", "name"}; the masked and the encrypted address carry the same names.
    for source in (masked, clear):
        value = source.get(key)
        if isinstance(value, Mapping):
            value = value.get("name")
        if text := _text_or_none(value):
            return text
    return None


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    return text or None


def _tags(snapshot: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, str]:
    tags = {}
    for key in TAG_FIELDS:
        value = snapshot.get(key)
        if value is None or value == "":
            value = data.get(key)
        if (text := _text_or_none(value)) is not None:
            tags[key] = text
    # Where the buyer ordered from (live room, short video, author) is per SKU order; the first
    # SKU order that names one stands for the order (docs/customers.md, platform fields as tags).
    items = snapshot.get("sku_order_list")
    for key in SOURCE_FIELDS:
        for item in items if isinstance(items, list) else ():
            text = _text_or_none(item.get(key)) if isinstance(item, Mapping) else None
            if text is not None and text != "0":
                tags.setdefault(key, text)
                break
    return tags
