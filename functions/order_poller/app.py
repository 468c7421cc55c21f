"""Scheduled (EventBridge): pull changed Pinduoduo and Taobao orders into the intake queue.

The event may name the platforms to poll (``{"platforms": ["pinduoduo"]}``); by default every pull
platform is polled. A shop that fails is reported and retried on the next run from its cursor.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.model import Platform
from oms.observability import count
from oms.services.polling import INCREMENT_PROFILES
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    names = event.get("platforms") if isinstance(event, dict) else None
    platforms = (
        [Platform(name) for name in names if name in INCREMENT_PROFILES]
        if names
        else list(INCREMENT_PROFILES)
    )
    report = composition.order_poller().run(platforms)
    count("PolledOrdersEnqueued", report.enqueued)
    for error in report.errors:
        count("PollFailures", platform=error["platform"], code=error["code"])
        logger.warning("poll failed", extra=error)
    return {
        "enqueued": report.enqueued,
        "windows": report.windows,
        "shops": report.shops,
        "messages_confirmed": report.messages_confirmed,
        "lost_races": report.lost_races,
        "errors": len(report.errors),
    }
