"""WeChat Channels shop order snapshots → canonical :class:`~oms.domain.model.OrderEvent`.

A push carries only ids (``order_info.order_id``), so every event is parsed from the ``order``
object of ``POST /channels/ec/order/get``. Status decisions (``docs/platforms/wechat_channels.md``
explains them at length):

- 12 (gift awaiting acceptance) and 13 (group forming) map to ``pending_payment``: the buyer has
  paid, but the sale is not settled yet. A gift nobody accepts and a group that never forms are
  refunded and cancelled by the platform, so the order must not be released to the warehouse and
  must stay cancellable, which only ``pending_payment`` guarantees.
- 20 (awaiting shipment) maps to ``paid``, not ``approved``: "approved" is the order center's own
  review step (risk, duplicate buyers, address) and WeChat knows nothing about it.
- 190 (oversold, cancelled by the merchant before shipping) and 250 (cancelled: unpaid timeout or
  cancelled by the buyer) map to ``cancelled``; both happen before anything ships.
- 200 (cancelled after every item was refunded through after-sales) maps to ``closed`` with refund
  ``refunded``: it can follow a shipment, which ``cancelled`` may not, and ``closed`` is reachable
  from any open state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError, UnknownStatusError
from oms.domain.model import (
    BuyerRef,
    OrderEvent,
    OrderLine,
    Platform,
    Receiver,
    parse_payment_id,
)
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms._common import (
    identifier,
    minor_amount,
    optional_identifier,
    optional_utc_from_unix,
    require,
    utc_from_unix,
)

PLATFORM = Platform.WECHAT_CHANNELS
CURRENCY = "CNY"

#: ``order.status`` → canonical status (see the module docstring for the judgement calls).
STATUS_MAP: Mapping[int, OrderStatus] = {
    10: OrderStatus.PENDING_PAYMENT,
    12: OrderStatus.PENDING_PAYMENT,
    13: OrderStatus.PENDING_PAYMENT,
    20: OrderStatus.PAID,
    21: OrderStatus.PARTIALLY_SHIPPED,
    30: OrderStatus.SHIPPED,
    100: OrderStatus.COMPLETED,
    190: OrderStatus.CANCELLED,
    200: OrderStatus.CLOSED,
    250: OrderStatus.CANCELLED,
}

#: Statuses that say, by themselves, that every item was refunded.
FULLY_REFUNDED_STATUSES = frozenset({200})

#: The event name a message carries when it has none (an order snapshot pulled without a push).
SNAPSHOT_EVENT = "channels_ec_order_snapshot"

_ORDER_EVENT_PREFIX = "channels_ec_order_"
AFTERSALE_EVENT = "channels_ec_aftersale_update"


def message_order_id(message: Mapping[str, Any]) -> str | None:
    """The order id a decrypted push names, as a string (order and after-sale events), else None."""
    for container in ("order_info", "finder_shop_aftersale_status_update"):
        section = message.get(container)
        if isinstance(section, Mapping) and section.get("order_id") not in (None, ""):
            return identifier(section["order_id"], field=f"{container}.order_id")
    return None


def is_order_event(message: Mapping[str, Any]) -> bool:
    """True for the pushes that are about an order: ``channels_ec_order_*`` and after-sale updates."""
    event = message.get("Event")
    return isinstance(event, str) and (event.startswith(_ORDER_EVENT_PREFIX) or event == AFTERSALE_EVENT)


def map_status(status: object) -> OrderStatus:
    """The canonical status of a WeChat ``order.status``; UnknownStatusError for anything else."""
    code = _status_code(status)
    mapped = STATUS_MAP.get(code) if code is not None else None
    if mapped is None:
        raise UnknownStatusError(
            "unknown WeChat Channels order status", platform=str(PLATFORM), status=str(status)[:32]
        )
    return mapped


def _status_code(status: object) -> int | None:
    if isinstance(status, bool) or not isinstance(status, int | str):
        return None
    try:
        return int(status)
    except ValueError:
        return None


def refund_status(order: Mapping[str, Any], products: list[Mapping[str, Any]]) -> RefundStatus:
    """The refund dimension, from the status and the after-sale counters WeChat keeps per SKU.

    ``finish_aftersale_sku_cnt`` counts items whose after-sale finished; ``on_aftersale_sku_cnt``
    (and ``aftersale_detail.on_aftersale_order_cnt``) count those still in progress. An open
    after-sale wins over a partial refund, because it is the one fact someone has to act on.
    """
    if _status_code(require(order, "status", where="order")) in FULLY_REFUNDED_STATUSES:
        return RefundStatus.REFUNDED
    ordered = finished = in_progress = 0
    for index, product in enumerate(products):
        path = f"order_detail.product_infos[{index}]"
        ordered += _count(product.get("sku_cnt", 0), f"{path}.sku_cnt")
        finished += _count(product.get("finish_aftersale_sku_cnt", 0), f"{path}.finish_aftersale_sku_cnt")
        in_progress += _count(product.get("on_aftersale_sku_cnt", 0), f"{path}.on_aftersale_sku_cnt")
    aftersale = order.get("aftersale_detail")
    if isinstance(aftersale, Mapping):
        in_progress += _count(
            aftersale.get("on_aftersale_order_cnt", 0), "aftersale_detail.on_aftersale_order_cnt"
        )
    if in_progress > 0:
        return RefundStatus.REQUESTED
    if finished > 0:
        return RefundStatus.REFUNDED if finished >= ordered else RefundStatus.PARTIAL
    return RefundStatus.NONE


def parse_snapshot(
    message: Mapping[str, Any], snapshot: Mapping[str, Any], envelope: IntakeEnvelope
) -> OrderEvent:
    """Build the canonical event from a cleaned push message and the cleaned order snapshot.

    Raises
    ------
    SchemaInvalidError
        A required field is missing or malformed, or the snapshot is of another order.
    UnknownStatusError
        ``order.status`` is not one WeChat documents.
    PaymentParseError
        ``pay_info.transaction_id`` is not a valid payment id.
    """
    try:
        return _parse(message, snapshot, envelope)
    except ValidationError as exc:
        # A value the platform sent breaks a model constraint (an over-long id, say): the payload
        # is what is wrong, so it is reported as such, naming the field, never the value.
        raise SchemaInvalidError("order snapshot violates the event schema", field=_location(exc)) from None


def _location(exc: ValidationError, prefix: str = "") -> str:
    errors = exc.errors()
    parts = [str(part) for part in errors[0]["loc"]] if errors else []
    return ".".join([prefix, *parts] if prefix else parts) or "order"


def _parse(message: Mapping[str, Any], snapshot: Mapping[str, Any], envelope: IntakeEnvelope) -> OrderEvent:
    order_id = identifier(require(snapshot, "order_id", where="order"), field="order.order_id")
    pushed_order_id = message_order_id(message)
    if pushed_order_id is not None and pushed_order_id != order_id:
        raise SchemaInvalidError("the order snapshot is not the order the push names", field="order.order_id")
    shop_id = envelope.shop_id or envelope.app_id
    if not shop_id:
        raise SchemaInvalidError("the envelope names no WeChat app (shop)", field="shop_id")

    detail = _section(snapshot, "order_detail", "order.order_detail")
    price_info = _section(detail, "price_info", "order_detail.price_info")
    pay_info = _optional_section(detail, "pay_info")
    products = _products(detail)
    event_name = message.get("Event")
    status = map_status(require(snapshot, "status", where="order"))
    total_amount = _fen(price_info, "order_price", required=True)
    paid_at = _paid_at(pay_info)
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=PLATFORM,
        shop_id=shop_id,
        platform_order_id=order_id,
        event_type=event_name if isinstance(event_name, str) and event_name else SNAPSHOT_EVENT,
        event_time=utc_from_unix(require(snapshot, "update_time", where="order"), field="order.update_time"),
        status=status,
        refund_status=refund_status(snapshot, products),
        platform_status=str(snapshot["status"]),
        currency=CURRENCY,
        total_amount=total_amount,
        # order_price is what the buyer pays (goods after discounts, plus freight).
        paid_amount=total_amount if paid_at else None,
        shipping_amount=_fen(price_info, "freight"),
        payment_id=parse_payment_id(
            pay_info.get("transaction_id"), field="order_detail.pay_info.transaction_id"
        ),
        placed_at=optional_utc_from_unix(snapshot.get("create_time"), field="order.create_time"),
        paid_at=paid_at,
        lines=_lines(products),
        buyer=BuyerRef(
            open_id=_optional_text(snapshot.get("openid")),
            union_id=_optional_text(snapshot.get("unionid")),
        ),
        receiver=_receiver(detail),
        tags=_tags(snapshot, detail, price_info, pay_info),
    )


# --- helpers -------------------------------------------------------------------------------


def _section(node: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = node.get(key)
    if not isinstance(value, Mapping):
        raise SchemaInvalidError(f"{path} is missing", field=path)
    return value


def _optional_section(node: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = node.get(key)
    return value if isinstance(value, Mapping) else {}


def _count(value: object, path: str) -> int:
    """A non-negative item count (``sku_cnt`` and the after-sale counters)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SchemaInvalidError(f"{path} must be a count", field=path)
    try:
        count = int(value)
    except ValueError:
        raise SchemaInvalidError(f"{path} must be a count", field=path) from None
    if count < 0:
        raise SchemaInvalidError(f"{path} must not be negative", field=path)
    return count


def _paid_at(pay_info: Mapping[str, Any]) -> datetime | None:
    # WeChat writes 0 for "not paid yet".
    return optional_utc_from_unix(pay_info.get("pay_time"), field="order_detail.pay_info.pay_time")


def _fen(node: Mapping[str, Any], key: str, *, required: bool = False) -> Decimal | None:
    path = f"order_detail.price_info.{key}"
    value = node.get(key)
    if value is None:
        if required:
            raise SchemaInvalidError(f"{path} is missing", field=path)
        return None
    return minor_amount(value, CURRENCY, field=path)


def _optional_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _products(detail: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    products = detail.get("product_infos")
    if not isinstance(products, list) or not all(isinstance(item, Mapping) for item in products):
        raise SchemaInvalidError(
            "order_detail.product_infos must be a list of objects", field="order_detail.product_infos"
        )
    return products


def _lines(products: list[Mapping[str, Any]]) -> tuple[OrderLine, ...]:
    lines: list[OrderLine] = []
    seen: dict[str, int] = {}
    for index, product in enumerate(products):
        path = f"order_detail.product_infos[{index}]"
        sku_id = identifier(require(product, "sku_id", where=path), field=f"{path}.sku_id")
        product_id = optional_identifier(product.get("product_id"), field=f"{path}.product_id")
        # WeChat has no line id; product + SKU is stable across snapshots of one order.
        base_id = f"{product_id}:{sku_id}" if product_id else sku_id
        seen[base_id] = seen.get(base_id, 0) + 1
        line_id = base_id if seen[base_id] == 1 else f"{base_id}#{seen[base_id]}"
        sale_price = product.get("sale_price")
        try:
            line = OrderLine(
                line_id=line_id,
                sku_id=sku_id,
                out_sku_id=_optional_text(product.get("out_sku_id"))
                or _optional_text(product.get("sku_code")),
                quantity=_count(require(product, "sku_cnt", where=path), f"{path}.sku_cnt"),
                unit_price=None
                if sale_price is None
                else minor_amount(sale_price, CURRENCY, field=f"{path}.sale_price"),
                title=_optional_text(product.get("title")),
            )
        except ValidationError as exc:
            raise SchemaInvalidError(f"{path} violates the line schema", field=_location(exc, path)) from None
        lines.append(line)
    return tuple(lines)


#: What WeChat offers instead of the real phone and address: kept as delivered, never resolved.
_ENCRYPTED_ADDRESS_KEYS = ("hash_code", "virtual_order_tel_number")


def _receiver(detail: Mapping[str, Any]) -> Receiver | None:
    delivery = _optional_section(detail, "delivery_info")
    address = _optional_section(delivery, "address_info")
    if not address:
        return None
    # ``tel_number_ext_info`` is left out on purpose: it can hold the real phone number in clear.
    encrypted = {key: str(address[key]) for key in _ENCRYPTED_ADDRESS_KEYS if address.get(key)}
    return Receiver(
        name=_optional_text(address.get("user_name")),
        phone=_optional_text(address.get("tel_number")),
        province=_optional_text(address.get("province_name")),
        city=_optional_text(address.get("city_name")),
        district=_optional_text(address.get("county_name")),
        street=_optional_text(address.get("house_number")),
        detail=_optional_text(address.get("detail_info")),
        encrypted=encrypted,
        masked=True,
    )


def _tags(
    snapshot: Mapping[str, Any],
    detail: Mapping[str, Any],
    price_info: Mapping[str, Any],
    pay_info: Mapping[str, Any],
) -> dict[str, str]:
    """Platform-specific facts worth keeping, none of them personal data.

    Customer and merchant notes are left out on purpose: they are free text and buyers put phone
    numbers and addresses in them.
    """
    tags: dict[str, str] = {}
    for key in ("product_price", "discounted_price", "change_down_price", "deduction_price"):
        amount = _fen(price_info, key)
        if amount is not None:
            tags[f"price_info.{key}"] = str(amount)
    if pay_info.get("payment_method") is not None:
        tags["pay_info.payment_method"] = str(pay_info["payment_method"])
    delivery = _optional_section(detail, "delivery_info")
    if delivery.get("deliver_method") is not None:
        tags["delivery_info.deliver_method"] = str(delivery["deliver_method"])
    packages = delivery.get("delivery_product_info")
    if isinstance(packages, list):
        waybills = [
            str(item["waybill_id"])
            for item in packages
            if isinstance(item, Mapping) and item.get("waybill_id")
        ]
        couriers = [
            str(item["delivery_id"])
            for item in packages
            if isinstance(item, Mapping) and item.get("delivery_id")
        ]
        if waybills:
            tags["delivery_info.waybill_ids"] = ",".join(waybills)
        if couriers:
            tags["delivery_info.delivery_ids"] = ",".join(sorted(set(couriers)))
    aftersale = _optional_section(snapshot, "aftersale_detail")
    aftersale_orders = aftersale.get("aftersale_order_list")
    if isinstance(aftersale_orders, list):
        ids = [
            str(item["aftersale_order_id"])
            for item in aftersale_orders
            if isinstance(item, Mapping) and item.get("aftersale_order_id")
        ]
        if ids:
            tags["aftersale_detail.aftersale_order_ids"] = ",".join(ids)
    tags |= _settle_tags(detail)
    if snapshot.get("is_present"):
        tags["is_present"] = "true"
        if snapshot.get("present_order_id_str"):
            tags["present_order_id"] = str(snapshot["present_order_id_str"])
    return tags


def _settle_tags(detail: Mapping[str, Any]) -> dict[str, str]:
    """WeChat's own settlement of the order (``order_detail.settle_info``), once it has settled.

    ``commission_fee`` (fen) is the technical service fee WeChat actually charged and
    ``settle_time`` (s) when it paid the order out to the merchant's balance: the settlement
    entries take both over the fee rules' estimate (``oms.domain.settlement``).
    """
    settle = _optional_section(detail, "settle_info")
    settle_time = optional_utc_from_unix(
        settle.get("settle_time"), field="order_detail.settle_info.settle_time"
    )
    if settle.get("commission_fee") is None or settle_time is None:
        return {}
    fee = minor_amount(settle["commission_fee"], CURRENCY, field="order_detail.settle_info.commission_fee")
    return {"settle_info.commission_fee": str(fee), "settle_info.settle_time": settle_time.isoformat()}
