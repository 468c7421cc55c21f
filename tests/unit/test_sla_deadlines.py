"""SLA policies and deadlines (pure): specificity, cut-off, presale, time zone, levels."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from oms.domain.sla import (
    SlaFacts,
    SlaPolicySet,
    SlaRule,
    buckets_between,
    due_bucket,
    due_level,
)

POLICIES = SlaPolicySet(
    version=3,
    rules=(
        SlaRule(hours=48),
        SlaRule(channel="douyin", hours=24),
        SlaRule(channel="douyin", warehouse="hangzhou", hours=12, cutoff=time(16, 0)),
        SlaRule(sku_class="presale", ship_by=date(2026, 12, 10)),
    ),
)


def facts(
    paid_at: datetime, channel: str = "douyin", warehouse: str = "default", sku_class: str = "standard"
) -> SlaFacts:
    return SlaFacts("o1", channel, warehouse, sku_class, paid_at)


def test_the_most_specific_rule_wins() -> None:
    paid = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert POLICIES.deadline(facts(paid, channel="shopify")) == paid + timedelta(hours=48)
    assert POLICIES.deadline(facts(paid)) == paid + timedelta(hours=24)
    assert POLICIES.deadline(facts(paid, warehouse="hangzhou")) == paid + timedelta(hours=12)


def test_an_order_paid_after_the_local_cutoff_starts_its_clock_at_the_next_local_midnight() -> None:
    # GIVEN paid 17:30 Shanghai time (09:30 UTC), after the 16:00 cut-off
    paid = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    # THEN the 12 h count from 2026-11-25 00:00 +08:00 = 2026-11-24 16:00 UTC
    assert POLICIES.deadline(facts(paid, warehouse="hangzhou")) == datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    # AND one paid 15:59 local counts from payment
    early = datetime(2026, 11, 24, 7, 59, tzinfo=UTC)
    assert POLICIES.deadline(facts(early, warehouse="hangzhou")) == early + timedelta(hours=12)


def test_presale_ships_by_the_end_of_the_local_day() -> None:
    paid = datetime(2026, 11, 1, tzinfo=UTC)
    expected = datetime(2026, 12, 10, 16, 0, tzinfo=UTC)  # 2026-12-11 00:00 in Shanghai
    assert POLICIES.deadline(facts(paid, channel="shopify", sku_class="presale")) == expected
    own = SlaFacts("o2", "shopify", "default", "standard", paid, presale_ship_by=date(2026, 12, 1))
    assert POLICIES.deadline(own) == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)


def test_a_time_zone_is_honoured() -> None:
    new_york = SlaPolicySet(
        version=1, time_zone="America/New_York", rules=(SlaRule(hours=24, cutoff=time(12)),)
    )
    paid = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)  # 13:00 in New York, after noon
    assert new_york.deadline(facts(paid)) == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "rules": [{"channel": "douyin", "hours": 24}]},  # no default
        {"version": 1, "rules": [{"hours": 24, "ship_by": "2026-12-01"}]},  # two promises
        {"version": 1, "rules": [{}]},  # none
        {"version": 1, "time_zone": "Mars/Olympus", "rules": [{"hours": 24}]},
        {"version": 0, "rules": [{"hours": 24}]},
    ],
)
def test_invalid_policy_sets_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SlaPolicySet.model_validate(document)


def test_levels_fire_two_hours_before_at_and_four_hours_after_the_deadline() -> None:
    deadline = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert due_level(deadline, deadline - timedelta(hours=2, seconds=1)) == 0
    assert due_level(deadline, deadline - timedelta(hours=2)) == 1
    assert due_level(deadline, deadline) == 2
    assert due_level(deadline, deadline + timedelta(hours=3, minutes=59)) == 2
    assert due_level(deadline, deadline + timedelta(hours=4)) == 3


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    st.sampled_from(["default", "hangzhou"]),
)
def test_a_later_payment_never_gets_an_earlier_deadline(
    paid: datetime, later: timedelta, warehouse: str
) -> None:
    first = POLICIES.deadline(facts(paid, warehouse=warehouse))
    second = POLICIES.deadline(facts(paid + later, warehouse=warehouse))
    assert second >= first
    assert first > paid


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(hours=-30), max_value=timedelta(hours=30)),
)
def test_the_escalator_window_holds_every_deadline_with_a_due_level(
    deadline: datetime, offset: timedelta
) -> None:
    # The escalator reads buckets from now - lookback to now + 2 h: a deadline with a level due
    # (or due within the level-1 lead) is in one of them.
    now = deadline + offset
    window = buckets_between(now - timedelta(hours=24), now + timedelta(hours=2))
    if due_level(deadline, now) > 0 and offset <= timedelta(hours=24):
        assert due_bucket(deadline) in window


def test_an_escalation_for_an_order_at_an_offline_warehouse_is_flagged() -> None:
    from oms.domain.sla import SlaRecord
    from oms.services.sla import escalation_alert

    deadline = datetime(2026, 11, 24, 12, tzinfo=UTC)
    record = SlaRecord(
        "o_1",
        "douyin",
        "hangzhou",
        "standard",
        deadline - timedelta(hours=48),
        deadline,
        1,
        2,
        reference="69001",
    )
    flagged = escalation_alert(record, 2, deadline + timedelta(minutes=5), warehouse_offline=True)
    assert flagged.facts["warehouse_offline"] == 1
    assert flagged.lines[-1] == "warehouse hangzhou is OFFLINE (no heartbeat): reroute or call it"
    assert flagged.title == "SLA level 2: douyin order 69001 not shipped, overdue by 0h05m"
    assert flagged.recipient_role == "logistics_owner"
    plain = escalation_alert(record, 1, deadline - timedelta(hours=2), warehouse_offline=False)
    assert plain.facts["warehouse_offline"] == 0
    assert plain.title.endswith("due in 2h00m")


def test_the_dashboard_counts_promised_achieved_and_reasons_per_group() -> None:
    from oms.domain.sla import SlaRecord, summarize

    deadline = datetime(2026, 11, 24, 12, tzinfo=UTC)
    paid = deadline - timedelta(hours=48)

    def record(order_id: str, warehouse: str, **changes: object) -> SlaRecord:
        return SlaRecord(order_id, "douyin", warehouse, "standard", paid, deadline, 1, 3, **changes)  # type: ignore[arg-type]

    records = [
        record("a", "hangzhou", shipped_at=deadline - timedelta(hours=1), closed_reason="shipped"),
        record(
            "b", "hangzhou", shipped_at=deadline + timedelta(hours=1), closed_reason="shipped", level_sent=2
        ),
        record("c", "hangzhou", level_sent=3),
        record("d", "ningbo", closed_reason="cancelled"),
        record("e", "ningbo"),
    ]
    rows = summarize(records, "warehouse", deadline + timedelta(hours=5))
    assert rows[0] == {
        "warehouse": "hangzhou",
        "promised": 3,
        "achieved": 1,
        "late": 1,
        "overdue": 1,
        "open": 0,
        "on_time_rate": 0.3333,
        "timeout_reasons": {"late_after_level_2": 1, "overdue_after_level_3": 1},
    }
    assert rows[1]["promised"] == 1  # the cancelled order promised nothing
    assert summarize(records, "sku", deadline - timedelta(hours=5))[0]["open"] == 2  # c and e
