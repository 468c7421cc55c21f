"""Admin routes over the consumers' DLQs: how many letters each holds, and a redrive to source.

The intake DLQ has its own route (``POST /dlq/redrive``: FIFO, failure codes, the trace view); these
cover every other SQS consumer's DLQ in the template (docs/operations.md, "Consumer DLQs").
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.api_gateway import Router

from oms import composition
from oms.http_api import iam_caller, json_object

logger = Logger(child=True)
router = Router()  # type: ignore[no-untyped-call]


@router.get("/dlq/consumers")
def consumer_dlqs() -> dict[str, Any]:
    return {"queues": composition.consumer_dlq_redrive().depths()}


@router.post("/dlq/consumers/redrive")
def redrive_consumer_dlq() -> dict[str, Any]:
    context = router.lambda_context
    report = composition.consumer_dlq_redrive().redrive(
        json_object(router.current_event),
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    summary = report.as_dict()
    # The audit of who moved what: counts and ids only (bodies carry buyers' data).
    logger.info(
        "consumer DLQ redrive",
        extra={
            "actor": iam_caller(router.current_event),
            **{key: value for key, value in summary.items() if key != "results"},
            "message_ids": [result.message_id for result in report.results if result.action == "redriven"],
        },
    )
    return summary
