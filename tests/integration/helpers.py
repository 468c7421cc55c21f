"""Platform-side helpers for the integration tests: make a platform's order truth, push it signed."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from local import simulator
from local.stack import HttpResult, LocalStack
from oms.domain.alerts import Alert

DOUYIN_APP = "7000000000000000001"
DOUYIN_SHOP = "100001"
SHOPIFY_SHOP = "demo-shop-1.myshopify.com"
WECHAT_APP = "wx00000000000test1"
LINES = (
    simulator.LineSpec(sku_id="3500000000001", quantity=2, unit_price=Decimal("128.00"), out_sku_id="TEA-1"),
)
T0 = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)


def minutes(count: int) -> datetime:
    return T0 + timedelta(minutes=count)


def douyin_truth(
    stack: LocalStack, order_id: str, status: int, at: datetime, **options: Any
) -> dict[str, Any]:
    """Put a Douyin order at ``status`` on the simulated platform (its order API's truth)."""
    create_time = options.pop("create_time", T0)
    order = simulator.douyin_order(
        order_id, DOUYIN_SHOP, status, at, LINES, create_time=create_time, **options
    )
    stack.simulator.put_order("douyin", DOUYIN_SHOP, order)
    return order


def push_douyin(
    stack: LocalStack, order: Mapping[str, Any], msg_id: str, *, tag: str = "101", secret: str | None = None
) -> HttpResult:
    """POST the signed Douyin push about ``order`` (a wrong ``secret`` forges the signature)."""
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    app = credentials["douyin"][DOUYIN_APP]
    message = simulator.douyin_order_message(order, tag, msg_id)
    headers, body = simulator.douyin_push([message], app["app_key"], secret or app["app_secret"])
    return stack.request("POST", "/webhooks/douyin", body=body, headers=headers)


def push_shopify(stack: LocalStack, order: Mapping[str, Any], topic: str, webhook_id: str) -> HttpResult:
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    secret = credentials["shopify"][SHOPIFY_SHOP]["api_secret"]
    headers, body = simulator.shopify_webhook(order, topic, SHOPIFY_SHOP, secret, webhook_id)
    return stack.request("POST", "/webhooks/shopify", body=body, headers=headers)


def wechat_app(stack: LocalStack) -> dict[str, Any]:
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    return dict(credentials["wechat_channels"][WECHAT_APP])


def push_wechat(stack: LocalStack, event: str, order_id: str, at: datetime, nonce: str) -> HttpResult:
    message = simulator.wechat_event(event, order_id, at)
    query, body = simulator.wechat_push(message, wechat_app(stack), int(datetime.now(UTC).timestamp()), nonce)
    return stack.request(
        "POST",
        "/webhooks/wechat_channels",
        body=body,
        headers={"content-type": "application/json"},
        query=query,
    )


def get_order(stack: LocalStack, reference: str) -> HttpResult:
    return stack.admin_get(f"/orders/{reference}")


def failure_records(stack: LocalStack, trace_id: str) -> list[dict[str, Any]]:
    """The Ops table's failure records of one message, one per attempt (``PK = TRACE#<trace_id>``)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    reply = stack.dynamodb.query(
        TableName=stack.deployed.names["OpsTable"],
        KeyConditionExpression="PK = :pk AND begins_with(SK, :failure)",
        ExpressionAttributeValues={":pk": {"S": f"TRACE#{trace_id}"}, ":failure": {"S": "FAILURE#"}},
    )
    return [
        {name: deserializer.deserialize(value) for name, value in item.items()} for item in reply["Items"]
    ]


def archived_envelope(stack: LocalStack, location: str) -> dict[str, Any]:
    """Read one archived intake envelope back from S3 by its ``s3://bucket/key#trace_id``."""
    path, trace_id = location.removeprefix("s3://").split("#", 1)
    bucket, key = path.split("/", 1)
    body = stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    for line in gzip.decompress(body).decode("utf-8").splitlines():
        envelope = json.loads(line)
        if envelope["trace_id"] == trace_id:
            return dict(envelope)
    raise AssertionError(f"{trace_id} is not in {bucket}/{key}")


class RecordingSink:
    """An alert sink that keeps what it is given (monkeypatched into a composed service)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        self.alerts.extend(alerts)
