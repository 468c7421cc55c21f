"""Monthly settlement statements (camt.053 on S3), on schedule and on demand, and finance's links.

- EventBridge Scheduler, 02:00 Asia/Shanghai on the 1st: the previous month, every channel. The
  schedule's Input is ``{"trigger": "monthly", "scheduled_time": "<aws.scheduler.scheduled-time>"}``.
- ``POST /settlements/generate {"month": "yyyy-mm", "channel": optional}``: an operator's run.
- ``GET /settlements?month=yyyy-mm&channel=…``: presigned download links (15 minutes at most).
- ``POST /settlements/entries``: a payout to the merchant's bank or a chargeback.

All routes are IAM-authorised. Errors are typed and answered with their ``http_status``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import BadRequestError, OmsError
from oms.domain.settlement import Month
from oms.observability import count
from oms.services.settlement import parse_channels

logger = Logger()
tracer = Tracer()
app = APIGatewayHttpResolver()


@app.post("/settlements/generate")
def generate() -> dict[str, Any]:
    body = _json_object()
    month = Month.parse(str(body.get("month") or ""))
    channels = parse_channels(body.get("channel"))
    return _generate(month, channels)


@app.get("/settlements")
def links() -> dict[str, Any]:
    month = Month.parse(app.current_event.get_query_string_value("month") or "")
    channel = app.current_event.get_query_string_value("channel")
    (only,) = parse_channels(channel) if channel else (None,)
    return composition.settlement_statements().links(month, only)


@app.post("/settlements/entries")
def record_entry() -> Response[dict[str, Any]]:
    created, entry = composition.settlement_recorder().record_manual(_json_object(), actor=_caller())
    return Response(
        status_code=201 if created else 200,
        content_type="application/json",
        body={"created": created, "entry": entry},
    )


def _generate(month: Month, channels: Any) -> dict[str, Any]:
    report = composition.settlement_statements().generate(month, channels).as_dict()
    written = sum(1 for statement in report["statements"] for f in statement["files"] if f["changed"])
    count("SettlementFilesWritten", written)
    logger.info("statements generated", extra={"month": str(month), "files_written": written})
    return report


def _json_object() -> dict[str, Any]:
    try:
        body = app.current_event.json_body if app.current_event.body else {}
    except ValueError as error:
        raise BadRequestError("the body is not JSON") from error
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body


def _caller() -> str:
    event: Any = app.current_event
    try:
        return str(event.request_context.authorizer.iam.user_arn or "unknown")
    except (AttributeError, KeyError, TypeError):
        return "unknown"


@app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
def typed_error(error: OmsError) -> Response[dict[str, Any]]:
    logger.info("request refused", extra={"code": str(error.code)})
    return Response(
        status_code=error.http_status,
        content_type="application/json",
        body={"error": str(error.code), "message": error.message, "details": error.details},
    )


def monthly_run(event: dict[str, Any]) -> dict[str, Any]:
    """The scheduled run: the month before the scheduled time's China calendar month."""
    scheduled = str(event.get("scheduled_time") or "")
    try:
        moment = datetime.fromisoformat(scheduled.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError("scheduled_time is not an ISO 8601 time", field="scheduled_time") from None
    if moment.tzinfo is None:
        raise BadRequestError("scheduled_time has no time zone", field="scheduled_time")
    return _generate(Month.previous_of(moment), parse_channels(event.get("channel")))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("trigger") == "monthly":
        return monthly_run(event)
    return app.resolve(event, context)
