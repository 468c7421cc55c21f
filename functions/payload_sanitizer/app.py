"""Intake queue consumer: archive the batch's raw payloads, then clean, parse and apply each message.

A failed message is reported as a batch item failure and retried alone: the other messages of the
batch, its own order's later events included, are applied (the state machine does not need them in
order, docs/decisions.md D7). The queue's redrive policy moves it to the DLQ after the last attempt.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import StorageError
from oms.observability import count, event_failed, event_processed
from oms.services.sanitize import MessageFailedError, Processed, QueueMessage
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
processor = BatchProcessor(event_type=EventType.SQS)


def _message(record: dict[str, Any]) -> QueueMessage:
    attributes = record.get("messageAttributes") or {}
    redrive = (attributes.get("redrive_count") or {}).get("stringValue") or "0"
    return QueueMessage(
        message_id=record["messageId"],
        body=record["body"],
        receive_count=int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")),
        redrive=int(redrive) if redrive.isdigit() else 0,
    )


def _trace_id(record: dict[str, Any]) -> str | None:
    """The trace id intake put on the message, so even a message that fails to decode logs with it."""
    return ((record.get("messageAttributes") or {}).get("trace_id") or {}).get("stringValue")


def _process(message: QueueMessage, location: str | None, trace_id: str | None) -> Processed:
    """One record in its own X-Ray subsegment, annotated so X-Ray finds it by trace id.

    A subsegment of our own rather than ``capture_method``, which logs a traceback for every
    failed record (failures are expected, typed and recorded already).
    """
    with tracer.provider.in_subsegment("## record") as subsegment:
        subsegment.put_annotation("trace_id", trace_id or message.message_id)
        try:
            processed = composition.payload_sanitizer().process(message, location)
        except MessageFailedError as failure:
            subsegment.put_annotation("error_code", str(failure.error.code))
            raise
        subsegment.put_annotation("platform", str(processed.platform))
        subsegment.put_annotation("outcome", str(processed.outcome))
        return processed


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
        trace_id = _trace_id(record.raw_event)
        logger.set_correlation_id(trace_id or message.message_id)
        try:
            processed = _process(message, locations.get(message.message_id), trace_id)
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
            event_failed(failure)
            raise
        logger.set_correlation_id(processed.trace_id)
        logger.info("message processed", extra={"order_id": processed.order_id, "outcome": processed.outcome})
        event_processed(processed)

    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
