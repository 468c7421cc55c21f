"""Settlement queue consumer: each ``OrderChanged`` becomes the settlement entries its order implies.

The queue is subscribed to the order events topic (raw message delivery: the body is the
``OrderChanged`` JSON). Entries are written once each (conditional puts), so a change delivered
twice, late or out of order adds nothing it should not. A failed record is retried alone
(ReportBatchItemFailures) and reaches the settlement DLQ after the queue's last attempt.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from oms import composition
from oms.domain.errors import OmsError
from oms.domain.order_events import OrderChanged
from oms.observability import count
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
processor = BatchProcessor(event_type=EventType.SQS)


def record_change(record: SQSRecord) -> int:
    try:
        change = OrderChanged.from_json(record.body)
    except ValidationError:
        # Not an OrderChanged: retrying cannot help, the DLQ keeps it for a person.
        count("SettlementMessagesInvalid")
        logger.warning("not an order change", extra={"message_id": record.message_id})
        raise
    logger.set_correlation_id(change.change_id)
    try:
        added = composition.settlement_recorder().record(change)
    except OmsError as error:
        count("SettlementRecordFailed", platform=str(change.order.platform), code=str(error.code))
        logger.warning("settlement entries not recorded", extra={"code": str(error.code)})
        raise
    if added:
        count("SettlementEntriesRecorded", added, platform=str(change.order.platform))
    return added


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_change, processor=processor, context=context
        )
    )
