"""Simulated TOP gateway: ``POST /taobao/router/rest`` with the real MD5/HMAC signature check.

State per simulator: trades per seller (``trade`` objects as ``taobao.trade.fullinfo.get``
returns them), the TMC queue of unconfirmed messages, and which SKUs each item has. Stock levels
live in :mod:`local.simulators.stock` (lag and lost pushes alike for every channel):
``taobao.item.quantity.update`` sets them, ``taobao.item.sku.get`` reads them back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from local.simulators import stock as channel
from oms.platforms.pinduoduo.signing import china_time, format_china_time
from oms.platforms.taobao.signing import sign

if TYPE_CHECKING:
    from local.simulator import LineSpec

PLATFORM = "taobao"
ORDER_API = "taobao.trade.fullinfo.get"
SKU_GET_API = "taobao.item.sku.get"
_STATE: dict[int, dict[str, Any]] = {}


def _state(simulator: Any) -> dict[str, Any]:
    return _STATE.setdefault(id(simulator), {"trades": {}, "tmc": [], "items": {}, "next_id": 1})


def base_url(simulator: Any) -> str:
    return f"{simulator.base_url}/{PLATFORM}"


def put_trade(simulator: Any, seller_id: str, trade: dict[str, Any], *, topic: str | None = None) -> None:
    """Store a trade; with ``topic``, also publish a TMC message about it (as TOP would)."""
    with simulator._lock:
        state = _state(simulator)
        state["trades"].setdefault(str(seller_id), {})[str(trade["tid"])] = copy.deepcopy(trade)
        if topic is not None:
            content = {"tid": trade["tid"], "status": trade.get("status"), "payment": trade.get("payment")}
            state["tmc"].append(
                {
                    "id": state["next_id"],
                    "topic": topic,
                    "content": json.dumps(content),
                    "pub_time": trade.get("modified"),
                    "user_id": int(seller_id),
                    "user_nick": "demo-shop",
                }
            )
            state["next_id"] += 1


def unconfirmed(simulator: Any) -> int:
    with simulator._lock:
        return len(_state(simulator)["tmc"])


def _error(code: int, msg: str, sub_code: str = "") -> Any:
    from local.simulator import SimReply

    return SimReply.json({"error_response": {"code": code, "msg": msg, "sub_code": sub_code}})


def handle(simulator: Any, request: Any, rest: str) -> Any:
    from local.simulator import SimReply

    if rest != "router/rest" or request.method != "POST":
        return SimReply.json({"error": "no such simulated API"}, status=404)
    form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    api = form.get("method", "")
    fault = simulator._enter(PLATFORM, api)
    if fault is not None:
        if fault.code is not None:
            return _error(fault.code, "simulated fault")
        return SimReply(fault.status or 500, b"simulated outage")
    app = simulator.credentials.get(PLATFORM, {}).get(form.get("app_key", ""))
    if app is None:
        return _error(29, "Invalid app Key")
    if form.get("sign") != sign(form, app["app_secret"], form.get("sign_method", "md5")):
        return _error(25, "Invalid signature")
    state = _state(simulator)
    if api == "taobao.tmc.messages.consume":
        quantity = int(form.get("quantity", "100"))
        messages = state["tmc"][:quantity]
        return SimReply.json({"tmc_messages_consume_response": {"messages": {"tmc_message": messages}}})
    if api == "taobao.tmc.messages.confirm":
        confirmed = set(form.get("s_message_ids", "").split(","))
        state["tmc"] = [message for message in state["tmc"] if str(message["id"]) not in confirmed]
        return SimReply.json({"tmc_messages_confirm_response": {"is_success": True}})
    seller = next((s for s, key in app.get("sessions", {}).items() if key == form.get("session")), None)
    if seller is None:
        return _error(27, "Invalid session")
    trades: dict[str, dict[str, Any]] = state["trades"].get(seller, {})
    if api == ORDER_API:
        trade = trades.get(form.get("tid", ""))
        if trade is None:
            return _error(15, "Remote service error", "isv.trade-not-exist")
        text = json.dumps({"trade_fullinfo_get_response": {"trade": trade}}, ensure_ascii=False)
        return SimReply(200, text.encode("utf-8"), {"Content-Type": "application/json"})
    if api == "taobao.trades.sold.increment.get":
        start = china_time(form["start_modified"], field="start_modified")
        end = china_time(form["end_modified"], field="end_modified")
        matching = sorted(
            (t for t in trades.values() if start <= china_time(t["modified"], field="modified") <= end),
            key=lambda t: str(t["tid"]),
        )
        page, size = int(form.get("page_no", "1")), int(form.get("page_size", "100"))
        chunk = matching[(page - 1) * size : page * size]
        body = {
            "trades_sold_increment_get_response": {
                "total_results": len(matching),
                "has_next": page * size < len(matching),
                "trades": {"trade": [{"tid": t["tid"], "modified": t["modified"]} for t in chunk]},
            }
        }
        return SimReply.json(body)
    items: dict[tuple[str, str], set[str]] = state["items"]
    if api == "taobao.item.quantity.update":
        sku = form.get("sku_id") or form.get("outer_id") or ""
        num_iid, given = form.get("num_iid", ""), _integer(form.get("quantity"))
        if not num_iid or not sku or given is None or form.get("type", "1") not in ("1", "2"):
            return _error(40, "Missing required arguments", "isv.missing-parameter")
        total = (
            given
            if form.get("type", "1") == "1"
            else channel.latest(simulator, PLATFORM, seller, sku) + given
        )
        if total < 0:
            return _error(15, "Remote service error", "isv.invalid-parameter:quantity")
        items.setdefault((seller, num_iid), set()).add(sku)
        channel.record_push(simulator, PLATFORM, seller, sku, total)
        return SimReply.json({"item_quantity_update_response": {"item": {"num_iid": form.get("num_iid")}}})
    if api == SKU_GET_API:
        sku, num_iid = form.get("sku_id", ""), form.get("num_iid", "")
        if not form.get("fields") or not sku:
            return _error(40, "Missing required arguments", "isv.missing-parameter")
        if sku not in items.get((seller, num_iid), set()):
            return _error(15, "Remote service error", "isv.item-sku-not-exist")
        fields = set(form["fields"].split(","))
        full = {
            "sku_id": int(sku) if sku.isdigit() else sku,
            "num_iid": int(num_iid) if num_iid.isdigit() else num_iid,
            "quantity": channel.shown(simulator, PLATFORM, seller, sku) or 0,
            "with_hold_quantity": 0,
        }
        return SimReply.json(
            {"item_sku_get_response": {"sku": {k: v for k, v in full.items() if k in fields}}}
        )
    return _error(22, "Invalid method")


def _integer(text: str | None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return None


#: The TMC topic TOP publishes when a trade reaches a status (what the demo replays).
TOPIC_BY_STATUS: dict[str, str] = {
    "WAIT_BUYER_PAY": "taobao_trade_TradeCreate",
    "WAIT_SELLER_SEND_GOODS": "taobao_trade_TradeBuyerPay",
    "SELLER_CONSIGNED_PART": "taobao_trade_TradePartlySellerShip",
    "WAIT_BUYER_CONFIRM_GOODS": "taobao_trade_TradeSellerShip",
    "TRADE_FINISHED": "taobao_trade_TradeSuccess",
    "TRADE_CLOSED": "taobao_trade_TradeClose",
    "TRADE_CLOSED_BY_TAOBAO": "taobao_trade_TradeCloseAndModifyDetailOrder",
}
#: The topic of a trade whose lines have an open refund.
REFUND_TOPIC = "taobao_refund_RefundCreated"


def trade(
    tid: str,
    status: str,
    modified: datetime,
    lines: Sequence[LineSpec],
    *,
    line_refunds: Sequence[str] = (),
    created: datetime | None = None,
    alipay_no: str = "",
    post_fee: Decimal = Decimal("0"),
) -> dict[str, Any]:
    """A ``trade`` as ``taobao.trade.fullinfo.get`` returns it: yuan as text, UTC+8 wall-clock
    times, the receiver masked (``*``) with its ``oaid``, as TOP delivers it to an app.

    ``line_refunds`` gives each line's ``refund_status`` (``NO_REFUND`` for the others).
    """
    created = created or modified
    paid = status not in ("WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY", "TRADE_CLOSED_BY_TAOBAO")
    total = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    return {
        "tid": int(tid),
        "tid_str": tid,
        "status": status,
        "type": "fixed",
        "created": format_china_time(created),
        "pay_time": format_china_time(created + timedelta(seconds=30)) if paid else "",
        "modified": format_china_time(modified),
        "payment": f"{total + post_fee:.2f}",
        "total_fee": f"{total:.2f}",
        "post_fee": f"{post_fee:.2f}",
        "alipay_no": alipay_no if paid else "",
        "buyer_open_uid": f"AAH{tid[-8:]}buyer",
        "seller_nick": "demo-shop",
        "receiver_name": "李**",
        "receiver_mobile": "*******5678",
        "receiver_state": "上海",
        "receiver_city": "上海市",
        "receiver_district": "浦东新区",
        "receiver_town": "张江镇",
        "receiver_address": "**路**号",
        "oaid": f"1CqJYGM0{tid[-8:]}oaid",
        "shipping_type": "express",
        "orders": {
            "order": [
                {
                    "oid": int(tid) + index + 1,
                    "oid_str": str(int(tid) + index + 1),
                    "num_iid": int(line.product_id) if line.product_id.isdigit() else line.product_id,
                    "sku_id": line.sku_id,
                    "outer_sku_id": line.out_sku_id or "",
                    "num": line.quantity,
                    "price": f"{line.unit_price:.2f}",
                    "title": line.title,
                    "refund_status": line_refunds[index] if index < len(line_refunds) else "NO_REFUND",
                    "status": status,
                }
                for index, line in enumerate(lines)
            ]
        },
    }
