"""The signed Kuaishou API client: order detail, incremental stock update, stock read.

Request: ``POST {base}/<method with . → />`` (``open.order.detail`` → ``/open/order/detail``),
form-encoded ``appkey, method, version=1, param (JSON), access_token, timestamp (ms),
signMethod, sign`` (see :func:`.signing.api_sign`). Reply: ``{"result": 1, "data": {...}}``; any
other ``result`` is an error (``error_msg`` says which).

Stock read: ``open.item.get`` (``kwaiItemId``), sent as a GET with the same signed parameters in
the query (as the public SDKs do), answers ``data.skuInfos[] {kwaiSkuId, skuStock, ...}`` (the
item detail of the public Go/PHP SDKs of the Kuaishou shop open platform; no official sample was
found: **[unconfirmed]**).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlencode

from oms.domain.errors import (
    BadRequestError,
    CredentialsMissingError,
)
from oms.platforms._common import api_reply, json_id, listed_sku_quantity, secret
from oms.platforms._seller_api import SellerCredentials
from oms.platforms.base import AppSecrets, HttpResponse, HttpTransport
from oms.platforms.kuaishou.signing import (
    HMAC_ENCODINGS,
    SIGN_METHOD_MD5,
    SIGN_METHODS,
    HmacEncoding,
    api_sign,
)

DEFAULT_BASE_URL = "https://openapi.kwaixiaodian.com"
API_VERSION = "1"
ORDER_DETAIL_METHOD = "open.order.detail"
STOCK_UPDATE_METHOD = "open.item.sku.stock.update"
ITEM_GET_METHOD = "open.item.get"
CHANGE_TYPE_ADD = 1
CHANGE_TYPE_SUBTRACT = 2
SUCCESS_RESULT = 1
TIMEOUT_SECONDS = 3.0
#: ``result`` values meaning "throttled, try later". **[unconfirmed]**: no official table was
#: found; secrets ``rate_limit_codes`` (a list) replace this default. HTTP 429 always counts.
DEFAULT_RATE_LIMIT_CODES: frozenset[str] = frozenset({"429"})


#: Kuaishou ids are JSON numbers: ASCII digit strings are sent as integers, anything else as is.
_json_id = json_id


def api_path(method: str) -> str:
    """``open.order.detail`` → ``/open/order/detail``."""
    return "/" + method.strip(".").replace(".", "/")


class KuaishouClient:
    """A signed client for one Kuaishou app and the sellers that authorised it.

    Parameters
    ----------
    secrets:
        ``{"app_key", "sign_secret", "access_tokens": {"<seller id>": "<token>"}}``; optional
        ``"sign_method"`` (``"MD5"`` default, or ``"HMAC_SHA256"``), ``"hmac_encoding"``
        (``"base64"`` default as in the official sample, or ``"hex"``; unconfirmed) and
        ``"rate_limit_codes"``.
    transport:
        Where requests go.
    base_url:
        The gateway (the local simulator in development); ``https://openapi.kwaixiaodian.com``.
    clock:
        Now, as an aware datetime; signs the request timestamp (ms).

    Examples
    --------
    >>> client = KuaishouClient(secrets, transport, clock=now)  # doctest: +SKIP
    >>> client.fetch_order("7001", "2419200000000001")["orderBaseInfo"]["status"]  # doctest: +SKIP
    30
    >>> client.update_stock("7001", "sku-1", 12, product_id="item-1", current_quantity=10)  # doctest: +SKIP
    """

    def __init__(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self._app_key = secret(secrets, "app_key", platform="kuaishou")
        self._sign_secret = secret(secrets, "sign_secret", platform="kuaishou")
        self._sellers = SellerCredentials(
            secrets, platform="kuaishou", label="Kuaishou", default_rate_limit_codes=DEFAULT_RATE_LIMIT_CODES
        )
        sign_method = secrets.get("sign_method") or SIGN_METHOD_MD5
        encoding = secrets.get("hmac_encoding") or "base64"
        # Unusable settings fail here, typed, rather than as a bad signature on every call.
        if sign_method not in SIGN_METHODS:
            raise CredentialsMissingError(
                "kuaishou secrets have an unsupported sign_method", platform="kuaishou", key="sign_method"
            )
        if encoding not in HMAC_ENCODINGS:
            raise CredentialsMissingError(
                "kuaishou secrets have an unsupported hmac_encoding", platform="kuaishou", key="hmac_encoding"
            )
        self._sign_method = str(sign_method)
        self._encoding = cast(HmacEncoding, encoding)
        self._transport = transport
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._clock = clock

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The ``open.order.detail`` data of one seller's order.

        Raises
        ------
        CredentialsMissingError
            No access token for ``shop_id`` (the seller id).
        PlatformApiError
            HTTP failure or ``result != 1``; retryable for HTTP 429/5xx and the rate-limit codes.
        """
        return self.call(ORDER_DETAIL_METHOD, {"oid": _json_id(platform_order_id)}, shop_id=shop_id)

    def update_stock(
        self,
        shop_id: str,
        sku_id: str,
        quantity: int,
        *,
        product_id: str | None = None,
        current_quantity: int | None = None,
    ) -> dict[str, Any]:
        """Bring a SKU's stock to ``quantity``; Kuaishou only takes changes, so the change is
        ``quantity - current_quantity`` (``changeType`` 1 add / 2 subtract). No change, no call.

        Raises
        ------
        BadRequestError
            ``product_id`` (the ``kwaiItemId``) or ``current_quantity`` is missing, or a quantity
            is negative.
        """
        if product_id is None or current_quantity is None:
            raise BadRequestError(
                "Kuaishou stock updates are incremental: give product_id and current_quantity",
                platform="kuaishou",
            )
        if quantity < 0 or current_quantity < 0:
            raise BadRequestError("stock quantities must not be negative", platform="kuaishou")
        change = quantity - current_quantity
        if change == 0:
            return {}
        params = {
            "kwaiItemId": _json_id(str(product_id)),
            "skuId": _json_id(str(sku_id)),
            "skuChangeStock": abs(change),
            "changeType": CHANGE_TYPE_ADD if change > 0 else CHANGE_TYPE_SUBTRACT,
        }
        return self.call(STOCK_UPDATE_METHOD, params, shop_id=shop_id)

    def read_stock(self, shop_id: str, sku_id: str, *, product_id: str | None = None) -> int:
        """The SKU's ``skuStock`` in the item detail (``open.item.get``).

        Raises
        ------
        BadRequestError
            No ``product_id`` (the ``kwaiItemId``).
        SchemaInvalidError
            A reply without ``skuInfos`` or a whole ``skuStock``.
        ChannelListingNotFoundError
            The item has no SKU ``sku_id``.
        """
        if product_id is None:
            raise BadRequestError(
                "Kuaishou stock reads need the kwaiItemId: give product_id", platform="kuaishou"
            )
        data = self.call(
            ITEM_GET_METHOD, {"kwaiItemId": _json_id(str(product_id))}, shop_id=shop_id, http_method="GET"
        )
        return listed_sku_quantity(
            data.get("skuInfos"),
            sku_id,
            platform="Kuaishou",
            list_field="data.skuInfos",
            id_field="kwaiSkuId",
            quantity_field="skuStock",
        )

    def call(
        self, method: str, params: Mapping[str, Any], *, shop_id: str, http_method: str = "POST"
    ) -> dict[str, Any]:
        """Call one API method for one seller; returns the reply's ``data`` (``{}`` when absent).

        A ``GET`` carries the signed parameters in the query, a ``POST`` in a form body.
        """
        access_token = self._sellers.access_token(shop_id)
        form = {
            "appkey": self._app_key,
            "method": method,
            "version": API_VERSION,
            "param": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
            "access_token": access_token,
            "timestamp": str(int(self._clock().timestamp() * 1000)),
            "signMethod": self._sign_method,
        }
        form["sign"] = api_sign(form, self._sign_secret, self._sign_method, self._encoding)
        url = f"{self._base_url}{api_path(method)}"
        if http_method == "GET":
            response = self._transport.request("GET", f"{url}?{urlencode(form)}", timeout=TIMEOUT_SECONDS)
        else:
            response = self._transport.request(
                "POST",
                url,
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
                body=urlencode(form).encode("ascii"),
                timeout=TIMEOUT_SECONDS,
            )
        return self._reply_data(response, method)

    def _reply_data(self, response: HttpResponse, method: str) -> dict[str, Any]:
        reply = api_reply(response, platform="Kuaishou", api=method)
        result = reply.get("result")
        if result != SUCCESS_RESULT or response.status >= 400:
            raise self._sellers.failure(response, reply, method=method, code=str(result), code_name="result")
        return self._sellers.data(reply, method=method)
