"""The surge breaker's arithmetic: which minute slots a window covers, when it trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oms.domain.errors import InventoryInvalidError
from oms.domain.surge import SurgeRule, judge, slot, window_slots

NOW = datetime(2026, 11, 24, 12, 4, 30, tzinfo=UTC)


def test_a_five_minute_window_covers_the_current_slot_and_four_before():
    assert window_slots(NOW, SurgeRule()) == [f"2026-11-24T12:0{m}" for m in range(5)]


def test_it_trips_above_the_threshold_only_and_ignores_older_slots():
    rule = SurgeRule()
    demand = {slot(NOW - timedelta(minutes=9)): 500, slot(NOW): 30}
    assert not judge(demand, NOW, 100, rule).tripped
    demand[slot(NOW - timedelta(minutes=4))] = 1
    verdict = judge(demand, NOW, 100, rule)
    assert (verdict.tripped, verdict.demand, verdict.protective_quantity) == (True, 31, 50)
    assert not judge(demand, NOW, 0, rule).tripped  # nothing sellable: nothing to protect


def test_rules_are_bounded():
    with pytest.raises(InventoryInvalidError):
        SurgeRule(window=timedelta(seconds=10))
    with pytest.raises(InventoryInvalidError):
        SurgeRule(protective_share=2)
