"""Simulated WooCommerce sites: the REST order and product endpoints, webhook builders, orders.

``GET /woocommerce/<site>/wp-json/wc/v3/orders/<id>`` and ``PUT`` (or ``POST``, which WordPress
accepts for every editable route) ``/woocommerce/<site>/wp-json/wc/v3/products/<id>[/variations/<id>]``
(``GET`` reads its ``stock_quantity`` back; levels live in :mod:`local.simulators.stock`),
authenticated with HTTP Basic against the site's consumer key and secret. Errors use WordPress's
``{"code", "message", "data": {"status"}}`` shape.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from local.simulators import stock as channel
from local.simulators.store import SimulatorStates
from oms.platforms._common import constant_time_equals
from oms.platforms.woocommerce.webhook import webhook_signature

if TYPE_CHECKING:
    from local.simulator import LineSpec, PlatformSimulator, SimReply, SimRequest

PLATFORM = "woocommerce"
ORDER_API = "orders.get"
STOCK_API = "products.update"
STOCK_READ_API = "products.get"
HAPPY_PATH: tuple[str, ...] = ("pending", "processing", "completed")
#: The demo sites keep their wall clock in China Standard Time (the non-GMT dates use it).
SITE_ZONE = timezone(timedelta(hours=8))


_state = SimulatorStates()


def base_url(simulator: PlatformSimulator) -> str:
    """The base URL with ``{shop}``: the client puts the site host there."""
    return f"{simulator.base_url}/{PLATFORM}/{{shop}}"


def put_order(simulator: PlatformSimulator, site: str, order: Mapping[str, Any]) -> None:
    """Store (or replace) an order exactly as ``GET /orders/{id}`` returns it."""
    state = _state(simulator)
    with state.lock:
        state.orders[(site, str(order["id"]))] = copy.deepcopy(dict(order))


def stock(simulator: PlatformSimulator, site: str, product_or_variation_id: str) -> int | None:
    with simulator._lock:
        return channel.shown(simulator, PLATFORM, site, str(product_or_variation_id))


def _error(code: str, message: str, status: int, headers: Mapping[str, str] | None = None) -> SimReply:
    from local.simulator import SimReply

    return SimReply.json({"code": code, "message": message, "data": {"status": status}}, status, headers)


def _authorised(app: Mapping[str, Any], header: str) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        key, _, value = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return False
    key_ok = constant_time_equals(str(app["consumer_key"]), key)
    secret_ok = constant_time_equals(str(app["consumer_secret"]), value)
    return key_ok and secret_ok


def handle(simulator: PlatformSimulator, request: SimRequest, rest: str) -> SimReply:
    """Answer the order and product endpoints of one simulated site."""
    from local.simulator import SimReply

    site, _, path = rest.partition("/")
    parts = path.strip("/").split("/")
    if parts[:3] != ["wp-json", "wc", "v3"] or len(parts) < 5:
        return _error("rest_no_route", "No route was found matching the URL and request method.", 404)
    resource = parts[3:]
    is_order = request.method == "GET" and resource[0] == "orders" and len(resource) == 2
    is_product = resource[0] == "products" and len(resource) in (2, 4)
    is_stock = request.method in ("PUT", "POST") and is_product
    is_stock_read = request.method == "GET" and is_product
    if not (is_order or is_stock or is_stock_read) or (len(resource) == 4 and resource[2] != "variations"):
        return _error("rest_no_route", "No route was found matching the URL and request method.", 404)
    api = ORDER_API if is_order else STOCK_API if is_stock else STOCK_READ_API
    fault = simulator._enter(PLATFORM, api)
    if fault is not None:
        status = fault.status or 500
        headers = {"Retry-After": "1"} if status == 429 else {}
        return _error("simulated_fault", "injected fault", status, headers)
    app = simulator.credentials.get(PLATFORM, {}).get(site)
    if app is None:
        return _error("rest_no_route", "No route was found matching the URL and request method.", 404)
    if not _authorised(app, request.headers.get("authorization", "")):
        return _error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)
    state = _state(simulator)
    with state.lock:
        if is_order:
            order = state.orders.get((site, resource[1]))
            if order is None:
                return _error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
            return SimReply.json(copy.deepcopy(order))
        target = resource[-1]
        if is_stock_read:
            shown = channel.shown(simulator, PLATFORM, site, target)
            if shown is None:
                return _error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            return SimReply.json(_product(target, shown))
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        quantity = body.get("stock_quantity") if isinstance(body, dict) else None
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            return _error("rest_invalid_param", "Invalid parameter(s): stock_quantity", 400)
        channel.record_push(simulator, PLATFORM, site, target, quantity)
        return SimReply.json(_product(target, quantity))


def _product(target: str, quantity: int) -> dict[str, Any]:
    """The stock fields of a product or variation as the REST API returns them."""
    return {
        "id": int(target) if target.isdigit() else target,
        "manage_stock": True,
        "stock_quantity": quantity,
        "stock_status": "instock" if quantity > 0 else "outofstock",
    }


def webhook(
    order: Mapping[str, Any], topic: str, site_url: str, webhook_secret: str, *, webhook_id: int = 1
) -> tuple[dict[str, str], bytes]:
    """A signed delivery of ``order`` for ``topic`` (``order.created``, ``order.updated``, ...)."""
    body = json.dumps(order, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    resource, _, event = topic.partition(".")
    headers = {
        "content-type": "application/json",
        "x-wc-webhook-source": site_url,
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": resource,
        "x-wc-webhook-event": event,
        "x-wc-webhook-signature": webhook_signature(body, webhook_secret),
        "x-wc-webhook-id": str(webhook_id),
        "x-wc-webhook-delivery-id": base64.b16encode(body[:8]).decode().lower(),
    }
    return headers, body


def ping(webhook_id: int = 1) -> tuple[dict[str, str], bytes]:
    """The unsigned ping WooCommerce posts when a webhook is saved."""
    return {"content-type": "application/x-www-form-urlencoded"}, f"webhook_id={webhook_id}".encode()


def order(
    order_id: int,
    status: str,
    modified: datetime,
    lines: Sequence[LineSpec],
    *,
    created: datetime | None = None,
    currency: str = "CNY",
    shipping: Decimal = Decimal("0"),
    transaction_id: str = "",
    refunded: Decimal | None = None,
) -> dict[str, Any]:
    """A WooCommerce REST order at ``status``: ``*_gmt`` in UTC, the plain dates in the site's zone."""
    created = created or modified
    paid = status in ("processing", "completed", "refunded") or refunded is not None

    def gmt(moment: datetime) -> str:
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")

    def local(moment: datetime) -> str:
        return moment.astimezone(SITE_ZONE).replace(tzinfo=None).isoformat(timespec="seconds")

    subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    return {
        "id": order_id,
        "parent_id": 0,
        "number": str(order_id),
        "status": status,
        "currency": currency,
        "version": "9.5.1",
        "created_via": "checkout",
        "date_created": local(created),
        "date_created_gmt": gmt(created),
        "date_modified": local(modified),
        "date_modified_gmt": gmt(modified),
        "date_paid": local(created) if paid else None,
        "date_paid_gmt": gmt(created) if paid else None,
        "date_completed": local(modified) if status == "completed" else None,
        "date_completed_gmt": gmt(modified) if status == "completed" else None,
        "discount_total": "0.00",
        "shipping_total": f"{shipping:.2f}",
        "total": f"{subtotal + shipping:.2f}",
        "total_tax": "0.00",
        "customer_id": 17,
        "payment_method": "alipay",
        "payment_method_title": "Alipay",
        "transaction_id": transaction_id,
        "billing": {"first_name": "Sample", "last_name": "Buyer", "email": "buyer@example.invalid"},
        "shipping": {
            "first_name": "Sample",
            "last_name": "Buyer",
            "address_1": "100 Example Road",
            "address_2": "Unit 5",
            "city": "Hangzhou",
            "state": "ZJ",
            "postcode": "310000",
            "country": "CN",
            "phone": "+86 138 0000 0000",
        },
        "line_items": [
            {
                "id": order_id * 10 + index + 1,
                "name": line.title,
                "product_id": int(line.product_id) if line.product_id.isdigit() else line.product_id,
                "variation_id": int(line.sku_id) if line.sku_id.isdigit() else line.sku_id,
                "quantity": line.quantity,
                "sku": line.out_sku_id or "",
                "subtotal": f"{line.unit_price * line.quantity:.2f}",
                "total": f"{line.unit_price * line.quantity:.2f}",
                "price": float(line.unit_price),
            }
            for index, line in enumerate(lines)
        ],
        "refunds": []
        if refunded is None
        else [{"id": order_id + 1, "reason": "", "total": f"-{refunded:.2f}"}],
    }
