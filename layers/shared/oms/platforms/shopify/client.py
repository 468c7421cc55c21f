"""The Shopify Admin REST client (order detail, stock), authenticated by the store's access token.

``GET {base}/admin/api/2025-01/orders/{id}.json`` with ``X-Shopify-Access-Token``. Stock lives
per inventory item × location: ``POST inventory_levels/set.json {location_id, inventory_item_id,
available}`` sets it, ``GET inventory_levels.json?inventory_item_ids=&location_ids=`` reads it. The base
URL is the shop itself (``https://{shop}``); an override may contain ``{shop}`` so one local
simulator can serve many shops (``http://127.0.0.1:3100/shopify/{shop}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from oms.domain.errors import PlatformApiError, SchemaInvalidError
from oms.platforms._common import json_id, reply_quantity, secret, stock_quantity
from oms.platforms.base import AppSecrets, HttpResponse, HttpTransport

API_VERSION = "2025-01"
DEFAULT_BASE_URL = "https://{shop}"
ACCESS_TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 - a header name, not a secret
TIMEOUT_SECONDS = 5.0
_SHOP_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")


class ShopifyClient:
    """A client for one store's custom app.

    Parameters
    ----------
    secrets:
        ``{"api_secret", "access_token"}`` of the store's app.
    transport:
        Where requests go.
    base_url:
        The API base; ``{shop}`` in it is replaced by the shop domain. Defaults to ``https://{shop}``.
    clock:
        Unused (requests carry no timestamp); accepted for the common client signature.

    Examples
    --------
    >>> client = ShopifyClient(secrets, transport, clock=now)  # doctest: +SKIP
    >>> client.fetch_order("qinghe-home.myshopify.com", "5923717611762")["financial_status"]  # doctest: +SKIP
    'paid'
    """

    def __init__(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._access_token = secret(secrets, "access_token", platform="shopify")
        self._transport = transport
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The order object (``body["order"]``) as the Admin API returns it.

        Raises
        ------
        PlatformApiError
            Any HTTP error; ``429`` and ``5xx`` are retryable, with ``Retry-After`` in
            ``details["retry_after"]`` when Shopify sends it.
        SchemaInvalidError
            A success reply without an ``order`` object.
        """
        if not _SHOP_DOMAIN.fullmatch(shop_id):
            # The domain becomes the request host: anything but a host name could redirect the call.
            raise SchemaInvalidError("Shopify shop id is not a shop domain", field="shop_id")
        base = self._base_url.replace("{shop}", shop_id)
        url = f"{base}/admin/api/{API_VERSION}/orders/{quote(str(platform_order_id), safe='')}.json"
        response = self._transport.request(
            "GET",
            url,
            headers={ACCESS_TOKEN_HEADER: self._access_token, "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
        if response.status != 200:
            raise _http_error(response, url_path=f"orders/{platform_order_id}.json")
        try:
            body = json.loads(response.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SchemaInvalidError("Shopify order reply is not JSON", field="body") from exc
        order = body.get("order") if isinstance(body, dict) else None
        if not isinstance(order, dict):
            raise SchemaInvalidError("Shopify order reply has no order object", field="order")
        return order

    def update_stock(
        self,
        shop_id: str,
        sku_id: str,
        quantity: int,
        *,
        product_id: str | None = None,
        current_quantity: int | None = None,
        location_id: str | None = None,
    ) -> dict[str, Any]:
        """Set an inventory item's ``available`` at one location (``inventory_levels/set.json``).

        ``sku_id`` is the variant's ``inventory_item_id``; ``product_id`` and ``current_quantity``
        are accepted for the common signature and unused.

        Raises
        ------
        SchemaInvalidError
            No ``location_id``, or a negative quantity.
        """
        body = {
            "location_id": json_id(self._location(location_id)),
            "inventory_item_id": json_id(sku_id),
            "available": stock_quantity(quantity),
        }
        reply = self._json("POST", shop_id, "inventory_levels/set.json", json.dumps(body).encode("utf-8"))
        level = reply.get("inventory_level")
        return level if isinstance(level, dict) else {}

    def read_stock(
        self, shop_id: str, sku_id: str, *, product_id: str | None = None, location_id: str | None = None
    ) -> int:
        """The item's ``available`` at the location (``GET inventory_levels.json``)."""
        location = self._location(location_id)
        query = urlencode({"inventory_item_ids": sku_id, "location_ids": location})
        reply = self._json("GET", shop_id, f"inventory_levels.json?{query}", None)
        levels = reply.get("inventory_levels")
        matching = [
            level
            for level in (levels if isinstance(levels, list) else [])
            if isinstance(level, dict) and str(level.get("inventory_item_id")) == str(sku_id)
        ]
        if len(matching) != 1:
            raise SchemaInvalidError(
                "Shopify inventory_levels reply has no level for the item", field="inventory_levels"
            )
        return reply_quantity(matching[0].get("available"), platform="Shopify", field="available")

    @staticmethod
    def _location(location_id: str | None) -> str:
        if not location_id:
            raise SchemaInvalidError(
                "Shopify stock lives per location: give location_id", field="location_id"
            )
        return str(location_id)

    def _json(self, method: str, shop_id: str, url_path: str, body: bytes | None) -> dict[str, Any]:
        if not _SHOP_DOMAIN.fullmatch(shop_id):
            raise SchemaInvalidError("Shopify shop id is not a shop domain", field="shop_id")
        base = self._base_url.replace("{shop}", shop_id)
        headers = {ACCESS_TOKEN_HEADER: self._access_token, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self._transport.request(
            method,
            f"{base}/admin/api/{API_VERSION}/{url_path}",
            headers=headers,
            body=body,
            timeout=TIMEOUT_SECONDS,
        )
        if response.status != 200:
            raise _http_error(response, url_path=url_path.split("?", 1)[0])
        try:
            reply = json.loads(response.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SchemaInvalidError("Shopify reply is not JSON", field="body") from exc
        if not isinstance(reply, dict):
            raise SchemaInvalidError("Shopify reply is not an object", field="body")
        return reply


def _http_error(response: HttpResponse, *, url_path: str) -> PlatformApiError:
    details: dict[str, Any] = {"http_status": response.status, "path": url_path}
    headers = {name.lower(): value for name, value in response.headers.items()}
    if retry_after := headers.get("retry-after"):
        details["retry_after"] = retry_after
    if request_id := headers.get("x-request-id"):
        details["request_id"] = request_id
    message = _error_text(response.body)
    error = PlatformApiError(
        f"Shopify {url_path} failed with HTTP {response.status}" + (f": {message}" if message else ""),
        **details,
    )
    # 429 (bucket empty) and 5xx pass; any other 4xx is the request's own fault.
    error.retryable = response.status == 429 or response.status >= 500
    return error


def _error_text(body: bytes) -> str:
    try:
        reply = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    errors = reply.get("errors") if isinstance(reply, dict) else None
    if isinstance(errors, str):
        return errors[:200]
    if errors is not None:
        return json.dumps(errors, ensure_ascii=False)[:200]
    return ""
