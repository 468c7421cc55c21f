"""Douyin and WeChat Channels pushes carry ids only: the sanitizer completes them from the
platform's signed order API (the local simulator on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3

from local.resources import Deployed
from local.simulator import (
    LineSpec,
    PlatformSimulator,
    douyin_order,
    douyin_order_message,
    douyin_push,
    wechat_event,
    wechat_order,
    wechat_push,
    wechat_url_check,
)
from tests.functional.conftest import CREDENTIALS, context, queue_depth, receive_all, sanitize
from tests.support.events import http_event

DOUYIN_APP_KEY, DOUYIN_APP = next(iter(CREDENTIALS["douyin"].items()))
DOUYIN_SHOP = next(iter(DOUYIN_APP["access_tokens"]))
WECHAT_APP_ID, WECHAT_APP = next(iter(CREDENTIALS["wechat_channels"].items()))
T0 = datetime(2026, 2, 5, 12, 15, tzinfo=UTC)
LINES = [LineSpec(sku_id="1760000000001", quantity=1, unit_price=Decimal("59.90"), out_sku_id="TEA-1")]


def webhook(
    platform: str,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: bytes | None = None,
    method: str = "POST",
) -> dict[str, Any]:
    from functions.webhook_intake import app

    event = http_event(
        method,
        f"/webhooks/{platform}",
        route="/webhooks/{platform}",
        path_parameters={"platform": platform},
        headers=headers,
        query=query,
        body=body,
    )
    return app.handler(event, context("intake"))


def get_order(reference: str) -> dict[str, Any]:
    from functions.admin_api import app

    event = http_event(
        "GET", f"/orders/{reference}", route="/orders/{order_id}", path_parameters={"order_id": reference}
    )
    response = app.handler(event, context("admin"))
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def push_douyin(order: dict[str, Any], msg_id: str, tag: int = 101) -> dict[str, Any]:
    headers, body = douyin_push(
        [douyin_order_message(order, tag, msg_id)], DOUYIN_APP_KEY, DOUYIN_APP["app_secret"]
    )
    return webhook("douyin", headers=headers, body=body)


def test_douyin_push_is_completed_from_the_order_api_and_the_zero_width_space_is_cleaned(
    stack: Deployed, simulator: PlatformSimulator
):
    # GIVEN the 2026-02-05 incident: Douyin's order API returns a payment id ending in U+200B
    order = douyin_order(
        "6920000000000000001", DOUYIN_SHOP, 105, T0, LINES, payment_id="PAY2026020520150001\u200b"
    )
    simulator.put_order("douyin", DOUYIN_SHOP, order)
    # WHEN Douyin pushes the paid message
    reply = push_douyin(order, "msg-1")
    assert (reply["statusCode"], json.loads(reply["body"])) == (200, {"code": 0, "msg": "success"})
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    # THEN the order is paid, with the cleaned payment id and the rule that cleaned it
    view = get_order(f"douyin:{DOUYIN_SHOP}:6920000000000000001")
    assert view["order"]["status"] == "paid"
    assert view["order"]["payment_id"] == "PAY2026020520150001"
    assert view["order"]["paid_amount"] == "59.90"
    cleaning = view["history"][0]["cleaning"]
    assert any(
        rule["name"] == "strip-invisible" and rule["path"].endswith("channel_payment_no") for rule in cleaning
    )


def test_a_redelivered_douyin_message_reuses_its_first_snapshot(
    stack: Deployed, simulator: PlatformSimulator
):
    order = douyin_order("6920000000000000002", DOUYIN_SHOP, 105, T0, LINES, payment_id="PAY2")
    simulator.put_order("douyin", DOUYIN_SHOP, order)
    push_douyin(order, "msg-2")
    messages = receive_all(stack)
    sanitize(stack, messages, delete=False)
    calls_after_first = simulator.calls.copy()
    # the platform moves on, but SQS redelivers the same message
    simulator.put_order(
        "douyin",
        DOUYIN_SHOP,
        douyin_order(
            "6920000000000000002", DOUYIN_SHOP, 3, T0 + timedelta(hours=5), LINES, payment_id="PAY2"
        ),
    )
    sanitize(stack, messages)
    assert simulator.calls == calls_after_first  # the snapshot came from the idempotency table
    view = get_order(f"douyin:{DOUYIN_SHOP}:6920000000000000002")
    assert (view["order"]["status"], view["order"]["version"]) == ("paid", 1)


def test_douyin_test_messages_are_acknowledged_and_not_queued(stack: Deployed):
    headers, body = douyin_push(
        [{"tag": "0", "msg_id": "test-1", "data": {}}], DOUYIN_APP_KEY, DOUYIN_APP["app_secret"]
    )
    reply = webhook("douyin", headers=headers, body=body)
    assert json.loads(reply["body"]) == {"code": 0, "msg": "success"}
    assert queue_depth(stack, "IntakeQueue") == 0


def test_a_douyin_payment_id_that_does_not_parse_fails_with_pay_parse_err(
    stack: Deployed, simulator: PlatformSimulator
):
    order = douyin_order("6920000000000000003", DOUYIN_SHOP, 105, T0, LINES, payment_id="PAY3%E2%80%8B")
    simulator.put_order("douyin", DOUYIN_SHOP, order)
    push_douyin(order, "msg-3")
    messages = receive_all(stack)
    result = sanitize(stack, messages)
    assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    trace_id = json.loads(messages[0]["Body"])["trace_id"]
    failure = boto3.client("dynamodb").query(
        TableName=stack.names["OpsTable"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TRACE#{trace_id}"}},
    )["Items"][0]
    assert (failure["code"]["S"], failure["stage"]["S"]) == ("PAY_PARSE_ERR", "parse")


def test_wechat_url_check_echoes_and_a_forged_one_is_refused(stack: Deployed):
    app = {"app_id": WECHAT_APP_ID, **WECHAT_APP}
    reply = webhook("wechat_channels", method="GET", query=wechat_url_check(app, "echo-123"))
    assert (reply["statusCode"], reply["body"]) == (200, "echo-123")
    forged = wechat_url_check(app, "echo-123") | {"signature": "0" * 40}
    assert webhook("wechat_channels", method="GET", query=forged)["statusCode"] == 401


def test_an_encrypted_wechat_push_becomes_an_order(stack: Deployed, simulator: PlatformSimulator):
    app = {"app_id": WECHAT_APP_ID, **WECHAT_APP}
    simulator.put_order(
        "wechat_channels",
        WECHAT_APP_ID,
        wechat_order("3700000000000000001", WECHAT_APP_ID, 20, T0, LINES, payment_id="4200000001"),
    )
    query, body = wechat_push(
        wechat_event("channels_ec_order_pay", "3700000000000000001", T0), app, int(time.time()), "nonce-1"
    )
    reply = webhook("wechat_channels", query=query, body=body)
    assert (reply["statusCode"], reply["body"]) == (200, "success")
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    view = get_order(f"wechat_channels:{WECHAT_APP_ID}:3700000000000000001")
    assert view["order"]["payment_id"] == "4200000001"
    assert view["order"]["status"] == "paid"
    # a tampered ciphertext is refused before anything is queued
    tampered = json.loads(body) | {"Encrypt": json.loads(body)["Encrypt"][:-8] + "AAAAAAA="}
    reply = webhook("wechat_channels", query=query, body=json.dumps(tampered).encode())
    assert reply["statusCode"] == 401
    assert queue_depth(stack, "IntakeQueue") == 0
