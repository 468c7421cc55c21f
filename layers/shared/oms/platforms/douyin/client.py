"""The signed Douyin Shop API client (order detail, stock set and read).

Request: ``POST {base}/order/orderDetail?app_key&method&access_token&timestamp&v&sign_method&sign``
with the ``param_json`` as the body. Reply: ``{"code": 10000, "msg": "success", "data": {...}}``;
any other code is an error (``sub_code``/``sub_msg`` say which).

Stock: ``/sku/syncStock`` (``product_id, sku_id, stock_num, incremental=false``: a total) and
``/sku/stockNum`` (``sku_id`` → ``stock_num``; the read call's name and reply field are
**[unconfirmed]**: taken from the open platform's API list, not an official sample).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast
from urllib.parse import quote, urlencode

from oms.domain.errors import CredentialsMissingError, PlatformApiError, SchemaInvalidError
from oms.platforms._common import api_reply, json_id, reply_quantity, secret, stock_quantity
from oms.platforms.base import AppSecrets, HttpResponse, HttpTransport
from oms.platforms.douyin.signing import (
    SIGN_METHOD_HMAC_SHA256,
    SIGN_METHODS,
    TIMESTAMP_FORMATS,
    TimestampFormat,
    api_method,
    api_sign,
    api_timestamp,
    param_json,
)

DEFAULT_BASE_URL = "https://openapi-fxg.jinritemai.com"
API_VERSION = "2"
SUCCESS_CODE = 10000
ORDER_DETAIL_PATH = "/order/orderDetail"
STOCK_SYNC_PATH = "/sku/syncStock"
STOCK_READ_PATH = "/sku/stockNum"
TIMEOUT_SECONDS = 5.0


class DouyinClient:
    """A signed client for one Douyin app and the shops that authorised it.

    Parameters
    ----------
    secrets:
        ``{"app_key", "app_secret", "access_tokens": {"<shop_id>": "<token>"}}``; optional
        ``"timestamp_format"``: ``"datetime"`` (default, ``yyyy-MM-dd HH:mm:ss`` UTC+8) or ``"unix"``
        (which one the gateway wants is unconfirmed), and ``"sign_method"``: ``"hmac-sha256"``
        (default) or ``"md5"``.
    transport:
        Where requests go.
    base_url:
        The gateway (the local simulator in development); the production host by default.
    clock:
        Now, as an aware datetime; signs the request timestamp.

    Examples
    --------
    >>> client = DouyinClient(secrets, transport, clock=lambda: datetime.now(UTC))  # doctest: +SKIP
    >>> client.fetch_order("65188572", "6919983150035309994")["order_status"]  # doctest: +SKIP
    3
    """

    def __init__(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self._app_key = secret(secrets, "app_key", platform="douyin")
        self._app_secret = secret(secrets, "app_secret", platform="douyin")
        tokens = secrets.get("access_tokens")
        self._access_tokens: Mapping[str, Any] = tokens if isinstance(tokens, Mapping) else {}
        timestamp_format = secrets.get("timestamp_format") or "datetime"
        sign_method = secrets.get("sign_method") or SIGN_METHOD_HMAC_SHA256
        # Unusable settings fail here, typed, rather than as a bad signature on every call.
        if timestamp_format not in TIMESTAMP_FORMATS:
            raise CredentialsMissingError(
                "douyin secrets have an unsupported timestamp_format",
                platform="douyin",
                key="timestamp_format",
            )
        if sign_method not in SIGN_METHODS:
            raise CredentialsMissingError(
                "douyin secrets have an unsupported sign_method", platform="douyin", key="sign_method"
            )
        self._timestamp_format = cast(TimestampFormat, timestamp_format)
        self._sign_method = str(sign_method)
        self._transport = transport
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._clock = clock

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The order's ``shop_order_detail`` as the API returns it.

        Raises
        ------
        CredentialsMissingError
            No access token is configured for ``shop_id``.
        PlatformApiError
            HTTP failure or a platform code other than 10000 (``details["code"]``).
        SchemaInvalidError
            A success reply without ``data.shop_order_detail``.
        """
        data = self.call(ORDER_DETAIL_PATH, {"shop_order_id": platform_order_id}, shop_id=shop_id)
        detail = data.get("shop_order_detail")
        if not isinstance(detail, dict):
            raise SchemaInvalidError(
                "Douyin orderDetail reply has no shop_order_detail", field="data.shop_order_detail"
            )
        return detail

    def update_stock(
        self,
        shop_id: str,
        sku_id: str,
        quantity: int,
        *,
        product_id: str | None = None,
        current_quantity: int | None = None,
    ) -> dict[str, Any]:
        """Set a SKU's stock to ``quantity`` (``/sku/syncStock`` with ``incremental`` false).

        ``current_quantity`` is accepted for the common signature and unused: the call sets a total.

        Raises
        ------
        SchemaInvalidError
            ``product_id`` missing (Douyin names a SKU within its product) or a negative quantity.
        """
        if not product_id:
            raise SchemaInvalidError("Douyin stock updates need the product_id", field="product_id")
        params = {
            "product_id": json_id(product_id),
            "sku_id": json_id(sku_id),
            "stock_num": stock_quantity(quantity),
            "incremental": False,
        }
        return self.call(STOCK_SYNC_PATH, params, shop_id=shop_id)

    def read_stock(self, shop_id: str, sku_id: str, *, product_id: str | None = None) -> int:
        """The SKU's stock as Douyin shows it to buyers (``/sku/stockNum`` ``stock_num``)."""
        data = self.call(STOCK_READ_PATH, {"sku_id": json_id(sku_id)}, shop_id=shop_id)
        return reply_quantity(data.get("stock_num"), platform="Douyin", field="stock_num")

    def call(self, path: str, params: dict[str, Any], *, shop_id: str) -> dict[str, Any]:
        """Call one API path for one shop; returns the reply's ``data`` object."""
        access_token = self._access_tokens.get(str(shop_id))
        if not isinstance(access_token, str) or not access_token:
            raise CredentialsMissingError(
                "no Douyin access token for this shop", platform="douyin", shop_id=str(shop_id)
            )
        method = api_method(path)
        body = param_json(params)
        timestamp = api_timestamp(self._clock(), self._timestamp_format)
        query = {
            "app_key": self._app_key,
            "method": method,
            "access_token": access_token,
            "timestamp": timestamp,
            "v": API_VERSION,
            "sign_method": self._sign_method,
            "sign": api_sign(
                self._app_key, self._app_secret, method, body, timestamp, API_VERSION, self._sign_method
            ),
        }
        url = f"{self._base_url}/{path.strip('/')}?{urlencode(query, quote_via=quote)}"
        response = self._transport.request(
            "POST",
            url,
            headers={"Content-Type": "application/json;charset=UTF-8", "Accept": "application/json"},
            body=body.encode("utf-8"),
            timeout=TIMEOUT_SECONDS,
        )
        return _reply_data(response, method)


def _reply_data(response: HttpResponse, method: str) -> dict[str, Any]:
    reply = api_reply(response, platform="Douyin", api=method)
    code = reply.get("code")
    if _code_number(code) != SUCCESS_CODE or response.status >= 400:
        error = PlatformApiError(
            f"Douyin {method} failed with code {code}",
            method=method,
            http_status=response.status,
            code=str(code),
            msg=str(reply.get("msg") or ""),
            sub_code=str(reply.get("sub_code") or ""),
            sub_msg=str(reply.get("sub_msg") or ""),
            log_id=str(reply.get("log_id") or ""),
        )
        # An HTTP 4xx says the request itself is wrong; repeating it cannot help.
        error.retryable = response.status < 400
        raise error
    data = reply.get("data")
    if not isinstance(data, dict):
        raise SchemaInvalidError(f"Douyin {method} reply has no data object", field="data")
    return data


def _code_number(code: Any) -> int | None:
    if isinstance(code, bool) or not isinstance(code, int | str):
        return None
    try:
        return int(code)
    except ValueError:
        return None
