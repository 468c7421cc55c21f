"""Issue #9 over HTTP on the local stack: the 2026-02-05 incident from first failure to full replay,
and ``make redrive``'s command line against the same API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local import incident, simulator
from local import redrive as redrive_cli
from local.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack; the DLQ after 2 receives, and cleaning rules re-read every second."""
    log: Path = tmp_path_factory.mktemp("functions") / "functions.log"
    with LocalStack(
        api_port=0,
        parameter_overrides={"MaxReceiveCount": 2},
        function_log=log,
        extra_env={"RULES_CACHE_SECONDS": "1"},
    ) as running:
        yield running


def test_the_incident_is_found_fixed_promoted_and_replayed_with_nothing_lost(stack: LocalStack):
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    # WHEN the incident plays out and the operator follows the runbook
    report = incident.run(stack, credentials, incident_orders=6, canary_orders=2, baseline_orders=3)
    # THEN every step saw what it should, read back over HTTP
    assert report.mismatches == []
    steps = {step["step"]: step for step in report.steps}
    assert (steps["incident"]["dlq"], steps["incident"]["applied"]) == (6, 0)
    assert (steps["search"]["calls"], steps["search"]["incident_orders_found"]) == (1, 6)
    assert steps["search"]["counts"] == [
        {"platform": "douyin", "code": "PAY_PARSE_ERR", "messages": 6, "attempts": 12}  # MaxReceiveCount 2
    ]
    assert steps["trace"]["flagged"] == ["%E2%80%8B = U+200B ZERO WIDTH SPACE (UTF-8 E2 80 8B)"]
    assert (steps["canary"]["canary_applied"], steps["canary"]["baseline_in_dlq"]) == (2, 3)
    assert steps["rollout"] == {
        "step": "rollout",
        "canary": {"applied": 2, "ignored": 0, "failed": 0},
        "baseline": {"applied": 0, "ignored": 0, "failed": 3},
    }
    assert (steps["redrive"]["redriven"], steps["redrive"]["dlq_after"]) == (9, 0)
    assert steps["replayed"] == {
        "step": "replayed",
        "orders": 11,
        "applied_once": 11,
        "lost": 0,
        "applied_more_than_once": 0,
        "payment_ids_clean": 11,
        "dlq": 0,
    }


def test_the_redrive_command_moves_what_its_filter_names(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
):
    # GIVEN a Douyin order whose status no map knows: it fails into the DLQ
    assert stack.drain(timeout=60)
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    app = credentials["douyin"][incident.APP_KEY]
    order = simulator.douyin_order(
        "6960000000000000001", incident.SHOP, 999, datetime(2026, 2, 6, tzinfo=UTC), incident.LINES
    )
    stack.simulator.put_order("douyin", incident.SHOP, order)
    headers, body = simulator.douyin_push(
        [simulator.douyin_order_message(order, "101", "cli-999")], app["app_key"], app["app_secret"]
    )
    assert stack.request("POST", "/webhooks/douyin", body=body, headers=headers).status == 200
    assert stack.drain(timeout=60)
    assert stack.queue_depth("IntakeDLQ") == 1
    common = ["--api-url", stack.api_url, "--platform", "douyin", "--error-code", "UNKNOWN_STATUS"]

    # WHEN the operator looks first, then redrives
    assert redrive_cli.run(redrive_cli.build_parser().parse_args([*common, "--dry-run"])) == 0
    assert "would redrive 1" in capsys.readouterr().out
    assert stack.queue_depth("IntakeDLQ") == 1
    assert redrive_cli.run(redrive_cli.build_parser().parse_args(common)) == 0
    assert "redriven 1" in capsys.readouterr().out

    # THEN the message ran again (and, its status still unknown, went back to the DLQ), and its
    # trace shows both runs and the redrive between them
    assert stack.drain(timeout=60)
    assert stack.queue_depth("IntakeDLQ") == 1
    found = stack.admin_get("/traces", platform="douyin", error_code="UNKNOWN_STATUS").json()
    (row,) = found["traces"]
    assert (row["attempts"], row["redrives"]) == (4, 1)
    trace = stack.admin_get(f"/traces/{row['trace_id']}").json()
    kinds = [(stage["stage"], stage.get("redrive")) for stage in trace["stages"]]
    assert kinds[2:] == [("attempt", 0), ("attempt", 0), ("redrive", 1), ("attempt", 1), ("attempt", 1)]
    assert trace["stages"][4]["by"].endswith(":user/testing")
