"""Orders and their ``OrderChanged`` messages as the settlement recorder receives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from oms.domain.ids import unified_order_id
from oms.domain.model import EventKey, EventSource, HistoryEntry, Order, Outcome, Platform
from oms.domain.order_events import OrderChanged
from oms.domain.status import REFUND_RANK, STATUS_RANK, OrderStatus, RefundStatus

PAID_AT = datetime(2026, 10, 12, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai


def order(
    number: str = "6900000000000000001",
    *,
    platform: Platform = Platform.DOUYIN,
    shop_id: str = "100001",
    status: OrderStatus = OrderStatus.PAID,
    refund: RefundStatus = RefundStatus.NONE,
    paid: str | None = "99.90",
    currency: str = "CNY",
    paid_at: datetime | None = PAID_AT,
    status_at: datetime | None = None,
    refund_at: datetime | None = None,
    version: int = 1,
    tags: dict[str, str] | None = None,
    payment_id: str | None = "PAY0001",
) -> Order:
    status_at = status_at or (paid_at or PAID_AT)
    return Order(
        order_id=unified_order_id(platform, shop_id, number),
        platform=platform,
        shop_id=shop_id,
        platform_order_id=number,
        status=status,
        refund_status=refund,
        platform_status="x",
        status_key=EventKey(at=status_at, rank=STATUS_RANK[status]),
        refund_key=EventKey(at=refund_at or status_at, rank=REFUND_RANK[refund]),
        version=version,
        currency=currency,
        total_amount=Decimal(paid) if paid else None,
        paid_amount=Decimal(paid) if paid and paid_at else None,
        payment_id=payment_id,
        paid_at=paid_at,
        last_event_id=f"evt-{version}",
        created_at=PAID_AT - timedelta(minutes=5),
        updated_at=status_at,
        tags=tags or {},
    )


def changed(after: Order, before: OrderStatus | None = None, **entry: Any) -> OrderChanged:
    at = after.updated_at
    return OrderChanged(
        order=after,
        entry=HistoryEntry(
            order_id=after.order_id,
            event_id=after.last_event_id,
            event_type="test",
            source=EventSource.PUSH,
            event_time=at,
            received_at=at,
            recorded_at=at,
            outcome=Outcome.APPLIED if after.version > 1 else Outcome.CREATED,
            platform_status=after.platform_status,
            status_before=before,
            status_after=after.status,
            refund_before=RefundStatus.NONE,
            refund_after=after.refund_status,
            event_status=after.status,
            event_refund_status=after.refund_status,
            version_after=after.version,
            **entry,
        ),
    )


def sqs_records(changes: list[OrderChanged], queue_arn: str) -> dict[str, Any]:
    """An SQS event as the settlement queue delivers raw SNS messages."""
    return {
        "Records": [
            {
                "messageId": f"m-{index}-{change.change_id}",
                "receiptHandle": f"r-{index}",
                "body": change.to_json(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1792000000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for index, change in enumerate(changes)
        ]
    }
