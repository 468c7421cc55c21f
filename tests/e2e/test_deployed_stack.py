"""Against a deployed stack: skipped unless AWS_SAM_STACK_NAME names one (and AWS credentials are set).

The Shopify secret of the stack must hold an app for E2E_SHOPIFY_SHOP (the shop domain).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import urllib.request
import uuid

import boto3
import pytest

STACK = os.environ.get("AWS_SAM_STACK_NAME")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not STACK, reason="AWS_SAM_STACK_NAME is not set: no deployed stack to test"),
]


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    stack = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def test_a_forged_webhook_is_refused_by_the_deployed_api(outputs: dict[str, str]):
    request = urllib.request.Request(
        f"{outputs['ApiUrl'].rstrip('/')}/webhooks/shopify",
        data=json.dumps({"id": 1}).encode(),
        headers={
            "X-Shopify-Hmac-SHA256": base64.b64encode(b"forged").decode(),
            "X-Shopify-Shop-Domain": os.environ.get("E2E_SHOPIFY_SHOP", "e2e.myshopify.com"),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read()) == {"error": "SIGNATURE_INVALID"}


def test_a_signed_webhook_is_accepted(outputs: dict[str, str]):
    shop = os.environ.get("E2E_SHOPIFY_SHOP")
    if not shop:
        pytest.skip("E2E_SHOPIFY_SHOP is not set")
    secret_name = f"{STACK}/platforms/shopify"
    secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_name)["SecretString"])
    body = json.dumps(
        {"id": 990001, "financial_status": "paid", "updated_at": "2026-11-24T10:00:00+08:00"}
    ).encode()
    signature = base64.b64encode(hmac.new(secret[shop]["api_secret"].encode(), body, hashlib.sha256).digest())
    request = urllib.request.Request(
        f"{outputs['ApiUrl'].rstrip('/')}/webhooks/shopify",
        data=body,
        headers={
            "X-Shopify-Hmac-SHA256": signature.decode(),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Topic": "orders/paid",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
