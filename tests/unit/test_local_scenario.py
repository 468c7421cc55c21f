"""The demo scenario generator: deterministic, stored up to date, and carrying what the brief asks."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from local import scenario as scenarios
from local import scenario_platforms


@pytest.fixture(scope="module")
def stored() -> dict:
    return scenarios.load(scenarios.DEFAULT_PATH)


def test_the_same_seed_gives_the_same_scenario_byte_for_byte():
    assert scenarios.dump(scenarios.generate(seed=3, orders_per_platform=5)) == scenarios.dump(
        scenarios.generate(seed=3, orders_per_platform=5)
    )
    assert scenarios.dump(scenarios.generate(seed=3, orders_per_platform=5)) != scenarios.dump(
        scenarios.generate(seed=4, orders_per_platform=5)
    )


def test_the_stored_demo_scenario_is_what_the_generator_makes():
    # `python -m local.scenario` regenerates it; a stale file would replay something else
    expected = scenarios.dump(scenarios.generate())
    assert scenarios.DEFAULT_PATH.read_text(encoding="utf-8") == expected


def test_the_stored_form_is_valid_json_with_ascii_escapes_for_invisible_characters():
    text = scenarios.dump(scenarios.generate(seed=1, orders_per_platform=6))
    assert "\u200b" not in text  # escaped, so a reviewer sees it
    assert json.loads(text) == json.loads(json.dumps(scenarios.generate(seed=1, orders_per_platform=6)))


def test_the_demo_has_enough_orders_over_all_nine_platforms_with_full_lifecycles(stored):
    orders = stored["oracle"]["orders"]
    assert len(orders) >= 210
    assert Counter(order["platform"] for order in orders.values()) == {
        "douyin": 72,
        "shopify": 72,
        "wechat_channels": 72,
        **{platform: 18 for platform in scenario_platforms.PLATFORMS},
    }
    finals = Counter(order["expected"]["status"] for order in orders.values())
    assert finals["completed"] > 100
    assert finals["cancelled"] > 0
    assert finals["closed"] > 0
    refunds = Counter(order["expected"]["refund_status"] for order in orders.values())
    assert refunds["refunded"] > 0
    assert refunds["partial"] > 0
    natives = {step["native"] for step in stored["steps"].values()}
    assert {
        "order_status=1",
        "order_status=105",
        "order_status=2",
        "order_status=3",
        "order_status=5",
    } <= natives
    assert {"pending", "paid", "fulfilled", "completed"} <= natives
    assert {"status=10", "status=20", "status=30", "status=100"} <= natives


def test_every_lifecycle_of_the_six_newer_platforms_is_in_the_demo(stored):
    tables = {
        "XH": scenario_platforms.XHS_LIFECYCLES,
        "KS": scenario_platforms.KS_LIFECYCLES,
        "WC": scenario_platforms.WOO_LIFECYCLES,
        "WM": scenario_platforms.MINI_LIFECYCLES,
        "PD": scenario_platforms.PDD_LIFECYCLES,
        "TB": scenario_platforms.TB_LIFECYCLES,
    }
    lengths: dict[str, Counter[int]] = {prefix: Counter() for prefix in tables}
    for order in stored["oracle"]["orders"].values():
        if order["key"][:2] in tables:
            lengths[order["key"][:2]][order["steps"]] += 1
    for prefix, lifecycles in tables.items():
        assert set(lengths[prefix]) == {len(steps) for _, steps in lifecycles}, prefix
    finals = Counter(
        (order["platform"], order["expected"]["status"], order["expected"]["refund_status"])
        for order in stored["oracle"]["orders"].values()
    )
    # the edges the adapters must get right, present in the demo
    assert finals[("xiaohongshu", "closed", "refunded")] >= 1
    assert finals[("kuaishou", "completed", "partial")] >= 1
    assert finals[("woocommerce", "closed", "refunded")] >= 1
    assert finals[("wechat_mini", "paid", "partial")] >= 1
    assert finals[("pinduoduo", "cancelled", "refunded")] >= 1
    assert finals[("taobao", "completed", "partial")] >= 1
    natives = {step["native"] for step in stored["steps"].values()}
    # Xiaohongshu's status 4 pushed twice in a row
    steps = stored["steps"]
    twice = [
        step_id
        for step_id, step in steps.items()
        if step_id.startswith("XH")
        and step["native"] == "orderStatus=4;orderAfterSalesStatus=1"
        and steps.get(f"{step_id.split('/')[0]}/{int(step_id.split('/')[1]) + 1}", {}).get("native")
        == step["native"]
    ]
    assert twice
    assert {
        "REFUND.SUCCESS;refund=full",
        "TRANSACTION.SUCCESS",
        "status=TRADE_CLOSED;refunds=SUCCESS",
    } <= natives


def test_pulled_platforms_have_no_pushes_and_polls_run_through_the_day_and_after_it(stored):
    replay = stored["replay"]
    pulled = {step_id for step_id, step in stored["steps"].items() if step["push"]["builder"] == "pull"}
    assert {step_id[:2] for step_id in pulled} == {"PD", "TB"}
    assert not [action for action in replay if action[0] == "push" and action[1] in pulled]
    polls = [index for index, action in enumerate(replay) if action[0] == "poll"]
    assert len(polls) == stored["summary"]["polls"] >= 5
    assert polls[-1] == len(replay) - 1  # a last poll after every truth change
    # some Taobao changes never get a TMC message: only the increment backstop finds them
    topics = [stored["steps"][step_id]["push"]["tmc_topic"] for step_id in pulled if step_id.startswith("TB")]
    assert None in topics
    assert any(topic for topic in topics)


def test_about_five_percent_of_pushes_are_resent_and_some_arrive_late(stored):
    pushes = [action for action in stored["replay"] if action[0] == "push"]
    duplicates = [action for action in pushes if "duplicate" in action[2:]]
    assert 0.03 <= len(duplicates) / len(pushes) <= 0.07
    # a late push: some step's push comes after the next step's truth change
    position = {tuple(action): index for index, action in enumerate(stored["replay"])}
    late = 0
    for step_id in stored["steps"]:
        key, number = step_id.split("/")
        following = f"{key}/{int(number) + 1}"
        if ("push", step_id) not in position:
            continue  # pulled
        if following in stored["steps"] and position[("push", step_id)] > position[("truth", following)]:
            late += 1
    assert late == stored["summary"]["late_pushes"] > 20


def test_every_step_changes_the_truth_before_its_push(stored):
    position = {tuple(action): index for index, action in enumerate(stored["replay"])}
    for step_id, step in stored["steps"].items():
        if step["push"]["builder"] != "pull":
            assert position[("truth", step_id)] < position[("push", step_id)]


def test_douyin_payment_ids_carry_literal_zero_width_spaces(stored):
    payment_ids = [
        step["truth"]["args"].get("payment_id", "")
        for step in stored["steps"].values()
        if step["truth"]["factory"] == "douyin_order"
    ]
    assert any(value.endswith("\u200b") for value in payment_ids)
    cleaned = [ref for ref, order in stored["oracle"]["orders"].items() if order["cleaning_expected"]]
    assert cleaned
    assert all(ref.startswith("douyin:") for ref in cleaned)


def test_the_poison_messages_and_their_codes(stored):
    poison = stored["oracle"]["poison"]
    assert Counter(item["code"] for item in poison) == {
        "PAY_PARSE_ERR": 2,
        "UNKNOWN_STATUS": 4,
        "SCHEMA_INVALID": 2,
    }
    steps = {item["code"]: stored["steps"][item["step"]] for item in poison}
    assert steps["PAY_PARSE_ERR"]["truth"]["args"]["payment_id"].endswith("%E2%80%8B")
    assert steps["SCHEMA_INVALID"]["truth"]["drop_fields"] == ["financial_status", "currency", "line_items"]
    assert stored["oracle"]["failures"] == {"PAY_PARSE_ERR": 2, "SCHEMA_INVALID": 2, "UNKNOWN_STATUS": 4}
    assert {item["order_ref"].split(":")[0] for item in poison} == {
        "douyin",
        "wechat_channels",
        "shopify",
        "xiaohongshu",
        "woocommerce",
    }
    # poison orders are not expected to exist
    assert not {item["order_ref"] for item in poison} & set(stored["oracle"]["orders"])


def test_truths_and_pushes_build_into_platform_payloads():
    scenario = scenarios.generate(seed=2, orders_per_platform=2)
    credentials = json.loads((scenarios.SCENARIO_DIR.parents[1] / "local" / "credentials.json").read_text())
    from datetime import UTC, datetime

    for step_id, step in scenario["steps"].items():
        truth = scenarios.build_truth(step)
        assert truth, step_id
        if step["push"]["builder"] == "pull":
            continue  # the order poller pulls it
        push = scenarios.build_push(step, truth, credentials, sent_at=datetime(2026, 10, 12, tzinfo=UTC))
        assert push.method == "POST"
        assert push.path.startswith("/webhooks/")
        assert push.body
        if "drop_fields" in step["truth"]:
            assert not set(step["truth"]["drop_fields"]) & set(truth), step_id
