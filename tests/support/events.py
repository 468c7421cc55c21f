"""Builders for the Lambda events AWS delivers: HTTP API payload 2.0 and SQS batches."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from ``events/`` (e.g. ``"platforms/shopify/order-paid.json"``)."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def http_event(
    method: str,
    path: str,
    *,
    route: str,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: bytes | None = None,
) -> dict[str, Any]:
    is_text = True
    text = ""
    if body is not None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
            text = base64.b64encode(body).decode("ascii")
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {name.lower(): value for name, value in (headers or {}).items()},
        "queryStringParameters": query or None,
        "pathParameters": path_parameters or {},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "tests",
            },
            "requestId": "req-1",
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": "24/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795478400000,
        },
        "body": text if body is not None else None,
        "isBase64Encoded": not is_text,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The SQS event Lambda builds from ReceiveMessage results (AttributeNames=All)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "dataType": value.get("DataType", "String"),
                        "stringListValues": [],
                        "binaryListValues": [],
                    }
                    for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }
