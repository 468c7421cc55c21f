"""Stage facts and the health report against moto in-process (the handlers' own resources)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.fulfilment_report import app as report_app
from functions.sla_deadlines import app as deadlines_app
from functions.wms_heartbeat import app as wms_app
from local.resources import Deployed
from oms import composition
from oms.domain.fulfilment_health import WMS_STAGES
from oms.domain.status import OrderStatus
from oms.domain.wms import heartbeat_signature
from tests.functional.conftest import CREDENTIALS, context
from tests.support.orders import changed, order

T0 = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
WAREHOUSE = "hangzhou"


def wms_request(body: bytes, *, secret: str | None = None) -> dict[str, Any]:
    stamp = str(int(time.time()))
    key = secret or CREDENTIALS["warehouses"][WAREHOUSE]["secret"]
    return {
        "version": "2.0",
        "routeKey": "POST /wms/orders/events",
        "rawPath": "/wms/orders/events",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "x-warehouse-id": WAREHOUSE,
            "x-timestamp": stamp,
            "x-signature": heartbeat_signature(key, stamp, WAREHOUSE, body),
        },
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/wms/orders/events",
                "protocol": "HTTP/1.1",
                "sourceIp": "1.2.3.4",
            },
            "routeKey": "POST /wms/orders/events",
            "stage": "$default",
            "requestId": "r",
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def deliver(stack: Deployed, *changes: Any) -> dict[str, Any]:
    """Invoke the SLA consumer the way the SlaQueue event source would."""
    records = [
        {
            "messageId": f"m{index}",
            "receiptHandle": "r",
            "body": change.to_json(),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": stack.arns.get("SlaQueue", "arn:aws:sqs:us-east-1:123456789012:SlaQueue"),
            "awsRegion": "us-east-1",
        }
        for index, change in enumerate(changes)
    ]
    reply: dict[str, Any] = deadlines_app.handler({"Records": records}, context("sla_deadlines"))
    return reply


def stages_item(deployed: Deployed, order_id: str) -> dict[str, Any]:
    item: dict[str, Any] = (
        boto3.client("dynamodb")
        .get_item(
            TableName=deployed.names["OpsTable"], Key={"PK": {"S": f"SLA#{order_id}"}, "SK": {"S": "STAGES"}}
        )
        .get("Item", {})
    )
    return item


reports = st.lists(
    st.tuples(st.sampled_from(WMS_STAGES), st.integers(min_value=0, max_value=600)), min_size=1, max_size=8
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reports, st.integers(min_value=1, max_value=3), st.randoms(use_true_random=False))
def test_each_stage_keeps_its_earliest_time_whatever_the_order_and_the_batches(
    stack: Deployed, drawn: list[tuple[str, int]], batches: int, shuffle: Any
) -> None:
    # GIVEN reports of one order's stages, duplicated, shuffled and split into batches
    order_id = f"o_{abs(hash((tuple(drawn), batches))):024d}"[:26]
    events = [
        {"order_id": order_id, "stage": stage, "at": (T0 + timedelta(minutes=minute)).isoformat()}
        for stage, minute in drawn * 2
    ]
    shuffle.shuffle(events)
    # WHEN the warehouse posts them
    for index in range(batches):
        part = events[index::batches]
        if part:
            reply = wms_app.handler(wms_request(json.dumps({"events": part}).encode()), context())
            assert reply["statusCode"] == 200, reply["body"]
    # THEN every stage holds its earliest reported time, and who reported it
    item = stages_item(stack, order_id)
    for stage in {stage for stage, _ in drawn}:
        earliest = min(minute for name, minute in drawn if name == stage)
        assert datetime.fromisoformat(item[stage]["S"]) == T0 + timedelta(minutes=earliest)
        assert item[f"{stage}_by"]["S"] == f"wms:{WAREHOUSE}"


def test_a_bad_batch_or_signature_stores_nothing(stack: Deployed) -> None:
    event = {"order_id": "o_bad", "stage": "printed", "at": T0.isoformat()}
    good = json.dumps({"events": [event]}).encode()
    forged = wms_app.handler(wms_request(good, secret="guess"), context())
    assert (forged["statusCode"], json.loads(forged["body"])["error"]) == (401, "WAREHOUSE_UNAUTHENTICATED")
    for bad in (
        {"events": []},
        {"events": [{**event, "stage": "packed"}]},
        {"events": [{**event, "at": "2026-11-10T04:00:00"}]},  # no offset
        {"events": [event, {"order_id": "o_bad"}]},  # one bad event refuses the whole batch
    ):
        reply = wms_app.handler(wms_request(json.dumps(bad).encode()), context())
        assert (reply["statusCode"], json.loads(reply["body"])["error"]) == (400, "STAGE_EVENTS_INVALID")
    assert stages_item(stack, "o_bad") == {}


def test_paid_approved_and_delivered_come_from_the_order_changes(stack: Deployed) -> None:
    order_id = "o_changes00000000000000001"
    paid_at = T0
    changes = [
        changed(order(order_id, OrderStatus.PAID, version=1, at=T0, paid_at=paid_at), None, at=T0),
        changed(
            order(order_id, OrderStatus.APPROVED, version=2, at=T0 + timedelta(hours=1), paid_at=paid_at),
            OrderStatus.PAID,
            at=T0 + timedelta(hours=1),
        ),
        changed(
            order(order_id, OrderStatus.DELIVERED, version=4, at=T0 + timedelta(days=3), paid_at=paid_at),
            OrderStatus.SHIPPED,
            at=T0 + timedelta(days=3),
        ),
    ]
    # delivered first, then the rest twice: unordered, at least once
    for change in [changes[2], *changes, changes[0]]:
        assert deliver(stack, change)["batchItemFailures"] == []
    item = stages_item(stack, order_id)
    assert {
        stage: datetime.fromisoformat(item[stage]["S"]) for stage in ("paid", "approved", "delivered")
    } == {
        "paid": T0,
        "approved": T0 + timedelta(hours=1),
        "delivered": T0 + timedelta(days=3),
    }


def test_the_scheduled_run_stores_last_month_and_an_operator_gets_a_short_link(stack: Deployed) -> None:
    # GIVEN an order paid in November (deadline in November), delivered 44 h later; the warehouse
    # took 29 h to print it and 10 h more to hand it over
    order_id = "o_report0000000000000000001"
    paid = changed(order(order_id, OrderStatus.PAID, version=1, at=T0, paid_at=T0), None, at=T0)
    delivered = changed(
        order(order_id, OrderStatus.DELIVERED, version=3, at=T0 + timedelta(hours=44), paid_at=T0),
        OrderStatus.SHIPPED,
        at=T0 + timedelta(hours=44),
    )
    assert deliver(stack, paid, delivered)["batchItemFailures"] == []
    events = [
        {"order_id": order_id, "stage": stage, "at": (T0 + timedelta(hours=hours)).isoformat()}
        for stage, hours in (("sent_to_wms", 1), ("printed", 30), ("picked_up", 40))
    ]
    assert (
        wms_app.handler(wms_request(json.dumps({"events": events}).encode()), context())["statusCode"] == 200
    )
    # WHEN the monthly schedule fires on 1 December, 03:00 China time
    result = report_app.handler(
        {"trigger": "monthly", "scheduled_time": "2026-11-30T19:00:00Z"}, context("FulfilmentReport")
    )
    # THEN November's report is stored
    assert result["month"] == "2026-11"
    assert result["key"] == "fulfilment/health/2026-11/report.html"
    assert result["stages"] == {
        "paid": 1,
        "approved": 1,
        "sent_to_wms": 1,
        "printed": 1,
        "picked_up": 1,
        "delivered": 1,
    }
    # waits 1 h, 29 h, 10 h, 4 h of 44: printing (66 %) and pickup (23 %) are over 15 %
    assert result["highlighted"] == ["printed", "picked_up"]
    query = parse_qs(urlsplit(result["url"]).query)
    lifetime = (
        int(query["X-Amz-Expires"][0]) if "X-Amz-Expires" in query else int(query["Expires"][0]) - time.time()
    )
    assert 0 < lifetime <= 900
    page = boto3.client("s3").get_object(Bucket=stack.names["ReportsBucket"], Key=result["key"])
    assert page["ContentType"].startswith("text/html")
    assert b'<svg id="sankey"' in page["Body"].read()
    # AND a month that is not yyyy-mm is refused
    composition.reset()
    bad = report_app.handler(
        {
            "version": "2.0",
            "routeKey": "POST /fulfillment/health-report",
            "rawPath": "/fulfillment/health-report",
            "rawQueryString": "month=2026-13",
            "queryStringParameters": {"month": "2026-13"},
            "headers": {},
            "requestContext": {
                "http": {
                    "method": "POST",
                    "path": "/fulfillment/health-report",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "1.2.3.4",
                },
                "routeKey": "POST /fulfillment/health-report",
                "stage": "$default",
                "requestId": "r",
            },
            "isBase64Encoded": False,
        },
        context("FulfilmentReport"),
    )
    assert (bad["statusCode"], json.loads(bad["body"])["error"]) == (400, "BAD_REQUEST")


def test_the_dashboard_says_between_which_stages_late_orders_were_stuck(stack: Deployed) -> None:
    # GIVEN three orders paid 50 h ago (the default policy promises 48 h), none shipped
    paid_at = datetime.now(UTC) - timedelta(hours=50)
    ids = [f"o_dashboard{number:015d}" for number in range(3)]
    for order_id in ids:
        change = changed(
            order(order_id, OrderStatus.PAID, version=1, at=paid_at, paid_at=paid_at), None, at=paid_at
        )
        assert deliver(stack, change)["batchItemFailures"] == []
    # AND the warehouse got all three an hour later, printed one, and reported nothing for the third
    at = (paid_at + timedelta(hours=1)).isoformat()
    events = [
        {"order_id": ids[0], "stage": "sent_to_wms", "at": at},
        {"order_id": ids[1], "stage": "sent_to_wms", "at": at},
        {"order_id": ids[1], "stage": "printed", "at": at},
    ]
    assert (
        wms_app.handler(wms_request(json.dumps({"events": events}).encode()), context())["statusCode"] == 200
    )
    # WHEN the dashboard is asked about the period of their deadlines
    summary = composition.sla_reports().summary(
        {
            "group_by": "channel",
            "from": (paid_at + timedelta(hours=47)).isoformat(),
            "to": (paid_at + timedelta(hours=49)).isoformat(),
        }
    )
    # THEN the overdue orders say where they were stuck; without WMS facts, how far escalation got
    [douyin] = summary["groups"]
    assert douyin["timeout_reasons"] == {
        "overdue_between_sent_to_wms_and_printed": 1,
        "overdue_between_printed_and_picked_up": 1,
        "overdue_after_level_0": 1,
    }
