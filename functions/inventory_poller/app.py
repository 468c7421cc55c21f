"""The channel stock sync: every minute, and a second pass 30 s later (docs/inventory.md).

The scheduled (first) pass syncs, then plans the second one as a one-shot EventBridge Scheduler
schedule targeting this function (D100) when any SKU is listed; the second pass only syncs.
Each pass computes every listed SKU's sellable quantity per channel, pushes what changed, pulls
what the channels show and reports differences (CSV on S3 + one alert).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.config import settings
from oms.observability import count
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()


def _moment(value: object) -> datetime:
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return composition.utc_now()


def _clock_from(start: datetime) -> Any:
    # The pass's time is its scheduled time plus what it has spent: ordering claims by scheduled
    # time keeps a late-running older pass from looking newer than the pass after it.
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    second = event.get("pass") == "second"
    at = _moment(event.get("due") if second else event.get("scheduled_time"))
    run_id = f"{at:%Y%m%dT%H%M%SZ}-{2 if second else 1}"
    run = replace(composition.stock_sync(), clock=_clock_from(at)).run(run_id)
    if not second and run.skus:
        # Nothing listed, nothing to sync twice: no schedule is created.
        composition.second_pass_scheduler().plan(
            at, context.invoked_function_arn, timedelta(seconds=settings().inventory_second_pass_seconds)
        )
    count("InventorySyncPushes", run.pushed)
    count("InventorySyncDifferences", len(run.differences))
    count("InventorySyncFailures", len(run.failed))
    summary = run.summary()
    logger.info("stock sync pass", extra=summary)
    return summary
