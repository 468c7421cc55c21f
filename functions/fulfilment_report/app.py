"""The monthly fulfilment health report (HTML with a Sankey, on S3), on schedule and on demand.

- EventBridge Scheduler, 03:00 Asia/Shanghai on the 1st: the month that just ended. The schedule's
  Input is ``{"trigger": "monthly", "scheduled_time": "<aws.scheduler.scheduled-time>"}``.
- ``POST /fulfillment/health-report?month=yyyy-mm[&as_of=<ISO 8601>]`` (IAM): build it now (default:
  this month so far) and answer a presigned link valid 15 minutes.

Errors are typed and answered with their ``http_status``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import OmsError
from oms.http_api import aware_time, error_reply
from oms.observability import count
from oms.services.fulfilment_health import query_params
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
app = APIGatewayHttpResolver()


@app.post("/fulfillment/health-report")
def on_demand() -> dict[str, Any]:
    month, as_of = query_params(app.current_event.query_string_parameters)
    return _produced(composition.health_reports().produce(month, as_of=as_of))


def monthly_run(event: dict[str, Any]) -> dict[str, Any]:
    moment = aware_time(event.get("scheduled_time"), "scheduled_time")
    return _produced(composition.health_reports().produce_previous(moment))


def _produced(result: dict[str, Any]) -> dict[str, Any]:
    count("HealthReportsWritten")
    logger.info("health report written", extra={"month": result["month"], "orders": result["orders"]})
    return result


@app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
def typed_error(error: OmsError) -> Response[dict[str, Any]]:
    return error_reply(error)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("trigger") == "monthly":
        return monthly_run(event)
    return app.resolve(event, context)
