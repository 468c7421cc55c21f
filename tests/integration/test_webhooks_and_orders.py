"""The local stack over HTTP, as the platforms and an operator call it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from local import simulator
from local.stack import LocalStack, http_call
from oms.domain.order_events import OrderChanged
from tests.integration.helpers import (
    DOUYIN_SHOP,
    LINES,
    SHOPIFY_SHOP,
    WECHAT_APP,
    archived_envelope,
    douyin_truth,
    failure_records,
    get_order,
    minutes,
    push_douyin,
    push_shopify,
    push_wechat,
    wechat_app,
)

pytestmark = pytest.mark.integration


def test_a_signed_douyin_push_becomes_an_order_readable_by_its_platform_reference(drained: LocalStack):
    # GIVEN a paid order on Douyin
    order = douyin_truth(drained, "6900000000000000101", 105, minutes(5), payment_id="PAY2026101200000101")
    # WHEN Douyin pushes its signed trade message and the queue drains
    reply = push_douyin(drained, order, msg_id="7000000000000000101")
    assert drained.drain(timeout=60)
    # THEN Douyin got its acknowledgement and the order reads back with its canonical status
    assert (reply.status, reply.json()) == (200, {"code": 0, "msg": "success"})
    view = get_order(drained, f"douyin:{DOUYIN_SHOP}:6900000000000000101")
    assert view.status == 200
    body = view.json()
    assert body["order"]["status"] == "paid"
    assert body["order"]["payment_id"] == "PAY2026101200000101"
    assert [entry["outcome"] for entry in body["history"]] == ["created"]
    # AND the unified id finds it too
    assert (
        get_order(drained, body["order"]["order_id"]).json()["order"]["order_id"] == body["order"]["order_id"]
    )


def test_a_wechat_push_is_decrypted_fetched_and_applied(drained: LocalStack):
    order_id = "3700000000000000201"
    order = simulator.wechat_order(order_id, WECHAT_APP, 30, minutes(30), LINES, payment_id="4200000201")
    drained.simulator.put_order("wechat_channels", WECHAT_APP, order)
    reply = push_wechat(drained, "channels_ec_order_deliver", order_id, minutes(30), nonce="1234567201")
    assert drained.drain(timeout=60)
    assert (reply.status, reply.text) == (200, "success")
    body = get_order(drained, f"wechat_channels:{WECHAT_APP}:{order_id}").json()
    assert body["order"]["status"] == "shipped"


def test_shopify_paid_before_create_ends_paid_and_the_late_create_is_stale(drained: LocalStack):
    # GIVEN Shopify's orders/paid arriving before orders/create (a documented habit)
    created = simulator.shopify_order(5600000000301, SHOPIFY_SHOP, "pending", minutes(1), LINES)
    paid = simulator.shopify_order(
        5600000000301, SHOPIFY_SHOP, "paid", minutes(3), LINES, created_at=minutes(1)
    )
    assert push_shopify(drained, paid, "orders/paid", "b5c1a0e2-0000-4000-a000-000000000301").status == 200
    assert (
        push_shopify(drained, created, "orders/create", "b5c1a0e2-0000-4000-a000-000000000302").status == 200
    )
    assert drained.drain(timeout=60)
    # THEN the order is paid, and the older event was recorded and ignored
    body = get_order(drained, f"shopify:{SHOPIFY_SHOP}:5600000000301").json()
    assert body["order"]["status"] == "paid"
    outcomes = {entry["event_id"]: entry["outcome"] for entry in body["history"]}
    assert outcomes == {
        "b5c1a0e2-0000-4000-a000-000000000301": "created",  # orders/paid, first to arrive
        "b5c1a0e2-0000-4000-a000-000000000302": "stale",  # orders/create, older than what the order shows
    }


def test_a_forged_push_is_refused_with_401_and_nothing_is_queued(drained: LocalStack):
    order = douyin_truth(drained, "6900000000000000401", 105, minutes(5))
    consumed_before = len(drained.pollers[0].stats.message_ids)
    # WHEN a push is signed with the wrong secret
    reply = push_douyin(drained, order, msg_id="7000000000000000401", secret="not-the-app-secret")
    # THEN it is refused before anything else happens: nothing on the queue, no order
    assert (reply.status, reply.json()) == (401, {"error": "SIGNATURE_INVALID"})
    assert drained.queue_depth("IntakeQueue") == 0
    assert drained.drain(timeout=60)
    assert len(drained.pollers[0].stats.message_ids) == consumed_before
    assert get_order(drained, f"douyin:{DOUYIN_SHOP}:6900000000000000401").status == 404


def test_a_duplicate_push_has_one_effect(drained: LocalStack):
    order = douyin_truth(drained, "6900000000000000501", 2, minutes(40), payment_id="PAY2026101200000501")
    reference = f"douyin:{DOUYIN_SHOP}:6900000000000000501"
    # GIVEN a push sent twice at once (SQS FIFO deduplication absorbs the second) ...
    assert push_douyin(drained, order, msg_id="7000000000000000501").status == 200
    assert push_douyin(drained, order, msg_id="7000000000000000501").status == 200
    assert drained.drain(timeout=60)
    first = get_order(drained, reference).json()
    # ... and once more after it was processed (the repository must catch this one)
    assert push_douyin(drained, order, msg_id="7000000000000000501").status == 200
    assert drained.drain(timeout=60)
    second = get_order(drained, reference).json()
    # THEN the order changed once: same version, one history entry that changed it
    assert second["order"]["version"] == first["order"]["version"] == 1
    changed = [entry for entry in second["history"] if entry["outcome"] in ("created", "applied")]
    assert [entry["event_id"] for entry in changed] == ["7000000000000000501"]
    assert all(entry["outcome"] in ("created", "duplicate") for entry in second["history"])


def test_a_zero_width_space_in_the_payment_id_is_cleaned_and_the_event_applied(drained: LocalStack):
    # GIVEN the 2026-02-05 incident: a payment id with a trailing U+200B in Douyin's order API
    order = douyin_truth(
        drained, "6900000000000000601", 105, minutes(8), payment_id="PAY2026101200000601\u200b"
    )
    assert "\u200b" in order["channel_payment_no"]
    assert push_douyin(drained, order, msg_id="7000000000000000601").status == 200
    assert drained.drain(timeout=60)
    # THEN the event applied with the cleaned id, and its history names the rule and the field
    body = get_order(drained, f"douyin:{DOUYIN_SHOP}:6900000000000000601").json()
    assert body["order"]["payment_id"] == "PAY2026101200000601"
    (entry,) = body["history"]
    assert entry["outcome"] == "created"
    cleaning = [rule for rule in entry["cleaning"] if rule["name"] == "strip-invisible"]
    assert cleaning
    assert any(rule["path"].endswith("channel_payment_no") for rule in cleaning)
    assert all(rule["version"] >= 1 for rule in cleaning)


def test_a_poison_payload_reaches_the_dlq_with_its_code_and_its_raw_payload_stays_readable(
    drained: LocalStack,
):
    # GIVEN a signed push whose order carries a payment id ending in the literal text %E2%80%8B
    order = douyin_truth(
        drained, "6900000000000000701", 105, minutes(9), payment_id="PAY20261012701%E2%80%8B"
    )
    reply = push_douyin(drained, order, msg_id="7000000000000000701")
    assert reply.status == 200  # authentic: the platform is not asked to resend
    # WHEN the sanitizer has failed it MaxReceiveCount times
    assert drained.drain(timeout=60)
    # THEN it sits in the DLQ, its failure is recorded with PAY_PARSE_ERR, and no order exists
    dead = drained.sqs.receive_message(
        QueueUrl=drained.deployed.queue_urls["IntakeDLQ"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )["Messages"]
    envelopes = [json.loads(message["Body"]) for message in dead]
    (envelope,) = [item for item in envelopes if item.get("platform_order_id") == "6900000000000000701"]
    assert envelope["platform"] == "douyin"
    records = failure_records(drained, envelope["trace_id"])
    assert [record["code"] for record in records] == ["PAY_PARSE_ERR", "PAY_PARSE_ERR"]  # one per attempt
    assert {record["order_ref"] for record in records} == {f"douyin:{DOUYIN_SHOP}:6900000000000000701"}
    assert get_order(drained, f"douyin:{DOUYIN_SHOP}:6900000000000000701").status == 404
    # AND the raw payload, as received, is in S3 at the recorded location
    location = records[0]["raw_location"]
    assert location.startswith(f"s3://{drained.deployed.names['RawArchiveBucket']}/raw/")
    assert location.endswith(f"#{envelope['trace_id']}")
    archived = archived_envelope(drained, location)
    assert archived["raw"] == envelope["raw"]
    assert json.loads(archived["raw"])["msg_id"] == "7000000000000000701"  # this message of the push


def test_wechat_url_verification_echoes_echostr(drained: LocalStack):
    query = simulator.wechat_url_check(wechat_app(drained), "echo-7f3a9c")
    reply = drained.request("GET", "/webhooks/wechat_channels", query=query)
    assert (reply.status, reply.text) == (200, "echo-7f3a9c")
    forged = {**query, "signature": "0" * 40}
    assert drained.request("GET", "/webhooks/wechat_channels", query=forged).status == 401


def test_admin_routes_need_sigv4_and_unknown_routes_are_404(stack: LocalStack):
    unsigned = http_call(stack.api_url, "GET", f"/orders/douyin:{DOUYIN_SHOP}:6900000000000000101")
    assert (unsigned.status, unsigned.json()) == (403, {"message": "Forbidden"})
    missing = get_order(stack, "o_aaaaaaaaaaaaaaaaaaaaaaaa")
    assert (missing.status, missing.json()["error"]) == (404, "ORDER_NOT_FOUND")
    nowhere = stack.request("POST", "/nowhere")
    assert (nowhere.status, nowhere.json()) == (404, {"message": "Not Found"})


def test_the_functions_run_with_the_templates_environment_and_the_simulator_urls(stack: LocalStack):
    names = stack.deployed.names
    assert stack.env["ORDERS_TABLE"] == names["OrdersTable"]
    assert stack.env["INTAKE_QUEUE_URL"] == stack.deployed.queue_urls["IntakeQueue"]
    assert stack.env["AWS_ENDPOINT_URL"] == stack.moto_url
    assert json.loads(stack.env["PLATFORM_BASE_URLS"]) == stack.simulator.base_urls()
    assert stack.env_conflicts == {}
    assert Decimal(str(LINES[0].unit_price)) == Decimal("128.00")


def test_every_stored_change_is_published_to_the_order_events_topic(drained: LocalStack):
    # GIVEN a queue subscribed to the order events topic, as each downstream capability has
    sqs, sns = drained.client("sqs"), drained.client("sns")
    queue_url = sqs.create_queue(QueueName="order-events-probe")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=drained.deployed.arns["OrderEventsTopic"],
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    # WHEN an order is created, then shipped, and the shipment is pushed twice
    number = "6900000000000000901"
    paid = douyin_truth(drained, number, 105, minutes(5), payment_id="PAY2026101200000901")
    push_douyin(drained, paid, msg_id="7000000000000000901")
    assert drained.drain(timeout=60)
    shipped = douyin_truth(drained, number, 3, minutes(9), payment_id="PAY2026101200000901")
    push_douyin(drained, shipped, msg_id="7000000000000000902", tag="102")
    push_douyin(drained, shipped, msg_id="7000000000000000903", tag="102")
    assert drained.drain(timeout=60)
    # THEN the probe received each change (a republished duplicate keeps its change id)
    received: list[OrderChanged] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        received += [OrderChanged.from_json(message["Body"]) for message in batch]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    order_id = received[0].order.order_id
    assert {change.change_id for change in received} == {f"{order_id}#v1", f"{order_id}#v2"}
    latest = max(received, key=lambda change: change.version)
    assert (latest.status_before, latest.status_after) == ("paid", "shipped")
    assert latest.order.platform_order_id == number
