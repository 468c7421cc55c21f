"""Order-change consumer (CustomersQueue, subscribed to OrderEventsTopic): one customer across platforms.

Each record is an ``OrderChanged`` (raw SNS delivery). The service is idempotent on the change,
so a redelivered or duplicated message has no second effect; a failed record is retried alone and
reaches CustomersDLQ after the queue's maxReceiveCount.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from oms import composition
from oms.domain.errors import EnvelopeInvalidError
from oms.domain.order_events import OrderChanged
from oms.observability import count
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
processor = BatchProcessor(event_type=EventType.SQS)


def handle_record(record: SQSRecord) -> None:
    try:
        changed = OrderChanged.from_json(record.body)
    except ValidationError as error:
        logger.warning("not an OrderChanged message", extra={"message_id": record.message_id})
        raise EnvelopeInvalidError(
            "the message is not an OrderChanged", errors=error.error_count()
        ) from error
    logger.set_correlation_id(changed.change_id)
    consumed = composition.customer_identity().consume(changed)
    logger.info(
        "order change linked",
        extra={
            "customer_key": consumed.customer_key,
            "new": consumed.new_entry,
            "reviews": len(consumed.reviews_raised),
        },
    )
    if consumed.reviews_raised:
        count("DuplicateReviewsRaised", len(consumed.reviews_raised))
    if consumed.merges:
        count("CustomersMergedAutomatically", len(consumed.merges))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
