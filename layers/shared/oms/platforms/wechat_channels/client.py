"""The WeChat Channels shop API client: access token, then ``/channels/ec/order/get`` and stock.

Stock: ``/channels/ec/product/stock/update {product_id, sku_id, diff_type, num}`` with
``diff_type`` 3 (set the total; 1 adds, 2 subtracts) and ``/channels/ec/product/stock/get
{product_id, sku_id}`` → ``data.normal_stock_num`` (the stock a set changes; limited-time
discount stock is separate). Error 10020112 means "too frequent": retryable.

WeChat APIs carry no request signature: an ``access_token`` (from ``/cgi-bin/token``, valid for
``expires_in`` seconds, typically 7,200) rides in the query string over HTTPS. The token is cached
in the client instance and refreshed a margin before it expires, by the injected clock; a token
WeChat rejects anyway (another process fetched a newer one, which invalidates this one) is
dropped and the call retried once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from oms.domain.errors import CredentialsMissingError, PlatformApiError, SchemaInvalidError
from oms.platforms._common import reply_quantity, stock_quantity
from oms.platforms.base import HttpTransport

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a URL path, not a password
ORDER_GET_PATH = "/channels/ec/order/get"
STOCK_UPDATE_PATH = "/channels/ec/product/stock/update"
STOCK_GET_PATH = "/channels/ec/product/stock/get"
DIFF_TYPE_SET = 3
#: "Calls too frequent" on the stock API: try again later.
STOCK_RATE_LIMITED = 10020112

#: 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired.
TOKEN_REJECTED_ERRCODES = frozenset({40001, 40014, 42001})
#: Refresh this long before WeChat says the token expires (clock skew, request latency).
DEFAULT_TOKEN_MARGIN = timedelta(minutes=5)
REQUEST_TIMEOUT_SECONDS = 5.0


class WechatChannelsClient:
    """Order API client for one WeChat Channels shop app.

    Parameters
    ----------
    app_id, app_secret:
        The shop app's id (``wx…``) and AppSecret.
    transport:
        Where HTTP requests go (urllib3 in Lambda, a fake in unit tests).
    clock:
        Returns the current UTC time; decides when the cached token is too old.
    base_url:
        API root; the local simulator's URL under test, ``https://api.weixin.qq.com`` otherwise.
    token_margin:
        How long before its expiry a cached token is replaced.

    Examples
    --------
    >>> client = WechatChannelsClient(app_id, app_secret, transport, clock=clock)  # doctest: +SKIP
    >>> client.fetch_order(app_id, "3705115058471208928")["status"]  # doctest: +SKIP
    20
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        transport: HttpTransport,
        *,
        clock: Callable[[], datetime],
        base_url: str | None = None,
        token_margin: timedelta = DEFAULT_TOKEN_MARGIN,
    ) -> None:
        self.app_id = app_id
        self._app_secret = app_secret
        self._transport = transport
        self._clock = clock
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._token_margin = token_margin
        self._token: str | None = None
        self._token_expires_at: datetime | None = None

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The ``order`` object of ``POST /channels/ec/order/get`` for ``platform_order_id``.

        Raises
        ------
        CredentialsMissingError
            ``shop_id`` is not this client's app (a Channels shop is identified by its app id).
        PlatformApiError
            HTTP failure, a body that is not JSON, or ``errcode != 0`` (``errcode`` in details).
        """
        if shop_id != self.app_id:
            raise CredentialsMissingError(
                "this client holds the secrets of another WeChat app", platform="wechat_channels"
            )
        body = json.dumps({"order_id": platform_order_id}).encode("utf-8")
        reply = self._call_with_token(ORDER_GET_PATH, body)
        order = reply.get("order")
        if not isinstance(order, dict):
            raise PlatformApiError(
                "order/get returned no order object", platform="wechat_channels", api=ORDER_GET_PATH
            )
        return order

    def update_stock(
        self,
        shop_id: str,
        sku_id: str,
        quantity: int,
        *,
        product_id: str | None = None,
        current_quantity: int | None = None,
    ) -> dict[str, Any]:
        """Set a SKU's normal stock to ``quantity`` (``stock/update`` with ``diff_type`` 3).

        ``current_quantity`` is accepted for the common signature and unused.
        """
        body = {
            "product_id": self._product(shop_id, product_id),
            "sku_id": str(sku_id),
            "diff_type": DIFF_TYPE_SET,
            "num": stock_quantity(quantity),
        }
        return self._stock_call(STOCK_UPDATE_PATH, body)

    def read_stock(self, shop_id: str, sku_id: str, *, product_id: str | None = None) -> int:
        """The SKU's normal stock (``stock/get`` ``data.normal_stock_num``)."""
        body = {"product_id": self._product(shop_id, product_id), "sku_id": str(sku_id)}
        data = self._stock_call(STOCK_GET_PATH, body).get("data")
        if not isinstance(data, dict):
            raise SchemaInvalidError("WeChat stock/get reply has no data object", field="data")
        return reply_quantity(data.get("normal_stock_num"), platform="WeChat", field="normal_stock_num")

    def _product(self, shop_id: str, product_id: str | None) -> str:
        if shop_id != self.app_id:
            raise CredentialsMissingError(
                "this client holds the secrets of another WeChat app", platform="wechat_channels"
            )
        if not product_id:
            raise SchemaInvalidError("WeChat stock calls need the product_id", field="product_id")
        return str(product_id)

    def _stock_call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._call_with_token(path, json.dumps(body).encode("utf-8"))
        except PlatformApiError as error:
            # Only "too frequent" passes with time; any other errcode is the request's own fault.
            error.retryable = (
                error.details.get("errcode") == STOCK_RATE_LIMITED or "errcode" not in error.details
            )
            raise

    def access_token(self) -> str:
        """A valid access token: the cached one, or a new one from ``/cgi-bin/token``."""
        now = self._clock()
        if self._token is not None and self._token_expires_at is not None and now < self._token_expires_at:
            return self._token
        query = urlencode(
            {"grant_type": "client_credential", "appid": self.app_id, "secret": self._app_secret}
        )
        reply = self._json_call("GET", f"{self.base_url}{TOKEN_PATH}?{query}", None, TOKEN_PATH)
        token = reply.get("access_token")
        expires_in = reply.get("expires_in")
        if (
            not isinstance(token, str)
            or not token
            or isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
        ):
            raise PlatformApiError(
                "cgi-bin/token returned no access_token", platform="wechat_channels", api=TOKEN_PATH
            )
        lifetime = timedelta(seconds=expires_in)
        # A short-lived token (tests, throttled apps) must still be reused for half its life.
        margin = min(self._token_margin, lifetime / 2)
        self._token, self._token_expires_at = token, now + lifetime - margin
        return token

    def forget_token(self) -> None:
        """Drop the cached token (WeChat said it is invalid or expired)."""
        self._token = self._token_expires_at = None

    def _call_with_token(self, path: str, body: bytes) -> dict[str, Any]:
        try:
            return self._json_call("POST", self._token_url(path), body, path)
        except PlatformApiError as error:
            if error.details.get("errcode") not in TOKEN_REJECTED_ERRCODES:
                raise
        self.forget_token()
        return self._json_call("POST", self._token_url(path), body, path)

    def _token_url(self, path: str) -> str:
        return f"{self.base_url}{path}?{urlencode({'access_token': self.access_token()})}"

    def _json_call(self, method: str, url: str, body: bytes | None, api: str) -> dict[str, Any]:
        headers: Mapping[str, str] = {"content-type": "application/json"} if body is not None else {}
        response = self._transport.request(
            method, url, headers=headers, body=body, timeout=REQUEST_TIMEOUT_SECONDS
        )
        if response.status != 200:
            raise PlatformApiError(
                f"WeChat API answered HTTP {response.status}",
                platform="wechat_channels",
                api=api,
                http_status=response.status,
            )
        try:
            reply = json.loads(response.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PlatformApiError(
                "WeChat API answered with a body that is not JSON", platform="wechat_channels", api=api
            ) from exc
        if not isinstance(reply, dict):
            raise PlatformApiError(
                "WeChat API answered with a JSON value that is not an object",
                platform="wechat_channels",
                api=api,
            )
        errcode = reply.get("errcode", 0)
        if errcode != 0:
            raise PlatformApiError(
                "WeChat API returned an error",
                platform="wechat_channels",
                api=api,
                errcode=errcode,
                errmsg=str(reply.get("errmsg", ""))[:200],
            )
        return reply
