"""Scheduled return jobs: the hourly 72-hour gap sweep and the daily digest of chain heads.

Both schedules pass their scheduled time (``<aws.scheduler.scheduled-time>``), which is the job's
"now": a delayed or retried run judges the same instant, and the local clock can replay days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import BadRequestError
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()


def _scheduled_time(event: dict[str, Any]) -> datetime:
    text = str(event.get("scheduled_time") or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as error:
        raise BadRequestError("the schedule passes no scheduled_time", scheduled_time=text[:40]) from error


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = _scheduled_time(event)
    job = event.get("job")
    service = composition.returns_service()
    if job == "sweep":
        report = service.sweep(now)
        logger.info("gap sweep", extra={"examined": report.examined, "alerts": len(report.alerts)})
        return {
            "job": job,
            "examined": report.examined,
            "alerts": [alert.dedupe_key for alert in report.alerts],
        }
    if job == "anchor":
        # The run just after midnight anchors every head still pending: the day that just ended,
        # and anything a missed run left. Its digest is named after that day.
        day = f"{now - timedelta(days=1):%Y-%m-%d}"
        anchored = service.anchor(day)
        logger.info(
            "chain heads anchored", extra={"day": day, "heads": anchored.heads, "key": anchored.digest_key}
        )
        return {
            "job": job,
            "day": day,
            "heads": anchored.heads,
            "key": anchored.digest_key,
            "root": anchored.root,
        }
    raise BadRequestError("unknown job", job=str(job)[:40])
