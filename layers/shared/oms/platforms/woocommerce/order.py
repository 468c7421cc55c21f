"""A WooCommerce order object (webhook body or ``GET /wp-json/wc/v3/orders/{id}``) as a canonical event.

Times: the ``*_gmt`` fields are UTC without an offset and are the ones read; the plain
``date_created`` etc. are in the site's zone (often UTC+8 for these merchants) without saying so,
and are never used. Amounts are decimal strings in ``currency``. The shipping address arrives in
clear: only masked copies are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError
from oms.domain.model import BuyerRef, OrderEvent, OrderLine, Platform, Receiver, parse_payment_id
from oms.platforms._common import (
    identifier,
    major_amount,
    mask_address,
    mask_name,
    mask_phone,
    require,
)
from oms.platforms.woocommerce.status import map_status

SNAPSHOT_EVENT_TYPE = "woocommerce_order_snapshot"
TAG_FIELDS: tuple[str, ...] = ("number", "payment_method", "created_via", "version")


def utc_from_gmt(value: Any, *, field: str) -> datetime | None:
    """A WooCommerce ``*_gmt`` time (``2026-02-04T16:00:00``, UTC, no offset); None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SchemaInvalidError(f"{field} is not a time", field=field)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise SchemaInvalidError(f"{field} is not a time", field=field) from exc
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment.replace(tzinfo=UTC)


def order_event(order: Mapping[str, Any], envelope: IntakeEnvelope) -> OrderEvent:
    """The canonical event for one cleaned WooCommerce order.

    Raises
    ------
    SchemaInvalidError
        A required field is missing or malformed (``details["field"]`` names it).
    UnknownStatusError
        ``status`` is not mapped.
    """
    shop_id = envelope.shop_id or envelope.app_id
    if not shop_id:
        raise SchemaInvalidError("WooCommerce event has no site", field="shop_id")
    currency = _currency(require(order, "currency"))
    status, refund_status = map_status(order)
    event_time = utc_from_gmt(require(order, "date_modified_gmt"), field="date_modified_gmt")
    assert event_time is not None  # require() refused an empty value
    paid_at = utc_from_gmt(order.get("date_paid_gmt"), field="date_paid_gmt")
    total = _amount(order.get("total"), currency, "total")
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=Platform.WOOCOMMERCE,
        shop_id=shop_id,
        platform_order_id=identifier(require(order, "id"), field="id"),
        event_type=envelope.event_hint or SNAPSHOT_EVENT_TYPE,
        event_time=event_time,
        status=status,
        refund_status=refund_status,
        platform_status=str(order.get("status")),
        currency=currency,
        total_amount=total,
        paid_amount=total if paid_at is not None else None,
        shipping_amount=_amount(order.get("shipping_total"), currency, "shipping_total"),
        payment_id=parse_payment_id(order.get("transaction_id"), field="transaction_id"),
        placed_at=utc_from_gmt(order.get("date_created_gmt"), field="date_created_gmt"),
        paid_at=paid_at,
        lines=_lines(order, currency),
        buyer=BuyerRef(buyer_id=_customer(order.get("customer_id"))),
        receiver=_receiver(order.get("shipping")),
        tags=_tags(order),
    )


def _currency(value: Any) -> str:
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        raise SchemaInvalidError("currency is not an ISO 4217 code", field="currency")
    return value.strip().upper()


def _amount(value: Any, currency: str, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    return major_amount(value, currency, field=field)


def _lines(order: Mapping[str, Any], currency: str) -> tuple[OrderLine, ...]:
    items = order.get("line_items")
    if not isinstance(items, list):
        raise SchemaInvalidError("WooCommerce order has no line_items list", field="line_items")
    lines = []
    for index, item in enumerate(items):
        where = f"line_items[{index}]"
        if not isinstance(item, Mapping):
            raise SchemaInvalidError(f"{where} is not an object", field=where)
        quantity = require(item, "quantity", where=where)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise SchemaInvalidError(f"{where}.quantity is not a quantity", field=f"{where}.quantity")
        # The variation is the SKU that holds stock; simple products have variation_id 0.
        variation = item.get("variation_id")
        product = require(item, "product_id", where=where)
        sku_id = identifier(
            variation if variation not in (None, 0, "0", "") else product, field=f"{where}.sku"
        )
        # ``price`` is a JSON float in the REST API; ``subtotal`` (a string, before discounts) is exact.
        subtotal = _amount(item.get("subtotal"), currency, f"{where}.subtotal")
        unit_price = (
            (subtotal / quantity).quantize(Decimal("0.01")) if subtotal is not None and quantity else None
        )
        sku = item.get("sku")
        lines.append(
            OrderLine(
                line_id=identifier(require(item, "id", where=where), field=f"{where}.id"),
                sku_id=sku_id,
                out_sku_id=sku if isinstance(sku, str) and sku else None,
                quantity=quantity,
                unit_price=unit_price,
                title=item.get("name") if isinstance(item.get("name"), str) else None,
            )
        )
    return tuple(lines)


def _customer(value: Any) -> str | None:
    # 0 is a guest checkout: no customer account to link.
    if value in (None, "", 0, "0") or isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value)


def _receiver(shipping: Any) -> Receiver | None:
    if not isinstance(shipping, Mapping):
        return None

    def text(key: str) -> str | None:
        value = shipping.get(key)
        return value.strip() or None if isinstance(value, str) else None

    name = " ".join(part for part in (text("first_name"), text("last_name")) if part) or None
    street = " ".join(part for part in (text("address_1"), text("address_2")) if part) or None
    receiver = Receiver(
        name=mask_name(name),
        phone=mask_phone(text("phone")),
        province=text("state"),
        city=text("city"),
        detail=mask_address(street),
        masked=True,
    )
    return None if receiver == Receiver() else receiver


def _tags(order: Mapping[str, Any]) -> dict[str, str]:
    tags = {
        key: str(value)
        for key in TAG_FIELDS
        if isinstance(value := order.get(key), int | str) and value != ""
    }
    shipping = order.get("shipping")
    if isinstance(shipping, Mapping) and isinstance(shipping.get("country"), str) and shipping["country"]:
        tags["shipping_country"] = shipping["country"]
    return tags
