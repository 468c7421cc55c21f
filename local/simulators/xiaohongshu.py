"""Simulated Xiaohongshu (小红书) open API, push builder and order factory.

The API is ``POST /xiaohongshu/ark/open_api/v3/common_controller``, checked with the same
:func:`oms.platforms.xiaohongshu.signing.api_sign` the client uses; ``order.getOrderDetail`` answers
from the orders put here (:func:`put_order`), ``inventory.syncSkuStock`` sets stock and
``inventory.getSkuStock`` reads it (``data {skuId, skuStock {available, total}}``), both on the
channel levels of :mod:`local.simulators.stock` (:func:`stock`). Error replies use the
platform's ``{"success": false, "error_code", "error_msg"}`` shape; the codes are approximations
(no public table was found).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from local.simulators import stock as channel
from local.simulators.store import SimulatorStates
from oms.platforms._common import constant_time_equals
from oms.platforms.xiaohongshu.client import (
    COMMON_CONTROLLER_PATH,
    ORDER_DETAIL_METHOD,
    STOCK_READ_METHOD,
    STOCK_SYNC_METHOD,
)
from oms.platforms.xiaohongshu.push import DEFAULT_PUSH_SIGN_PATH
from oms.platforms.xiaohongshu.signing import API_VERSION, api_sign, push_sign

if TYPE_CHECKING:
    from local.simulator import LineSpec, PlatformSimulator, SimReply, SimRequest

PLATFORM = "xiaohongshu"
ORDER_API = ORDER_DETAIL_METHOD
#: Native statuses along the main path, in order (the demo replays these).
HAPPY_PATH: tuple[int, ...] = (1, 2, 4, 6, 7)
PAID_STATUSES = frozenset({2, 3, 4, 5, 6, 7, 10})
SHIPPED_STATUSES = frozenset({5, 6, 7, 10})


_state = SimulatorStates()


def base_url(simulator: PlatformSimulator) -> str:
    return f"{simulator.base_url}/{PLATFORM}"


def put_order(simulator: PlatformSimulator, seller_id: str, order: Mapping[str, Any]) -> None:
    """Store (or replace) an order detail exactly as ``order.getOrderDetail`` returns it."""
    state = _state(simulator)
    with state.lock:
        state.orders[(str(seller_id), str(order["orderId"]))] = copy.deepcopy(dict(order))


def stock(simulator: PlatformSimulator, seller_id: str, sku_id: str) -> int | None:
    """What the channel shows for a SKU, or None when it never had stock for it."""
    with simulator._lock:
        return channel.shown(simulator, PLATFORM, str(seller_id), str(sku_id))


def _error(code: int, message: str, status: int = 200) -> SimReply:
    from local.simulator import SimReply

    return SimReply.json({"success": False, "error_code": code, "error_msg": message}, status=status)


def handle(simulator: PlatformSimulator, request: SimRequest, rest: str) -> SimReply:
    """Answer ``common_controller`` calls with the platform's checks."""
    from local.simulator import SimReply

    if request.method != "POST" or "/" + rest.strip("/") != COMMON_CONTROLLER_PATH:
        return SimReply.json({"error": "no such simulated API", "path": request.path}, status=404)
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _error(-1, "request body is not JSON")
    method = str(body.get("method") or "")
    fault = simulator._enter(PLATFORM, method)
    if fault is not None:
        return _error(fault.code if fault.code is not None else -1, "injected fault", fault.status or 200)
    app = simulator.credentials.get(PLATFORM, {}).get(str(body.get("appId") or ""))
    if app is None:
        return _error(-10001, "appId不存在")
    if body.get("version") != API_VERSION:
        return _error(-10002, "version不支持")
    expected = api_sign(method, str(body["appId"]), str(body.get("timestamp") or ""), app["app_secret"])
    if not constant_time_equals(expected, str(body.get("sign") or "").lower()):
        return _error(-10003, "签名错误")
    seller = next(
        (
            seller
            for seller, token in app.get("access_tokens", {}).items()
            if token == body.get("accessToken")
        ),
        None,
    )
    if seller is None:
        return _error(-10004, "accessToken无效")
    state = _state(simulator)
    with state.lock:
        if method == ORDER_DETAIL_METHOD:
            order = state.orders.get((seller, str(body.get("orderId") or "")))
            if order is None:
                return _error(-20001, "订单不存在")
            return SimReply.json({"success": True, "code": 0, "msg": "成功", "data": copy.deepcopy(order)})
        if method == STOCK_SYNC_METHOD:
            quantity = body.get("qty")
            if not body.get("skuId") or isinstance(quantity, bool) or not isinstance(quantity, int):
                return _error(-20002, "参数错误")
            if quantity < 0:
                return _error(-20002, "参数错误")
            channel.record_push(simulator, PLATFORM, seller, str(body["skuId"]), quantity)
            return SimReply.json({"success": True, "code": 0, "msg": "成功", "data": {}})
        if method == STOCK_READ_METHOD:
            sku = str(body.get("skuId") or "")
            shown = channel.shown(simulator, PLATFORM, seller, sku) if sku else None
            if shown is None:
                return _error(-20003, "商品规格不存在")
            data = {"skuId": sku, "skuStock": {"available": shown, "total": shown}}
            return SimReply.json({"success": True, "code": 0, "msg": "成功", "data": data})
    return _error(-10005, "method不存在")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def push(
    messages: Sequence[Mapping[str, Any]],
    app_key: str,
    app_secret: str,
    timestamp: int,
    *,
    path: str = DEFAULT_PUSH_SIGN_PATH,
) -> tuple[dict[str, str], bytes]:
    """A signed push of ``messages`` (each ``{msgTag, sellerId, data: dict}``): headers and body.

    ``data`` is sent as a JSON string, as the platform does.
    """
    payload = [{**item, "data": _compact(item["data"])} for item in messages]
    body = _compact(payload).encode("utf-8")
    stamp = str(timestamp)
    headers = {
        "content-type": "application/json",
        "app-key": app_key,
        "timestamp": stamp,
        "sign": push_sign(path, app_key, stamp, body, app_secret),
    }
    return headers, body


def status_message(
    order: Mapping[str, Any], seller_id: str, tag: str = "msg_fulfillment_status_change"
) -> dict[str, Any]:
    """A push message about ``order`` (an :func:`order` detail): ids, status and update time."""
    return {
        "msgTag": tag,
        "sellerId": seller_id,
        "data": {
            "orderId": order["orderId"],
            "orderStatus": order["orderStatus"],
            "updateTime": order["orderUpdateTime"],
        },
    }


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _fen(amount: Decimal) -> int:
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(fen)


def order(
    order_id: str,
    seller_id: str,
    status: int,
    update_time: datetime,
    lines: Sequence[LineSpec],
    *,
    create_time: datetime | None = None,
    shipping: Decimal = Decimal("0"),
    after_sales_status: int = 1,
    payment_no: str | None = None,
    user_id: str = "sim_xhs_user_0001",
) -> dict[str, Any]:
    """An ``order.getOrderDetail`` ``data`` object at ``orderStatus`` ``status`` (fen, ms)."""
    created = create_time or update_time
    paid = status in PAID_STATUSES
    goods = sum(_fen(line.unit_price) * line.quantity for line in lines)
    return {
        "orderId": order_id,
        "sellerId": seller_id,
        "orderType": 1,
        "orderStatus": status,
        "orderAfterSalesStatus": after_sales_status,
        "orderCreatedTime": _ms(created),
        "orderPaidTime": _ms(created) + 60_000 if paid else 0,
        "orderUpdateTime": _ms(update_time),
        "deliveryTime": _ms(update_time) if status in SHIPPED_STATUSES else 0,
        "totalPayAmount": goods + _fen(shipping),
        "totalShippingFree": _fen(shipping),
        "paymentNo": payment_no or "",
        "userId": user_id,
        "openAddressId": f"sim-open-address-{order_id}",
        "receiverProvinceName": "上海市",
        "receiverCityName": "上海市",
        "receiverDistrictName": "黄浦区",
        "itemList": [
            {
                "itemId": line.product_id,
                "itemName": line.title,
                "skuId": line.sku_id,
                "skuName": line.title,
                "erpcode": line.out_sku_id or "",
                "skuQuantity": line.quantity,
                "totalPaidAmount": _fen(line.unit_price) * line.quantity,
            }
            for line in lines
        ],
    }
