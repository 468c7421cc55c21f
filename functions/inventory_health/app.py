"""The monthly inventory health report (docs/inventory-health.md), on schedule and on demand.

- EventBridge Scheduler, 03:00 Asia/Shanghai on the 1st: the previous month. The schedule's Input
  is ``{"trigger": "monthly", "scheduled_time": "<aws.scheduler.scheduled-time>"}``.
- ``POST /inventory/health-reports {"month": "yyyy-mm", "as_of": optional ISO time}``: an
  operator's run (default: the current China month, up to now); presigned links to the HTML and
  CSV (15 minutes).

IAM-authorised. Errors are typed and answered with their ``http_status``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import OmsError
from oms.domain.settlement import STATEMENT_TZ, Month
from oms.http_api import aware_time, error_reply, json_object
from oms.observability import count
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
app = APIGatewayHttpResolver()


@app.post("/inventory/health-reports")
def on_demand() -> dict[str, Any]:
    body = json_object(app.current_event)
    as_of = aware_time(body["as_of"], "as_of") if body.get("as_of") else None
    moment = as_of or composition.utc_now()
    month = Month.parse(str(body["month"])) if body.get("month") else _month_of(moment)
    return _produce(month, as_of)


def monthly_run(event: dict[str, Any]) -> dict[str, Any]:
    """The scheduled run: the month before the scheduled time's China calendar month, complete."""
    return _produce(Month.previous_of(aware_time(event.get("scheduled_time"), "scheduled_time")), None)


def _produce(month: Month, as_of: datetime | None) -> dict[str, Any]:
    report = composition.inventory_health_reports().produce(month, as_of=as_of)
    count("InventoryHealthReports", 1)
    logger.info(
        "inventory health report written",
        extra={"month": report["month"], "skus": len(report["skus"]), "complete": report["complete"]},
    )
    return report


def _month_of(moment: datetime) -> Month:
    local = moment.astimezone(STATEMENT_TZ)
    return Month(local.year, local.month)


@app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
def typed_error(error: OmsError) -> Response[dict[str, Any]]:
    return error_reply(error)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("trigger") == "monthly":
        return monthly_run(event)
    return app.resolve(event, context)
