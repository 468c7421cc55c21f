"""The 2026-02-05 incident through the handlers and moto: fail, find, fix at 10%, promote, redrive.

Douyin's order API returns payment ids ending in ``%E2%80%8B`` (a zero-width space, URL-encoded);
the payment parser refuses them (``PAY_PARSE_ERR``) and the messages end in the DLQ. The operator
finds them with one ``GET /traces``, sees the bytes in ``GET /traces/{id}``, releases a cleaning
rule to 10% of orders (the canary orders go through, the others keep failing), promotes it, and
redrives the DLQ: every order applied exactly once, none lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local.resources import Deployed
from local.simulator import PlatformSimulator, douyin_order
from oms import composition
from oms.domain.errors import RuleConflictError
from oms.domain.ids import unified_order_id
from oms.domain.rules import RuleDraft, canary_bucket, create_rule
from tests.functional.conftest import context, queue_depth, receive_all, sanitize
from tests.functional.test_fetching_platforms import DOUYIN_SHOP, LINES, T0, push_douyin
from tests.support.events import http_event

RULE_ID = "douyin-payment-id-encoded-zwsp"
OPERATOR = "arn:aws:iam::123456789012:user/on-call"
#: Candidate Douyin order numbers; the test picks canary and baseline ones by the rule's own hash.
CANDIDATES = [f"69300000000{n:08d}" for n in range(200)]


def canary(order_number: str, percentage: int = 10) -> bool:
    return canary_bucket(RULE_ID, unified_order_id("douyin", DOUYIN_SHOP, order_number)) < percentage


CANARY_ORDERS = [number for number in CANDIDATES if canary(number)][:4]
BASELINE_ORDERS = [number for number in CANDIDATES if not canary(number)][:6]


@pytest.fixture
def incident_stack(stack: Deployed, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    """The stack with the sanitizer reading the rules on every batch (no 30 s cache in a test)."""
    monkeypatch.setenv("RULES_CACHE_SECONDS", "0")
    composition.reset()
    return stack


def admin(
    method: str,
    path: str,
    route: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    **params: str,
):
    from functions.admin_api import app

    event = http_event(
        method,
        path,
        route=route,
        path_parameters=params,
        query=query,
        body=json.dumps(body).encode() if body is not None else None,
    )
    event["requestContext"]["authorizer"] = {"iam": {"userArn": OPERATOR}}
    reply = app.handler(event, context("admin"))
    return reply["statusCode"], json.loads(reply["body"])


def process_until_settled(stack: Deployed) -> None:
    """Run the sanitizer like Lambda's poller until the queue is empty; failures retry at once.

    moto moves a message to the DLQ when it is received once more than ``maxReceiveCount`` allows.
    """
    sqs = boto3.client("sqs")
    for _ in range(20):
        messages = receive_all(stack)
        if not messages:
            return
        failed = {item["itemIdentifier"] for item in sanitize(stack, messages)["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=stack.queue_urls["IntakeQueue"],
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
    raise AssertionError("the intake queue did not settle")


def put_and_push(simulator: PlatformSimulator, number: str, msg_id: str) -> None:
    order = douyin_order(number, DOUYIN_SHOP, 105, T0, LINES, payment_id=f"PAY{number[-6:]}%E2%80%8B")
    simulator.put_order("douyin", DOUYIN_SHOP, order)
    reply = push_douyin(order, msg_id)
    assert reply["statusCode"] == 200


def order_view(number: str) -> tuple[int, dict[str, Any]]:
    return admin(
        "GET",
        f"/orders/douyin:{DOUYIN_SHOP}:{number}",
        "/orders/{order_id}",
        order_id=f"douyin:{DOUYIN_SHOP}:{number}",
    )


def deliver_again(stack: Deployed, trace_id: str) -> None:
    """Send the archived envelope of ``trace_id`` to the intake queue once more (a fresh SQS message)."""
    from oms.adapters.raw_archive import S3RawArchive

    (attempt, *_) = composition.failure_log().attempts(trace_id)
    envelope = S3RawArchive(stack.names["RawArchiveBucket"], boto3.client("s3")).get(
        attempt.raw_location or ""
    )
    boto3.client("sqs").send_message(
        QueueUrl=stack.queue_urls["IntakeQueue"],
        MessageBody=envelope.model_dump_json(exclude_none=True),
        MessageGroupId=envelope.message_group,
        MessageDeduplicationId="again-" + trace_id,
    )


def test_the_incident_is_found_fixed_at_ten_percent_promoted_and_replayed_exactly_once(
    incident_stack: Deployed, simulator: PlatformSimulator
):
    stack = incident_stack
    assert len(CANARY_ORDERS) == 4
    assert len(BASELINE_ORDERS) == 6
    first_wave = CANARY_ORDERS[:2] + BASELINE_ORDERS[:4]
    second_wave = CANARY_ORDERS[2:] + BASELINE_ORDERS[4:]

    # GIVEN Douyin payment ids carrying %E2%80%8B: every order of the first wave fails into the DLQ
    for number in first_wave:
        put_and_push(simulator, number, f"msg-{number}")
    process_until_settled(stack)
    assert queue_depth(stack, "IntakeDLQ") == len(first_wave)
    for number in first_wave:
        assert order_view(number)[0] == 404

    # WHEN the operator asks for Douyin's payment parse failures: one call finds them all
    status, found = admin(
        "GET",
        "/traces",
        "/traces",
        query={"status": "failed", "platform": "douyin", "error_code": "PAY_PARSE_ERR"},
    )
    assert status == 200
    assert sorted(row["order_ref"] for row in found["traces"]) == sorted(
        f"douyin:{DOUYIN_SHOP}:{number}" for number in first_wave
    )
    assert {row["attempts"] for row in found["traces"]} == {5}  # MaxReceiveCount, grouped per message
    assert found["counts"] == [
        {
            "platform": "douyin",
            "code": "PAY_PARSE_ERR",
            "messages": len(first_wave),
            "attempts": 5 * len(first_wave),
        }
    ]
    assert found["next_cursor"] is None

    # AND the trace shows the hidden character: flagged as percent-encoded, with its UTF-8 bytes
    trace_id = found["traces"][0]["trace_id"]
    status, trace = admin("GET", f"/traces/{trace_id}", "/traces/{trace_id}", trace_id=trace_id)
    assert status == 200
    assert trace["status"] == "failed"
    encoded = trace["suspicious_details"]["value"]["encoded"]
    assert [(item["text"], item["utf8"], item["name"]) for item in encoded] == [
        ("%E2%80%8B", "E2 80 8B", "ZERO WIDTH SPACE")
    ]
    snapshot = trace["fetched"]
    assert snapshot["suspicious"]
    assert snapshot["encoded"][0]["text"] == "%E2%80%8B"
    assert [stage["stage"] for stage in trace["stages"]][:2] == ["intake", "archive"]
    assert [stage["code"] for stage in trace["stages"] if stage["stage"] == "attempt"] == [
        "PAY_PARSE_ERR"
    ] * 5
    assert trace["raw"]["payload"]["characters_total"] > 0

    # WHEN a rule that percent-decodes then strips invisible characters goes to 10% of orders
    rule = {
        "rule_id": RULE_ID,
        "platform": "douyin",
        "fields": ["channel_payment_no"],
        "operation": "percent_decode_strip_invisible",
        "percentage": 10,
        "examples": [{"input": "PAY1%E2%80%8B", "output": "PAY1"}],
        "reason": "2026-02-05 payment ids with an encoded zero-width space",
    }
    status, created = admin("POST", "/cleaning-rules", "/cleaning-rules", body=rule)
    assert status == 201, created
    assert (created["rule"]["status"], created["rule"]["version"], created["change"]["by"]) == (
        "canary",
        1,
        OPERATOR,
    )

    # AND live traffic continues: the canary orders go through, the baseline ones still fail
    for number in second_wave:
        put_and_push(simulator, number, f"msg-{number}")
    process_until_settled(stack)
    for number in CANARY_ORDERS[2:]:
        status, view = order_view(number)
        assert status == 200
        assert view["order"]["payment_id"] == f"PAY{number[-6:]}"
        assert view["history"][0]["rollout"]["cohort"] == "canary"
        assert any(applied["name"] == RULE_ID for applied in view["history"][0]["cleaning"])
    for number in BASELINE_ORDERS[4:]:
        assert order_view(number)[0] == 404
    # a message that never failed is traced through its history entry (GSI3)
    canary_trace = order_view(CANARY_ORDERS[2])[1]["history"][0]["trace_id"]
    status, applied = admin("GET", f"/traces/{canary_trace}", "/traces/{trace_id}", trace_id=canary_trace)
    assert status == 200
    assert applied["status"] == "applied"
    assert [stage["stage"] for stage in applied["stages"]] == ["intake", "archive", "applied"]
    assert applied["stages"][-1]["rollout"]["cohort"] == "canary"
    assert [rule["name"] for rule in applied["rules_applied"]] == [RULE_ID]
    assert queue_depth(stack, "IntakeDLQ") == len(first_wave) + 2

    # THEN the rollout view compares the two sides for messages received since the canary started
    status, rollout = admin(
        "GET", f"/cleaning-rules/{RULE_ID}/rollout", "/cleaning-rules/{rule_id}/rollout", rule_id=RULE_ID
    )
    assert status == 200
    assert rollout["cohorts"]["canary"] == {"applied": 2, "ignored": 0, "failed": 0, "failed_by_code": {}}
    assert rollout["cohorts"]["baseline"] == {
        "applied": 0,
        "ignored": 0,
        "failed": 2,
        "failed_by_code": {"PAY_PARSE_ERR": 2},
    }

    # WHEN it is promoted to every order, and the DLQ is redriven
    status, promoted = admin(
        "PATCH",
        f"/cleaning-rules/{RULE_ID}",
        "/cleaning-rules/{rule_id}",
        body={"status": "full", "version": 1, "reason": "canary clean for 30 minutes"},
        rule_id=RULE_ID,
    )
    assert status == 200
    assert promoted["rule"]["status"] == "full"
    assert promoted["rule"]["percentage"] == 100
    status, report = admin(
        "POST", "/dlq/redrive", "/dlq/redrive", body={"platform": "douyin", "error_code": "PAY_PARSE_ERR"}
    )
    assert status == 200
    assert (report["redriven"], report["failed"], report["more"]) == (len(first_wave) + 2, 0, False)
    assert queue_depth(stack, "IntakeDLQ") == 0
    process_until_settled(stack)

    # THEN every order is applied exactly once, nothing is lost, nothing is left in the DLQ
    assert queue_depth(stack, "IntakeDLQ") == 0
    for number in CANARY_ORDERS + BASELINE_ORDERS:
        status, view = order_view(number)
        assert status == 200, number
        assert (view["order"]["status"], view["order"]["version"]) == ("paid", 1)
        assert view["order"]["payment_id"] == f"PAY{number[-6:]}"
        assert [entry["event_id"] for entry in view["history"]] == [f"msg-{number}"]
        assert [entry["outcome"] for entry in view["history"]] == ["created"]
    lines = boto3.client("dynamodb").query(
        TableName=stack.names["OrdersTable"],
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :sku",
        ExpressionAttributeValues={":sku": {"S": f"SKU#{LINES[0].sku_id}"}},
    )["Items"]
    assert len(lines) == len(CANARY_ORDERS) + len(BASELINE_ORDERS)  # one line item per order, no double

    # AND a second delivery of a replayed event (SQS delivers at least once) changes nothing
    deliver_again(stack, report["results"][0]["trace_id"])
    process_until_settled(stack)
    status, view = order_view(report["results"][0]["order_ref"].rsplit(":", 1)[1])
    assert (view["order"]["version"], len(view["history"])) == (1, 1)

    # AND the redriven trace tells the whole story
    status, trace = admin("GET", f"/traces/{trace_id}", "/traces/{trace_id}", trace_id=trace_id)
    assert trace["status"] == "applied"
    stages = [stage["stage"] for stage in trace["stages"]]
    assert stages[-2:] == ["redrive", "applied"]
    assert trace["stages"][-2]["by"] == OPERATOR
    assert any(applied["name"] == RULE_ID for applied in trace["rules_applied"])


def test_a_rule_is_validated_before_it_is_saved(incident_stack: Deployed):
    bad = {
        "rule_id": "douyin-bad-regex",
        "platform": "douyin",
        "fields": ["channel_payment_no"],
        "operation": "regex_replace",
        "pattern": "(a+)+$",
    }
    status, reply = admin("POST", "/cleaning-rules", "/cleaning-rules", body=bad)
    assert (status, reply["error"]) == (400, "RULE_INVALID")
    assert "nested quantifiers" in json.dumps(reply["details"])
    wrong_example = {
        "rule_id": "douyin-trim-pay",
        "platform": "douyin",
        "fields": ["channel_payment_no"],
        "operation": "trim",
        "examples": [{"input": "PAY1%E2%80%8B", "output": "PAY1"}],
    }
    status, reply = admin("POST", "/cleaning-rules", "/cleaning-rules", body=wrong_example)
    assert (status, reply["error"]) == (400, "RULE_INVALID")
    status, listed = admin("GET", "/cleaning-rules", "/cleaning-rules")
    assert (status, listed["revision"], listed["versions"]) == (200, 0, [])


def test_the_sanitizer_reads_the_rules_once_per_cache_period(stack: Deployed):
    from oms.adapters.aws import client

    # GIVEN a sanitizer that has read the rules (the template's 30 s cache)
    rules = composition.rule_source()
    rules.current()
    calls: list[str] = []
    client("dynamodb").meta.events.register(
        "before-call.dynamodb.GetItem", lambda model, **_: calls.append(model.name), unique_id="count-rules"
    )
    # WHEN many messages ask for them within the period
    for _ in range(50):
        rules.current()
    # THEN the table was not read again
    assert calls == []


def test_two_changes_made_from_the_same_rule_set_cannot_both_be_saved(incident_stack: Deployed):
    # GIVEN two operators who read the same (empty) rule set
    store = composition.rule_store()
    seen = store.ruleset()
    now = datetime(2026, 2, 5, 14, 30, tzinfo=UTC)
    drafts = [
        RuleDraft.model_validate(
            {
                "rule_id": rule_id,
                "platform": "douyin",
                "fields": ["channel_payment_no"],
                "operation": "trim",
                "percentage": 100,
            }
        )
        for rule_id in ("douyin-first", "douyin-second")
    ]
    # WHEN both save a change built on it
    store.save(create_rule(drafts[0], ruleset=seen, latest=None, now=now, actor="a"))
    with pytest.raises(RuleConflictError):
        store.save(create_rule(drafts[1], ruleset=seen, latest=None, now=now, actor="b"))
    # THEN only the first is in force, and the second can be made again from the new rule set
    assert [rule.rule_id for rule in store.ruleset().rules] == ["douyin-first"]
    store.save(create_rule(drafts[1], ruleset=store.ruleset(), latest=None, now=now, actor="b"))
    assert [rule.rule_id for rule in store.ruleset().rules] == ["douyin-first", "douyin-second"]
    assert [change.action for change in store.audit("douyin-second")] == ["created"]
