"""Xiaohongshu, Kuaishou and WooCommerce pushes through the real handlers against moto, completed
from the platform simulator on 127.0.0.1 where the push carries ids only."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from local.resources import Deployed
from local.simulator import LineSpec, PlatformSimulator
from local.simulators import kuaishou, woocommerce, xiaohongshu
from tests.functional.conftest import CREDENTIALS, context, queue_depth, receive_all, sanitize
from tests.support.events import http_event

T0 = datetime(2026, 2, 4, 16, 0, tzinfo=UTC)  # midnight 2026-02-05 in UTC+8
LINES = [LineSpec(sku_id="1760000000001", quantity=2, unit_price=Decimal("59.90"), out_sku_id="TEA-1")]


def webhook(
    platform: str,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: bytes | None = None,
) -> dict[str, Any]:
    """POST to the intake handler as API Gateway would."""
    from functions.webhook_intake import app

    event = http_event(
        "POST",
        f"/webhooks/{platform}",
        route="/webhooks/{platform}",
        path_parameters={"platform": platform},
        headers=headers,
        query=query,
        body=body,
    )
    reply: dict[str, Any] = app.handler(event, context("intake"))
    return reply


def get_order(reference: str) -> dict[str, Any]:
    from functions.admin_api import app

    event = http_event(
        "GET", f"/orders/{reference}", route="/orders/{order_id}", path_parameters={"order_id": reference}
    )
    response = app.handler(event, context("admin"))
    assert response["statusCode"] == 200, response
    view: dict[str, Any] = json.loads(response["body"])
    return view


def test_a_xiaohongshu_push_is_completed_from_the_order_api_and_a_double_status_4_applies_once(
    stack: Deployed, simulator: PlatformSimulator
) -> None:
    app_key, app = next(iter(CREDENTIALS["xiaohongshu"].items()))
    seller = next(iter(app["access_tokens"]))
    order = xiaohongshu.order("P7350000000000009", seller, 4, T0, LINES, shipping=Decimal("8"))
    xiaohongshu.put_order(simulator, seller, order)
    message = xiaohongshu.status_message(order, seller)
    # GIVEN status 4 pushed twice, as Xiaohongshu does
    for delay in (0, 1):
        headers, body = xiaohongshu.push([message], app_key, app["app_secret"], int(time.time()) + delay)
        reply = webhook("xiaohongshu", headers=headers, body=body)
        assert (reply["statusCode"], json.loads(reply["body"])) == (200, {"success": True, "code": 0})
    # WHEN the sanitizer runs THEN one event made the order, in yuan
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    view = get_order(f"xiaohongshu:{seller}:P7350000000000009")
    assert (view["order"]["status"], view["order"]["total_amount"]) == ("approved", "127.80")
    assert len(view["history"]) == 1
    # a forged and a stale push are refused before the queue
    headers, body = xiaohongshu.push([message], app_key, "wrong-secret", int(time.time()))
    assert webhook("xiaohongshu", headers=headers, body=body)["statusCode"] == 401
    headers, body = xiaohongshu.push([message], app_key, app["app_secret"], int(time.time()) - 6 * 3600)
    assert webhook("xiaohongshu", headers=headers, body=body)["statusCode"] == 401
    assert queue_depth(stack, "IntakeQueue") == 0


def test_an_encrypted_kuaishou_push_becomes_an_order_and_the_setup_ping_is_only_acknowledged(
    stack: Deployed, simulator: PlatformSimulator
) -> None:
    app_key, app = next(iter(CREDENTIALS["kuaishou"].items()))
    seller = next(iter(app["access_tokens"]))
    # GIVEN the clear-text ping Kuaishou sends when the push URL is saved
    reply = webhook("kuaishou", body=b'{"test":true}')
    assert (reply["statusCode"], json.loads(reply["body"])) == (200, {"result": 1})
    assert queue_depth(stack, "IntakeQueue") == 0
    # WHEN an encrypted paySuccess push arrives for an order the platform holds
    order = kuaishou.order(2419200000000077, 30, T0, LINES[0], express_fee=Decimal("6"))
    kuaishou.put_order(simulator, seller, order)
    body = kuaishou.push(kuaishou.order_message(order, seller, app_key, "evt-77"), app["message_key"])
    reply = webhook("kuaishou", query={"app_key": app_key}, body=body)
    assert (reply["statusCode"], json.loads(reply["body"])) == (200, {"result": 1})
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    # THEN the order is paid, in yuan, with the receiver as delivered
    view = get_order(f"kuaishou:{seller}:2419200000000077")
    assert (view["order"]["status"], view["order"]["total_amount"]) == ("paid", "125.80")
    # a body that does not open with the app's key is refused before the queue
    forged = kuaishou.push(
        kuaishou.order_message(order, seller, app_key, "evt-78"), "AAAAAAAAAAAAAAAAAAAAAA=="
    )
    assert webhook("kuaishou", body=forged)["statusCode"] == 401
    assert queue_depth(stack, "IntakeQueue") == 0


def test_a_woocommerce_delivery_becomes_an_order_and_the_creation_ping_is_answered(stack: Deployed) -> None:
    site, secrets = next(iter(CREDENTIALS["woocommerce"].items()))
    # GIVEN the unsigned ping WooCommerce posts when the webhook is saved
    headers, body = woocommerce.ping(7)
    reply = webhook("woocommerce", headers=headers, query={"site": site}, body=body)
    assert reply["statusCode"] == 200
    assert queue_depth(stack, "IntakeQueue") == 0
    # WHEN a signed order.updated delivery arrives (the body is the whole order)
    order = woocommerce.order(4127, "processing", T0, LINES, shipping=Decimal("12"), transaction_id="TX4127")
    headers, body = woocommerce.webhook(order, "order.updated", f"https://{site}/", secrets["webhook_secret"])
    assert webhook("woocommerce", headers=headers, body=body)["statusCode"] == 200
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    # THEN the order is paid, at the GMT time, with the receiver masked
    view = get_order(f"woocommerce:{site}:4127")
    assert (view["order"]["status"], view["order"]["total_amount"]) == ("paid", "131.80")
    assert "Example" not in json.dumps(view, ensure_ascii=False)
    # a delivery signed with another secret is refused before the queue
    headers, body = woocommerce.webhook(order, "order.updated", f"https://{site}/", "not-the-secret")
    assert webhook("woocommerce", headers=headers, body=body)["statusCode"] == 401
    assert queue_depth(stack, "IntakeQueue") == 0
