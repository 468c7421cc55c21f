"""ReturnsQueue consumer: open the return a platform after-sale change implies.

The queue's subscription to OrderEventsTopic selects refunds asked for after shipment (filter
policy); each record is one ``OrderChanged``. Opening is idempotent per order (a conditional
write), so a redelivered or duplicated change opens nothing twice; a failed record is retried alone.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from oms import composition
from oms.domain.order_events import OrderChanged
from oms.observability import count
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
processor = BatchProcessor(event_type=EventType.SQS)


def handle_record(record: SQSRecord) -> None:
    try:
        change = OrderChanged.from_json(record.body)
    except ValidationError:
        # Not ours to fix by retrying: counted, logged, and left to the DLQ after the retries.
        count("ReturnChangesUnreadable")
        logger.warning("unreadable order change", extra={"message_id": record.message_id})
        raise
    opened = composition.returns_service().open_from_change(change)
    if opened is not None:
        logger.info(
            "return opened" if opened.created else "return already open",
            extra={"change_id": change.change_id, "return_id": opened.record.return_id},
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
