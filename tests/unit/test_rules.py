"""Operators' cleaning rules: validation, versions, canary selection and the rollout transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from oms.domain.cleaning import DEFAULT_RULES, clean_payload
from oms.domain.errors import RuleConflictError, RuleNotFoundError
from oms.domain.ids import unified_order_id
from oms.domain.model import Cohort
from oms.domain.rules import (
    RolloutStatus,
    RuleDraft,
    RuleSet,
    RuleUpdate,
    canary_bucket,
    change_rule,
    create_rule,
)

T0 = datetime(2026, 2, 5, 14, 15, tzinfo=UTC)
ONCALL = "arn:aws:iam::123456789012:user/on-call"


def draft(rule_id: str = "douyin-pay-zwsp", percentage: int = 10, **changes: object) -> RuleDraft:
    body: dict[str, object] = {
        "rule_id": rule_id,
        "platform": "douyin",
        "fields": ["channel_payment_no"],
        "operation": "percent_decode_strip_invisible",
        "percentage": percentage,
    }
    return RuleDraft.model_validate(body | changes)


def saved(rule_id: str = "douyin-pay-zwsp", percentage: int = 10, ruleset: RuleSet | None = None) -> RuleSet:
    return create_rule(
        draft(rule_id, percentage), ruleset=ruleset or RuleSet(), latest=None, now=T0, actor=ONCALL
    ).ruleset


# --------------------------------------------------------------------------- validation


def test_a_draft_must_satisfy_its_own_examples():
    good = draft(examples=[{"input": "PAY1%E2%80%8B", "output": "PAY1"}])
    assert good.examples[0].output == "PAY1"
    with pytest.raises(ValidationError, match="examples do not hold"):
        draft(operation="trim", examples=[{"input": "PAY1%E2%80%8B", "output": "PAY1"}])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"operation": "regex_replace"}, "needs a pattern"),
        ({"operation": "regex_replace", "pattern": "(a+)+$"}, "nested quantifiers"),
        ({"operation": "regex_replace", "pattern": r"(\d)\1"}, "back-references"),
        ({"operation": "regex_replace", "pattern": "(ab|a)*c"}, "alternation"),
        ({"operation": "regex_replace", "pattern": "(", "replacement": ""}, "does not compile"),
        ({"operation": "regex_replace", "pattern": "(a)", "replacement": r"\2"}, "replacement is invalid"),
        ({"operation": "trim", "pattern": "x"}, "takes no pattern"),
        ({"fields": ["data.$where"]}, "fields"),
        ({"fields": []}, "fields"),
        ({"rule_id": "Not An Id"}, "rule_id"),
        ({"platform": "myspace"}, "platform"),
        ({"percentage": 0}, "percentage"),
        ({"percentage": 101}, "percentage"),
    ],
)
def test_an_invalid_rule_is_refused_with_the_reason(changes: dict[str, object], message: str):
    with pytest.raises(ValidationError, match=message):
        draft(**changes)


def test_a_safe_regex_rule_rewrites_what_it_matches():
    rule = draft(operation="regex_replace", pattern=r"%E2%80%8B$", replacement="", percentage=100)
    assert rule.cleaning_rule(rule.rule_id, 1).apply("PAY1%E2%80%8B") == "PAY1"


def test_an_update_must_say_something_consistent():
    with pytest.raises(ValidationError, match="status or a percentage"):
        RuleUpdate()
    with pytest.raises(ValidationError, match="takes no percentage"):
        RuleUpdate(status="rolled_back", percentage=50)


# --------------------------------------------------------------------------- canary selection


def test_the_bucket_is_stable_and_salted_by_the_rule():
    order = unified_order_id("douyin", "100001", "6930000000000000001")
    assert canary_bucket("rule-a", order) == canary_bucket("rule-a", order)
    buckets_a = [canary_bucket("rule-a", unified_order_id("douyin", "s", str(n))) for n in range(500)]
    buckets_b = [canary_bucket("rule-b", unified_order_id("douyin", "s", str(n))) for n in range(500)]
    assert buckets_a != buckets_b  # two rules' canaries do not fall on the same orders
    # roughly uniform: every decile holds some of 500 orders
    assert {bucket // 10 for bucket in buckets_a} == set(range(10))


@given(st.text(min_size=1, max_size=30), st.integers(1, 98), st.integers(1, 98))
def test_raising_the_percentage_only_adds_orders_to_the_canary(order_number: str, low: int, step: int):
    high = min(99, low + step)
    ruleset = saved(percentage=low)
    order = unified_order_id("douyin", "100001", order_number)
    before = ruleset.select("douyin", order).rollout
    raised = change_rule(
        "douyin-pay-zwsp", RuleUpdate(percentage=high), ruleset=ruleset, now=T0, actor=ONCALL
    )
    after = raised.ruleset.select("douyin", order).rollout
    assert before is not None
    assert after is not None
    if before.cohort is Cohort.CANARY:
        assert after.cohort is Cohort.CANARY
    assert before.bucket == after.bucket


def test_a_canary_order_gets_the_rule_and_a_baseline_order_does_not():
    ruleset = saved(percentage=30)
    orders = [unified_order_id("douyin", "100001", str(n)) for n in range(200)]
    payload = {"channel_payment_no": "PAY1%E2%80%8B"}
    for order in orders:
        selection = ruleset.select("douyin", order)
        assert selection.rollout is not None
        cleaned, _ = clean_payload(payload, "douyin", (*selection.rules, *DEFAULT_RULES))
        in_canary = canary_bucket("douyin-pay-zwsp", order) < 30
        assert (selection.rollout.cohort is Cohort.CANARY) == in_canary
        assert cleaned["channel_payment_no"] == ("PAY1" if in_canary else "PAY1%E2%80%8B")
    # a rule for Douyin never touches another platform, and a message naming no order is baseline
    assert ruleset.select("shopify", orders[0]).rules == ()
    no_order = ruleset.select("douyin", None)
    assert no_order.rules == ()
    assert no_order.rollout is not None
    assert no_order.rollout.cohort is Cohort.BASELINE


def test_a_new_version_in_canary_keeps_the_full_version_for_the_baseline():
    v1 = saved(percentage=100)
    change = create_rule(
        draft(operation="regex_replace", pattern="%E2%80%8B", percentage=50),
        ruleset=v1,
        latest=v1.rules[0],
        now=T0 + timedelta(days=1),
        actor=ONCALL,
    )
    assert change.rule.version == 2
    versions = {
        (selection.rules[0].version if selection.rules else None)
        for selection in (
            change.ruleset.select("douyin", unified_order_id("douyin", "s", str(n))) for n in range(100)
        )
    }
    assert versions == {1, 2}


# --------------------------------------------------------------------------- transitions


def test_promotion_makes_the_version_full_and_supersedes_the_previous_one():
    v1 = saved(percentage=100)
    v2 = create_rule(draft(percentage=10), ruleset=v1, latest=v1.rules[0], now=T0, actor=ONCALL)
    promoted = change_rule(
        "douyin-pay-zwsp", RuleUpdate(status="full", version=2), ruleset=v2.ruleset, now=T0, actor=ONCALL
    )
    assert [(rule.version, rule.status, rule.percentage) for rule in promoted.ruleset.rules] == [
        (2, RolloutStatus.FULL, 100)
    ]
    assert promoted.superseded is not None
    assert (promoted.superseded.version, promoted.superseded.status) == (1, RolloutStatus.SUPERSEDED)
    assert (promoted.audit.action, promoted.audit.by, promoted.audit.revision) == ("promoted", ONCALL, 3)


def test_rolling_back_a_canary_leaves_the_full_version_in_force():
    v1 = saved(percentage=100)
    v2 = create_rule(draft(percentage=10), ruleset=v1, latest=v1.rules[0], now=T0, actor=ONCALL)
    rolled = change_rule(
        "douyin-pay-zwsp", RuleUpdate(status="rolled_back"), ruleset=v2.ruleset, now=T0, actor=ONCALL
    )
    assert [(rule.version, rule.status) for rule in rolled.ruleset.rules] == [(1, RolloutStatus.FULL)]
    assert (rolled.rule.version, rolled.rule.status) == (2, RolloutStatus.ROLLED_BACK)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (RuleUpdate(percentage=5), "only grows"),
        (RuleUpdate(status="full", version=7), "not the one expected"),
    ],
)
def test_changes_that_do_not_fit_the_state_are_conflicts(update: RuleUpdate, message: str):
    with pytest.raises(RuleConflictError, match=message):
        change_rule("douyin-pay-zwsp", update, ruleset=saved(percentage=10), now=T0, actor=ONCALL)


def test_a_full_rule_cannot_be_promoted_and_an_unknown_one_cannot_change():
    with pytest.raises(RuleConflictError, match="already in force"):
        change_rule(
            "douyin-pay-zwsp", RuleUpdate(status="full"), ruleset=saved(percentage=100), now=T0, actor=ONCALL
        )
    with pytest.raises(RuleNotFoundError):
        change_rule("nothing-here", RuleUpdate(status="full"), ruleset=RuleSet(), now=T0, actor=ONCALL)


def test_one_canary_per_platform_and_per_rule():
    running = saved("douyin-pay-zwsp", percentage=10)
    with pytest.raises(RuleConflictError, match="one canary per platform"):
        create_rule(draft("douyin-other-rule", 10), ruleset=running, latest=None, now=T0, actor=ONCALL)
    with pytest.raises(RuleConflictError, match="in canary"):
        create_rule(
            draft("douyin-pay-zwsp", 100), ruleset=running, latest=running.rules[0], now=T0, actor=ONCALL
        )
    # a rule going to every order at once runs beside the canary
    both = create_rule(draft("douyin-other-rule", 100), ruleset=running, latest=None, now=T0, actor=ONCALL)
    assert len(both.ruleset.rules) == 2


def test_a_rule_id_stays_with_its_platform():
    shopify = RuleDraft.model_validate(draft().model_dump() | {"platform": "shopify"})
    existing = saved(percentage=100)
    with pytest.raises(RuleConflictError, match="another platform"):
        create_rule(shopify, ruleset=existing, latest=existing.rules[0], now=T0, actor=ONCALL)
