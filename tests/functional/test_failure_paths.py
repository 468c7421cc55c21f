"""What happens when things go wrong: nothing is lost, every failure is typed and recorded."""

from __future__ import annotations

import json

import boto3
import pytest

from local.resources import Deployed
from oms.platforms import get_adapter
from tests.functional.conftest import queue_depth, receive_all, sanitize
from tests.functional.test_pipeline import SHOP, get_order, intake, shopify_order, shopify_request


def failures_of(stack: Deployed, trace_id: str) -> list[dict]:
    return boto3.client("dynamodb").query(
        TableName=stack.names["OpsTable"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TRACE#{trace_id}"}},
    )["Items"]


def test_a_secrets_manager_outage_is_a_503_not_a_forgery(stack: Deployed):
    # GIVEN the platform secret cannot be read (deleted, throttled, no permission...)
    boto3.client("secretsmanager").delete_secret(
        SecretId=stack.names["ShopifySecret"], ForceDeleteWithoutRecovery=True
    )
    # WHEN a signed webhook arrives
    reply = intake(shopify_request(shopify_order(2001), webhook_id="w-2001"))
    # THEN the platform is told to retry later, and nothing about the cause
    assert (reply["statusCode"], json.loads(reply["body"])) == (503, {"error": "UNAVAILABLE"})


def test_a_push_too_large_for_the_queue_is_413_not_lost_on_retries(stack: Deployed):
    # quotes double when the body is carried as a JSON string: under the platform limit, over SQS's
    reply = intake(shopify_request(shopify_order(2002, note='"' * 200_000), webhook_id="w-2002"))
    assert (reply["statusCode"], json.loads(reply["body"])) == (413, {"error": "PAYLOAD_TOO_LARGE"})
    assert queue_depth(stack, "IntakeQueue") == 0


def test_an_untyped_bug_is_recorded_as_internal_error(stack: Deployed, monkeypatch: pytest.MonkeyPatch):
    intake(shopify_request(shopify_order(2003), webhook_id="w-2003"))
    messages = receive_all(stack)

    def broken_parse(*_args, **_kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(type(get_adapter("shopify")), "parse", broken_parse)
    assert sanitize(stack, messages)["batchItemFailures"] == [{"itemIdentifier": messages[0]["MessageId"]}]
    (failure,) = failures_of(stack, json.loads(messages[0]["Body"])["trace_id"])
    assert (failure["code"]["S"], failure["stage"]["S"]) == ("INTERNAL_ERROR", "parse")
    assert failure["raw_location"]["S"].startswith("s3://")


def test_an_archive_outage_does_not_stop_processing(stack: Deployed):
    s3 = boto3.client("s3")
    bucket = stack.names["RawArchiveBucket"]
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_bucket(Bucket=bucket)
    intake(shopify_request(shopify_order(2004), webhook_id="w-2004"))
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    history = get_order(f"shopify:{SHOP}:2004")
    assert json.loads(history["body"])["order"]["status"] == "paid"


def test_a_poison_message_does_not_hold_back_its_orders_later_events(stack: Deployed):
    # GIVEN a poison push for an order, then a good later push for the same order, in one batch
    poison = shopify_order(2005, updated_at="2026-11-24T10:00:00+08:00")
    del poison["financial_status"]
    intake(shopify_request(poison, webhook_id="w-2005a"))
    intake(
        shopify_request(
            shopify_order(2005, updated_at="2026-11-24T11:00:00+08:00", fulfillment_status="fulfilled"),
            webhook_id="w-2005b",
        )
    )
    messages = receive_all(stack)
    assert [m["Attributes"]["MessageGroupId"] for m in messages] == [f"shopify:{SHOP}:2005"] * 2
    # WHEN the sanitizer processes the batch
    result = sanitize(stack, messages)
    # THEN only the poison is retried; the good event is applied
    assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert json.loads(get_order(f"shopify:{SHOP}:2005")["body"])["order"]["status"] == "shipped"
