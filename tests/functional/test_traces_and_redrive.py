"""The failure search (paging, filters, counts) and the filtered DLQ redrive, against moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from local.resources import Deployed
from oms import composition
from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import FailureRecord, Platform, Stage
from tests.functional.conftest import context, queue_depth
from tests.support.events import http_event

T0 = datetime(2026, 2, 5, 12, 15, tzinfo=UTC)


def get_traces(**query: str) -> tuple[int, dict[str, Any]]:
    from functions.admin_api import app

    reply = app.handler(http_event("GET", "/traces", route="/traces", query=query), context("admin"))
    return reply["statusCode"], json.loads(reply["body"])


def redrive(**body: Any) -> dict[str, Any]:
    from functions.admin_api import app

    event = http_event("POST", "/dlq/redrive", route="/dlq/redrive", body=json.dumps(body).encode())
    reply = app.handler(event, context("admin"))
    assert reply["statusCode"] == 200, reply
    return dict(json.loads(reply["body"]))


def fail(
    trace_id: str, platform: Platform | None, code: str, received_minutes: int, attempts: int = 1
) -> None:
    for attempt in range(1, attempts + 1):
        composition.failure_log().record(
            FailureRecord(
                trace_id=trace_id,
                platform=platform,
                stage=Stage.PARSE,
                code=code,
                message="test failure",
                occurred_at=T0 + timedelta(minutes=received_minutes, seconds=attempt),
                order_ref=f"{platform}:shop:{trace_id}" if platform else None,
                receive_count=attempt,
                received_at=T0 + timedelta(minutes=received_minutes) if platform else None,
            )
        )


@pytest.fixture
def failures(stack: Deployed) -> list[tuple[str, Platform | None, str, int, int]]:
    rows: list[tuple[str, Platform | None, str, int, int]] = [
        (f"t{index:02d}", platform, code, index, 1 + index % 3)
        for index, (platform, code) in enumerate(
            [
                (Platform.DOUYIN, "PAY_PARSE_ERR"),
                (Platform.SHOPIFY, "SCHEMA_INVALID"),
                (Platform.DOUYIN, "PAY_PARSE_ERR"),
                (Platform.WECHAT_CHANNELS, "UNKNOWN_STATUS"),
                (Platform.DOUYIN, "PLATFORM_API_ERROR"),
                (Platform.DOUYIN, "PAY_PARSE_ERR"),
                (Platform.SHOPIFY, "PAY_PARSE_ERR"),
                (Platform.DOUYIN, "PAY_PARSE_ERR"),
                (Platform.SHOPIFY, "SCHEMA_INVALID"),
                (Platform.DOUYIN, "PAY_PARSE_ERR"),
                (Platform.WECHAT_CHANNELS, "PAY_PARSE_ERR"),
                (Platform.DOUYIN, "SCHEMA_INVALID"),
            ]
        )
    ]
    for row in rows:
        fail(*row)
    return rows


def all_pages(**query: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    status, page = get_traces(**query)
    first = page
    while True:
        assert status == 200, page
        rows += page["traces"]
        if not page["next_cursor"]:
            return rows, first
        status, page = get_traces(**query, cursor=page["next_cursor"])


def test_every_platform_pages_newest_first_one_row_per_message(failures):
    # WHEN every failure is listed three messages at a time
    rows, first = all_pages(limit="3")
    # THEN each message appears once, newest first, with all its attempts grouped
    assert [row["trace_id"] for row in rows] == [trace for trace, *_ in reversed(failures)]
    assert [row["attempts"] for row in rows] == [attempts for *_, attempts in reversed(failures)]
    assert len(first["traces"]) == 3
    # AND the counts cover the whole filter, not the page
    assert sum(count["messages"] for count in first["counts"]) == len(failures)
    assert sum(count["attempts"] for count in first["counts"]) == sum(row[-1] for row in failures)
    assert first["counts"][0] == {
        "platform": "douyin",
        "code": "PAY_PARSE_ERR",
        "messages": 5,
        "attempts": sum(row[-1] for row in failures if row[1:3] == (Platform.DOUYIN, "PAY_PARSE_ERR")),
    }
    assert first["counts_complete"] is True


def test_platform_code_and_time_filters_are_index_keys(failures):
    rows, first = all_pages(platform="douyin", error_code="PAY_PARSE_ERR", limit="2")
    expected = [
        trace
        for trace, platform, code, *_ in reversed(failures)
        if (platform, code) == ("douyin", "PAY_PARSE_ERR")
    ]
    assert [row["trace_id"] for row in rows] == expected
    assert [(c["platform"], c["code"]) for c in first["counts"]] == [("douyin", "PAY_PARSE_ERR")]
    # received between minutes 3 and 7 (inclusive), given as UTC with a Z
    window = {
        "from": (T0 + timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
        "to": (T0 + timedelta(minutes=7)).isoformat(),
    }
    rows, _ = all_pages(**window)
    assert [row["trace_id"] for row in rows] == ["t07", "t06", "t05", "t04", "t03"]


def test_a_cursor_only_works_for_its_own_filter(failures):
    status, page = get_traces(limit="2")
    assert status == 200
    status, reply = get_traces(limit="2", platform="douyin", cursor=page["next_cursor"])
    assert (status, reply["error"]) == (400, "BAD_REQUEST")
    status, reply = get_traces(cursor="not-a-cursor")
    assert (status, reply["error"]) == (400, "BAD_REQUEST")
    status, reply = get_traces(status="applied")
    assert (status, reply["error"]) == (400, "BAD_REQUEST")


def test_an_unreadable_message_is_listed_under_unknown(stack: Deployed):
    fail("m-unreadable", None, "ENVELOPE_INVALID", 1)
    status, page = get_traces(platform="unknown")
    assert status == 200
    assert [(row["trace_id"], row["platform"], row["code"]) for row in page["traces"]] == [
        ("m-unreadable", "unknown", "ENVELOPE_INVALID")
    ]


# --------------------------------------------------------------------------- redrive


def dead_letter(stack: Deployed, trace_id: str, platform: Platform, order: str, code: str) -> None:
    """A message in the DLQ as the intake queue's redrive policy leaves it, with its failure record."""
    envelope = IntakeEnvelope(
        trace_id=trace_id,
        platform=platform,
        received_at=T0,
        dedupe_id=f"d-{trace_id}",
        message_group=f"{platform}:shop:{order}",
        shop_id="shop",
        platform_order_id=order,
        raw="{}",
    )
    boto3.client("sqs").send_message(
        QueueUrl=stack.queue_urls["IntakeDLQ"],
        MessageBody=envelope.model_dump_json(exclude_none=True),
        MessageGroupId=envelope.message_group,
        MessageDeduplicationId=envelope.dedupe_id,
        MessageAttributes={"trace_id": {"DataType": "String", "StringValue": trace_id}},
    )
    fail(trace_id, platform, code, 0)


def intake_messages(stack: Deployed) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=stack.queue_urls["IntakeQueue"],
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return found
        found += batch


def test_a_dry_run_moves_nothing_and_a_filter_moves_only_its_messages(stack: Deployed):
    dead_letter(stack, "a1", Platform.DOUYIN, "o1", "PAY_PARSE_ERR")
    dead_letter(stack, "a2", Platform.DOUYIN, "o2", "SCHEMA_INVALID")
    dead_letter(stack, "a3", Platform.SHOPIFY, "o3", "PAY_PARSE_ERR")
    dead_letter(stack, "a4", Platform.DOUYIN, "o4", "PAY_PARSE_ERR")

    dry = redrive(platform="douyin", error_code="PAY_PARSE_ERR", dry_run=True)
    assert (dry["would_redrive"], dry["redriven"], dry["skipped"]) == (2, 0, 2)
    assert queue_depth(stack, "IntakeDLQ") == 4

    done = redrive(platform="douyin", error_code="PAY_PARSE_ERR")
    assert sorted(r["trace_id"] for r in done["results"] if r["action"] == "redriven") == ["a1", "a4"]
    reasons = {r["trace_id"]: r["reason"] for r in done["results"] if r["action"] == "skipped"}
    assert reasons == {"a2": "last error is SCHEMA_INVALID", "a3": "platform is shopify"}
    assert queue_depth(stack, "IntakeDLQ") == 2
    moved = intake_messages(stack)
    # same group (the order's events stay in order), same body, a redrive number for the sanitizer
    assert sorted(m["Attributes"]["MessageGroupId"] for m in moved) == ["douyin:shop:o1", "douyin:shop:o4"]
    assert {m["MessageAttributes"]["redrive_count"]["StringValue"] for m in moved} == {"1"}
    assert {json.loads(m["Body"])["trace_id"] for m in moved} == {"a1", "a4"}
    assert [r.redrive for r in composition.redrive_log().of_trace("a1")] == [1]


def test_max_messages_stops_early_and_says_there_is_more(stack: Deployed):
    for index in range(5):
        dead_letter(stack, f"b{index}", Platform.DOUYIN, f"o{index}", "PAY_PARSE_ERR")
    first = redrive(max_messages=2)
    assert (first["redriven"], first["more"]) == (2, True)
    second = redrive(max_messages=10)
    assert (second["redriven"], second["more"]) == (3, False)
    assert queue_depth(stack, "IntakeDLQ") == 0


def test_a_held_message_blocks_its_own_group_only(stack: Deployed):
    # GIVEN two DLQ messages of one order: a non-matching one in front of a matching one
    dead_letter(stack, "c1", Platform.DOUYIN, "same", "SCHEMA_INVALID")
    dead_letter(stack, "c2", Platform.DOUYIN, "same", "PAY_PARSE_ERR")
    dead_letter(stack, "c3", Platform.DOUYIN, "other", "PAY_PARSE_ERR")
    # WHEN only PAY_PARSE_ERR is redriven
    report = redrive(error_code="PAY_PARSE_ERR")
    # THEN c2 stays behind c1 (both reported as skipped, FIFO); the other order's message moves
    assert [(r["trace_id"], r["action"]) for r in report["results"]] == [
        ("c1", "skipped"),
        ("c2", "skipped"),
        ("c3", "redriven"),
    ]
    assert report["results"][1]["reason"] == "behind a message of the same order that stays in the DLQ"
    assert queue_depth(stack, "IntakeDLQ") == 2
    # AND a filter that takes the whole order moves both, in order
    report = redrive(order_ref="douyin:shop:same")
    assert [(r["trace_id"], r["action"]) for r in report["results"]] == [
        ("c1", "redriven"),
        ("c2", "redriven"),
    ]


def test_an_invalid_filter_is_refused(stack: Deployed):
    from functions.admin_api import app

    event = http_event("POST", "/dlq/redrive", route="/dlq/redrive", body=b'{"platform": "myspace"}')
    reply = app.handler(event, context("admin"))
    assert (reply["statusCode"], json.loads(reply["body"])["error"]) == (400, "BAD_REQUEST")
