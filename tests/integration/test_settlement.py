"""Settlement through the real path: webhooks → sanitizer → SNS → settlement queue → recorder →
``POST /settlements/generate`` → ``GET /settlements`` → a plain HTTP GET of the presigned link."""

from __future__ import annotations

import urllib.request
from decimal import Decimal

from local.stack import LocalStack
from oms.adapters.statement_files import validate
from oms.domain.camt053 import CamtVersion
from oms.domain.money import quantize
from tests.integration.helpers import douyin_truth, get_order, minutes, push_douyin


def test_a_completed_order_reaches_finance_as_a_downloadable_valid_statement(drained: LocalStack):
    # GIVEN a Douyin order paid and completed in October 2026, delivered through the webhooks
    number = "6900000000000006001"
    paid = douyin_truth(drained, number, 105, minutes(5), payment_id="PAY2026101200006001")
    push_douyin(drained, paid, msg_id="7000000000000006001")
    assert drained.drain(timeout=60)
    done = douyin_truth(drained, number, 5, minutes(60 * 24 * 3), payment_id="PAY2026101200006001")
    push_douyin(drained, done, msg_id="7000000000000006002", tag="103")
    assert drained.drain(timeout=60)
    order = get_order(drained, number).json()["order"]
    assert order["status"] == "completed"
    sale = Decimal(order["paid_amount"])

    # WHEN an operator generates October for Douyin, and finance asks for the links
    generated = drained.request(
        "POST", "/settlements/generate", body='{"month": "2026-10", "channel": "douyin"}', sign=True
    )
    assert generated.status == 200, generated.text
    booked = next(s for s in generated.json()["statements"] if s["status"] == "BOOK")
    fees = quantize(sale * Decimal("0.05")) + quantize(sale * Decimal("0.006"))
    assert Decimal(booked["closing_balance"]) - Decimal(booked["opening_balance"]) == sale - fees
    links = drained.admin_get("/settlements", month="2026-10", channel="douyin")
    assert links.status == 200, links.text

    # THEN every link downloads its file with a plain GET (no AWS credentials) from the moto server
    files = {file["key"]: file for file in links.json()["files"]}
    assert "settlements/2026-10/douyin/CNY-BOOK.xml" in files
    for key, file in files.items():
        with urllib.request.urlopen(file["url"], timeout=10) as reply:
            body = reply.read()
        stored = drained.s3.get_object(Bucket=drained.deployed.names["SettlementBucket"], Key=key)[
            "Body"
        ].read()
        assert body == stored, key
        if key.endswith(".xml"):
            validate(body, CamtVersion.V08)
    with urllib.request.urlopen(files["settlements/2026-10/douyin/CNY-BOOK.xml"]["url"], timeout=10) as reply:
        xml = reply.read()
    assert b"PAY2026101200006001" in xml
    assert number.encode() in xml


def test_statements_and_links_need_iam_credentials(drained: LocalStack):
    assert drained.request("GET", "/settlements", query={"month": "2026-10"}).status == 403
    assert drained.request("POST", "/settlements/generate", body='{"month": "2026-10"}').status == 403
