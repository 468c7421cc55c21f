"""webhook_intake → IntakeQueue → payload_sanitizer → Orders table, against moto."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import boto3
import pytest

from local.resources import Deployed
from oms import composition
from oms.adapters.raw_archive import S3RawArchive
from tests.functional.conftest import CREDENTIALS, context, queue_depth, receive_all, sanitize
from tests.support.events import http_event

SHOP, SHOPIFY_APP = next(iter(CREDENTIALS["shopify"].items()))


def shopify_order(
    order_id: int, financial_status: str = "paid", updated_at: str = "2026-11-24T10:00:00+08:00", **extra: Any
) -> dict[str, Any]:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "created_at": "2026-11-24T09:58:00+08:00",
        "updated_at": updated_at,
        "currency": "CNY",
        "financial_status": financial_status,
        "fulfillment_status": None,
        "cancelled_at": None,
        "closed_at": None,
        "total_price": "199.00",
        "subtotal_price": "189.00",
        "total_shipping_price_set": {"shop_money": {"amount": "10.00", "currency_code": "CNY"}},
        "customer": {"id": 7001},
        "line_items": [
            {
                "id": 1,
                "variant_id": 55,
                "sku": "TEA-250G",
                "quantity": 2,
                "price": "94.50",
                "title": "Oolong 250g",
            }
        ],
        "shipping_address": {
            "name": "张三",
            "phone": "13800001234",
            "province": "浙江省",
            "city": "杭州市",
            "address1": "西湖区文三路 1 号",
        },
        **extra,
    }


def shopify_request(
    order: dict[str, Any], *, webhook_id: str, topic: str = "orders/updated", secret: str | None = None
) -> dict[str, Any]:
    body = json.dumps(order, ensure_ascii=False).encode()
    signature = base64.b64encode(
        hmac.new((secret or SHOPIFY_APP["api_secret"]).encode(), body, hashlib.sha256).digest()
    ).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-SHA256": signature,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
    }
    return http_event(
        "POST",
        "/webhooks/shopify",
        route="/webhooks/{platform}",
        path_parameters={"platform": "shopify"},
        headers=headers,
        body=body,
    )


def intake(event: dict[str, Any]) -> dict[str, Any]:
    from functions.webhook_intake import app

    return app.handler(event, context("intake"))


def get_order(reference: str) -> dict[str, Any]:
    from functions.admin_api import app

    event = http_event(
        "GET", f"/orders/{reference}", route="/orders/{order_id}", path_parameters={"order_id": reference}
    )
    return app.handler(event, context("admin"))


def test_a_signed_shopify_webhook_becomes_a_readable_order(stack: Deployed):
    # GIVEN a signed orders/paid webhook
    reply = intake(shopify_request(shopify_order(1001), webhook_id="w-1", topic="orders/paid"))
    # THEN the platform gets its 200 and exactly one message is queued in the order's group
    assert reply["statusCode"] == 200
    messages = receive_all(stack)
    assert len(messages) == 1
    assert messages[0]["Attributes"]["MessageGroupId"] == f"shopify:{SHOP}:1001"
    envelope = json.loads(messages[0]["Body"])
    assert envelope["dedupe_id"] == "w-1"
    assert envelope["trace_id"]
    # WHEN the sanitizer consumes it
    assert sanitize(stack, messages) == {"batchItemFailures": []}
    # THEN the order is readable by its platform reference, with its history
    response = get_order(f"shopify:{SHOP}:1001")
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["order"]["status"] == "paid"
    assert body["order"]["total_amount"] == "199.00"
    assert body["order"]["lines"][0]["quantity"] == 2
    assert [entry["outcome"] for entry in body["history"]] == ["created"]
    assert body["history"][0]["trace_id"] == envelope["trace_id"]
    # AND clear-text PII from Shopify is never stored
    stored = json.dumps(body["order"], ensure_ascii=False)
    assert "13800001234" not in stored
    assert "张三" not in stored
    # AND the bare platform order number and the unified id resolve too
    assert json.loads(get_order("1001")["body"])["order"]["order_id"] == body["order"]["order_id"]
    assert get_order(body["order"]["order_id"])["statusCode"] == 200


def test_a_forged_webhook_gets_401_and_nothing_is_queued(stack: Deployed):
    reply = intake(shopify_request(shopify_order(1002), webhook_id="w-2", secret="not-the-secret"))
    assert reply["statusCode"] == 401
    assert json.loads(reply["body"]) == {"error": "SIGNATURE_INVALID"}
    assert queue_depth(stack, "IntakeQueue") == 0


def test_unknown_platform_is_404_and_oversized_body_is_413(stack: Deployed):
    unknown = http_event(
        "POST",
        "/webhooks/myspace",
        route="/webhooks/{platform}",
        path_parameters={"platform": "myspace"},
        body=b"{}",
    )
    assert intake(unknown)["statusCode"] == 404
    huge = shopify_request(shopify_order(1003, note="x" * (2 * 1024 * 1024)), webhook_id="w-3")
    assert intake(huge)["statusCode"] == 413
    assert queue_depth(stack, "IntakeQueue") == 0


def test_a_duplicate_push_and_a_redelivered_message_have_one_effect(stack: Deployed):
    order = shopify_order(1004)
    intake(shopify_request(order, webhook_id="w-4"))
    first = receive_all(stack)
    sanitize(stack, first)
    # the platform retries the push (SQS drops it inside its 5-minute deduplication window; moto
    # does not once the first was deleted — either way it must have no second effect)...
    intake(shopify_request(order, webhook_id="w-4"))
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    # ...a retry hours later is a new message carrying the same platform message id...
    envelope = json.loads(first[0]["Body"]) | {"trace_id": "retry-after-hours"}
    boto3.client("sqs").send_message(
        QueueUrl=stack.queue_urls["IntakeQueue"],
        MessageBody=json.dumps(envelope),
        MessageGroupId=first[0]["Attributes"]["MessageGroupId"],
        MessageDeduplicationId="a-new-sqs-deduplication-id",
    )
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    # ...and SQS may redeliver the very first message after a timed-out invocation
    sanitize(stack, first, delete=False)
    body = json.loads(get_order(f"shopify:{SHOP}:1004")["body"])
    assert body["order"]["version"] == 1
    assert len(body["history"]) == 1


def test_reordered_pushes_converge_and_the_late_one_is_recorded_as_stale(stack: Deployed):
    shipped = shopify_order(1005, updated_at="2026-11-24T12:00:00+08:00", fulfillment_status="fulfilled")
    paid = shopify_order(1005, updated_at="2026-11-24T10:00:00+08:00")
    intake(shopify_request(shipped, webhook_id="w-5b", topic="orders/fulfilled"))
    sanitize(stack, receive_all(stack))
    intake(shopify_request(paid, webhook_id="w-5a", topic="orders/paid"))
    sanitize(stack, receive_all(stack))
    body = json.loads(get_order(f"shopify:{SHOP}:1005")["body"])
    assert body["order"]["status"] == "shipped"
    assert {entry["event_id"]: entry["outcome"] for entry in body["history"]} == {
        "w-5b": "created",
        "w-5a": "stale",
    }


def test_a_poison_message_fails_alone_is_recorded_and_its_raw_payload_is_retrievable(stack: Deployed):
    # GIVEN a signed but unparseable body and a good one in the same batch
    poison = shopify_order(1006)
    del poison["line_items"], poison["financial_status"]
    intake(shopify_request(poison, webhook_id="w-6"))
    intake(shopify_request(shopify_order(1007), webhook_id="w-7"))
    messages = receive_all(stack)
    assert len(messages) == 2
    # WHEN the sanitizer processes the batch
    result = sanitize(stack, messages)
    # THEN only the poison message is reported as failed
    poison_message = next(m for m in messages if m["Attributes"]["MessageGroupId"].endswith(":1006"))
    assert result == {"batchItemFailures": [{"itemIdentifier": poison_message["MessageId"]}]}
    assert json.loads(get_order(f"shopify:{SHOP}:1007")["body"])["order"]["status"] == "paid"
    # AND the failure is recorded with its code, stage and the raw payload's location
    trace_id = json.loads(poison_message["Body"])["trace_id"]
    items = boto3.client("dynamodb").query(
        TableName=stack.names["OpsTable"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TRACE#{trace_id}"}},
    )["Items"]
    assert len(items) == 1
    failure = items[0]
    assert (failure["code"]["S"], failure["stage"]["S"]) == ("SCHEMA_INVALID", "parse")
    assert failure["order_ref"]["S"] == f"shopify:{SHOP}:1006"
    archived = S3RawArchive(stack.names["RawArchiveBucket"], boto3.client("s3")).get(
        failure["raw_location"]["S"]
    )
    assert json.loads(archived.raw)["id"] == 1006


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u00ad"])
def test_invisible_characters_in_ids_are_cleaned_and_the_rule_recorded(stack: Deployed, invisible: str):
    order = shopify_order(1008)
    order["line_items"][0]["sku"] = f"TEA-250G{invisible}"
    intake(shopify_request(order, webhook_id=f"w-8-{ord(invisible)}"))
    sanitize(stack, receive_all(stack))
    body = json.loads(get_order(f"shopify:{SHOP}:1008")["body"])
    assert body["order"]["lines"][0]["out_sku_id"] == "TEA-250G"
    assert {"name": "strip-invisible", "version": 1, "path": "line_items[0].sku"} in body["history"][0][
        "cleaning"
    ]


def test_get_order_answers_404_with_a_code(stack: Deployed):
    response = get_order("shopify:nowhere.myshopify.com:1")
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"] == "ORDER_NOT_FOUND"


def test_a_warm_intake_makes_exactly_one_aws_call(stack: Deployed):
    from oms.adapters.aws import client

    # GIVEN a warm container (the platform secret is cached)
    intake(shopify_request(shopify_order(1010), webhook_id="w-10"))
    calls: list[str] = []
    for service in ("sqs", "secretsmanager", "dynamodb", "s3"):
        client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(model.name), unique_id=f"count-{service}"
        )
    # WHEN the next webhook arrives
    reply = intake(shopify_request(shopify_order(1011), webhook_id="w-11"))
    # THEN the only AWS call is the queue send
    assert reply["statusCode"] == 200
    assert calls == ["SendMessageBatch"]


def test_the_sanitizer_spends_two_dynamodb_round_trips_per_event_and_one_s3_put_per_batch(stack: Deployed):
    from oms.adapters.aws import client

    for number in range(1020, 1025):
        intake(shopify_request(shopify_order(number), webhook_id=f"w-{number}"))
    messages = receive_all(stack)
    # A warm container: the operators' cleaning rules are read once per RULES_CACHE_SECONDS, not per
    # event (tests/functional/test_incident.py counts that read on its own).
    composition.rule_source().current()
    calls: list[str] = []
    for service in ("dynamodb", "s3"):
        client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(model.name), unique_id=f"count-{service}"
        )
    assert sanitize(stack, messages, delete=False) == {"batchItemFailures": []}
    assert sorted(calls) == sorted(["PutObject"] + ["GetItem", "TransactWriteItems"] * 5)
