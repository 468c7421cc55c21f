"""Monthly settlement statements (camt.053 on S3), on schedule and on demand, and finance's links.

- EventBridge Scheduler, 02:00 Asia/Shanghai on the 1st: the previous month, every channel. The
  schedule's Input is ``{"trigger": "monthly", "scheduled_time": "<aws.scheduler.scheduled-time>"}``.
- ``POST /settlements/generate {"month": "yyyy-mm", "channel": optional}``: an operator's run.
- ``GET /settlements?month=yyyy-mm&channel=…``: presigned download links (15 minutes at most).
- ``POST /settlements/entries``: a payout to the merchant's bank or a chargeback.

All routes are IAM-authorised. Errors are typed and answered with their ``http_status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import OmsError
from oms.domain.model import Platform
from oms.domain.settlement import Month
from oms.http_api import aware_time, error_reply, iam_caller, json_object
from oms.observability import count
from oms.services.settlement import parse_channels
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
app = APIGatewayHttpResolver()


@app.post("/settlements/generate")
def generate() -> dict[str, Any]:
    body = json_object(app.current_event)
    month = Month.parse(str(body.get("month") or ""))
    channels = parse_channels(body.get("channel"))
    return _generate(month, channels)


@app.get("/settlements")
def links() -> dict[str, Any]:
    month = Month.parse(app.current_event.get_query_string_value("month") or "")
    channel = app.current_event.get_query_string_value("channel")
    return composition.settlement_statements().links(month, parse_channels(channel)[0] if channel else None)


@app.post("/settlements/entries")
def record_entry() -> Response[dict[str, Any]]:
    event = app.current_event
    recorder = composition.settlement_recorder()
    created, entry = recorder.record_manual(json_object(event), actor=iam_caller(event))
    return Response(
        status_code=201 if created else 200,
        content_type="application/json",
        body={"created": created, "entry": entry},
    )


def _generate(month: Month, channels: Sequence[Platform]) -> dict[str, Any]:
    report = composition.settlement_statements().generate(month, channels).as_dict()
    written = sum(1 for statement in report["statements"] for f in statement["files"] if f["changed"])
    count("SettlementFilesWritten", written)
    logger.info("statements generated", extra={"month": str(month), "files_written": written})
    return report


def monthly_run(event: dict[str, Any]) -> dict[str, Any]:
    """The scheduled run: the month before the scheduled time's China calendar month."""
    moment = aware_time(event.get("scheduled_time"), "scheduled_time")
    return _generate(Month.previous_of(moment), parse_channels(event.get("channel")))


@app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
def typed_error(error: OmsError) -> Response[dict[str, Any]]:
    return error_reply(error)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("trigger") == "monthly":
        return monthly_run(event)
    return app.resolve(event, context)
