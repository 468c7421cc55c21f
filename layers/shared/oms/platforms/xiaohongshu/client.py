"""The signed Xiaohongshu API client: order detail, stock sync and read through ``common_controller``.

Request: ``POST {base}/ark/open_api/v3/common_controller`` with the JSON body ``{method, appId,
timestamp, version: "2.0", accessToken, sign, ...business fields}`` (see :func:`.signing.api_sign`).
Reply: ``{"success": true, "data": {...}}``; otherwise ``error_code``/``error_msg`` (some gateways
say ``code``/``msg``).

Stock: ``inventory.syncSkuStock`` (``skuId, qty``: a total) and ``inventory.getSkuStock``
(``skuId`` → ``data {skuId, skuStock {available, total}}``; the shape of the public Go and Java
SDKs of the ark API — no official sample was found, so the reply fields are **[unconfirmed]**).
``available`` is what buyers can still order (``total`` includes what unpaid orders hold).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from oms.domain.errors import SchemaInvalidError
from oms.platforms._common import api_reply, reply_quantity, secret
from oms.platforms._seller_api import SellerCredentials
from oms.platforms.base import AppSecrets, HttpResponse, HttpTransport
from oms.platforms.xiaohongshu.signing import API_VERSION, api_sign

DEFAULT_BASE_URL = "https://ark.xiaohongshu.com"
COMMON_CONTROLLER_PATH = "/ark/open_api/v3/common_controller"
ORDER_DETAIL_METHOD = "order.getOrderDetail"
STOCK_SYNC_METHOD = "inventory.syncSkuStock"
STOCK_READ_METHOD = "inventory.getSkuStock"
TIMEOUT_SECONDS = 5.0
#: Platform error codes meaning "throttled, try later". **[unconfirmed]**: no official table names
#: them; secrets ``rate_limit_codes`` (a list) replace this default. HTTP 429 always counts.
DEFAULT_RATE_LIMIT_CODES: frozenset[str] = frozenset({"-1003", "429"})


class XiaohongshuClient:
    """A signed client for one Xiaohongshu app and the sellers that authorised it.

    Parameters
    ----------
    secrets:
        ``{"app_key", "app_secret", "access_tokens": {"<sellerId>": "<token>"}}``; optional
        ``"rate_limit_codes"`` (see :data:`DEFAULT_RATE_LIMIT_CODES`).
    transport:
        Where requests go.
    base_url:
        The API host (the local simulator in development); ``https://ark.xiaohongshu.com`` by default.
    clock:
        Now, as an aware datetime; signs the request timestamp (Unix seconds).

    Examples
    --------
    >>> client = XiaohongshuClient(secrets, transport, clock=now)  # doctest: +SKIP
    >>> client.fetch_order("5f0c0000", "P7350000000000001")["orderStatus"]  # doctest: +SKIP
    4
    >>> client.update_stock("5f0c0000", "sku-1", 12)  # doctest: +SKIP
    """

    def __init__(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self._app_key = secret(secrets, "app_key", platform="xiaohongshu")
        self._app_secret = secret(secrets, "app_secret", platform="xiaohongshu")
        self._sellers = SellerCredentials(
            secrets,
            platform="xiaohongshu",
            label="Xiaohongshu",
            default_rate_limit_codes=DEFAULT_RATE_LIMIT_CODES,
        )
        self._transport = transport
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._clock = clock

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The order detail (``order.getOrderDetail`` → ``data``) of one seller's order.

        Raises
        ------
        CredentialsMissingError
            No access token is configured for ``shop_id`` (the seller id).
        PlatformApiError
            HTTP failure or ``success`` false; retryable for HTTP 429/5xx and the rate-limit codes.
        SchemaInvalidError
            A success reply without a ``data`` object.
        """
        return self.call(ORDER_DETAIL_METHOD, {"orderId": platform_order_id}, shop_id=shop_id)

    def update_stock(
        self,
        shop_id: str,
        sku_id: str,
        quantity: int,
        *,
        product_id: str | None = None,
        current_quantity: int | None = None,
    ) -> dict[str, Any]:
        """Set a SKU's sellable stock to ``quantity`` (``inventory.syncSkuStock``: a total, not a delta).

        ``product_id`` and ``current_quantity`` are accepted for the common signature and unused.
        """
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise SchemaInvalidError("stock quantity must be a non-negative integer", field="quantity")
        return self.call(STOCK_SYNC_METHOD, {"skuId": sku_id, "qty": quantity}, shop_id=shop_id)

    def read_stock(self, shop_id: str, sku_id: str, *, product_id: str | None = None) -> int:
        """The SKU's ``skuStock.available`` (``inventory.getSkuStock``); ``product_id`` is unused.

        Raises
        ------
        SchemaInvalidError
            A success reply without ``skuStock`` or a whole ``available``.
        """
        data = self.call(STOCK_READ_METHOD, {"skuId": sku_id}, shop_id=shop_id)
        stock = data.get("skuStock")
        if not isinstance(stock, dict):
            raise SchemaInvalidError("Xiaohongshu stock reply has no skuStock", field="data.skuStock")
        return reply_quantity(stock.get("available"), platform="Xiaohongshu", field="skuStock.available")

    def call(self, method: str, params: Mapping[str, Any], *, shop_id: str) -> dict[str, Any]:
        """Call one ``common_controller`` method for one seller; returns the reply's ``data``."""
        access_token = self._sellers.access_token(shop_id)
        timestamp = str(int(self._clock().timestamp()))
        body = {
            **params,
            "method": method,
            "appId": self._app_key,
            "timestamp": timestamp,
            "version": API_VERSION,
            "accessToken": access_token,
            "sign": api_sign(method, self._app_key, timestamp, self._app_secret),
        }
        response = self._transport.request(
            "POST",
            f"{self._base_url}{COMMON_CONTROLLER_PATH}",
            headers={"Content-Type": "application/json;charset=utf-8", "Accept": "application/json"},
            body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            timeout=TIMEOUT_SECONDS,
        )
        return self._reply_data(response, method)

    def _reply_data(self, response: HttpResponse, method: str) -> dict[str, Any]:
        reply = api_reply(response, platform="Xiaohongshu", api=method)
        if reply.get("success") is not True or response.status >= 400:
            code = str(reply.get("error_code", reply.get("code", "")))
            raise self._sellers.failure(response, reply, method=method, code=code, code_name="code")
        return self._sellers.data(reply, method=method)
