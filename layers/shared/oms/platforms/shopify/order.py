"""A Shopify order object (webhook body or ``orders/{id}.json``) as a canonical event.

Shopify delivers the receiver's name, phone and address in clear. Only masked copies are kept
(:func:`oms.platforms._common.mask_name` and friends); the clear values never leave this module.
Amounts are decimal strings in the shop currency (``currency``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError
from oms.domain.model import BuyerRef, OrderEvent, OrderLine, Platform, Receiver
from oms.platforms._common import (
    identifier,
    major_amount,
    mask_address,
    mask_name,
    mask_phone,
    optional_identifier,
    optional_utc_from_iso,
    require,
    utc_from_iso,
)
from oms.platforms.shopify.status import map_status, platform_status

#: Event type when the envelope carries no topic (e.g. a snapshot pulled by the reconciler).
SNAPSHOT_EVENT_TYPE = "shopify_order_snapshot"


def order_event(order: Mapping[str, Any], envelope: IntakeEnvelope) -> OrderEvent:
    """The canonical event for one cleaned Shopify order object.

    Parameters
    ----------
    order:
        The order, as the webhook body or the REST API's ``order`` carries it.
    envelope:
        The intake envelope: ``dedupe_id`` (the webhook id) becomes the event id, ``shop_id``
        (the shop domain) the shop, ``event_hint`` (the topic) the event type.

    Raises
    ------
    SchemaInvalidError
        A required field is missing or malformed (``details["field"]`` names it).
    UnknownStatusError
        ``financial_status`` or ``fulfillment_status`` is not mapped.
    """
    shop_id = envelope.shop_id or envelope.app_id
    if not shop_id:
        raise SchemaInvalidError("Shopify event has no shop domain", field="shop_id")
    currency = _currency(require(order, "currency"))
    status, refund_status = map_status(order)
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=Platform.SHOPIFY,
        shop_id=shop_id,
        platform_order_id=identifier(require(order, "id"), field="id"),
        event_type=envelope.event_hint or SNAPSHOT_EVENT_TYPE,
        event_time=utc_from_iso(require(order, "updated_at"), field="updated_at"),
        status=status,
        refund_status=refund_status,
        platform_status=platform_status(order),
        currency=currency,
        total_amount=_amount(order.get("total_price"), currency, "total_price"),
        paid_amount=_paid_amount(order, currency),
        shipping_amount=_shipping_amount(order, currency),
        # The order webhook carries no payment transaction id (those live in the Transaction API).
        payment_id=None,
        placed_at=optional_utc_from_iso(order.get("created_at"), field="created_at"),
        lines=_lines(order, currency),
        buyer=_buyer(order),
        receiver=_receiver(order.get("shipping_address")),
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


def _paid_amount(order: Mapping[str, Any], currency: str) -> Decimal | None:
    # Shopify states what is still owed; what was paid is the total less that.
    total = _amount(order.get("total_price"), currency, "total_price")
    outstanding = _amount(order.get("total_outstanding"), currency, "total_outstanding")
    if total is None or outstanding is None:
        return None
    return total - outstanding


def _shipping_amount(order: Mapping[str, Any], currency: str) -> Decimal | None:
    price_set = order.get("total_shipping_price_set")
    if isinstance(price_set, Mapping):
        shop_money = price_set.get("shop_money")
        if isinstance(shop_money, Mapping) and shop_money.get("amount") not in (None, ""):
            return major_amount(
                shop_money["amount"], currency, field="total_shipping_price_set.shop_money.amount"
            )
    shipping_lines = order.get("shipping_lines")
    if not isinstance(shipping_lines, list) or not shipping_lines:
        return None
    total = Decimal(0)
    for index, line in enumerate(shipping_lines):
        if isinstance(line, Mapping) and line.get("price") not in (None, ""):
            total += major_amount(line["price"], currency, field=f"shipping_lines[{index}].price")
    return total


def _lines(order: Mapping[str, Any], currency: str) -> tuple[OrderLine, ...]:
    items = order.get("line_items")
    if not isinstance(items, list):
        raise SchemaInvalidError("Shopify order has no line_items list", field="line_items")
    lines = []
    for index, item in enumerate(items):
        where = f"line_items[{index}]"
        if not isinstance(item, Mapping):
            raise SchemaInvalidError(f"{where} is not an object", field=where)
        line_id = identifier(require(item, "id", where=where), field=f"{where}.id")
        merchant_sku = item.get("sku") if isinstance(item.get("sku"), str) and item.get("sku") else None
        # The variant is Shopify's SKU; custom items have none and fall back to the merchant's
        # code, then to the line itself.
        sku_id = optional_identifier(item.get("variant_id"), field=f"{where}.variant_id") or merchant_sku
        quantity = require(item, "quantity", where=where)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise SchemaInvalidError(f"{where}.quantity is not a quantity", field=f"{where}.quantity")
        title = item.get("name") or item.get("title")
        lines.append(
            OrderLine(
                line_id=line_id,
                sku_id=sku_id or line_id,
                out_sku_id=merchant_sku,
                quantity=quantity,
                unit_price=_amount(item.get("price"), currency, f"{where}.price"),
                title=title if isinstance(title, str) and title else None,
            )
        )
    return tuple(lines)


def _buyer(order: Mapping[str, Any]) -> BuyerRef:
    customer = order.get("customer")
    if not isinstance(customer, Mapping):
        return BuyerRef()
    return BuyerRef(buyer_id=optional_identifier(customer.get("id"), field="customer.id"))


def _receiver(address: Any) -> Receiver | None:
    """A masked copy of the shipping address: names, phone and street lines never kept in clear."""
    if not isinstance(address, Mapping):
        return None
    name = _text(address.get("name")) or " ".join(
        part for part in (_text(address.get("first_name")), _text(address.get("last_name"))) if part
    )
    street_lines = " ".join(
        part for part in (_text(address.get("address1")), _text(address.get("address2"))) if part
    )
    receiver = Receiver(
        name=mask_name(name or None),
        phone=mask_phone(_text(address.get("phone"))),
        province=_text(address.get("province")),
        city=_text(address.get("city")),
        detail=mask_address(street_lines or None),
        masked=True,
    )
    return None if receiver == Receiver() else receiver


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


#: Order fields kept as tags (as text), under these names.
TAG_FIELDS: Mapping[str, str] = {
    "name": "order_name",
    "order_number": "order_number",
    "source_name": "source_name",
    "financial_status": "financial_status",
    "fulfillment_status": "fulfillment_status",
    "cancel_reason": "cancel_reason",
    "presentment_currency": "presentment_currency",
    "test": "test",
    "tags": "shopify_tags",
}


def _tags(order: Mapping[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, name in TAG_FIELDS.items():
        value = order.get(key)
        if isinstance(value, bool):
            tags[name] = "true" if value else "false"
        elif isinstance(value, int | str) and str(value):
            tags[name] = str(value)
    gateways = order.get("payment_gateway_names")
    if isinstance(gateways, list) and gateways:
        tags["payment_gateways"] = ",".join(str(gateway) for gateway in gateways)
    address = order.get("shipping_address")
    if isinstance(address, Mapping) and (country := _text(address.get("country_code"))):
        tags["shipping_country_code"] = country
    return tags
