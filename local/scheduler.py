"""Schedules from ``template.yaml`` run on a simulated clock.

EventBridge runs the patrol every 15 minutes, the escalator every minute, settlement monthly.
Waiting for real time to test that is out of the question, so the local stack keeps a
:class:`SimulatedClock`: :meth:`SimulatedClock.advance` moves it forward and fires, in
chronological order, every schedule occurrence the interval contains, invoking the target with
the payload EventBridge would send. A month of schedules replays in seconds.

Supported expressions (EventBridge / EventBridge Scheduler syntax):

- ``rate(value unit)`` with ``minute|minutes|hour|hours|day|days`` (singular only for 1);
  occurrences at ``anchor + k × rate`` (k ≥ 1), the anchor being the clock's start;
- ``cron(minutes hours day-of-month month day-of-week year)`` with ``* , - /``, ``?`` in one of
  the two day fields, ``L`` and ``W`` in day-of-month, ``L`` and ``#`` in day-of-week
  (1-7 = SUN-SAT, or ``SUN``..``SAT``), month names ``JAN``..``DEC``; evaluated in the
  schedule's time zone (``ScheduleExpressionTimezone``), UTC by default. A local time that a
  daylight-saving jump skips does not fire; one that repeats fires once;
- ``at(yyyy-mm-ddThh:mm:ss)`` (one-time, Scheduler only), in the schedule's time zone.

Payloads:

- ``Schedule`` (EventBridge rule): the configured ``Input`` if any, else the "Scheduled Event"
  (``source`` ``aws.events``, ``detail-type`` ``Scheduled Event``, ``time``, ``resources``...);
- ``ScheduleV2`` (EventBridge Scheduler): the configured ``Input`` with the context attributes
  ``<aws.scheduler.scheduled-time>``, ``<aws.scheduler.execution-id>``,
  ``<aws.scheduler.attempt-number>`` and ``<aws.scheduler.schedule-arn>`` substituted. Without an
  Input, Scheduler documents only "a default notification"; locally that is ``{}``.
"""

from __future__ import annotations

import calendar
import json
import re
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from local.lambda_context import LOCAL_ACCOUNT_ID
from local.template import ScheduleSpec

SCHEDULE_V1 = "Schedule"
SCHEDULE_V2 = "ScheduleV2"


class Invocable(Protocol):
    logical_id: str

    def invoke(self, event: dict[str, object]) -> object: ...


class ScheduleExpressionError(ValueError):
    """A schedule expression EventBridge would reject."""


# --------------------------------------------------------------------------- expressions


class Expression(Protocol):
    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after ``after`` (UTC), or None when there is none."""
        ...


@dataclass(frozen=True)
class RateExpression:
    every: timedelta
    anchor: datetime

    def next_after(self, after: datetime) -> datetime | None:
        if after < self.anchor:
            return self.anchor + self.every
        periods = (after - self.anchor) // self.every + 1
        return self.anchor + periods * self.every


@dataclass(frozen=True)
class AtExpression:
    at: datetime

    def next_after(self, after: datetime) -> datetime | None:
        return self.at if self.at > after else None


_MONTHS = {name: index for index, name in enumerate(calendar.month_abbr) if name}
_MONTHS = {name.upper(): index for name, index in _MONTHS.items()}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MAX_YEAR = 2199


@dataclass(frozen=True)
class _DayRule:
    """Day-of-month or day-of-week constraint beyond a plain set of values."""

    values: frozenset[int] = frozenset()
    any_day: bool = False  # "*" or "?"
    last_day_of_month: bool = False  # dom "L"
    nearest_weekday: int | None = None  # dom "15W"
    last_weekday_of_month: int | None = None  # dow "6L": last Friday
    nth_weekday: tuple[int, int] | None = None  # dow "6#3": third Friday


@dataclass(frozen=True)
class CronExpression:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_of_month: _DayRule
    months: frozenset[int]
    day_of_week: _DayRule
    years: frozenset[int] | None  # None: every year
    timezone: ZoneInfo

    def next_after(self, after: datetime) -> datetime | None:
        local_after = after.astimezone(self.timezone)
        day = local_after.date()
        last_year = max(self.years) if self.years else _MAX_YEAR
        while day.year <= last_year:
            if self._day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = _local_to_utc(day, hour, minute, self.timezone)
                        if candidate is not None and candidate > after:
                            return candidate
            day = self._next_candidate_day(day)
        return None

    def _next_candidate_day(self, day: date) -> date:
        if day.month in self.months and (self.years is None or day.year in self.years):
            return day + timedelta(days=1)
        # Skip straight to the first day of the next month: nothing matches in this one.
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        return date(year, month, 1)

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        return _dom_matches(self.day_of_month, day) and _dow_matches(self.day_of_week, day)


def _local_to_utc(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime | None:
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    utc = local.astimezone(UTC)
    # A wall time skipped by a daylight-saving jump does not round-trip: it does not exist.
    round_trip = utc.astimezone(zone)
    if (round_trip.hour, round_trip.minute) != (hour, minute):
        return None
    return utc


def _dom_matches(rule: _DayRule, day: date) -> bool:
    if rule.any_day:
        return True
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    if rule.last_day_of_month:
        return day.day == days_in_month
    if rule.nearest_weekday is not None:
        return day == _nearest_weekday(day.year, day.month, rule.nearest_weekday)
    return day.day in rule.values


def _nearest_weekday(year: int, month: int, target_day: int) -> date:
    days_in_month = calendar.monthrange(year, month)[1]
    target = date(year, month, min(target_day, days_in_month))
    weekday = target.weekday()  # Monday 0 .. Sunday 6
    if weekday == 5:  # Saturday: Friday before, unless that leaves the month
        return target - timedelta(days=1) if target.day > 1 else target + timedelta(days=2)
    if weekday == 6:  # Sunday: Monday after, unless that leaves the month
        return target + timedelta(days=1) if target.day < days_in_month else target - timedelta(days=2)
    return target


def _aws_weekday(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # Monday → 2 ... Sunday → 1


def _dow_matches(rule: _DayRule, day: date) -> bool:
    if rule.any_day:
        return True
    weekday = _aws_weekday(day)
    if rule.last_weekday_of_month is not None:
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        return weekday == rule.last_weekday_of_month and day.day + 7 > days_in_month
    if rule.nth_weekday is not None:
        wanted, nth = rule.nth_weekday
        return weekday == wanted and (day.day - 1) // 7 + 1 == nth
    return weekday in rule.values


def _parse_values(
    text: str, low: int, high: int, names: dict[str, int] | None, field_name: str
) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text, 1, high, None, field_name) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = (
                _number(first, low, high, names, field_name),
                _number(last, low, high, names, field_name),
            )
        else:
            start = _number(base, low, high, names, field_name)
            end = high if step_text else start  # "5/15": from 5, every 15
        # A range may wrap around (FRI-MON, 22-2): walk it in order, keeping every step-th value.
        span = (
            list(range(start, end + 1)) if start <= end else [*range(start, high + 1), *range(low, end + 1)]
        )
        values.update(span[::step])
    return frozenset(values)


def _number(text: str, low: int, high: int, names: dict[str, int] | None, field_name: str) -> int:
    token = text.strip().upper()
    if names and token in names:
        return names[token]
    if not token.isdigit():
        raise ScheduleExpressionError(f"cron {field_name}: {text!r} is not a number or name")
    value = int(token)
    if not low <= value <= high:
        raise ScheduleExpressionError(f"cron {field_name}: {value} is outside {low}-{high}")
    return value


def _parse_dom(text: str) -> _DayRule:
    if text in ("*", "?"):
        return _DayRule(any_day=True)
    if text == "L":
        return _DayRule(last_day_of_month=True)
    if text.endswith("W"):
        return _DayRule(nearest_weekday=_number(text[:-1], 1, 31, None, "day-of-month"))
    return _DayRule(values=_parse_values(text, 1, 31, None, "day-of-month"))


def _parse_dow(text: str) -> _DayRule:
    if text in ("*", "?"):
        return _DayRule(any_day=True)
    if text.endswith("L") and text != "L":
        return _DayRule(last_weekday_of_month=_number(text[:-1], 1, 7, _WEEKDAYS, "day-of-week"))
    if text == "L":
        return _DayRule(values=frozenset({7}))  # "L" alone in day-of-week means Saturday
    if "#" in text:
        weekday, nth = text.split("#", 1)
        return _DayRule(
            nth_weekday=(
                _number(weekday, 1, 7, _WEEKDAYS, "day-of-week"),
                _number(nth, 1, 5, None, "day-of-week"),
            )
        )
    return _DayRule(values=_parse_values(text, 1, 7, _WEEKDAYS, "day-of-week"))


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def parse_expression(expression: str, *, timezone: str | None = None, anchor: datetime) -> Expression:
    """Parse an EventBridge schedule expression.

    Parameters
    ----------
    expression:
        ``rate(...)``, ``cron(...)`` or ``at(...)``.
    timezone:
        IANA zone for ``cron``/``at`` (``ScheduleExpressionTimezone``); UTC when None.
    anchor:
        Where ``rate`` schedules start counting (UTC, timezone-aware).

    Raises
    ------
    ScheduleExpressionError
        For anything EventBridge would reject.

    Examples
    --------
    >>> start = datetime(2026, 1, 1, tzinfo=UTC)
    >>> parse_expression("cron(0 2 ? * MON *)", anchor=start).next_after(start).isoformat()
    '2026-01-05T02:00:00+00:00'
    """
    text = expression.strip()
    zone = ZoneInfo(timezone) if timezone else ZoneInfo("UTC")
    if match := _RATE.match(text):
        value, unit = int(match[1]), match[2]
        if value < 1:
            raise ScheduleExpressionError(f"{expression}: the rate must be positive")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleExpressionError(
                f"{expression}: use the singular unit for 1 and the plural otherwise"
            )
        seconds = {"minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]
        return RateExpression(every=timedelta(seconds=value * seconds), anchor=anchor)
    if match := _AT.match(text):
        local = datetime.fromisoformat(match[1]).replace(tzinfo=zone)
        return AtExpression(at=local.astimezone(UTC))
    if match := _CRON.match(text):
        fields = match[1].split()
        if len(fields) != 6:
            raise ScheduleExpressionError(f"{expression}: cron needs 6 fields, got {len(fields)}")
        minutes, hours, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(
                f"{expression}: exactly one of day-of-month and day-of-week must be '?'"
            )
        return CronExpression(
            minutes=tuple(sorted(_parse_values(minutes, 0, 59, None, "minutes"))),
            hours=tuple(sorted(_parse_values(hours, 0, 23, None, "hours"))),
            day_of_month=_parse_dom(dom.upper()),
            months=_parse_values(month.upper(), 1, 12, _MONTHS, "month"),
            day_of_week=_parse_dow(dow.upper()),
            years=None if year in ("*", "?") else _parse_values(year, 1970, _MAX_YEAR, None, "year"),
            timezone=zone,
        )
    raise ScheduleExpressionError(f"{expression}: not a rate(), cron() or at() expression")


# ---------------------------------------------------------------------------- the clock


@dataclass(frozen=True)
class ScheduledTarget:
    """One schedule and the function it invokes.

    Parameters
    ----------
    name:
        The schedule's name (used in ARNs and payloads).
    expression:
        The schedule expression as written in the template.
    function:
        What to invoke.
    input:
        The configured ``Input`` (a JSON string), if any.
    timezone:
        ``ScheduleExpressionTimezone`` (ScheduleV2), UTC when None.
    kind:
        ``"ScheduleV2"`` (EventBridge Scheduler) or ``"Schedule"`` (EventBridge rule).
    """

    name: str
    expression: str
    function: Invocable
    input: str | None = None
    timezone: str | None = None
    kind: str = SCHEDULE_V2


@dataclass(frozen=True)
class Firing:
    """One occurrence of a schedule, as it ran."""

    schedule: str
    function_id: str
    scheduled_time: datetime
    event: dict[str, Any]
    result: object = None
    error: str | None = None


@dataclass
class _Registered:
    target: ScheduledTarget
    expression: Expression
    next_time: datetime | None


class SimulatedClock:
    """A clock that only moves when told, firing the schedules registered on it.

    Parameters
    ----------
    start:
        The initial time (timezone-aware; kept in UTC).
    region:
        Used in ARNs of the payloads.

    Examples
    --------
    >>> clock = SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC))
    >>> clock.schedule(ScheduledTarget("patrol", "rate(15 minutes)", function))  # doctest: +SKIP
    >>> len(clock.advance(timedelta(hours=1)))  # doctest: +SKIP
    4
    """

    def __init__(self, start: datetime, *, region: str = "us-east-1") -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._region = region
        self._registered: list[_Registered] = []
        self._lock = threading.RLock()
        self.firings: list[Firing] = []
        #: Schedules created at run time (a function creating a one-shot EventBridge Scheduler
        #: schedule) to register too: asked when an advance starts (None) and after each firing.
        self.discover: Callable[[Firing | None], Iterable[ScheduledTarget]] | None = None

    def now(self) -> datetime:
        return self._now

    def __call__(self) -> datetime:
        return self._now

    def schedule(self, target: ScheduledTarget) -> None:
        """Register ``target``; its first occurrence is the first one after now."""
        expression = parse_expression(target.expression, timezone=target.timezone, anchor=self._now)
        with self._lock:
            self._registered.append(_Registered(target, expression, expression.next_after(self._now)))

    def schedule_all(self, targets: Iterable[ScheduledTarget]) -> None:
        for target in targets:
            self.schedule(target)

    def upcoming(self, limit: int = 10) -> list[tuple[datetime, str]]:
        """The next occurrences (time, schedule name), without firing anything."""
        found: list[tuple[datetime, str]] = []
        for entry in self._registered:
            for when in _occurrences(entry.expression, entry.next_time, limit):
                found.append((when, entry.target.name))
        return sorted(found)[:limit]

    def advance(
        self, delta: timedelta, *, only: Callable[[ScheduledTarget], bool] | None = None
    ) -> list[Firing]:
        """Move forward by ``delta``, firing every occurrence in ``(now, now + delta]`` in order."""
        return self.advance_to(self._now + delta, only=only)

    def advance_to(
        self, target_time: datetime, *, only: Callable[[ScheduledTarget], bool] | None = None
    ) -> list[Firing]:
        """Move forward to ``target_time``, firing every occurrence on the way, in order.

        ``only`` pauses every other schedule for this jump: their occurrences in the window are
        skipped, as if those schedules were disabled (a demo jumping three days ahead to show one
        job need not run the per-minute jobs four thousand times each).
        """
        target_time = target_time.astimezone(UTC)
        if target_time < self._now:
            raise ValueError("a simulated clock does not go backwards")
        fired: list[Firing] = []
        with self._lock:
            if only is not None:
                for entry in self._registered:
                    if not only(entry.target):
                        entry.next_time = entry.expression.next_after(target_time)
            self._discover(None)
            while True:
                due = [
                    entry for entry in self._registered if entry.next_time and entry.next_time <= target_time
                ]
                if not due:
                    break
                # Ties break in registration order, which keeps a replay deterministic.
                entry = min(due, key=lambda item: item.next_time or target_time)
                when = entry.next_time
                assert when is not None
                self._now = when
                fired.append(self._fire(entry.target, when))
                entry.next_time = entry.expression.next_after(when)
                self._discover(fired[-1])
            self._now = target_time
        self.firings.extend(fired)
        return fired

    def _discover(self, after: Firing | None) -> None:
        if self.discover is not None:
            for found in self.discover(after):
                self.schedule(found)

    def _fire(self, target: ScheduledTarget, when: datetime) -> Firing:
        event = build_schedule_event(target, when, region=self._region)
        try:
            result = target.function.invoke(event)
        except Exception:
            # An asynchronous invoke: the error is the function's, recorded, and time moves on.
            return Firing(target.name, target.function.logical_id, when, event, error=traceback.format_exc())
        return Firing(target.name, target.function.logical_id, when, event, result=result)


def _occurrences(expression: Expression, first: datetime | None, limit: int) -> Iterator[datetime]:
    current = first
    for _ in range(limit):
        if current is None:
            return
        yield current
        current = expression.next_after(current)


def build_schedule_event(
    target: ScheduledTarget, when: datetime, *, region: str = "us-east-1", attempt: int = 1
) -> dict[str, Any]:
    """The event EventBridge (rule or Scheduler) delivers to the target for an occurrence."""
    time_text = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if target.kind == SCHEDULE_V2:
        schedule_arn = f"arn:aws:scheduler:{region}:{LOCAL_ACCOUNT_ID}:schedule/default/{target.name}"
        if target.input is None:
            return {}
        text = (
            target.input.replace("<aws.scheduler.scheduled-time>", time_text)
            .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
            .replace("<aws.scheduler.attempt-number>", str(attempt))
            .replace("<aws.scheduler.schedule-arn>", schedule_arn)
        )
        return json.loads(text)  # type: ignore[no-any-return]
    if target.input is not None:
        return json.loads(target.input)  # type: ignore[no-any-return]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": time_text,
        "region": region,
        "resources": [f"arn:aws:events:{region}:{LOCAL_ACCOUNT_ID}:rule/{target.name}"],
        "detail": {},
    }


def only_functions(*logical_ids: str) -> Callable[[ScheduledTarget], bool]:
    """An ``only=`` for :meth:`SimulatedClock.advance`: the schedules of these functions, no other.

    A long jump fires every per-minute schedule once a minute; a test or chapter about one job
    names it, so the others (with nothing to do, but each run still a full invocation) stay paused.

    Examples
    --------
    >>> stack.clock.advance(timedelta(hours=6), only=only_functions("SlaEscalatorFunction"))  # doctest: +SKIP
    """
    wanted = frozenset(logical_ids)
    return lambda target: target.function.logical_id in wanted


def targets_from_model(
    schedules: Iterable[ScheduleSpec], functions: Mapping[str, Invocable]
) -> list[ScheduledTarget]:
    """The scheduled targets of a template's ``Schedule``/``ScheduleV2`` events.

    Parameters
    ----------
    schedules:
        ``AppModel.schedules`` (:class:`local.template.ScheduleSpec`).
    functions:
        Logical id → the function to invoke.
    """
    targets = []
    for index, spec in enumerate(schedules):
        kind = spec.event_type
        name = spec.event_id or f"{spec.function_id}-{index}"
        raw_input = spec.input
        targets.append(
            ScheduledTarget(
                name=str(name),
                expression=spec.expression,
                function=functions[spec.function_id],
                input=raw_input if raw_input is None or isinstance(raw_input, str) else json.dumps(raw_input),
                timezone=getattr(spec, "timezone", None),
                kind=str(kind),
            )
        )
    return targets


__all__ = [
    "SCHEDULE_V1",
    "SCHEDULE_V2",
    "AtExpression",
    "CronExpression",
    "Firing",
    "RateExpression",
    "ScheduleExpressionError",
    "ScheduledTarget",
    "SimulatedClock",
    "build_schedule_event",
    "only_functions",
    "parse_expression",
    "targets_from_model",
]
