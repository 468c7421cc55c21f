"""Fulfilment stage facts and the monthly fulfilment health report (issue #5 item 6).

:class:`WarehouseStageEvents` takes ``POST /wms/orders/events`` (signed like the heartbeat, by the
warehouse's own secret): a batch of ``{order_id, stage, at}`` for the stages only the WMS knows
(sent to WMS, printed, picked up). :class:`OrderStageFacts` takes the others (paid, approved,
delivered) from ``OrderChanged``. Both keep each stage's earliest time with a conditional write.

:class:`HealthReports` reads a month of deadlines (the SLA index by deadline day), their stage
facts, builds the report (``oms.domain.fulfilment_health``), renders it as one offline HTML page and
stores it at ``fulfilment/health/<YYYY>-<MM>/report.html``, returning a presigned link.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oms.domain.errors import BadRequestError, StageEventsInvalidError
from oms.domain.fulfilment_health import health_report
from oms.domain.health_report_html import render_html
from oms.domain.model import UtcDatetime
from oms.domain.order_events import OrderChanged
from oms.domain.settlement import Month
from oms.domain.sla import SlaRecord, days_between
from oms.domain.status import OrderStatus
from oms.services.ports import Clock

#: The most events one request may carry (a WMS sends what happened since its last call)
MAX_EVENTS = 100
REPORT_KEY = "fulfilment/health/{period}/report.html"

#: Order statuses that tell a stage, and which (a later status implies the earlier ones passed)
STATUS_STAGES: dict[OrderStatus, str] = {
    OrderStatus.PAID: "paid",
    OrderStatus.APPROVED: "approved",
    OrderStatus.DELIVERED: "delivered",
}


class StageFactStore(Protocol):
    def record(self, order_id: str, stage: str, at: datetime, reporter: str) -> bool: ...

    def read(self, order_ids: Iterable[str]) -> dict[str, dict[str, datetime]]: ...


class DeadlineIndex(Protocol):
    def by_deadline(self, days: list[str], start: datetime, end: datetime) -> list[SlaRecord]: ...


class HtmlReportStore(Protocol):
    def publish(self, key: str, body: bytes, content_type: str) -> str:
        """Store ``body`` at ``key``; returns a presigned GET URL (15 minutes at most)."""
        ...


class StageEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    stage: Literal["sent_to_wms", "printed", "picked_up"]
    at: UtcDatetime


class StageEventBatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    events: tuple[StageEvent, ...] = Field(min_length=1, max_length=MAX_EVENTS)


class WarehouseStageEvents:
    """``POST /wms/orders/events``: authenticated per warehouse, every event stored or refused."""

    def __init__(
        self,
        authenticate: Callable[[str, str, str, bytes], datetime],
        facts: StageFactStore,
    ) -> None:
        self._authenticate = authenticate
        self._facts = facts

    def receive(self, warehouse_id: str, timestamp: str, signature: str, body: bytes) -> dict[str, Any]:
        self._authenticate(warehouse_id, timestamp, signature, body)
        try:
            batch = StageEventBatch.model_validate_json(body)
        except ValidationError as error:
            fields = sorted({".".join(map(str, item["loc"])) or item["type"] for item in error.errors()})
            raise StageEventsInvalidError("the stage events are not valid", fields=fields[:20]) from None
        reporter = f"wms:{warehouse_id}"
        recorded = sum(
            self._facts.record(event.order_id, event.stage, event.at, reporter) for event in batch.events
        )
        return {
            "warehouse": warehouse_id,
            "accepted": len(batch.events),
            "recorded": recorded,
            # already known at the same or an earlier time (a retry, or a later duplicate)
            "kept_earlier": len(batch.events) - recorded,
        }


class OrderStageFacts:
    """Paid, approved and delivered, from the order's own changes (at least once, unordered)."""

    def __init__(self, facts: StageFactStore) -> None:
        self._facts = facts

    def apply(self, change: OrderChanged) -> int:
        """Record what the change tells; returns how many stage times were new (or earlier)."""
        order = change.order
        found: dict[str, datetime] = {}
        if order.paid_at is not None:
            found["paid"] = order.paid_at
        stage = STATUS_STAGES.get(change.status_after) if change.status_changed else None
        if stage is not None:
            found.setdefault(stage, change.entry.event_time)
        return sum(
            self._facts.record(order.order_id, name, moment, "order") for name, moment in found.items()
        )


class HealthReports:
    """The monthly fulfilment health report: built, stored on S3, linked for 15 minutes."""

    def __init__(
        self,
        deadlines: DeadlineIndex,
        facts: StageFactStore,
        store: HtmlReportStore,
        *,
        clock: Clock,
        zone: Callable[[], ZoneInfo],
        link_seconds: int,
    ) -> None:
        self._deadlines = deadlines
        self._facts = facts
        self._store = store
        self._clock = clock
        self._zone = zone
        self._link_seconds = link_seconds

    def produce(self, month: str | None = None, as_of: datetime | None = None) -> dict[str, Any]:
        """The report of ``month`` (``YYYY-MM`` in the merchant's time zone; default: this month)."""
        zone = self._zone()
        as_of = as_of or self._clock()
        period = Month.parse(month or as_of.astimezone(zone).strftime("%Y-%m"))
        start = datetime.combine(period.first_day, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(period.next().first_day, time(0), tzinfo=zone).astimezone(UTC) - timedelta(
            microseconds=1
        )
        records = self._deadlines.by_deadline(days_between(start, end), start, end)
        facts = self._facts.read(record.order_id for record in records)
        report = health_report(str(period), records, facts, start=start, end=end, as_of=as_of)
        key = REPORT_KEY.format(period=period)
        url = self._store.publish(key, render_html(report).encode("utf-8"), "text/html; charset=utf-8")
        return {
            "month": str(period),
            "key": key,
            "url": url,
            "expires_in_seconds": self._link_seconds,
            "as_of": as_of.isoformat(),
            "orders": report.orders,
            "on_time_rate": report.on_time_rate,
            "highlighted": report.highlighted,
            "stages": {flow.stage: flow.reached for flow in report.stages},
        }

    def produce_previous(self, at: datetime) -> dict[str, Any]:
        """The scheduled run early on the 1st: the month that just ended."""
        local = at.astimezone(self._zone())
        previous = (local.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        return self.produce(previous, as_of=at)


def query_params(query: Mapping[str, str] | None) -> tuple[str | None, datetime | None]:
    """``month`` and ``as_of`` of the admin route (``as_of``: ISO 8601 with an offset)."""
    query = query or {}
    as_of = None
    if query.get("as_of"):
        try:
            as_of = datetime.fromisoformat(query["as_of"].replace("Z", "+00:00"))
        except ValueError as error:
            raise BadRequestError("as_of is an ISO 8601 time with an offset") from error
        if as_of.tzinfo is None:
            raise BadRequestError("as_of is an ISO 8601 time with an offset")
    return query.get("month") or None, as_of
