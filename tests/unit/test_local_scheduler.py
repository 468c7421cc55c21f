"""The simulated clock and the schedule expressions it runs (no sockets, no real time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from local.scheduler import (
    SCHEDULE_V1,
    SCHEDULE_V2,
    ScheduledTarget,
    ScheduleExpressionError,
    SimulatedClock,
    parse_expression,
)

START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


class RecordingFunction:
    """A handler double that records its events (the scheduler only needs ``invoke``)."""

    def __init__(self, logical_id: str = "PatrolFunction", fail: bool = False) -> None:
        self.logical_id = logical_id
        self.events: list[dict[str, object]] = []
        self.fail = fail

    def invoke(self, event: dict[str, object]) -> object:
        self.events.append(event)
        if self.fail:
            raise RuntimeError("patrol failed")
        return {"ok": True}


def occurrences(expression: str, count: int, *, timezone: str | None = None, after: datetime = START):
    parsed = parse_expression(expression, timezone=timezone, anchor=START)
    found, current = [], after
    for _ in range(count):
        current = parsed.next_after(current)
        assert current is not None
        found.append(current)
    return found


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(15 minutes)", [utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 0, 45)]),
        ("rate(1 day)", [utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 4)]),
        ("cron(0/15 * * * ? *)", [utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 0, 45)]),
        ("cron(0 2 ? * MON *)", [utc(2026, 1, 5, 2), utc(2026, 1, 12, 2), utc(2026, 1, 19, 2)]),
        ("cron(0 18 ? * MON-FRI *)", [utc(2026, 1, 1, 18), utc(2026, 1, 2, 18), utc(2026, 1, 5, 18)]),
        ("cron(0 0 1 * ? *)", [utc(2026, 2, 1), utc(2026, 3, 1), utc(2026, 4, 1)]),
        ("cron(0 0 L * ? *)", [utc(2026, 1, 31), utc(2026, 2, 28), utc(2026, 3, 31)]),
        # 15W: Feb 15 2026 is a Sunday, so the nearest weekday is Monday the 16th
        ("cron(0 8 15W * ? *)", [utc(2026, 1, 15, 8), utc(2026, 2, 16, 8), utc(2026, 3, 16, 8)]),
        ("cron(0 10 ? * 6#3 *)", [utc(2026, 1, 16, 10), utc(2026, 2, 20, 10), utc(2026, 3, 20, 10)]),
        ("cron(0 0 ? * 6L *)", [utc(2026, 1, 30), utc(2026, 2, 27), utc(2026, 3, 27)]),
        (
            "cron(30 23 ? * FRI-MON *)",
            [utc(2026, 1, 2, 23, 30), utc(2026, 1, 3, 23, 30), utc(2026, 1, 4, 23, 30)],
        ),
        ("cron(0 12 1 JAN,JUL ? 2026-2027)", [utc(2026, 1, 1, 12), utc(2026, 7, 1, 12), utc(2027, 1, 1, 12)]),
    ],
)
def test_expressions_fire_where_eventbridge_would(expression, expected):
    assert occurrences(expression, len(expected)) == expected


def test_a_cron_in_a_time_zone_fires_at_local_wall_time():
    # GIVEN a settlement at 09:00 Shanghai time on the last day of the month
    found = occurrences("cron(0 9 L * ? *)", 2, timezone="Asia/Shanghai")
    # THEN it fires at 01:00 UTC
    assert found == [utc(2026, 1, 31, 1), utc(2026, 2, 28, 1)]


def test_a_wall_time_skipped_by_daylight_saving_does_not_fire_and_a_repeated_one_fires_once():
    # 2026-03-08 02:30 does not exist in New York; 2026-11-01 01:30 happens twice
    new_york = ZoneInfo("America/New_York")

    def local_days(found):
        return [moment.astimezone(new_york).date().isoformat() for moment in found]

    spring = occurrences("cron(30 2 * * ? *)", 3, timezone="America/New_York", after=utc(2026, 3, 6, 12))
    assert local_days(spring) == ["2026-03-07", "2026-03-09", "2026-03-10"]
    autumn = occurrences("cron(30 1 * * ? *)", 3, timezone="America/New_York", after=utc(2026, 10, 31, 12))
    assert local_days(autumn) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert autumn[0] == utc(2026, 11, 1, 5, 30)  # the first 01:30 (still daylight time, UTC-4)


def test_a_year_bounded_cron_runs_out():
    parsed = parse_expression("cron(0 0 1 1 ? 2026)", anchor=START)
    assert parsed.next_after(START) is None  # 2026-01-01 00:00 is not *after* the start
    assert parsed.next_after(START - timedelta(seconds=1)) == START


def test_a_one_time_schedule_fires_once_in_its_time_zone():
    parsed = parse_expression("at(2026-01-02T08:00:00)", timezone="Asia/Shanghai", anchor=START)
    assert parsed.next_after(START) == utc(2026, 1, 2, 0)
    assert parsed.next_after(utc(2026, 1, 2, 0)) is None


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(5 weeks)",
        "cron(0 2 * * * *)",  # both day fields set
        "cron(0 2 ? * ? *)",  # neither
        "cron(0 2 * *)",
        "cron(60 * * * ? *)",
        "cron(0 0 ? * 8 *)",
        "every 5 minutes",
    ],
)
def test_expressions_eventbridge_rejects_are_rejected(expression):
    with pytest.raises(ScheduleExpressionError):
        parse_expression(expression, anchor=START)


def test_advancing_the_clock_fires_every_occurrence_in_order_with_the_clock_at_each_time():
    # GIVEN a 15-minute patrol and an hourly report on a simulated clock
    clock = SimulatedClock(START)
    patrol, report = RecordingFunction("Patrol"), RecordingFunction("Report")
    seen_times: list[datetime] = []
    original_invoke = patrol.invoke

    def patrol_invoke(event):
        seen_times.append(clock.now())
        return original_invoke(event)

    patrol.invoke = patrol_invoke  # type: ignore[method-assign]
    clock.schedule(ScheduledTarget("patrol", "rate(15 minutes)", patrol, kind=SCHEDULE_V1))
    clock.schedule(ScheduledTarget("report", "cron(0 * * * ? *)", report, kind=SCHEDULE_V1))
    # WHEN an hour passes
    fired = clock.advance(timedelta(hours=1))
    # THEN four patrols and one report ran, in time order, each seeing its own time on the clock
    assert [(firing.schedule, firing.scheduled_time.minute) for firing in fired] == [
        ("patrol", 15),
        ("patrol", 30),
        ("patrol", 45),
        ("patrol", 0),
        ("report", 0),
    ]
    assert seen_times == [START + timedelta(minutes=minutes) for minutes in (15, 30, 45, 60)]
    assert clock.now() == START + timedelta(hours=1)
    # AND a month replays without real waiting: 30 days of 15-minute patrols
    assert len(clock.advance(timedelta(days=30))) == 30 * 24 * 4 + 30 * 24


def test_a_jump_can_pause_every_schedule_but_the_ones_it_shows():
    # GIVEN a 15-minute patrol and an hourly report
    clock = SimulatedClock(START)
    patrol, report = RecordingFunction("Patrol"), RecordingFunction("Report")
    clock.schedule(ScheduledTarget("patrol", "rate(15 minutes)", patrol, kind=SCHEDULE_V1))
    clock.schedule(ScheduledTarget("report", "cron(0 * * * ? *)", report, kind=SCHEDULE_V1))
    # WHEN three hours pass with only the report running
    fired = clock.advance(timedelta(hours=3), only=lambda target: target.name == "report")
    # THEN only the reports fired, and the patrol resumes after the jump, not before it
    assert [firing.schedule for firing in fired] == ["report"] * 3
    assert [firing.schedule for firing in clock.advance(timedelta(minutes=15))] == ["patrol"]


def test_a_rule_schedule_without_input_delivers_the_scheduled_event():
    clock = SimulatedClock(START)
    patrol = RecordingFunction()
    clock.schedule(ScheduledTarget("order-patrol", "rate(15 minutes)", patrol, kind=SCHEDULE_V1))
    clock.advance(timedelta(minutes=15))
    (event,) = patrol.events
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2026-01-01T00:15:00Z"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/order-patrol"]
    assert event["detail"] == {}


def test_a_scheduler_input_gets_its_context_attributes_substituted():
    clock = SimulatedClock(START)
    settlement = RecordingFunction()
    template_input = (
        '{"period_end": "<aws.scheduler.scheduled-time>", "attempt": "<aws.scheduler.attempt-number>",'
        ' "schedule": "<aws.scheduler.schedule-arn>", "execution": "<aws.scheduler.execution-id>"}'
    )
    clock.schedule(
        ScheduledTarget("settlement", "cron(0 0 1 * ? *)", settlement, input=template_input, kind=SCHEDULE_V2)
    )
    clock.advance(timedelta(days=40))
    (event,) = settlement.events
    assert event["period_end"] == "2026-02-01T00:00:00Z"
    assert event["attempt"] == "1"
    assert event["schedule"] == "arn:aws:scheduler:us-east-1:123456789012:schedule/default/settlement"
    assert len(str(event["execution"])) == 36


def test_a_failing_target_is_recorded_and_time_moves_on():
    clock = SimulatedClock(START)
    clock.schedule(ScheduledTarget("patrol", "rate(1 hour)", RecordingFunction(fail=True)))
    fired = clock.advance(timedelta(hours=2))
    assert len(fired) == 2
    assert all(firing.error and "patrol failed" in firing.error for firing in fired)


def test_the_clock_never_goes_backwards_and_needs_an_aware_start():
    clock = SimulatedClock(START)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance_to(START - timedelta(minutes=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(datetime(2026, 1, 1))


def test_upcoming_lists_the_next_occurrences_without_firing():
    clock = SimulatedClock(START)
    function = RecordingFunction()
    clock.schedule(ScheduledTarget("patrol", "rate(15 minutes)", function))
    assert [when.minute for when, _ in clock.upcoming(3)] == [15, 30, 45]
    assert function.events == []


def test_the_templates_schedule_events_become_targets_on_the_clock():
    # GIVEN a synthetic template with a ScheduleV2 event (the real one has no schedules yet)
    from local.scheduler import targets_from_model
    from local.template import AppModel

    template = {
        "Resources": {
            "ReconcilerFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/order_reconciler/",
                    "Handler": "app.handler",
                    "Events": {
                        "Patrol": {
                            "Type": "ScheduleV2",
                            "Properties": {
                                "ScheduleExpression": "cron(0/15 * * * ? *)",
                                "ScheduleExpressionTimezone": "Asia/Shanghai",
                                "Input": '{"scheduled_at": "<aws.scheduler.scheduled-time>"}',
                            },
                        }
                    },
                },
            }
        }
    }
    model = AppModel.from_template(template)
    reconciler = RecordingFunction("ReconcilerFunction")
    clock = SimulatedClock(START)
    # WHEN its targets are scheduled and an hour passes
    clock.schedule_all(targets_from_model(model.schedules, {"ReconcilerFunction": reconciler}))
    clock.advance(timedelta(hours=1))
    # THEN the patrol ran every 15 minutes with its input
    assert [event["scheduled_at"] for event in reconciler.events] == [
        "2026-01-01T00:15:00Z",
        "2026-01-01T00:30:00Z",
        "2026-01-01T00:45:00Z",
        "2026-01-01T01:00:00Z",
    ]


def test_a_rule_schedule_spec_gets_the_scheduled_event_payload():
    from types import SimpleNamespace

    from local.scheduler import targets_from_model

    spec = SimpleNamespace(
        function_id="ReportsFunction",
        expression="rate(1 day)",
        input=None,
        timezone=None,
        event_type="Schedule",
        event_id="DailyReport",
    )
    reports = RecordingFunction("ReportsFunction")
    (target,) = targets_from_model([spec], {"ReportsFunction": reports})
    assert (target.name, target.kind) == ("DailyReport", SCHEDULE_V1)
    clock = SimulatedClock(START)
    clock.schedule(target)
    clock.advance(timedelta(days=1))
    assert reports.events[0]["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/DailyReport"]
