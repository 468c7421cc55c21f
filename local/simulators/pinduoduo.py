"""Simulated Pinduoduo router API: ``POST /pinduoduo/api/router`` with the real MD5 signature check.

State per simulator: orders per mall (``order_info`` objects as the API returns them) and which
SKUs each goods has. Stock levels live in :mod:`local.simulators.stock` (with Pinduoduo's ~3.7 s
lag): ``pdd.goods.quantity.update`` sets them, ``pdd.goods.detail.get`` reads them back in its
``sku_list``. Helpers :func:`put_order` and :func:`stock` are the test's handle on the platform truth.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from local.simulators import stock as channel
from oms.platforms.pinduoduo.signing import china_time, format_china_time, sign

if TYPE_CHECKING:
    from local.simulator import LineSpec

PLATFORM = "pinduoduo"
ORDER_API = "pdd.order.information.get"
GOODS_DETAIL_API = "pdd.goods.detail.get"
_STATE: dict[int, dict[str, Any]] = {}


def _state(simulator: Any) -> dict[str, Any]:
    return _STATE.setdefault(id(simulator), {"orders": {}, "goods": {}})


def base_url(simulator: Any) -> str:
    return f"{simulator.base_url}/{PLATFORM}"


def put_order(simulator: Any, mall_id: str, info: dict[str, Any]) -> None:
    """Store (or replace) an ``order_info`` exactly as ``pdd.order.information.get`` returns it."""
    with simulator._lock:
        _state(simulator)["orders"].setdefault(str(mall_id), {})[str(info["order_sn"])] = copy.deepcopy(info)


def stock(simulator: Any, mall_id: str, goods_id: str, sku: str) -> int | None:
    """The newest quantity set for the goods' SKU (buyers may still see the older one: lag)."""
    with simulator._lock:
        if sku not in _state(simulator)["goods"].get((str(mall_id), goods_id), ()):
            return None
        return channel.latest(simulator, PLATFORM, str(mall_id), sku)


def _error(code: int, message: str, status: int = 200) -> Any:
    from local.simulator import SimReply

    return SimReply.json({"error_response": {"error_code": code, "error_msg": message}}, status=status)


def handle(simulator: Any, request: Any, rest: str) -> Any:
    from local.simulator import SimReply

    if rest != "api/router" or request.method != "POST":
        return SimReply.json({"error": "no such simulated API"}, status=404)
    form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    api = form.get("type", "")
    fault = simulator._enter(PLATFORM, api)
    if fault is not None:
        if fault.code is not None:
            return _error(fault.code, "simulated fault", fault.status or 200)
        return SimReply(fault.status or 500, b"simulated outage")
    app = simulator.credentials.get(PLATFORM, {}).get(form.get("client_id", ""))
    if app is None:
        return _error(10016, "client_id not found")
    if form.get("sign") != sign(form, app["client_secret"]):
        return _error(10014, "sign error")
    mall = next((m for m, t in app.get("access_tokens", {}).items() if t == form.get("access_token")), None)
    if mall is None:
        return _error(10019, "access_token invalid")
    orders: dict[str, dict[str, Any]] = _state(simulator)["orders"].get(mall, {})
    if api == "pdd.order.number.list.increment.get":
        start = datetime.fromtimestamp(int(form["start_updated_at"]), tz=UTC)
        end = datetime.fromtimestamp(int(form["end_updated_at"]), tz=UTC)
        if (end - start).total_seconds() > 30 * 60:
            return _error(50000, "time range over 30 minutes")
        matching = sorted(
            (info for info in orders.values() if start <= china_time(info["updated_at"], field="u") <= end),
            key=lambda info: str(info["order_sn"]),
        )
        page, size = int(form.get("page", "1")), int(form.get("page_size", "100"))
        chunk = matching[(page - 1) * size : page * size]
        body = {
            "order_sn_increment_get_response": {
                "total_count": len(matching),
                "has_next": page * size < len(matching),
                "order_sn_list": [
                    {"order_sn": info["order_sn"], "updated_at": info["updated_at"]} for info in chunk
                ],
            }
        }
        return SimReply.json(body)
    if api == ORDER_API:
        info = orders.get(form.get("order_sn", ""))
        if info is None:
            return _error(52000, "order not found")
        text = json.dumps({"order_info_get_response": {"order_info": info}}, ensure_ascii=False)
        return SimReply(200, text.encode("utf-8"), {"Content-Type": "application/json"})
    goods: dict[tuple[str, str], list[str]] = _state(simulator)["goods"]
    if api == "pdd.goods.quantity.update":
        sku = form.get("sku_id") or form.get("outer_id") or ""
        goods_id, quantity = form.get("goods_id", ""), _integer(form.get("quantity"))
        if not goods_id or not sku or quantity is None or form.get("update_type") not in ("1", "2"):
            return _error(10000, "参数错误")
        total = (
            quantity
            if form["update_type"] == "1"
            else channel.latest(simulator, PLATFORM, mall, sku) + quantity
        )
        if total < 0:
            return _error(10000, "库存不能为负")
        skus = goods.setdefault((mall, goods_id), [])
        if sku not in skus:
            skus.append(sku)
        # What buyers see follows ~3.7 s later on the simulator's clock (local.simulators.stock).
        channel.record_push(simulator, PLATFORM, mall, sku, total)
        return SimReply.json({"goods_quantity_update_response": {"is_success": True}})
    if api == GOODS_DETAIL_API:
        goods_id = form.get("goods_id", "")
        if (mall, goods_id) not in goods:
            return _error(10000, "商品不存在")
        sku_list = [
            {
                "sku_id": int(sku) if sku.isdigit() else sku,
                "quantity": channel.shown(simulator, PLATFORM, mall, sku) or 0,
                "is_onsale": 1,
                "out_sku_sn": "",
            }
            for sku in goods[(mall, goods_id)]
        ]
        detail = {
            "goods_id": int(goods_id) if goods_id.isdigit() else goods_id,
            "status": 1,
            "sku_list": sku_list,
        }
        return SimReply.json({"goods_detail_get_response": detail})
    return _error(10001, "unknown type")


def _integer(text: str | None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return None


def order_info(
    order_sn: str,
    order_status: int,
    updated: datetime,
    lines: Sequence[LineSpec],
    *,
    refund_status: int = 1,
    created: datetime | None = None,
    pay_no: str = "",
    postage: Decimal = Decimal("0"),
) -> dict[str, Any]:
    """An ``order_info`` as ``pdd.order.information.get`` returns it: yuan, UTC+8 wall-clock times,
    the receiver encrypted (``~…~``) with its masked copies, as Pinduoduo delivers it."""
    created = created or updated
    goods = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    return {
        "order_sn": order_sn,
        "order_status": order_status,
        "refund_status": refund_status,
        "confirm_status": 1,
        "trade_type": 0,
        "created_time": format_china_time(created),
        "confirm_time": format_china_time(created + timedelta(seconds=30)),
        "pay_time": format_china_time(created + timedelta(seconds=30)),
        "updated_at": format_china_time(updated),
        "goods_amount": float(goods),
        "pay_amount": float(goods + postage),
        "postage": float(postage),
        "discount_amount": 0.0,
        "pay_no": pay_no,
        "pay_type": "WEIXIN",
        "province": "浙江省",
        "city": "杭州市",
        "town": "西湖区",
        "receiver_name": f"~AgAAAAE{order_sn[-6:]}name~0~",
        "receiver_name_mask": "张*",
        "receiver_phone": f"~AgAAAAE{order_sn[-6:]}phone~1~",
        "receiver_phone_mask": "*******1234",
        "address": f"~AgAAAAE{order_sn[-6:]}addr~0~",
        "address_mask": "文*路**号",
        "item_list": [
            {
                "goods_id": int(line.product_id) if line.product_id.isdigit() else line.product_id,
                "sku_id": int(line.sku_id) if line.sku_id.isdigit() else line.sku_id,
                "outer_id": line.out_sku_id or "",
                "goods_count": line.quantity,
                "goods_price": float(line.unit_price),
                "goods_name": line.title,
            }
            for line in lines
        ],
    }
