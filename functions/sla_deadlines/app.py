"""SLA queue consumer: each ``OrderChanged`` tracks, moves or closes its order's ship-by deadline.

Idempotent by construction: the deadline write is conditional on the order version, so a repeated
or older change is a no-op ("stale"). A malformed message fails alone and reaches the DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.order_events import OrderChanged
from oms.observability import count
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    change = OrderChanged.from_json(record.body)
    outcome = composition.sla_deadlines().apply(change)
    count("SlaDeadlineChanges", outcome=outcome)
    # Paid, approved, delivered: the order's own stage facts for the fulfilment health report.
    composition.order_stage_facts().apply(change)
    return outcome


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
