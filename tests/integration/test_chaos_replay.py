"""The chaos replay (issue #12, item 1) at CI size through the local stack: duplicates,
reordering, poison, DynamoDB throttling and crashing sanitizer batches, checked against the
scenario's oracle (``local/chaos.py``).

CI size is :data:`local.chaos.TEST_EVENTS`, the issue's 2,000 pushes (about 430 CPU seconds: the
local stack's cost is in docs/local-stack.md, "Speed"). ``make chaos`` runs the large size (20,000)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local import chaos
from local.stack import LocalStack


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log: Path = tmp_path_factory.mktemp("functions") / "functions.log"
    with LocalStack(
        api_port=0, function_log=log, extra_env={"RULES_CACHE_SECONDS": str(chaos.RULES_CACHE_S)}
    ) as running:
        yield running


def test_the_plan_carries_the_faults_it_promises() -> None:
    plan = chaos.build_plan(chaos.CI_EVENTS)

    assert chaos.build_plan(chaos.CI_EVENTS).replay == plan.replay  # same seed, same plan
    assert abs(plan.pushes - chaos.CI_EVENTS) <= chaos.CI_EVENTS * 0.02
    assert plan.duplicates / plan.pushes == pytest.approx(chaos.DUPLICATE_SHARE, abs=0.015)
    assert plan.reordered / plan.pushes == pytest.approx(chaos.REORDER_SHARE, abs=0.015)
    assert len(plan.poison) == round(chaos.CI_EVENTS * chaos.POISON_SHARE)
    # a reordered push really goes out after the next step's push of the same order
    positions = {tuple(action): index for index, action in enumerate(plan.replay)}
    late = [
        step_id
        for step_id in plan.steps
        if (nxt := f"{step_id.rsplit('/', 1)[0]}/{int(step_id.rsplit('/', 1)[1]) + 1}") in plan.steps
        and positions[("push", step_id)] > positions[("push", nxt)]
    ]
    assert len(late) == plan.reordered


def test_nothing_is_lost_duplicated_or_regressed_under_chaos(chaos_stack: LocalStack) -> None:
    report = chaos.run(chaos_stack, chaos.TEST_EVENTS)
    print("\n".join(chaos.summary_lines(report) + report.mismatches[:60]))

    assert report.mismatches == []
    faults = report.counts["faults"]
    assert faults["throttled_calls"] > 0
    assert faults["throttled_on_every_attempt"] > 0
    assert set(faults["throttle_responses"]) == {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
    }
    assert faults["crashes"] > 0
    assert report.counts["dlq_before"]["depth"] >= report.counts["dlq_before"]["poison"] > 0
    assert report.counts["dlq_after"] == 0
    assert report.counts["orders"]["lost"] == 0
    assert report.counts["inventory"]["duplicate_effects"] == 0
    assert report.counts["sent"]["pushes"] >= chaos.CI_EVENTS * 0.98
