"""The signed TOP client: trade detail, sold-trade increments, TMC consume/confirm, stock update and read.

Every call is ``POST https://eco.taobao.com/router/rest`` with form fields ``method, app_key,
session, timestamp, format=json, v=2.0, sign_method, sign`` and the business fields. Success
answers ``{"<method with . → _ minus taobao_>_response": {...}}``; failure answers
``{"error_response": {"code", "msg", "sub_code", "sub_msg"}}``.

Rate limits: code 7 (``App Call Limited``, the per-app / per-API quota) and ``isp.*`` sub codes
(platform-side failures) are retryable :class:`~oms.domain.errors.PlatformApiError`; so are HTTP
429/5xx. Which sub codes mean "try later" beyond these is **[unconfirmed]**.

Stock read: ``taobao.item.sku.get (fields, sku_id, num_iid)`` answers
``item_sku_get_response.sku {sku_id, num_iid, quantity, with_hold_quantity, ...}`` (the ``Sku``
structure of TOP's item API, as the public Go SDK bububa/opentaobao models it). ``quantity`` is the
SKU's stock; ``with_hold_quantity`` the units unpaid orders hold on an item that deducts at
payment (付款减库存). The read returns ``quantity - with_hold_quantity``: what is left for new
buyers once the unpaid orders (which the ledger has already reserved) are paid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from oms.domain.errors import (
    ChannelListingNotFoundError,
    CredentialsMissingError,
    PlatformApiError,
    SchemaInvalidError,
)
from oms.platforms._common import api_reply, reply_quantity, secret
from oms.platforms.base import AppSecrets, HttpTransport
from oms.platforms.pinduoduo.client import loads
from oms.platforms.pinduoduo.signing import china_time, format_china_time
from oms.platforms.taobao.signing import SIGN_METHODS, sign

PLATFORM = "taobao"
DEFAULT_BASE_URL = "https://eco.taobao.com"
ROUTER_PATH = "/router/rest"
FULLINFO_API = "taobao.trade.fullinfo.get"
INCREMENT_API = "taobao.trades.sold.increment.get"
CONSUME_API = "taobao.tmc.messages.consume"
CONFIRM_API = "taobao.tmc.messages.confirm"
STOCK_API = "taobao.item.quantity.update"
SKU_GET_API = "taobao.item.sku.get"
SKU_FIELDS = "sku_id,num_iid,quantity,with_hold_quantity"
TRADE_FIELDS = (
    "tid,tid_str,status,type,created,modified,pay_time,consign_time,end_time,payment,total_fee,post_fee,"
    "discount_fee,alipay_no,buyer_open_uid,seller_nick,receiver_name,receiver_mobile,receiver_state,"
    "receiver_city,receiver_district,receiver_town,receiver_address,oaid,shipping_type,orders"
)
#: The increment API accepts windows of at most one day.
MAX_INCREMENT_WINDOW_SECONDS = 24 * 3600
PAGE_SIZE = 100
CONSUME_QUANTITY = 100
RATE_LIMITED_CODES = frozenset({7})
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class TmcMessage:
    """One TMC message: its id (for confirm), topic, shop (seller user id) and trade id."""

    message_id: str
    topic: str
    user_id: str
    tid: str | None
    content: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChangedOrder:
    order_sn: str  # the trade id (``tid``); named like Pinduoduo's for the poller
    updated_at: datetime


class TaobaoClient:
    """A signed TOP client for one app and the shops (sellers) that authorised it.

    Parameters
    ----------
    secrets:
        ``{"app_key", "app_secret", "sessions": {"<seller user id>": "<session key>"}}``; optional
        ``sign_method`` (``md5`` default, or ``hmac``) and ``tmc_group`` (``default``).
    transport, base_url, clock:
        Where requests go, the gateway root, and now (signs the UTC+8 timestamp).

    Examples
    --------
    >>> client = TaobaoClient(secrets, transport, clock=clock)  # doctest: +SKIP
    >>> client.fetch_order("2200000001", "3300000000000001")["status"]  # doctest: +SKIP
    'WAIT_SELLER_SEND_GOODS'
    """

    def __init__(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self._app_key = secret(secrets, "app_key", platform=PLATFORM)
        self._app_secret = secret(secrets, "app_secret", platform=PLATFORM)
        sessions = secrets.get("sessions")
        self._sessions: Mapping[str, Any] = sessions if isinstance(sessions, Mapping) else {}
        self._sign_method = str(secrets.get("sign_method") or "md5")
        if self._sign_method not in SIGN_METHODS:
            raise CredentialsMissingError(
                "taobao sign_method must be md5 or hmac", platform=PLATFORM, key="sign_method"
            )
        self._tmc_group = str(secrets.get("tmc_group") or "default")
        self._transport = transport
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._clock = clock

    def shops(self) -> list[str]:
        """The seller user ids this app holds a session for."""
        return sorted(str(shop) for shop in self._sessions)

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The ``trade`` of ``taobao.trade.fullinfo.get`` (amounts are decimal strings)."""
        return trade_of(self.order_detail_body(shop_id, platform_order_id))

    def order_detail_body(self, shop_id: str, tid: str) -> bytes:
        """The raw reply body of ``taobao.trade.fullinfo.get`` (what the poller enqueues)."""
        body, _ = self.call(FULLINFO_API, {"tid": tid, "fields": TRADE_FIELDS}, shop_id=shop_id)
        return body

    def changed_orders(self, shop_id: str, start: datetime, end: datetime) -> list[ChangedOrder]:
        """Trades of ``shop_id`` modified in ``[start, end]`` (``taobao.trades.sold.increment.get``)."""
        if not 0 <= (end - start).total_seconds() <= MAX_INCREMENT_WINDOW_SECONDS:
            raise ValueError("increment window must be 0..24 hours long")
        changed: list[ChangedOrder] = []
        page = 1
        while True:
            params = {
                "fields": "tid,modified",
                "start_modified": format_china_time(start),
                "end_modified": format_china_time(end),
                "page_no": str(page),
                "page_size": str(PAGE_SIZE),
                "use_has_next": "true",
            }
            _, reply = self.call(INCREMENT_API, params, shop_id=shop_id)
            section = _section(reply, INCREMENT_API)
            trades = _nested_list(section, "trades", "trade")
            if not isinstance(trades, list):
                raise SchemaInvalidError("trades.trade is not a list", field="trades.trade")
            for index, trade in enumerate(trades):
                if not isinstance(trade, dict) or trade.get("tid") in (None, ""):
                    raise SchemaInvalidError("trade lacks tid", field=f"trades.trade[{index}].tid")
                changed.append(
                    ChangedOrder(
                        order_sn=str(trade.get("tid_str") or trade["tid"]),
                        updated_at=china_time(trade.get("modified"), field=f"trades.trade[{index}].modified"),
                    )
                )
            if not section.get("has_next") or not trades:
                return changed
            page += 1

    def consume_messages(self, quantity: int = CONSUME_QUANTITY) -> list[TmcMessage]:
        """Up to ``quantity`` TMC messages of the app's group; unconfirmed ones come back later."""
        _, reply = self.call(
            CONSUME_API, {"group_name": self._tmc_group, "quantity": str(quantity)}, shop_id=None
        )
        section = _section(reply, CONSUME_API)
        items = _nested_list(section, "messages", "tmc_message")
        if not isinstance(items, list):
            raise SchemaInvalidError("messages.tmc_message is not a list", field="messages.tmc_message")
        messages = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise SchemaInvalidError("TMC message lacks id", field=f"tmc_message[{index}].id")
            content = item.get("content")
            parsed = loads(content, what="TMC content") if isinstance(content, str) and content else {}
            if not isinstance(parsed, dict):
                parsed = {}
            tid = parsed.get("tid")
            messages.append(
                TmcMessage(
                    message_id=str(item["id"]),
                    topic=str(item.get("topic") or ""),
                    user_id=str(item.get("user_id") or ""),
                    tid=str(tid) if tid not in (None, "") else None,
                    content=parsed,
                )
            )
        return messages

    def confirm_messages(self, message_ids: list[str]) -> None:
        """Confirm processed TMC messages so they are not delivered again."""
        if message_ids:
            self.call(
                CONFIRM_API,
                {"group_name": self._tmc_group, "s_message_ids": ",".join(message_ids)},
                shop_id=None,
            )

    def update_stock(
        self,
        shop_id: str,
        *,
        num_iid: str,
        quantity: int,
        sku_id: str | None = None,
        outer_id: str | None = None,
        mode: Literal["full", "incremental"] = "full",
    ) -> None:
        """Set (``full``, type 1) or change (``incremental``, type 2) the stock of an item or SKU.

        ``taobao.item.quantity.update (num_iid, sku_id | outer_id, quantity, type)``.

        Raises
        ------
        ValueError
            A negative quantity in ``full`` mode.
        PlatformApiError
            The API refused the update (retryable when throttled).
        """
        if mode == "full" and quantity < 0:
            raise ValueError("a full stock quantity cannot be negative")
        params = {"num_iid": num_iid, "quantity": str(quantity), "type": "1" if mode == "full" else "2"}
        if sku_id:
            params["sku_id"] = sku_id
        if outer_id:
            params["outer_id"] = outer_id
        self.call(STOCK_API, params, shop_id=shop_id)

    def read_stock(self, shop_id: str, sku_id: str, *, product_id: str | None = None) -> int:
        """What a SKU has left for new buyers (``taobao.item.sku.get``: quantity less unpaid holds).

        Raises
        ------
        SchemaInvalidError
            No ``product_id`` (the ``num_iid``), or a reply without a whole ``sku.quantity``.
        ChannelListingNotFoundError
            TOP answered success with another SKU or none. When TOP itself refuses (an
            ``isv.*`` sub code for an unknown item or SKU) it is a ``PlatformApiError``.
        """
        if not product_id:
            raise SchemaInvalidError("Taobao names a SKU within its item: give num_iid", field="num_iid")
        params = {"fields": SKU_FIELDS, "sku_id": str(sku_id), "num_iid": str(product_id)}
        _, reply = self.call(SKU_GET_API, params, shop_id=shop_id)
        sku = _section(reply, SKU_GET_API).get("sku")
        if not isinstance(sku, dict) or str(sku.get("sku_id")) != str(sku_id):
            raise ChannelListingNotFoundError(
                "the Taobao item has no such SKU",
                platform=PLATFORM,
                num_iid=str(product_id),
                sku_id=str(sku_id),
            )
        quantity = reply_quantity(sku.get("quantity"), platform="Taobao", field="sku.quantity")
        held = sku.get("with_hold_quantity")
        unpaid = (
            0 if held is None else reply_quantity(held, platform="Taobao", field="sku.with_hold_quantity")
        )
        return max(0, quantity - unpaid)

    def call(
        self, api: str, params: Mapping[str, str], *, shop_id: str | None
    ) -> tuple[bytes, dict[str, Any]]:
        """Call one API (for one shop, or app-level when ``shop_id`` is None)."""
        fields = {
            **params,
            "method": api,
            "app_key": self._app_key,
            "timestamp": format_china_time(self._clock()),
            "format": "json",
            "v": "2.0",
            "sign_method": self._sign_method,
        }
        if shop_id is not None:
            session = self._sessions.get(str(shop_id))
            if not isinstance(session, str) or not session:
                raise CredentialsMissingError(
                    "no Taobao session for this shop", platform=PLATFORM, shop_id=shop_id
                )
            fields["session"] = session
        fields["sign"] = sign(fields, self._app_secret, self._sign_method)
        response = self._transport.request(
            "POST",
            f"{self._base_url}{ROUTER_PATH}",
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            body=urlencode(fields).encode("utf-8"),
            timeout=TIMEOUT_SECONDS,
        )
        reply = api_reply(response, platform="Taobao", api=api, exact_fractions=True)
        failure = reply.get("error_response")
        if isinstance(failure, dict) or response.status >= 400:
            failure = failure if isinstance(failure, dict) else {}
            code, sub_code = failure.get("code"), str(failure.get("sub_code") or "")
            error = PlatformApiError(
                f"Taobao {api} failed with code {code}",
                api=api,
                http_status=response.status,
                error_code=str(code),
                sub_code=sub_code,
                msg=str(failure.get("msg") or "")[:200],
            )
            error.retryable = str(code) in {str(c) for c in RATE_LIMITED_CODES} or sub_code.startswith("isp.")
            raise error
        return response.body, reply


def response_key(api: str) -> str:
    """``taobao.trade.fullinfo.get`` → ``trade_fullinfo_get_response``."""
    name = api.removeprefix("taobao.")
    return name.replace(".", "_") + "_response"


def _section(reply: Mapping[str, Any], api: str) -> dict[str, Any]:
    section = reply.get(response_key(api))
    if not isinstance(section, dict):
        raise SchemaInvalidError(f"reply has no {response_key(api)}", field=response_key(api))
    return section


def _nested_list(section: Mapping[str, Any], outer: str, inner: str) -> Any:
    """``section[outer][inner]`` (TOP wraps every list in an object), ``[]`` when absent."""
    container = section.get(outer)
    if container is None:
        return []
    if not isinstance(container, dict):
        raise SchemaInvalidError(f"{outer} is not an object", field=outer)
    return container.get(inner) or []


def trade_of(body: bytes | str) -> dict[str, Any]:
    """``trade_fullinfo_get_response.trade`` of a ``taobao.trade.fullinfo.get`` reply body."""
    reply = loads(body, what="trade detail")
    trade = _section(reply, FULLINFO_API).get("trade") if isinstance(reply, dict) else None
    if not isinstance(trade, dict):
        raise SchemaInvalidError("reply has no trade_fullinfo_get_response.trade", field="trade")
    return trade
