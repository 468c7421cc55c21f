"""The SLA demo chapter on a stack of its own: its day starts at the stack's clock."""

from __future__ import annotations

import json

from local import fulfilment_chapter, sla_chapter
from local.stack import LocalStack


def test_the_sla_day_meets_its_own_oracle(stack: LocalStack) -> None:
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    chapter = sla_chapter.run(stack, credentials)
    assert chapter.mismatches == []
    assert chapter.summary["escalations"]["level1_dingtalk_orders"] == 4
    assert chapter.summary["escalations"]["level2_feishu_tasks"] == 3
    assert chapter.summary["warehouse_offline_alerts"] == 1
    assert chapter.summary["warehouse_recoveries"] == 1
    assert chapter.summary["on_time_rate"] == 0.25


def test_the_capacity_and_preflight_evening_after_it(stack: LocalStack) -> None:
    # (the demo's order: after the SLA day, on the same stack)
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    chapter = fulfilment_chapter.run(stack, credentials)
    assert chapter.mismatches == []
    assert 0 < chapter.summary["orders_rerouted"] < len(fulfilment_chapter.ORDERS)
    assert chapter.summary["overload_alerts"] == 1
    assert (chapter.summary["preflight_blocked"], chapter.summary["preflight_released"]) == (1, 1)
