"""Simulated WeChat mini-program shipping API, and WeChat Pay v3 notifications as the platform sends them.

API (under ``/wechat_mini/``): ``GET cgi-bin/token`` (app id + secret → access token) and
``POST wxa/sec/order/get_order?access_token=`` (``merchant_id`` + ``merchant_trade_no``).
:func:`pay_notification` builds a signed, encrypted notification with the app's test key pair
(``simulator_platform_private_key`` in ``local/credentials.json``: a test-only key).
"""

from __future__ import annotations

import copy
import functools
import json
import secrets as random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oms.platforms.wechat_mini import crypto

if TYPE_CHECKING:
    from local.simulator import LineSpec

PLATFORM = "wechat_mini"
ORDER_API = "wxa/sec/order/get_order"
TOKEN_API = "cgi-bin/token"  # noqa: S105 - a URL path, not a password
TOKEN_LIFETIME_SECONDS = 7200
_STATE: dict[int, dict[str, Any]] = {}


def _state(simulator: Any) -> dict[str, Any]:
    return _STATE.setdefault(id(simulator), {"orders": {}, "tokens": {}})


def base_url(simulator: Any) -> str:
    return f"{simulator.base_url}/{PLATFORM}"


def put_order(simulator: Any, appid: str, order: dict[str, Any]) -> None:
    """Store a shipping-management order (``get_order``'s ``order`` object)."""
    with simulator._lock:
        _state(simulator)["orders"][(appid, str(order["merchant_trade_no"]))] = copy.deepcopy(order)


def handle(simulator: Any, request: Any, rest: str) -> Any:
    from local.simulator import SimReply

    api = rest.strip("/")
    fault = simulator._enter(PLATFORM, api)
    if fault is not None:
        if fault.code is not None:
            return SimReply.json(
                {"errcode": fault.code, "errmsg": "simulated fault"}, status=fault.status or 200
            )
        return SimReply(fault.status or 500, b"simulated outage")
    apps = simulator.credentials.get(PLATFORM, {})
    state = _state(simulator)
    if api == TOKEN_API and request.method == "GET":
        app = apps.get(request.query.get("appid", ""))
        if app is None or request.query.get("secret") != app.get("app_secret"):
            return SimReply.json({"errcode": 40125, "errmsg": "invalid appsecret"})
        token = random.token_hex(16)
        state["tokens"][token] = request.query["appid"]
        return SimReply.json({"access_token": token, "expires_in": TOKEN_LIFETIME_SECONDS})
    if api == ORDER_API and request.method == "POST":
        appid = state["tokens"].get(request.query.get("access_token", ""))
        if appid is None:
            return SimReply.json({"errcode": 40001, "errmsg": "invalid credential"})
        body = json.loads(request.body or b"{}")
        order = state["orders"].get((appid, str(body.get("merchant_trade_no", ""))))
        if order is None or str(body.get("merchant_id")) != str(apps[appid].get("mchid")):
            return SimReply.json({"errcode": 10060001, "errmsg": "order not found"})
        return SimReply.json({"errcode": 0, "errmsg": "ok", "order": order})
    return SimReply.json({"errcode": 404, "errmsg": "no such simulated API"}, status=404)


def pay_notification(
    app: dict[str, Any],
    resource: dict[str, Any],
    *,
    event_type: str,
    signed_at: datetime,
    original_type: str = "transaction",
) -> tuple[dict[str, str], bytes]:
    """The headers and body WeChat Pay would POST for ``resource``, signed and encrypted."""
    nonce = random.token_hex(6)  # 12 characters, as the AEAD nonce
    associated = original_type
    notification = {
        "id": f"EV-{random.token_hex(8)}",
        "create_time": signed_at.isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "simulated",
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": crypto.encrypt_resource(
                app["api_v3_key"], nonce, associated, json.dumps(resource, ensure_ascii=False)
            ),
            "associated_data": associated,
            "nonce": nonce,
        },
    }
    body = json.dumps(notification, ensure_ascii=False).encode("utf-8")
    key = _private_key(app["simulator_platform_private_key"])
    timestamp, request_nonce = str(int(signed_at.timestamp())), random.token_hex(16)
    headers = {
        "Wechatpay-Signature": crypto.sign(key, timestamp, request_nonce, body),
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": request_nonce,
        "Wechatpay-Serial": next(iter(app["platform_certificates"])),
        "Content-Type": "application/json",
    }
    return headers, body


#: WeChat Pay writes its times in China Standard Time.
CHINA_TIME = timezone(timedelta(hours=8))


def _fen(amount: Decimal) -> int:
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(fen)


def _china(moment: datetime) -> str:
    return moment.astimezone(CHINA_TIME).isoformat(timespec="seconds")


def shipping_order(
    app: dict[str, Any],
    merchant_trade_no: str,
    order_state: int,
    lines: Sequence[LineSpec],
    *,
    created: datetime,
    paid: datetime,
    transaction_id: str,
    openid: str = "oUpF8sim_mini_buyer_0001",
) -> dict[str, Any]:
    """A shipping-management order (``get_order``'s ``order``): fen, Unix seconds."""
    return {
        "transaction_id": transaction_id,
        "merchant_id": app["mchid"],
        "sub_merchant_id": "",
        "merchant_trade_no": merchant_trade_no,
        "description": ", ".join(line.title for line in lines),
        "paid_amount": sum(_fen(line.unit_price) * line.quantity for line in lines),
        "openid": openid,
        "trade_create_time": int(created.timestamp()),
        "pay_time": int(paid.timestamp()),
        "order_state": order_state,
        "in_complaint": False,
        "shipping": {"delivery_mode": 1, "logistics_type": 1, "finish_shipping": order_state >= 2},
    }


def transaction_resource(
    app: dict[str, Any], order: dict[str, Any], *, trade_state: str = "SUCCESS"
) -> dict[str, Any]:
    """The decrypted ``resource`` of a ``TRANSACTION.*`` notification about ``order`` (a
    :func:`shipping_order`): fen, ISO 8601 times in UTC+8."""
    total = int(order["paid_amount"])
    return {
        "appid": app["appid"],
        "mchid": app["mchid"],
        "out_trade_no": order["merchant_trade_no"],
        "transaction_id": order["transaction_id"],
        "trade_type": "JSAPI",
        "trade_state": trade_state,
        "trade_state_desc": "支付成功" if trade_state == "SUCCESS" else trade_state,
        "bank_type": "CMC",
        "attach": "",
        "success_time": _china(datetime.fromtimestamp(int(order["pay_time"]), tz=CHINA_TIME)),
        "payer": {"openid": order["openid"]},
        "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
    }


def refund_resource(
    app: dict[str, Any],
    order: dict[str, Any],
    *,
    refund_status: str,
    refund_fen: int,
    refund_id: str,
    at: datetime,
) -> dict[str, Any]:
    """The decrypted ``resource`` of a ``REFUND.*`` notification about ``order``."""
    total = int(order["paid_amount"])
    return {
        "mchid": app["mchid"],
        "out_trade_no": order["merchant_trade_no"],
        "transaction_id": order["transaction_id"],
        "out_refund_no": f"RF-{order['merchant_trade_no']}",
        "refund_id": refund_id,
        "refund_status": refund_status,
        "success_time": _china(at),
        "user_received_account": "招商银行信用卡0403",
        "amount": {"total": total, "refund": refund_fen, "payer_total": total, "payer_refund": refund_fen},
    }


@functools.lru_cache(maxsize=8)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    """The simulated platform's signing key, parsed once (loading an RSA key costs milliseconds)."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key
