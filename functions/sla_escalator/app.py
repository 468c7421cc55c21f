"""Scheduled (every minute): watch WMS heartbeats, forecast warehouse capacity (overflow episodes),
then escalate orders near or past their deadline.

Level 1 (deadline − 2 h) to the warehouse lead, level 2 (deadline) to the logistics owner, level 3
(deadline + 4 h) to the duty manager: the routes in the notifier secret pick the channels
(docs/fulfilment-sla.md). Overlapping runs are harmless: each level is claimed by a conditional write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import OmsError
from oms.observability import count
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()


def _scheduled_time(event: dict[str, Any]) -> datetime | None:
    """The schedule's own time (EventBridge Scheduler fills ``<aws.scheduler.scheduled-time>``)."""
    value = event.get("scheduled_time") if isinstance(event, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        logger.warning("unreadable scheduled_time; using the current time", extra={"value": value[:40]})
        return None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = _scheduled_time(event) or composition.utc_now()
    offline = composition.warehouse_heartbeats().check(now)
    if offline:
        count("WarehousesOffline", len(offline))
    try:
        overflow = composition.overflow_planner().run(now)
    except OmsError:
        # The forecast must not stop the escalations: the next minute's run forecasts again.
        logger.exception("overflow planner failed; escalating anyway")
        count("OverflowPlannerFailed")
        overflow = {}
    for warehouse, state in overflow.items():
        if state == "opened":
            count("OverflowEpisodes", warehouse=warehouse)
    report = composition.sla_escalator().run(now, offline_warehouses=frozenset(offline))
    for level, raised in report.raised.items():
        count("SlaEscalations", raised, level=str(level))
    if report.released:
        count("SlaEscalationsDeferred", report.released)
    return {
        "examined": report.examined,
        "raised": {str(level): raised for level, raised in sorted(report.raised.items())},
        "lost_races": report.lost_races,
        "released": report.released,
        "offline_warehouses": sorted(offline),
        "overflow": overflow,
    }
