"""Intake queue consumer: archive the batch's raw payloads, then clean, parse and apply each message.

A failed message is reported as a batch item failure and retried alone: the other messages of the
batch, its own order's later events included, are applied (the state machine does not need them in
order, docs/decisions.md D7). The queue's redrive policy moves it to the DLQ after the last attempt.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import StorageError
from oms.observability import count
from oms.services.sanitize import MessageFailedError, QueueMessage

logger = Logger()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.SQS)


def _message(record: dict[str, Any]) -> QueueMessage:
    return QueueMessage(
        message_id=record["messageId"],
        body=record["body"],
        receive_count=int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    composition.register_lambda_context(context)
    sanitizer = composition.payload_sanitizer()
    try:
        locations = sanitizer.archive([_message(record) for record in event["Records"]])
    except StorageError as error:
        # The raw payloads still travel in the messages (and in the DLQ): the archive never gates processing.
        logger.warning("raw archive failed", extra={"code": str(error.code)})
        count("RawArchiveFailed")
        locations = {}

    def handle_record(record: SQSRecord) -> None:
        message = _message(record.raw_event)
        try:
            processed = sanitizer.process(message, locations.get(message.message_id))
        except MessageFailedError as failure:
            logger.set_correlation_id(failure.trace_id)
            logger.warning(
                "message failed",
                extra={
                    "code": str(failure.error.code),
                    "stage": str(failure.stage),
                    "platform": failure.platform,
                },
            )
            count("EventsFailed", platform=str(failure.platform or "unknown"), code=str(failure.error.code))
            raise
        logger.set_correlation_id(processed.trace_id)
        logger.info("message processed", extra={"order_id": processed.order_id, "outcome": processed.outcome})
        count("EventsProcessed", platform=processed.platform, outcome=processed.outcome)

    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
