"""Order changes (SQS, from OrderEventsTopic) → stock reservations, deductions and releases.

The same function runs the expiry sweep on its schedule (``{"sweep": true}``): unpaid holds past
their time are released by conditional writes, never by TTL (docs/inventory.md).
"""

from __future__ import annotations

from datetime import datetime
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


def _record(record: SQSRecord) -> None:
    # A malformed body raises pydantic's ValidationError: the record fails and, after the last
    # receive, waits in InventoryEventsDLQ with its body intact.
    change = OrderChanged.from_json(record.body)
    logger.set_correlation_id(change.change_id)
    effect = composition.inventory_events().handle(change)
    count("InventoryOrderChanges", effect=str(effect))
    logger.info("order change applied to stock", extra={"change_id": change.change_id, "effect": str(effect)})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("sweep"):
        scheduled = event.get("scheduled_time")
        expired = composition.inventory_events().sweep(
            datetime.fromisoformat(scheduled) if isinstance(scheduled, str) and scheduled else None
        )
        count("InventoryHoldsExpired", expired)
        return {"expired": expired}
    return dict(
        process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
    )
