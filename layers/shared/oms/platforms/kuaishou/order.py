"""A Kuaishou order (``open.order.detail`` → ``data``) as a canonical event.

Times are Unix milliseconds. Amounts are in fen per PLATFORMS.md, which marks that
**[unconfirmed]**: :data:`AMOUNT_UNIT` is the one place to change it (``"fen"`` or ``"yuan"``).
The receiver arrives encrypted (``encryptedConsignee/Mobile/Address``) with desensitised copies;
both are kept as delivered, nothing is decrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError
from oms.domain.model import BuyerRef, OrderEvent, OrderLine, Platform, Receiver, parse_payment_id
from oms.platforms._common import identifier, major_amount, minor_amount, optional_identifier, require
from oms.platforms.kuaishou.status import map_status

CURRENCY = "CNY"
AmountUnit = Literal["fen", "yuan"]
#: Unit of every Kuaishou amount. **[unconfirmed]** (fen per PLATFORMS.md): change here if the
#: platform proves otherwise.
AMOUNT_UNIT: AmountUnit = "fen"
SNAPSHOT_EVENT_TYPE = "kwaishop_order_snapshot"
BASE = "orderBaseInfo"
TAG_FIELDS: tuple[str, ...] = ("status", "payType", "cpsType", "preSale", "coType", "sellerOpenId")
ENCRYPTED_FIELDS: tuple[str, ...] = ("encryptedConsignee", "encryptedMobile", "encryptedAddress")
_MAX_MS = 253402300799999


def _utc_from_ms(value: Any, *, field: str) -> datetime | None:
    if value is None or value in ("", 0, "0"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SchemaInvalidError(f"{field} is not a time in milliseconds", field=field)
    try:
        millis = int(value)
    except ValueError as exc:
        raise SchemaInvalidError(f"{field} is not a time in milliseconds", field=field) from exc
    if not 0 < millis <= _MAX_MS:
        raise SchemaInvalidError(f"{field} is out of range", field=field)
    seconds, remainder = divmod(millis, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=remainder * 1000)


def amount(value: Any, *, field: str, unit: AmountUnit = AMOUNT_UNIT) -> Decimal | None:
    """An amount in ``unit`` as yuan; ``None`` when absent."""
    if value is None or value == "":
        return None
    if unit == "fen":
        return minor_amount(value, CURRENCY, field=field)
    return major_amount(value, CURRENCY, field=field)


def order_event(
    message: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    envelope: IntakeEnvelope,
    *,
    unit: AmountUnit = AMOUNT_UNIT,
) -> OrderEvent:
    """The canonical event for one decoded, cleaned push and its ``open.order.detail`` data.

    Raises
    ------
    SchemaInvalidError
        A required field is missing or malformed, or the detail is of another order.
    UnknownStatusError
        ``status`` or a ``refundStatus`` is not mapped.
    """
    base = snapshot.get(BASE)
    if not isinstance(base, Mapping):
        raise SchemaInvalidError("Kuaishou order has no orderBaseInfo", field=BASE)
    platform_order_id = identifier(require(base, "oid", where=BASE), field=f"{BASE}.oid")
    pushed = optional_identifier(message.get("bizId"), field="bizId")
    if pushed is not None and pushed != platform_order_id:
        raise SchemaInvalidError("Kuaishou detail is of another order than the push", field=f"{BASE}.oid")
    shop_id = optional_identifier(message.get("userId"), field="userId") or envelope.shop_id
    if not shop_id:
        raise SchemaInvalidError("Kuaishou push names no seller", field="userId")
    refunds = snapshot.get("orderRefundList") or []
    if not isinstance(refunds, list):
        raise SchemaInvalidError("orderRefundList is not a list", field="orderRefundList")
    refund_codes = [entry.get("refundStatus") for entry in refunds if isinstance(entry, Mapping)]
    status_code = require(base, "status", where=BASE)
    status, refund_status = map_status(status_code, refund_codes)
    event_time = _utc_from_ms(base.get("updateTime"), field=f"{BASE}.updateTime") or _utc_from_ms(
        message.get("createTime"), field="createTime"
    )
    if event_time is None:
        raise SchemaInvalidError("Kuaishou order has no updateTime", field=f"{BASE}.updateTime")
    paid_at = _utc_from_ms(base.get("payTime"), field=f"{BASE}.payTime")
    total = amount(base.get("totalFee"), field=f"{BASE}.totalFee", unit=unit)
    return OrderEvent(
        event_id=envelope.dedupe_id,
        platform=Platform.KUAISHOU,
        shop_id=shop_id,
        platform_order_id=platform_order_id,
        event_type=str(message.get("event") or envelope.event_hint or SNAPSHOT_EVENT_TYPE),
        event_time=event_time,
        status=status,
        refund_status=refund_status,
        platform_status=f"status={status_code}"
        + (f";refundStatus={','.join(map(str, refund_codes))}" if refund_codes else ""),
        currency=CURRENCY,
        total_amount=total,
        paid_amount=total if paid_at is not None else None,
        shipping_amount=amount(base.get("expressFee"), field=f"{BASE}.expressFee", unit=unit),
        payment_id=parse_payment_id(base.get("payNo"), field=f"{BASE}.payNo"),
        placed_at=_utc_from_ms(base.get("createTime"), field=f"{BASE}.createTime"),
        paid_at=paid_at,
        lines=_lines(snapshot, platform_order_id, unit),
        buyer=BuyerRef(open_id=_text(base.get("buyerOpenId")) or _text(message.get("openId"))),
        receiver=_receiver(snapshot.get("orderAddress")),
        tags={key: text for key in TAG_FIELDS if (text := _text(base.get(key))) is not None},
    )


def _lines(snapshot: Mapping[str, Any], order_id: str, unit: AmountUnit) -> tuple[OrderLine, ...]:
    # The detail carries one item per order (``orderItemInfo``); a list is accepted too.
    items = snapshot.get("orderItemInfo")
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        raise SchemaInvalidError("Kuaishou order has no orderItemInfo", field="orderItemInfo")
    lines = []
    for index, item in enumerate(items):
        where = f"orderItemInfo[{index}]"
        if not isinstance(item, Mapping):
            raise SchemaInvalidError(f"{where} is not an object", field=where)
        quantity = require(item, "num", where=where)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise SchemaInvalidError(f"{where}.num is not a quantity", field=f"{where}.num")
        sku_id = identifier(require(item, "skuId", where=where), field=f"{where}.skuId")
        lines.append(
            OrderLine(
                line_id=f"{order_id}-{index + 1}",
                sku_id=sku_id,
                out_sku_id=_text(item.get("relSkuId")) or _text(item.get("skuNick")),
                quantity=quantity,
                unit_price=amount(item.get("price"), field=f"{where}.price", unit=unit),
                title=_text(item.get("itemTitle")),
            )
        )
    return tuple(lines)


def _receiver(address: Any) -> Receiver | None:
    if not isinstance(address, Mapping):
        return None
    encrypted = {key: text for key in ENCRYPTED_FIELDS if (text := _text(address.get(key)))}
    receiver = Receiver(
        name=_text(address.get("desensitiseConsignee")),
        phone=_text(address.get("desensitiseMobile")),
        province=_text(address.get("province")),
        city=_text(address.get("city")),
        district=_text(address.get("district")),
        street=_text(address.get("town")),
        detail=_text(address.get("desensitiseAddress")),
        encrypted=encrypted,
        masked=True,
    )
    return None if receiver == Receiver() else receiver


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value) or None
