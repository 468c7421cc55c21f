"""The WooCommerce REST client (order detail, stock update and read), authenticated with HTTP Basic.

``GET {base}/wp-json/wc/v3/orders/{id}``; ``PUT {base}/wp-json/wc/v3/products/{id}`` (or
``/products/{parent}/variations/{id}``) with ``{"manage_stock": true, "stock_quantity": n}``;
``GET`` on the same product or variation path reads ``stock_quantity`` back (``null`` when the
product does not manage stock).
The consumer key and secret travel as HTTP Basic credentials, which is only safe over HTTPS: the
client refuses a plain ``http://`` base except on the loopback interface (the local simulator).
The base URL is the site itself (``https://{shop}``); ``{shop}`` is replaced by the site host.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from oms.domain.errors import CredentialsMissingError, PlatformApiError, SchemaInvalidError
from oms.platforms._common import reply_quantity, secret
from oms.platforms.base import AppSecrets, HttpResponse, HttpTransport

DEFAULT_BASE_URL = "https://{shop}"
API_PREFIX = "/wp-json/wc/v3"
TIMEOUT_SECONDS = 5.0
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class WooCommerceClient:
    """A REST client for one WooCommerce site.

    Parameters
    ----------
    secrets:
        ``{"consumer_key", "consumer_secret", "webhook_secret"}`` of the site; optional
        ``"site_url"`` for a store not at the root of its host (``https://example.com/shop``),
        which then replaces ``base_url``.
    transport:
        Where requests go.
    base_url:
        The site root; ``{shop}`` in it becomes the site host. Defaults to ``https://{shop}``.
    clock:
        Unused (requests carry no timestamp); accepted for the common client signature.

    Examples
    --------
    >>> client = WooCommerceClient(secrets, transport, clock=now)  # doctest: +SKIP
    >>> client.fetch_order("shop.example.com", "4127")["status"]  # doctest: +SKIP
    'processing'
    >>> client.update_stock("shop.example.com", "4130", 12, product_id="4129")  # doctest: +SKIP
    """

    def __init__(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        key = secret(secrets, "consumer_key", platform="woocommerce")
        value = secret(secrets, "consumer_secret", platform="woocommerce")
        self._authorization = "Basic " + base64.b64encode(f"{key}:{value}".encode()).decode("ascii")
        self._transport = transport
        site_url = secrets.get("site_url")
        chosen = site_url if isinstance(site_url, str) and site_url else base_url
        self._base_url = (chosen or DEFAULT_BASE_URL).rstrip("/")

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The order object as ``GET /orders/{id}`` returns it.

        Raises
        ------
        PlatformApiError
            Any HTTP error; 429 and 5xx are retryable (``retry_after`` when the site sends it).
        SchemaInvalidError
            ``shop_id`` is not a host name, or the reply is not a JSON object.
        """
        return self._call("GET", shop_id, f"/orders/{quote(str(platform_order_id), safe='')}")

    def update_stock(
        self,
        shop_id: str,
        sku_id: str,
        quantity: int,
        *,
        product_id: str | None = None,
        current_quantity: int | None = None,
    ) -> dict[str, Any]:
        """Set the stock of a product (or, with ``product_id`` its parent, a variation) to ``quantity``.

        ``current_quantity`` is accepted for the common signature and unused: the call sets a total.
        """
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise SchemaInvalidError("stock quantity must be a non-negative integer", field="quantity")
        body = json.dumps({"manage_stock": True, "stock_quantity": quantity}).encode("utf-8")
        return self._call("PUT", shop_id, _stock_path(sku_id, product_id), body)

    def read_stock(self, shop_id: str, sku_id: str, *, product_id: str | None = None) -> int:
        """The ``stock_quantity`` of a product (or, with ``product_id`` its parent, a variation).

        Raises
        ------
        SchemaInvalidError
            The product does not manage stock (``stock_quantity`` null) or the value is not whole.
        PlatformApiError
            Any HTTP error (``woocommerce_rest_product_invalid_id`` for an unknown id).
        """
        reply = self._call("GET", shop_id, _stock_path(sku_id, product_id))
        return reply_quantity(reply.get("stock_quantity"), platform="WooCommerce", field="stock_quantity")

    def _call(self, method: str, shop_id: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        host = str(shop_id).lower()
        if not _HOST.fullmatch(host):
            # The host becomes the request's host: anything but a host name could redirect the call.
            raise SchemaInvalidError("WooCommerce shop id is not a site host", field="shop_id")
        base = self._base_url.replace("{shop}", host)
        split = urlsplit(base)
        if split.scheme != "https" and split.hostname not in _LOOPBACK:
            raise CredentialsMissingError(
                "WooCommerce Basic credentials are only sent over HTTPS", platform="woocommerce"
            )
        headers = {"Authorization": self._authorization, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self._transport.request(
            method, f"{base}{API_PREFIX}{path}", headers=headers, body=body, timeout=TIMEOUT_SECONDS
        )
        if response.status != 200:
            raise _http_error(response, path)
        try:
            reply = json.loads(response.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SchemaInvalidError("WooCommerce reply is not JSON", field="body") from exc
        if not isinstance(reply, dict):
            raise SchemaInvalidError("WooCommerce reply is not a JSON object", field="body")
        return reply


def _stock_path(sku_id: str, product_id: str | None) -> str:
    sku = quote(str(sku_id), safe="")
    if product_id is not None and str(product_id) != str(sku_id):
        return f"/products/{quote(str(product_id), safe='')}/variations/{sku}"
    return f"/products/{sku}"


def _http_error(response: HttpResponse, path: str) -> PlatformApiError:
    details: dict[str, Any] = {"http_status": response.status, "path": path}
    headers = {name.lower(): value for name, value in response.headers.items()}
    if retry_after := headers.get("retry-after"):
        details["retry_after"] = retry_after
    try:
        reply = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        reply = None
    if isinstance(reply, dict) and isinstance(reply.get("code"), str):
        details["code"] = reply["code"][:100]  # e.g. woocommerce_rest_shop_order_invalid_id
    error = PlatformApiError(f"WooCommerce {path} failed with HTTP {response.status}", **details)
    # 429 (a rate-limiting plugin or host) and 5xx pass; any other 4xx is the request's own fault.
    error.retryable = response.status == 429 or response.status >= 500
    return error
