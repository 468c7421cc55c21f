"""Settlement through the handlers on moto: order changes → entries → camt.053 files on S3 → links."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import boto3
import pytest

from local.resources import Deployed
from oms import composition
from oms.adapters.statement_files import validate
from oms.domain.camt053 import CamtVersion
from oms.domain.model import Platform
from oms.domain.settlement import EntryStatus
from oms.domain.status import OrderStatus, RefundStatus
from tests.functional.conftest import context
from tests.support.events import http_event
from tests.support.settlement import PAID_AT, changed, order, sqs_records

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NS = {"c": CamtVersion.V08.namespace}


@pytest.fixture
def settled(stack: Deployed) -> Iterator[Deployed]:
    with mock.patch("oms.composition.utc_now", return_value=NOW):
        composition.reset()
        yield stack


def record(deployed: Deployed, *changes: Any) -> dict[str, Any]:
    from functions.settlement_recorder import app

    return app.handler(sqs_records(list(changes), deployed.arns["SettlementQueue"]), context("recorder"))


def call(
    method: str, path: str, *, body: dict[str, Any] | None = None, query: dict[str, str] | None = None
) -> tuple[int, Any]:
    from functions.settlement_xml import app

    event = http_event(
        method,
        path,
        route=path,
        query=query,
        body=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json"},
    )
    event["requestContext"]["authorizer"] = {
        "iam": {"userArn": "arn:aws:sts::123456789012:assumed-role/Ops/alice"}
    }
    reply = app.handler(event, context("settlement"))
    return reply["statusCode"], json.loads(reply["body"])


def bucket_object(deployed: Deployed, key: str) -> bytes:
    return bytes(
        boto3.client("s3").get_object(Bucket=deployed.names["SettlementBucket"], Key=key)["Body"].read()
    )


def month_of_orders(deployed: Deployed) -> None:
    """Three Douyin orders of October: completed, refunded after payment, still shipping."""
    done = order(
        "6900000000000000001", status=OrderStatus.COMPLETED, status_at=PAID_AT + timedelta(days=5), version=4
    )
    refunded = order(
        "6900000000000000002",
        paid="50.00",
        status=OrderStatus.CLOSED,
        refund=RefundStatus.REFUNDED,
        status_at=PAID_AT + timedelta(days=2),
        refund_at=PAID_AT + timedelta(days=2),
        version=3,
        payment_id="PAY0002",
    )
    shipping = order(
        "6900000000000000003", paid="10.01", status=OrderStatus.SHIPPED, version=2, payment_id="PAY0003"
    )
    result = record(deployed, changed(done), changed(refunded), changed(shipping))
    assert result == {"batchItemFailures": []}


def test_changes_record_each_entry_once_whatever_the_order_and_repetition(settled: Deployed):
    # GIVEN an order's paid and completed changes, delivered completed-first and then twice each
    paid = order(version=1)
    done = order(status=OrderStatus.COMPLETED, status_at=PAID_AT + timedelta(days=3), version=4)
    record(settled, changed(done, OrderStatus.DELIVERED))
    record(settled, changed(paid), changed(done, OrderStatus.DELIVERED), changed(paid))
    # THEN the store holds the pending and the booked sale and fees, once each
    entries = list(composition.settlement_store().entries(Platform.DOUYIN, through=NOW.date()))
    assert sorted((e.kind, e.component, e.status) for e in entries) == sorted(
        (kind, component, status)
        for status in (EntryStatus.PDNG, EntryStatus.BOOK)
        for kind, component in (("SALE", "-"), ("COMMISSION", "commission"), ("COMMISSION", "payment"))
    )
    assert {e.amount for e in entries} == {Decimal("99.90"), Decimal("5.00"), Decimal("0.60")}


def test_a_message_that_is_no_order_change_fails_alone(settled: Deployed):
    from functions.settlement_recorder import app

    event = sqs_records([changed(order())], settled.arns["SettlementQueue"])
    event["Records"].append({**event["Records"][0], "messageId": "broken", "body": '{"not": "a change"}'})
    result = app.handler(event, context("recorder"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "broken"}]}


def test_generate_stores_valid_statements_per_currency_and_status_and_regeneration_is_stable(
    settled: Deployed,
):
    # GIVEN October's orders
    month_of_orders(settled)
    # WHEN an operator generates October for Douyin
    status, report = call("POST", "/settlements/generate", body={"month": "2026-10", "channel": "douyin"})
    assert status == 200, report
    by_id = {s["statement_id"]: s for s in report["statements"]}
    assert set(by_id) == {"DOUYIN-CNY-202610-BOOK", "DOUYIN-CNY-202610-PDNG"}
    booked = by_id["DOUYIN-CNY-202610-BOOK"]
    # THEN the booked balance is the sales minus fees, refunds and returned fees, to the fen
    # (99.90 - 5.00 - 0.60) + (50.00 - 2.50 - 0.30 - 50.00 + 2.50 + 0.30)
    assert booked["closing_balance"] == "94.30"
    assert (booked["opening_balance"], booked["entries"]) == ("0.00", 9)
    pending = by_id["DOUYIN-CNY-202610-PDNG"]
    # the shipping order only: 10.01 - round(0.5005) - round(0.06006) = 10.01 - 0.50 - 0.06
    assert (pending["entries"], pending["closing_balance"]) == (3, "9.45")
    keys = {f["key"] for s in report["statements"] for f in s["files"]}
    assert keys == {
        f"settlements/2026-10/douyin/CNY-{status}.{extension}"
        for status in ("BOOK", "PDNG")
        for extension in ("xml", "csv", "xlsx")
    }
    document = bucket_object(settled, "settlements/2026-10/douyin/CNY-BOOK.xml")
    validate(document, CamtVersion.V08)
    # AND generating again changes nothing: the same bytes, no new version
    status, again = call("POST", "/settlements/generate", body={"month": "2026-10", "channel": "douyin"})
    assert status == 200
    assert not any(f["changed"] for s in again["statements"] for f in s["files"])
    assert bucket_object(settled, "settlements/2026-10/douyin/CNY-BOOK.xml") == document


def test_late_data_makes_a_new_version_and_keeps_the_old_one(settled: Deployed):
    month_of_orders(settled)
    call("POST", "/settlements/generate", body={"month": "2026-10", "channel": "douyin"})
    # GIVEN an October completion that arrives after the statement was made
    late = order(
        "6900000000000000009", paid="20.00", status=OrderStatus.COMPLETED, version=3, payment_id="PAY0009"
    )
    record(settled, changed(late))
    status, report = call("POST", "/settlements/generate", body={"month": "2026-10", "channel": "douyin"})
    assert status == 200
    booked = next(s for s in report["statements"] if s["status"] == "BOOK")
    assert [f["changed"] for f in booked["files"]] == [True, True, True]
    versions = boto3.client("s3").list_object_versions(
        Bucket=settled.names["SettlementBucket"], Prefix="settlements/2026-10/douyin/CNY-BOOK.xml"
    )["Versions"]
    assert len(versions) == 2
    # AND November opens with October's new closing balance
    _, november = call("POST", "/settlements/generate", body={"month": "2026-11", "channel": "douyin"})
    nov_booked = next(s for s in november["statements"] if s["status"] == "BOOK")
    assert nov_booked["opening_balance"] == booked["closing_balance"] == nov_booked["closing_balance"]


def test_every_channel_gets_a_valid_statement_even_without_activity(settled: Deployed):
    status, report = call("POST", "/settlements/generate", body={"month": "2026-10"})
    assert status == 200
    assert len(report["statements"]) == 2 * len(Platform)
    for statement in report["statements"]:
        assert statement["entries"] == 0
        assert statement["opening_balance"] == statement["closing_balance"]
    shopify = bucket_object(settled, "settlements/2026-10/shopify/USD-BOOK.xml")
    validate(shopify, CamtVersion.V08)


def test_links_are_presigned_for_at_most_fifteen_minutes(settled: Deployed):
    month_of_orders(settled)
    call("POST", "/settlements/generate", body={"month": "2026-10", "channel": "douyin"})
    status, links = call("GET", "/settlements", query={"month": "2026-10", "channel": "douyin"})
    assert status == 200, links
    assert len(links["files"]) == 6
    assert links["expires_at"] == (NOW + timedelta(minutes=15)).isoformat(timespec="seconds")
    for file in links["files"]:
        assert "X-Amz-Expires=900" in file["url"] or "Expires=" in file["url"]
        assert file["key"].startswith("settlements/2026-10/douyin/")


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "field"),
    [
        ("POST", "/settlements/generate", {"month": "2026-13"}, None, "month"),
        ("POST", "/settlements/generate", {"month": "2026-10", "channel": "ebay"}, None, "channel"),
        ("POST", "/settlements/generate", {"month": "2027-01"}, None, "month"),
        ("GET", "/settlements", None, {"month": "oct"}, "month"),
    ],
)
def test_bad_requests_are_refused_with_a_typed_error(
    settled: Deployed, method: str, path: str, body: Any, query: Any, field: str
):
    status, reply = call(method, path, body=body, query=query)
    assert status == 400
    assert (reply["error"], reply["details"]["field"]) == ("BAD_REQUEST", field)


def test_the_monthly_schedule_generates_the_previous_china_month(settled: Deployed):
    from functions.settlement_xml import app

    # 02:00 on 1 November in Shanghai is still 31 October in UTC.
    event = {"trigger": "monthly", "scheduled_time": "2026-10-31T18:00:00Z"}
    report = app.handler(event, context("settlement"))
    assert report["month"] == "2026-10"
    assert {s["channel"] for s in report["statements"]} == {str(p) for p in Platform}


def test_payouts_are_recorded_once_and_a_reused_reference_is_a_conflict(settled: Deployed):
    payout = {
        "kind": "PAYOUT",
        "channel": "douyin",
        "shop_id": "100001",
        "amount": "80.00",
        "reference": "PO202610310001",
        "booked_on": "2026-10-31",
    }
    assert call("POST", "/settlements/entries", body=payout)[0] == 201
    assert call("POST", "/settlements/entries", body=payout)[0] == 200
    status, reply = call("POST", "/settlements/entries", body={**payout, "amount": "81.00"})
    assert (status, reply["error"]) == (409, "SETTLEMENT_ENTRY_CONFLICT")
    status, reply = call(
        "POST", "/settlements/entries", body={**payout, "amount": "1.001", "reference": "X1"}
    )
    assert (status, reply["error"]) == (400, "BAD_REQUEST")
    month_of_orders(settled)
    _, report = call("POST", "/settlements/generate", body={"month": "2026-10", "channel": "douyin"})
    booked = next(s for s in report["statements"] if s["status"] == "BOOK")
    assert booked["closing_balance"] == "14.30"  # 94.30 - 80.00


def test_the_deployment_can_choose_camt_053_001_02_and_name_the_merchant_accounts(
    settled: Deployed, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN a deployment for an importer that reads only .001.02, with Douyin's real account id
    monkeypatch.setenv("SETTLEMENT_CAMT_VERSION", "camt.053.001.02")
    monkeypatch.setenv(
        "SETTLEMENT_ACCOUNTS", json.dumps({"douyin": {"account_id": "4200012345", "name": "Douyin 100001"}})
    )
    composition.reset()
    month_of_orders(settled)
    status, report = call("POST", "/settlements/generate", body={"month": "2026-10", "channel": "douyin"})
    assert (status, report["format"]) == (200, "camt.053.001.02")
    document = bucket_object(settled, "settlements/2026-10/douyin/CNY-BOOK.xml")
    validate(document, CamtVersion.V02)
    assert b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" in document
    assert b"<Id>4200012345</Id>" in document
    assert b"<Nm>Douyin 100001</Nm>" in document
