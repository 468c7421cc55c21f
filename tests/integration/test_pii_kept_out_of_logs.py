"""No receiver's phone number, name or address in clear anywhere an operator reads: the demo
scenario (all nine platforms, poison messages included) replayed through the local stack with
the functions' output captured.

Read and searched: the functions' log (Powertools JSON logs, EMF metrics, tracebacks: what
CloudWatch Logs would hold), every item of the Ops table (failure records with their error
messages, traces, cursors), every item of the Orders table (orders and their history, which
keep the receiver only as the platform delivered it masked, or reduced to its region), and every
reply the webhook sent back.

Excepted, on purpose (docs/security.md, "Personal data"): the raw platform payloads kept for
redrive and audit, i.e. the intake queue's and the DLQ's message bodies (SQS-managed SSE) and the
RawArchiveBucket (SSE-KMS, TLS-only, private). They hold what the platform sent, byte for byte,
because a payload that failed must be replayable after the fix.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from local import demo
from local import scenario as scenarios
from local.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def captured() -> Iterator[tuple[LocalStack, io.StringIO]]:
    output = io.StringIO()
    with LocalStack(
        api_port=0,
        parameter_overrides={"MaxReceiveCount": 2},
        function_log=output,
        # metrics on (the test suite turns them off), so their dimensions are searched too
        extra_env={"POWERTOOLS_METRICS_DISABLED": "false"},
    ) as running:
        yield running, output


def receiver_values(truths: list[Mapping[str, Any]]) -> set[str]:
    """Every receiver name, phone and street address in clear in the platform truths.

    Masked values (``张*``, ``138****0000``) and platform ciphertexts are what the platforms
    deliver and may be kept; what is collected here is what no log may show.
    """
    found: set[str] = set()
    clear_fields = {
        "name",
        "first_name",
        "last_name",
        "phone",
        "address1",
        "address2",
        "address_1",
        "address_2",
        "email",
    }

    def walk(node: Any, parent: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                in_receiver = parent in ("shipping_address", "billing_address", "shipping", "billing")
                clear = isinstance(value, str) and value and "*" not in value
                if in_receiver and key in clear_fields and clear:
                    found.add(str(value))
                walk(value, str(key))
        elif isinstance(node, list):
            for item in node:
                walk(item, parent)

    for truth in truths:
        walk(truth, "")
    # A full name as one string too, and each phone number as bare digits (a reformatted leak).
    for truth in truths:
        for section in ("shipping_address", "shipping", "billing"):
            block = truth.get(section)
            if isinstance(block, Mapping) and block.get("first_name") and block.get("last_name"):
                found.add(f"{block['first_name']} {block['last_name']}")
    found |= {re.sub(r"\D", "", value) for value in found if re.fullmatch(r"[+\d\s()-]{7,}", value)}
    # First or last names alone are common words; they count only as part of a full name.
    singles = {
        str(block.get(key))
        for truth in truths
        for section in ("shipping_address", "shipping", "billing")
        if isinstance(block := truth.get(section), Mapping)
        for key in ("first_name", "last_name")
    }
    return {value for value in found if value not in singles and len(value) >= 6}


def table_text(stack: LocalStack, logical_id: str) -> str:
    items: list[Any] = []
    for page in stack.dynamodb.get_paginator("scan").paginate(TableName=stack.deployed.names[logical_id]):
        items += page.get("Items", [])
    return json.dumps(items, ensure_ascii=False)


def test_no_receiver_detail_in_clear_in_logs_metrics_errors_or_tables(
    captured: tuple[LocalStack, io.StringIO], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, output = captured
    # GIVEN a demo scenario over all nine platforms, with its poison messages (one Shopify body
    # that fails validation carries a whole shipping address)
    scenario = json.loads(scenarios.dump(scenarios.generate(seed=11, orders_per_platform=4)))
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    truths = [scenarios.build_truth(step) for step in scenario["steps"].values()]
    secrets = receiver_values(truths)
    assert {"Sample Buyer", "100 Example Street", "+1 555-0100", "15550100"} <= secrets  # Shopify
    assert {"100 Example Road", "+86 138 0000 0000", "buyer@example.invalid"} <= secrets  # WooCommerce
    # WHEN it is replayed and drained, and an operator reads every order back
    replayed = demo.replay(stack, scenario, credentials)
    assert stack.drain(timeout=90)
    summary, mismatches = demo.check(stack, scenario, replayed)
    assert mismatches == []
    assert summary["failures"]  # the poison messages did fail, with their error messages
    # THEN none of it appears in what the functions wrote, the Ops and Orders tables, or replies
    places = {
        # pytest's own capture of stdout takes what the functions print during a test (EMF lines)
        "functions' log (logs, EMF metrics, tracebacks)": output.getvalue() + capsys.readouterr().out,
        "Ops table (failure records, traces, cursors)": table_text(stack, "OpsTable"),
        "Orders table (orders, history)": table_text(stack, "OrdersTable"),
        "webhook replies": json.dumps(replayed.rejected),
    }
    assert '"_aws"' in places["functions' log (logs, EMF metrics, tracebacks)"]  # metrics were captured
    assert "FAILURE#" in places["Ops table (failure records, traces, cursors)"]
    leaks = {
        place: sorted(value for value in secrets if value in text or json.dumps(value)[1:-1] in text)
        for place, text in places.items()
    }
    assert leaks == {place: [] for place in places}
    # AND the one place raw payloads are kept on purpose does hold them: the search is not blind
    dlq = stack.sqs.receive_message(
        QueueUrl=stack.deployed.queue_urls["IntakeDLQ"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    kept = " ".join(message["Body"] for message in dlq.get("Messages", []))
    assert any(value in kept or json.dumps(value)[1:-1] in kept for value in secrets)


def test_the_search_would_see_a_leak() -> None:
    # The scan is only as good as its list: a truth carrying a receiver in clear yields it.
    truth = {"shipping_address": {"first_name": "Wei", "last_name": "Zhang", "phone": "+86 139-1234-5678"}}
    assert receiver_values([truth]) == {"Wei Zhang", "+86 139-1234-5678", "8613912345678"}
