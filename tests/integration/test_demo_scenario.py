"""A small generated scenario replayed through the local stack, checked against its own oracle."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from local import demo, scenario_platforms
from local import scenario as scenarios
from local.scheduler import only_functions
from local.stack import LocalStack

pytestmark = pytest.mark.integration


def test_a_small_scenario_ends_exactly_as_its_oracle_says(stack: LocalStack):
    # GIVEN a scenario of 4 orders on each of the first three platforms, 1 on each of the six
    # others (Pinduoduo and Taobao pulled by the order poller), plus the 8 poison messages
    scenario = json.loads(scenarios.dump(scenarios.generate(seed=7, orders_per_platform=4)))
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    # WHEN it is replayed over HTTP and the queue drains
    replayed = demo.replay(stack, scenario, credentials)
    assert stack.drain(timeout=90)
    summary, mismatches = demo.check(stack, scenario, replayed)
    # THEN every order has its expected status, and the only failures are the poison messages
    assert mismatches == []
    assert replayed.sent == scenario["summary"]["pushes"]
    assert summary["webhooks"]["accepted"] == replayed.sent
    assert sum(sum(counts.values()) for counts in summary["orders_by_status"].values()) == 18
    assert set(summary["orders_by_status"]) == {
        "douyin",
        "shopify",
        "wechat_channels",
        *scenario_platforms.PLATFORMS,
    }
    assert summary["polls"]["runs"] == scenario["summary"]["polls"]
    assert summary["polls"]["enqueued"] >= scenario["summary"]["orders_by_platform"]["pinduoduo"]
    assert summary["polls"]["errors"] == 0
    assert summary["failures"] == {
        code: {"messages": count, "attempts": 2 * count}  # MaxReceiveCount is 2 in these tests
        for code, count in scenario["oracle"]["failures"].items()
    }
    assert summary["dlq_depth"] == len(scenario["oracle"]["poison"])


def test_the_check_reports_what_does_not_match(stack: LocalStack):
    # GIVEN the same stack after the replay above, and an oracle that expects something else
    scenario = json.loads(scenarios.dump(scenarios.generate(seed=7, orders_per_platform=4)))
    first_ref = next(iter(scenario["oracle"]["orders"]))
    scenario["oracle"]["orders"][first_ref]["expected"] = {"status": "delivered", "refund_status": "none"}
    scenario["oracle"]["orders"]["douyin:100001:6999999999999999999"] = {
        "key": "D999",
        "platform": "douyin",
        "shop_id": "100001",
        "expected": {"status": "paid", "refund_status": "none"},
        "cleaning_expected": False,
        "steps": 1,
    }
    scenario["oracle"]["poison"] = scenario["oracle"]["poison"][1:]
    # WHEN it is checked
    _, mismatches = demo.check(stack, scenario, demo.ReplayStats())
    # THEN the wrong status, the lost order, the unexpected failure and the DLQ count are reported
    text = "\n".join(mismatches)
    assert f"{first_ref}" in text
    assert "expected delivered/none" in text
    assert "lost order douyin:100001:6999999999999999999" in text
    assert "unexpected failure" in text
    assert "DLQ holds" in text


def test_a_patrol_never_clears_a_refund_its_truth_cannot_see(stack: LocalStack):
    # GIVEN the demo's WeChat mini-program orders (payments, partial and full refunds) replayed;
    # the mini-program get_order the patrol reads shows no partial or pending refund
    scenario = scenarios.load(scenarios.DEFAULT_PATH)
    keys = {step.split("/")[0] for step in scenario["steps"] if step.startswith("WM")}
    scenario["replay"] = [action for action in scenario["replay"] if action[1].split("/")[0] in keys]
    scenario["oracle"] = {
        "orders": {ref: o for ref, o in scenario["oracle"]["orders"].items() if o["key"] in keys},
        "poison": [],
        "failures": {},
    }
    assert any(o["expected"]["refund_status"] == "partial" for o in scenario["oracle"]["orders"].values())
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    demo.replay(stack, scenario, credentials)
    assert stack.drain(timeout=60)
    assert mismatches_of(stack, scenario) == []
    # WHEN the reconciliation patrol compares every open order with its platform's truth
    firings = stack.clock.advance(timedelta(minutes=15), only=only_functions("OrderReconcilerFunction"))
    assert [firing.error for firing in firings] == [None]
    assert stack.drain(timeout=120)
    # THEN every order still ends as its pushes said
    assert mismatches_of(stack, scenario) == []


def mismatches_of(stack: LocalStack, scenario: dict[str, Any]) -> list[str]:
    mismatches: list[str] = []
    demo.check_orders(stack, scenario["oracle"], mismatches)
    return mismatches
