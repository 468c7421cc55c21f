"""Simulated Kuaishou shop open API, encrypted push builder and order factory.

``POST /kuaishou/open/order/detail`` and ``/kuaishou/open/item/sku/stock/update`` take the
form-encoded, signed parameters the client sends (``GET /kuaishou/open/item/get`` the same in its
query) and check the ``sign`` with the same :func:`oms.platforms.kuaishou.signing.api_sign` (the
app's ``hmac_encoding`` decides HMAC output). Stock changes are incremental, as on Kuaishou, and
apply to the channel levels of :mod:`local.simulators.stock`; ``open.item.get`` lists the item's
SKUs with their ``skuStock``. Error replies are ``{"result": <code>,
"error_msg": ...}``; the codes are approximations (no public table was found).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from local.simulators import stock as channel
from local.simulators.store import SimulatorStates
from oms.platforms._common import constant_time_equals
from oms.platforms.kuaishou.client import ITEM_GET_METHOD, ORDER_DETAIL_METHOD, STOCK_UPDATE_METHOD, api_path
from oms.platforms.kuaishou.signing import api_sign, encrypt

if TYPE_CHECKING:
    from local.simulator import LineSpec, PlatformSimulator, SimReply, SimRequest

PLATFORM = "kuaishou"
ORDER_API = ORDER_DETAIL_METHOD
HAPPY_PATH: tuple[int, ...] = (10, 30, 40, 50, 70)
PAID_STATUSES = frozenset({30, 40, 50, 70})
EVENTS_BY_STATUS: Mapping[int, str] = {
    10: "kwaishop_order_addOrder",
    30: "kwaishop_order_paySuccess",
    40: "kwaishop_order_delivering",
    50: "kwaishop_order_deliverySuccess",
    70: "kwaishop_order_orderSuccess",
    80: "kwaishop_order_orderFail",
}


_state = SimulatorStates()


def base_url(simulator: PlatformSimulator) -> str:
    return f"{simulator.base_url}/{PLATFORM}"


def put_order(simulator: PlatformSimulator, seller_id: str, order: Mapping[str, Any]) -> None:
    """Store (or replace) an order exactly as ``open.order.detail`` returns it in ``data``."""
    state = _state(simulator)
    with state.lock:
        oid = str(order["orderBaseInfo"]["oid"])
        state.orders[(str(seller_id), oid)] = copy.deepcopy(dict(order))


def set_stock(
    simulator: PlatformSimulator, seller_id: str, sku_id: str, quantity: int, *, item_id: str | None = None
) -> None:
    """The seller sets a SKU's stock in the back office (``item_id`` lists the SKU under that item)."""
    channel.set_stock(simulator, PLATFORM, str(seller_id), str(sku_id), quantity)
    if item_id is not None:
        state = _state(simulator)
        with state.lock:
            skus = state.items.setdefault((str(seller_id), str(item_id)), [])
            if str(sku_id) not in skus:
                skus.append(str(sku_id))


def stock(simulator: PlatformSimulator, seller_id: str, sku_id: str) -> int | None:
    with simulator._lock:
        return channel.shown(simulator, PLATFORM, str(seller_id), str(sku_id))


def _error(result: int, message: str, status: int = 200) -> SimReply:
    from local.simulator import SimReply

    return SimReply.json({"result": result, "error_msg": message}, status=status)


def handle(simulator: PlatformSimulator, request: SimRequest, rest: str) -> SimReply:
    """Answer signed order-detail and stock-update calls."""
    from local.simulator import SimReply

    methods = {api_path(name): name for name in (ORDER_DETAIL_METHOD, STOCK_UPDATE_METHOD, ITEM_GET_METHOD)}
    method = methods.get("/" + rest.strip("/"))
    if request.method not in ("GET", "POST") or method is None:
        return SimReply.json({"error": "no such simulated API", "path": request.path}, status=404)
    fault = simulator._enter(PLATFORM, method)
    if fault is not None:
        return _error(fault.code if fault.code is not None else 803, "injected fault", fault.status or 200)
    if request.method == "GET":
        form = dict(request.query)
    else:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    app = simulator.credentials.get(PLATFORM, {}).get(form.get("appkey", ""))
    if app is None:
        return _error(28, "appkey不存在")
    if form.get("method") != method:
        return _error(18, "method与路径不一致")
    try:
        expected = api_sign(
            form, app["sign_secret"], form.get("signMethod", ""), app.get("hmac_encoding", "base64")
        )
    except ValueError:
        expected = ""
    if not expected or not constant_time_equals(expected, form.get("sign", "")):
        return _error(24, "签名校验失败")
    seller = next(
        (
            seller
            for seller, token in app.get("access_tokens", {}).items()
            if token == form.get("access_token")
        ),
        None,
    )
    if seller is None:
        return _error(27, "access_token无效")
    try:
        params = json.loads(form.get("param") or "null")
    except ValueError:
        params = None
    if not isinstance(params, dict):
        return _error(12, "param格式错误")
    state = _state(simulator)
    with state.lock:
        if method == ORDER_DETAIL_METHOD:
            order = state.orders.get((seller, str(params.get("oid"))))
            if order is None:
                return _error(100026, "订单不存在")
            return SimReply.json({"result": 1, "data": copy.deepcopy(order)})
        item = str(params.get("kwaiItemId") or "")
        if method == ITEM_GET_METHOD:
            skus = state.items.get((seller, item))
            if skus is None:
                return _error(100020, "商品不存在")
            infos = [
                {
                    "kwaiSkuId": int(sku) if sku.isdigit() else sku,
                    "kwaiItemId": params["kwaiItemId"],
                    "skuStock": channel.shown(simulator, PLATFORM, seller, sku) or 0,
                    "isValid": 1,
                }
                for sku in skus
            ]
            return SimReply.json({"result": 1, "data": {"itemId": params["kwaiItemId"], "skuInfos": infos}})
        change, change_type = params.get("skuChangeStock"), params.get("changeType")
        if isinstance(change, bool) or not isinstance(change, int) or change < 0 or change_type not in (1, 2):
            return _error(12, "参数错误")
        sku = str(params.get("skuId"))
        current = channel.latest(simulator, PLATFORM, seller, sku)
        updated = current + change if change_type == 1 else current - change
        if updated < 0:
            return _error(100030, "库存不足")
        if item and sku not in state.items.setdefault((seller, item), []):
            state.items[(seller, item)].append(sku)
        channel.record_push(simulator, PLATFORM, seller, sku, updated)
        return SimReply.json({"result": 1, "data": {}})


def push(message: Mapping[str, Any], message_key: str) -> bytes:
    """The encrypted push body carrying ``message`` (``info`` given as a dict is sent as a string)."""
    plain = dict(message)
    if isinstance(plain.get("info"), Mapping):
        plain["info"] = json.dumps(plain["info"], ensure_ascii=False, separators=(",", ":"))
    return encrypt(json.dumps(plain, ensure_ascii=False, separators=(",", ":")), message_key).encode("ascii")


def order_message(order: Mapping[str, Any], seller_id: str, app_key: str, event_id: str) -> dict[str, Any]:
    """The plaintext push about ``order`` (an :func:`order` detail), named by its status."""
    base = order["orderBaseInfo"]
    return {
        "eventId": event_id,
        "bizId": base["oid"],
        "userId": int(seller_id) if str(seller_id).isdigit() else seller_id,
        "openId": base["buyerOpenId"],
        "appKey": app_key,
        "event": EVENTS_BY_STATUS.get(base["status"], "kwaishop_order_statusChange"),
        "info": {"oid": base["oid"], "status": base["status"], "updateTime": base["updateTime"]},
        "createTime": base["updateTime"],
        "test": False,
    }


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _fen(amount: Decimal) -> int:
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(fen)


def order(
    oid: int,
    status: int,
    update_time: datetime,
    line: LineSpec,
    *,
    create_time: datetime | None = None,
    express_fee: Decimal = Decimal("0"),
    refund_statuses: Sequence[int] = (),
    buyer_open_id: str = "sim_ks_buyer_open_id_0001",
) -> dict[str, Any]:
    """An ``open.order.detail`` ``data`` object (one item per order, as Kuaishou has it; fen, ms)."""
    created = create_time or update_time
    paid = status in PAID_STATUSES or bool(refund_statuses)
    return {
        "orderBaseInfo": {
            "oid": oid,
            "status": status,
            "createTime": _ms(created),
            "payTime": _ms(created) + 60_000 if paid else 0,
            "updateTime": _ms(update_time),
            "totalFee": _fen(line.unit_price) * line.quantity + _fen(express_fee),
            "expressFee": _fen(express_fee),
            "buyerOpenId": buyer_open_id,
            "payType": 1,
            "cpsType": 0,
            "preSale": 0,
        },
        "orderItemInfo": {
            "itemId": int(line.product_id) if line.product_id.isdigit() else line.product_id,
            "itemTitle": line.title,
            "skuId": int(line.sku_id) if line.sku_id.isdigit() else line.sku_id,
            "relSkuId": line.out_sku_id or "",
            "num": line.quantity,
            "price": _fen(line.unit_price),
        },
        "orderRefundList": [
            {"refundId": oid * 10 + index, "refundStatus": code} for index, code in enumerate(refund_statuses)
        ],
        "orderAddress": {
            "province": "北京市",
            "city": "北京市",
            "district": "朝阳区",
            "town": "望京街道",
            "desensitiseConsignee": "王*",
            "desensitiseMobile": "139****0000",
            "desensitiseAddress": "望京****号",
            "encryptedConsignee": f"#ks#{oid}#consignee",
            "encryptedMobile": f"#ks#{oid}#mobile",
            "encryptedAddress": f"#ks#{oid}#address",
        },
    }
