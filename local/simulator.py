"""The platform simulator: Douyin, Shopify and WeChat Channels order APIs on 127.0.0.1.

It holds the "platform truth" (the orders as each platform's API would return them), checks
every request the way the platform does (Douyin's ``sign``, Shopify's access token, WeChat's
access token) with the same signing code the adapters use, and answers in each platform's own
success and error shapes. Push builders make signed webhooks the adapters accept, and order
factories make realistic platform-native orders at any point of their lifecycle.

Error codes follow the platforms' public error tables; two are approximations, because no public
page names them: Douyin "order not found" is answered as ``50002 isv.business-failed`` and WeChat
"order not found" as ``errcode 100002``.

Examples
--------
>>> simulator = PlatformSimulator(load_credentials()).start()  # doctest: +SKIP
>>> order = wechat_order("3705115058471208928", app_id, 20, now, lines)  # doctest: +SKIP
>>> simulator.put_order("wechat_channels", app_id, order)  # doctest: +SKIP
>>> simulator.base_urls()["wechat_channels"]  # doctest: +SKIP
'http://127.0.0.1:53211/wechat_channels'
>>> simulator.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local import simulators
from local.simulators import stock
from oms.platforms._common import constant_time_equals
from oms.platforms.douyin.signing import api_sign, event_sign
from oms.platforms.shopify.webhook import webhook_hmac
from oms.platforms.wechat_channels import crypto

DOUYIN = "douyin"
SHOPIFY = "shopify"
WECHAT_CHANNELS = "wechat_channels"
PLATFORMS = (DOUYIN, SHOPIFY, WECHAT_CHANNELS)

CREDENTIALS_PATH = Path(__file__).with_name("credentials.json")

# API names, as counted in ``PlatformSimulator.calls`` ("<platform>:<api>").
DOUYIN_ORDER_DETAIL = "order.orderDetail"
SHOPIFY_ORDER_GET = "orders.get"
WECHAT_TOKEN = "cgi-bin/token"  # noqa: S105 - an API name, not a password
WECHAT_ORDER_GET = "channels/ec/order/get"
#: The API a fault applies to when ``fail_next`` names none.
ORDER_APIS: Mapping[str, str] = {
    DOUYIN: DOUYIN_ORDER_DETAIL,
    SHOPIFY: SHOPIFY_ORDER_GET,
    WECHAT_CHANNELS: WECHAT_ORDER_GET,
}

SHOPIFY_API_VERSION = "2025-01"
WECHAT_TOKEN_LIFETIME = timedelta(seconds=7200)
WECHAT_ORDER_NOT_FOUND = 100002  # approximation: no public page names this code


def load_credentials(path: Path | str = CREDENTIALS_PATH) -> dict[str, Any]:
    """The local stack's test secrets: ``{platform: {app id: secrets}}``."""
    credentials: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return credentials


# =============================================================================================
# The server
# =============================================================================================


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One request as the simulator routes it (header names lower-cased)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class SimReply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> SimReply:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


@dataclass(slots=True)
class _Fault:
    status: int | None
    code: int | None
    remaining: int


class PlatformSimulator:
    """Platform order APIs with real request checks, serving from a daemon thread.

    Parameters
    ----------
    credentials:
        ``{platform: {app id: secrets}}`` as in ``local/credentials.json``: Douyin apps keyed by
        ``app_key`` (``app_secret``, ``access_tokens: {shop_id: token}``), Shopify shops keyed by
        domain (``access_token``), WeChat apps keyed by app id (``app_secret``).
    host, port:
        Where to listen; port 0 picks a free one. Only loopback hosts are accepted.
    clock:
        Now, as an aware datetime; decides when WeChat access tokens expire (a simulated clock
        makes hours pass instantly).

    Attributes
    ----------
    base_url:
        ``http://host:port`` once started.
    calls:
        Requests per API, keyed ``"<platform>:<api>"`` (``"douyin:order.orderDetail"``,
        ``"shopify:orders.get"``, ``"wechat_channels:cgi-bin/token"``,
        ``"wechat_channels:channels/ec/order/get"``), rejected ones included.
    """

    def __init__(
        self,
        credentials: Mapping[str, Mapping[str, Mapping[str, Any]]],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the platform simulator only listens on the loopback interface")
        self.credentials = credentials
        self.host, self.port = host, port
        self.clock = clock
        self.base_url: str | None = None
        self.calls: Counter[str] = Counter()
        self._orders: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._faults: dict[tuple[str, str], list[_Fault]] = {}
        self._wechat_tokens: dict[str, tuple[str, datetime]] = {}
        self._serial = 0
        # One lock for all state: the handler threads of the HTTP server share it.
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> PlatformSimulator:
        """Listen and serve in a daemon thread; sets :attr:`base_url`. Returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.simulator = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            # A short poll interval keeps stop() fast; the loop itself idles in select().
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="platform-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> PlatformSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def base_urls(self) -> dict[str, str]:
        """The base URL per platform, for ``PLATFORM_BASE_URLS``.

        Shopify's contains ``{shop}``: its client puts the shop domain there (production hosts
        are per shop, ``https://{shop}``).
        """
        if self.base_url is None:
            raise RuntimeError("start the simulator first")
        urls = {
            DOUYIN: f"{self.base_url}/{DOUYIN}",
            SHOPIFY: f"{self.base_url}/{SHOPIFY}/{{shop}}",
            WECHAT_CHANNELS: f"{self.base_url}/{WECHAT_CHANNELS}",
        }
        for platform in simulators.PLATFORM_MODULES:
            module = simulators.module_for(platform)
            assert module is not None
            urls[platform] = module.base_url(self)
        return urls

    # --- the truth --------------------------------------------------------------------------

    def put_order(self, platform: str, shop_id: str, order: Mapping[str, Any]) -> None:
        """Store (or replace) an order exactly as the platform's API returns it."""
        key = (platform, str(shop_id), _order_key(platform, order))
        with self._lock:
            self._orders[key] = copy.deepcopy(dict(order))

    def get_order(self, platform: str, shop_id: str, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            order = self._orders.get((platform, str(shop_id), str(order_id)))
            return copy.deepcopy(order) if order is not None else None

    # --- faults and tokens ------------------------------------------------------------------

    def fail_next(
        self,
        platform: str,
        *,
        status: int | None = None,
        code: int | None = None,
        times: int = 1,
        api: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of one API fail, before any check.

        ``code`` answers HTTP 200 (or ``status``) with the platform's error body carrying that
        code (Douyin ``code``, WeChat ``errcode``); ``status`` alone answers that HTTP status.
        ``api`` defaults to the platform's order API.
        """
        if status is None and code is None:
            raise ValueError("a fault needs an HTTP status or a platform error code")
        if platform == SHOPIFY and status is None:
            raise ValueError("Shopify errors are HTTP statuses: give status")
        if times < 1:
            raise ValueError("times must be at least 1")
        extension = simulators.module_for(platform)
        default_api = extension.ORDER_API if extension is not None else ORDER_APIS[platform]
        target = (platform, api or default_api)
        with self._lock:
            self._faults.setdefault(target, []).append(_Fault(status, code, times))

    def expire_access_tokens(self) -> None:
        """Expire every WeChat access token issued so far (the next order call gets 42001)."""
        with self._lock:
            now = self.clock()
            self._wechat_tokens = {token: (app, now) for token, (app, _) in self._wechat_tokens.items()}

    # --- routing ----------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimReply:
        """Answer one request (the HTTP handler calls this; tests may too)."""
        platform, _, rest = request.path.strip("/").partition("/")
        with self._lock:
            self._serial += 1
            if platform == DOUYIN and request.method == "POST":
                return self._douyin(request, rest)
            shop, _, shopify_path = rest.partition("/admin/api/")
            if platform == SHOPIFY and shopify_path.partition("/")[2] in stock.SHOPIFY_STOCK_PATHS:
                stock_reply: SimReply = stock.shopify(
                    self, request, shop, shopify_path.partition("/")[2].split("?")[0]
                )
                return stock_reply
            if platform == SHOPIFY and request.method == "GET":
                return self._shopify(request, rest.split("/"))
            if platform == WECHAT_CHANNELS and rest in stock.WECHAT_STOCK_APIS and request.method == "POST":
                wechat_reply: SimReply = stock.wechat(self, request, rest)
                return wechat_reply
            if platform == WECHAT_CHANNELS and rest == WECHAT_TOKEN and request.method == "GET":
                return self._wechat_token(request)
            if platform == WECHAT_CHANNELS and rest == WECHAT_ORDER_GET and request.method == "POST":
                return self._wechat_order_get(request)
            extension = simulators.module_for(platform)
            if extension is not None:
                reply: SimReply = extension.handle(self, request, rest)
                return reply
        return SimReply.json({"error": "no such simulated API", "path": request.path}, status=404)

    def _enter(self, platform: str, api: str) -> _Fault | None:
        """Count a call and pop the fault waiting for it, if any."""
        self.calls[f"{platform}:{api}"] += 1
        queue = self._faults.get((platform, api))
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining == 0:
            queue.pop(0)
        return fault

    # --- Douyin -----------------------------------------------------------------------------

    def _douyin_error(self, code: int, msg: str, sub_code: str, sub_msg: str, status: int = 200) -> SimReply:
        return SimReply.json(
            {
                "code": code,
                "msg": msg,
                "sub_code": sub_code,
                "sub_msg": sub_msg,
                "log_id": f"sim{self._serial:017d}",
                "data": {},
            },
            status=status,
        )

    def _douyin(self, request: SimRequest, path: str) -> SimReply:
        api = path.strip("/").replace("/", ".")
        if api != DOUYIN_ORDER_DETAIL and api not in stock.DOUYIN_STOCK_APIS:
            return self._douyin_error(70000, "接口服务已下线", "isp.api-service-off", "API不存在或API已下线")
        fault = self._enter(DOUYIN, api)
        if fault is not None:
            return self._douyin_error(
                fault.code or 20000,
                "服务不可用",
                "isp.simulated-fault",
                "injected fault",
                fault.status or 200,
            )
        query = request.query
        missing = [
            (name, sub)
            for name, sub in (
                ("app_key", "isv.app-id-missing"),
                ("sign", "isv.signature-missing"),
                ("access_token", "isv.access-token-missing"),
            )
            if not query.get(name)
        ]
        if missing:
            return self._douyin_error(40001, "缺少必选参数", missing[0][1], f"{missing[0][0]} is required")
        app = self.credentials.get(DOUYIN, {}).get(query["app_key"])
        if app is None:
            return self._douyin_error(40001, "缺少必选参数", "isv.app-id-missing", "认证失败，app_key不存在")
        param = request.body.decode("utf-8", errors="replace") or query.get("param_json", "")
        try:
            expected = api_sign(
                query["app_key"],
                app["app_secret"],
                query.get("method", ""),
                param,
                query.get("timestamp", ""),
                query.get("v", ""),
                query.get("sign_method", "md5"),
            )
        except ValueError:
            expected = ""
        if not expected or not constant_time_equals(expected, query["sign"].lower()):
            return self._douyin_error(40003, "非法的参数", "isv.signature-invalid", "签名校验失败")
        if query.get("method") != api:
            return self._douyin_error(
                40003, "非法的参数", "isv.parameter-format-invalid", "method does not match the path"
            )
        shop_id = next(
            (shop for shop, token in app.get("access_tokens", {}).items() if token == query["access_token"]),
            None,
        )
        if shop_id is None:
            return self._douyin_error(
                40003,
                "非法的参数",
                "isv.access-token-no-existed",
                "access_token不存在，请使用最新的access_token访问",
            )
        try:
            params = json.loads(param)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            return self._douyin_error(
                40003, "非法的参数", "isv.parameter-format-invalid", "业务参数json解析失败"
            )
        if api in stock.DOUYIN_STOCK_APIS:
            douyin_reply: SimReply = stock.douyin(self, str(shop_id), api, params)
            return douyin_reply
        order_id = params.get("shop_order_id")
        if not order_id:
            return self._douyin_error(40002, "缺少必选参数", "isv.missing-parameter", "shop_order_id")
        order = self._orders.get((DOUYIN, str(shop_id), str(order_id)))
        if order is None:
            return self._douyin_error(50002, "业务处理失败", "isv.business-failed", "订单不存在")
        return SimReply.json(
            {
                "code": 10000,
                "msg": "success",
                "sub_code": "",
                "sub_msg": "",
                "log_id": f"sim{self._serial:017d}",
                "data": {"shop_order_detail": order},
            }
        )

    # --- Shopify ----------------------------------------------------------------------------

    def _shopify(self, request: SimRequest, parts: list[str]) -> SimReply:
        # <shop>/admin/api/<version>/orders/<id>.json
        is_order_get = (
            len(parts) == 6
            and parts[1:3] == ["admin", "api"]
            and parts[4] == "orders"
            and parts[5].endswith(".json")
        )
        if not is_order_get:
            return SimReply.json({"errors": "Not Found"}, status=404)
        fault = self._enter(SHOPIFY, SHOPIFY_ORDER_GET)
        if fault is not None and fault.status is not None:
            message = (
                "Exceeded 2 calls per second for api client. "
                "Reduce request rates to resume uninterrupted service."
                if fault.status == 429
                else "Internal Server Error"
            )
            headers = {"Retry-After": "1.0"} if fault.status == 429 else {}
            return SimReply.json({"errors": message}, status=fault.status, headers=headers)
        shop = self.credentials.get(SHOPIFY, {}).get(parts[0])
        if shop is None:
            return SimReply.json({"errors": "Not Found"}, status=404)
        token = request.headers.get("x-shopify-access-token", "")
        if not token or not constant_time_equals(str(shop["access_token"]), token):
            return SimReply.json(
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
                status=401,
            )
        order = self._orders.get((SHOPIFY, parts[0], parts[5].removesuffix(".json")))
        if order is None:
            return SimReply.json({"errors": "Not Found"}, status=404)
        return SimReply.json({"order": order}, headers={"X-Shopify-Shop-Api-Call-Limit": "1/40"})

    # --- WeChat Channels --------------------------------------------------------------------

    @staticmethod
    def _wechat_error(errcode: int, errmsg: str, status: int = 200) -> SimReply:
        return SimReply.json({"errcode": errcode, "errmsg": errmsg}, status=status)

    def _wechat_fault(self, api: str) -> SimReply | None:
        fault = self._enter(WECHAT_CHANNELS, api)
        if fault is None:
            return None
        errcode = fault.code if fault.code is not None else -1
        return self._wechat_error(
            errcode, "system error" if errcode == -1 else "injected fault", fault.status or 200
        )

    def _wechat_token(self, request: SimRequest) -> SimReply:
        if (fault := self._wechat_fault(WECHAT_TOKEN)) is not None:
            return fault
        query = request.query
        if query.get("grant_type") != "client_credential":
            return self._wechat_error(40002, "invalid grant_type")
        app_id = query.get("appid", "")
        app = self.credentials.get(WECHAT_CHANNELS, {}).get(app_id)
        if app is None:
            return self._wechat_error(40013, "invalid appid")
        if not constant_time_equals(str(app["app_secret"]), query.get("secret", "")):
            return self._wechat_error(40125, "invalid appsecret")
        token = "sim_" + secrets.token_urlsafe(32)
        self._wechat_tokens[token] = (app_id, self.clock() + WECHAT_TOKEN_LIFETIME)
        return SimReply.json(
            {"access_token": token, "expires_in": int(WECHAT_TOKEN_LIFETIME.total_seconds())}
        )

    def _wechat_order_get(self, request: SimRequest) -> SimReply:
        if (fault := self._wechat_fault(WECHAT_ORDER_GET)) is not None:
            return fault
        token = request.query.get("access_token")
        if not token:
            return self._wechat_error(41001, "access_token missing")
        issued = self._wechat_tokens.get(token)
        if issued is None:
            return self._wechat_error(40001, "invalid credential, access_token is invalid or not latest")
        app_id, expires_at = issued
        if self.clock() >= expires_at:
            return self._wechat_error(42001, "access_token expired")
        try:
            params = json.loads(request.body or b"null")
        except ValueError:
            params = None
        order_id = params.get("order_id") if isinstance(params, dict) else None
        if not order_id:
            return self._wechat_error(47001, "data format error")
        order = self._orders.get((WECHAT_CHANNELS, app_id, str(order_id)))
        if order is None:
            return self._wechat_error(WECHAT_ORDER_NOT_FOUND, "order not exist")
        return SimReply.json({"errcode": 0, "errmsg": "ok", "order": order})


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP into :class:`SimRequest` and back; all logic is in :meth:`PlatformSimulator.handle`."""

    server_version = "PlatformSimulator/1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        # Requests carry tokens in query strings; the default access log would print them.
        return

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = SimRequest(
            method=method,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        simulator: PlatformSimulator = self.server.simulator  # type: ignore[attr-defined]
        reply = simulator.handle(request)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


def _order_key(platform: str, order: Mapping[str, Any]) -> str:
    id_field = "id" if platform == SHOPIFY else "order_id"
    if platform not in PLATFORMS:
        raise ValueError(f"the simulator does not serve {platform!r}")
    value = order.get(id_field)
    if value in (None, ""):
        raise ValueError(f"a {platform} order needs {id_field}")
    return str(value)


# =============================================================================================
# Push builders (pure): what each platform sends to the webhook
# =============================================================================================


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def douyin_push(
    messages: Sequence[Mapping[str, Any]], app_key: str, app_secret: str
) -> tuple[dict[str, str], bytes]:
    """A signed Douyin push of ``messages`` (each ``{tag, msg_id, data: dict}``).

    Returns the headers (lower-case names, as API Gateway passes them) and the body: a JSON array
    whose ``data`` members are JSON strings, signed ``md5(app_key + body + app_secret)``.
    """
    payload = [
        {"tag": item["tag"], "msg_id": item["msg_id"], "data": _compact_json(item["data"])}
        for item in messages
    ]
    body = _compact_json(payload).encode("utf-8")
    headers = {
        "content-type": "application/json",
        "app-id": app_key,
        "event-sign": event_sign(app_key, body, app_secret),
    }
    return headers, body


def douyin_order_message(order: Mapping[str, Any], tag: int | str, msg_id: str) -> dict[str, Any]:
    """A Douyin trade message about ``order`` (a :func:`douyin_order`): ids and status only."""
    return {
        "tag": str(tag),
        "msg_id": msg_id,
        "data": {
            "p_id": _json_id(order["order_id"]),
            "s_ids": [_json_id(item["sku_order_id"]) for item in order.get("sku_order_list", [])],
            "shop_id": order["shop_id"],
            "order_status": order["order_status"],
            "order_type": order.get("order_type", 0),
            "biz": order.get("biz", 2),
            "update_time": order["update_time"],
        },
    }


def shopify_webhook(
    order: Mapping[str, Any],
    topic: str,
    shop_domain: str,
    api_secret: str,
    webhook_id: str,
    *,
    triggered_at: datetime | None = None,
) -> tuple[dict[str, str], bytes]:
    """A signed Shopify webhook (``orders/create``, ``orders/paid``, ...) carrying ``order``."""
    body = _compact_json(order).encode("utf-8")
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": webhook_hmac(body, api_secret),
        "x-shopify-shop-domain": shop_domain,
        "x-shopify-webhook-id": webhook_id,
        "x-shopify-api-version": SHOPIFY_API_VERSION,
    }
    if triggered_at is not None:
        headers["x-shopify-triggered-at"] = triggered_at.astimezone(UTC).isoformat()
    return headers, body


def wechat_push(
    event: Mapping[str, Any],
    app: Mapping[str, Any],
    timestamp: int | str,
    nonce: str,
    *,
    random16: bytes | None = None,
    with_app_id: bool = True,
) -> tuple[dict[str, str], bytes]:
    """An encrypted WeChat Channels push of ``event``: the query string and the JSON body.

    ``random16`` defaults to bytes derived from the timestamp, nonce and event, so the builder is
    deterministic yet a redelivery (new timestamp/nonce) gets a new ciphertext, as with WeChat.
    ``with_app_id`` adds ``app_id`` to the query, as merchants do in the push URL.
    """
    plaintext = _compact_json(event)
    stamp = str(timestamp)
    if random16 is None:
        random16 = hashlib.sha256(f"{stamp}|{nonce}|{plaintext}".encode()).digest()[:16]
    encrypted = crypto.encrypt(plaintext, app["encoding_aes_key"], app["app_id"], random16)
    query = {
        "signature": crypto.url_signature(app["token"], stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": crypto.msg_signature(app["token"], stamp, nonce, encrypted),
    }
    if event.get("FromUserName"):
        query["openid"] = str(event["FromUserName"])
    if with_app_id:
        query["app_id"] = app["app_id"]
    body = _compact_json({"ToUserName": event.get("ToUserName", ""), "Encrypt": encrypted}).encode("utf-8")
    return query, body


def wechat_url_check(
    app: Mapping[str, Any],
    echostr: str,
    *,
    timestamp: int | str = 1714036504,
    nonce: str = "1514711492",
    with_app_id: bool = True,
) -> dict[str, str]:
    """The query of WeChat's URL-verification GET for ``app``."""
    stamp = str(timestamp)
    query = {
        "signature": crypto.url_signature(app["token"], stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "echostr": echostr,
    }
    if with_app_id:
        query["app_id"] = app["app_id"]
    return query


def wechat_event(
    event: str,
    order_id: str,
    create_time: datetime,
    *,
    shop_user_name: str = "gh_0000simshop",
    openid: str = "o_sim_buyer_openid_0001",
    aftersale_order_id: str | None = None,
    aftersale_status: str = "MERCHANT_PROCESSING",
) -> dict[str, Any]:
    """The decrypted JSON of a ``channels_ec_order_*`` or ``channels_ec_aftersale_update`` push."""
    created = int(create_time.timestamp())
    message: dict[str, Any] = {
        "ToUserName": shop_user_name,
        "FromUserName": openid,
        "CreateTime": created,
        "MsgType": "event",
        "Event": event,
    }
    if event == "channels_ec_aftersale_update":
        message["finder_shop_aftersale_status_update"] = {
            "status": aftersale_status,
            "after_sale_order_id": aftersale_order_id or f"{order_id}01",
            "order_id": str(order_id),
        }
    else:
        # Order ids arrive as JSON numbers in order pushes (beyond 2**53: parse them as integers).
        info: dict[str, Any] = {"order_id": _json_id(order_id)}
        if event == "channels_ec_order_pay":
            info["pay_time"] = created
        message["order_info"] = info
    return message


# =============================================================================================
# Order factories: platform-native orders at a given point of their lifecycle
# =============================================================================================


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One order line, platform-neutral; factories render it in each platform's shape."""

    sku_id: str
    quantity: int
    unit_price: Decimal
    out_sku_id: str | None = None
    title: str = "Demo item"
    product_id: str = "10000000001"


#: Native statuses along the main path, in order: the demo replays these.
HAPPY_PATHS: Mapping[str, tuple[int | str, ...]] = {
    DOUYIN: (1, 105, 2, 3, 5),
    WECHAT_CHANNELS: (10, 20, 30, 100),
    SHOPIFY: ("pending", "paid", "fulfilled", "completed"),
}


def _fen(amount: Decimal) -> int:
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(fen)


def _json_id(value: str) -> int | str:
    return int(value) if str(value).isdigit() else value


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _pseudo(*parts: object, length: int = 24) -> str:
    """Deterministic opaque text standing in for ciphertexts and hashes."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]


DOUYIN_PAID_STATUSES = frozenset({105, 2, 101, 3, 5})
DOUYIN_SHIPPED_STATUSES = frozenset({101, 3, 5})
DOUYIN_STATUS_TEXT: Mapping[int, str] = {
    1: "待支付",
    105: "已支付",
    2: "备货中",
    101: "部分发货",
    3: "已发货",
    4: "已取消",
    5: "已完成",
}


def douyin_order(
    order_id: str,
    shop_id: str,
    status: int,
    update_time: datetime,
    lines: Sequence[LineSpec],
    *,
    payment_id: str | None = None,
    create_time: datetime | None = None,
    main_status: int | None = None,
    post_amount: Decimal = Decimal("0"),
    open_id: str = "sim_doudian_open_id_0001",
) -> dict[str, Any]:
    """A Douyin ``shop_order_detail`` (``order.orderDetail``) at ``order_status`` ``status``.

    ``main_status`` defaults to ``status``; pass 21/22/39 for a finished refund.
    """
    created = create_time or update_time
    main = status if main_status is None else main_status
    paid = status in DOUYIN_PAID_STATUSES or main in (103, 21, 22, 39)
    goods = sum(_fen(line.unit_price) * line.quantity for line in lines)
    total = goods + _fen(post_amount)
    region = {
        "province": {"name": "浙江省", "id": "33"},
        "city": {"name": "杭州市", "id": "330100"},
        "town": {"name": "西湖区", "id": "330106"},
        "street": {"name": "文新街道", "id": "330106007"},
    }
    sku_orders = []
    for index, line in enumerate(lines):
        sku_order_id = str(int(order_id) + index + 1) if order_id.isdigit() else f"{order_id}-{index + 1}"
        sku_orders.append(
            {
                "sku_order_id": sku_order_id,
                "order_id": sku_order_id,
                "parent_order_id": order_id,
                "product_id": _json_id(line.product_id),
                "product_name": line.title,
                "sku_id": _json_id(line.sku_id),
                "out_sku_id": line.out_sku_id or "",
                "code": line.out_sku_id or "",
                "item_num": line.quantity,
                "sku_price": _fen(line.unit_price),
                "pay_amount": _fen(line.unit_price) * line.quantity if paid else 0,
                "order_status": status,
            }
        )
    return {
        "order_id": order_id,
        "shop_id": _json_id(shop_id),
        "order_status": status,
        "order_status_desc": DOUYIN_STATUS_TEXT.get(status, ""),
        "main_status": main,
        "main_status_desc": DOUYIN_STATUS_TEXT.get(main, ""),
        "order_type": 0,
        "biz": 2,
        "b_type": 2,
        "trade_type": 0,
        "pay_type": 1 if paid else 0,
        "create_time": _unix(created),
        "update_time": _unix(update_time),
        "pay_time": _unix(created) + 60 if paid else 0,
        "ship_time": _unix(update_time) if status in DOUYIN_SHIPPED_STATUSES else 0,
        "finish_time": _unix(update_time) if status == 5 else 0,
        "order_amount": total,
        "pay_amount": total if paid else 0,
        "post_amount": _fen(post_amount),
        "channel_payment_no": payment_id or "",
        "doudian_open_id": open_id,
        "encrypt_post_receiver": f"#{_pseudo('receiver', order_id)}#",
        "encrypt_post_tel": f"${_pseudo('tel', order_id)}$",
        "mask_post_receiver": "张*",
        "mask_post_tel": "1********00",
        "post_addr": {**region, "detail": "", "encrypt_detail": f"#{_pseudo('detail', order_id)}#"},
        "mask_post_addr": {**region, "detail": "文***号"},
        "sku_order_list": sku_orders,
    }


SHOPIFY_STAGES: Mapping[str, tuple[str, str | None, bool, bool]] = {
    # stage: (financial_status, fulfillment_status, cancelled, closed/archived)
    "pending": ("pending", None, False, False),
    "authorized": ("authorized", None, False, False),
    "paid": ("paid", None, False, False),
    "partially_fulfilled": ("paid", "partial", False, False),
    "fulfilled": ("paid", "fulfilled", False, False),
    "completed": ("paid", "fulfilled", False, True),
    "partially_refunded": ("partially_refunded", "fulfilled", False, False),
    "cancelled": ("voided", None, True, True),
    "refunded": ("refunded", None, True, True),
}
#: Shopify shops report times in the shop's zone; the demo shops sit in US Eastern (standard).
SHOPIFY_SHOP_ZONE = timezone(timedelta(hours=-5))


def shopify_order(
    order_id: int,
    shop_domain: str,
    stage: str,
    updated_at: datetime,
    lines: Sequence[LineSpec],
    *,
    created_at: datetime | None = None,
    currency: str = "USD",
    shipping: Decimal = Decimal("0"),
    customer_id: int = 7000000001,
) -> dict[str, Any]:
    """A Shopify REST order (``orders/{id}.json``'s ``order``; also the webhook body) at ``stage``.

    Stages: see :data:`SHOPIFY_STAGES`. The shipping address is fictional (555-01xx numbers).
    """
    financial, fulfillment, cancelled, closed = SHOPIFY_STAGES[stage]
    created = created_at or updated_at

    def stamp(moment: datetime) -> str:
        return moment.astimezone(SHOPIFY_SHOP_ZONE).isoformat(timespec="seconds")

    def money(amount: Decimal) -> str:
        return f"{amount:.2f}"

    subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    total = subtotal + shipping
    outstanding = total if financial in ("pending", "authorized") else Decimal("0")
    shipped_lines = {0} if fulfillment == "partial" else set(range(len(lines))) if fulfillment else set()
    number = 1000 + order_id % 9000
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "confirmation_number": _pseudo("confirmation", order_id, length=9).upper(),
        "test": True,
        "source_name": "web",
        "tags": "",
        "currency": currency,
        "presentment_currency": currency,
        "created_at": stamp(created),
        "processed_at": stamp(created),
        "updated_at": stamp(updated_at),
        "cancelled_at": stamp(updated_at) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "closed_at": stamp(updated_at) if closed else None,
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "payment_gateway_names": ["bogus"],
        "subtotal_price": money(subtotal),
        "total_line_items_price": money(subtotal),
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "total_price": money(total),
        "total_outstanding": money(outstanding),
        "total_shipping_price_set": {
            "shop_money": {"amount": money(shipping), "currency_code": currency},
            "presentment_money": {"amount": money(shipping), "currency_code": currency},
        },
        "shipping_lines": [
            {
                "id": order_id + 500,
                "title": "Standard",
                "code": "Standard",
                "price": money(shipping),
                "source": "shopify",
            }
        ],
        "line_items": [
            {
                "id": order_id * 10 + index + 1,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{order_id * 10 + index + 1}",
                "product_id": _json_id(line.product_id),
                "variant_id": _json_id(line.sku_id),
                "sku": line.out_sku_id or "",
                "title": line.title,
                "name": line.title,
                "quantity": line.quantity,
                "fulfillable_quantity": 0 if index in shipped_lines or cancelled else line.quantity,
                "fulfillment_status": "fulfilled" if index in shipped_lines else None,
                "price": money(line.unit_price),
                "total_discount": "0.00",
                "requires_shipping": True,
                "taxable": True,
                "gift_card": False,
            }
            for index, line in enumerate(lines)
        ],
        "customer": {"id": customer_id, "state": "enabled", "currency": currency},
        "shipping_address": {
            "first_name": "Sample",
            "last_name": "Buyer",
            "name": "Sample Buyer",
            "address1": "100 Example Street",
            "address2": "Unit 5",
            "city": "Springfield",
            "province": "Oregon",
            "province_code": "OR",
            "country": "United States",
            "country_code": "US",
            "zip": "97477",
            "phone": "+1 555-0100",
        },
    }


WECHAT_PAID_STATUSES = frozenset({12, 13, 20, 21, 30, 100, 190, 200})
WECHAT_SHIPPED_STATUSES = frozenset({21, 30, 100, 200})


def wechat_order(
    order_id: str,
    app_id: str,
    status: int,
    update_time: datetime,
    lines: Sequence[LineSpec],
    *,
    payment_id: str | None = None,
    create_time: datetime | None = None,
    freight: Decimal = Decimal("0"),
    openid: str = "o_sim_buyer_openid_0001",
    unionid: str = "u_sim_buyer_unionid_0001",
    aftersale_open: Mapping[str, int] | None = None,
    aftersale_finished: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A WeChat Channels ``order`` object (``/channels/ec/order/get``) at ``status``.

    ``aftersale_open`` / ``aftersale_finished`` give, per SKU id, items in an open / finished
    after-sale; status 200 (cancelled after full refund) marks every item finished. The address
    is masked and the phone virtual, as WeChat delivers them. ``app_id`` is not part of the
    order (WeChat scopes orders by the token's app); it seeds the pseudo identifiers.
    """
    created = create_time or update_time
    paid = status in WECHAT_PAID_STATUSES
    shipped_lines = (
        {0} if status == 21 else set(range(len(lines))) if status in WECHAT_SHIPPED_STATUSES else set()
    )
    open_counts = dict(aftersale_open or {})
    finished_counts = dict(aftersale_finished or {})
    if status == 200:
        finished_counts = {line.sku_id: line.quantity for line in lines}
    goods = sum(_fen(line.unit_price) * line.quantity for line in lines)
    products = [
        {
            "product_id": line.product_id,
            "sku_id": line.sku_id,
            "thumb_img": "https://example.invalid/sku.jpg",
            "sku_cnt": line.quantity,
            "sale_price": _fen(line.unit_price),
            "market_price": _fen(line.unit_price),
            "real_price": _fen(line.unit_price) * line.quantity,
            "title": line.title,
            "on_aftersale_sku_cnt": open_counts.get(line.sku_id, 0),
            "finish_aftersale_sku_cnt": finished_counts.get(line.sku_id, 0),
            "sku_code": line.out_sku_id or "",
            "out_product_id": "",
            "out_sku_id": line.out_sku_id or "",
            "sku_attrs": [],
        }
        for line in lines
    ]
    pay_info: dict[str, Any] = {
        "prepay_id": f"up_wx{_pseudo('prepay', app_id, order_id)}",
        "prepay_time": _unix(created),
    }
    if paid:
        pay_info |= {"pay_time": _unix(created) + 60, "transaction_id": payment_id or "", "payment_method": 1}
    delivery: dict[str, Any] = {
        "address_info": {
            "user_name": "张*",
            "postal_code": "310000",
            "province_name": "浙江省",
            "city_name": "杭州市",
            "county_name": "西湖区",
            "detail_info": "文***号",
            "national_code": "330106",
            "tel_number": "138****0000",
            "house_number": "",
            "virtual_order_tel_number": "170****1234-5678",
            "hash_code": _pseudo("address", app_id, order_id, length=32),
        },
        "deliver_method": 0,
        "delivery_product_info": [
            {
                "waybill_id": f"SF{_pseudo('waybill', order_id, length=12).upper()}",
                "delivery_id": "SF",
                "delivery_name": "顺丰速运",
                "delivery_time": _unix(update_time),
                "deliver_type": 1,
                "product_infos": [
                    {
                        "product_id": lines[index].product_id,
                        "sku_id": lines[index].sku_id,
                        "product_cnt": lines[index].quantity,
                    }
                    for index in sorted(shipped_lines)
                ],
            }
        ]
        if shipped_lines
        else [],
    }
    if status in WECHAT_SHIPPED_STATUSES - {21}:
        delivery["ship_done_time"] = _unix(update_time)
    open_aftersales = sum(1 for count in open_counts.values() if count)
    return {
        "order_id": order_id,
        "status": status,
        "create_time": _unix(created),
        "update_time": _unix(update_time),
        "openid": openid,
        "unionid": unionid,
        "order_detail": {
            "product_infos": products,
            "price_info": {
                "product_price": goods,
                "order_price": goods + _fen(freight),
                "freight": _fen(freight),
                "discounted_price": 0,
                "is_discounted": False,
            },
            "pay_info": pay_info,
            **({"settle_info": wechat_settle_info(goods, update_time)} if status == 100 else {}),
            "delivery_info": delivery,
            "ext_info": {"customer_notes": "", "merchant_notes": ""},
        },
        "aftersale_detail": {
            "on_aftersale_order_cnt": open_aftersales,
            "aftersale_order_list": [
                {"aftersale_order_id": f"{order_id}{index + 1:02d}"}
                for index, sku in enumerate(sorted(set(open_counts) | set(finished_counts)))
                if open_counts.get(sku) or finished_counts.get(sku)
            ],
        },
    }


def wechat_settle_info(goods_fen: int, settled: datetime) -> dict[str, int]:
    """``order_detail.settle_info`` of a completed order: WeChat settles it when it completes.

    The simulated platform charges its 5 % technical service fee on the goods (not the freight)
    and rounds down to the fen, so its figure can differ from the order center's fee rules (5 %
    of what the buyer paid, rounded half-even): the difference the settlement entries record.
    """
    return {
        "predict_commission_fee": goods_fen * 5 // 100,
        "commission_fee": goods_fen * 5 // 100,
        "settle_time": _unix(settled),
    }


#: The factories by platform, for code that replays lifecycles generically.
order_factories: Mapping[str, Callable[..., dict[str, Any]]] = {
    DOUYIN: douyin_order,
    SHOPIFY: shopify_order,
    WECHAT_CHANNELS: wechat_order,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the simulator with ``local/credentials.json`` until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--credentials", type=Path, default=CREDENTIALS_PATH)
    args = parser.parse_args(argv)
    simulator = PlatformSimulator(load_credentials(args.credentials), port=args.port).start()
    print(json.dumps({"PLATFORM_BASE_URLS": simulator.base_urls()}, indent=2))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        simulator.stop()


if __name__ == "__main__":
    main()
