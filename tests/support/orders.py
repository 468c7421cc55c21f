"""Canonical orders and ``OrderChanged`` messages for the downstream capabilities' tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oms.domain.model import EventKey, EventSource, HistoryEntry, Order, Outcome, Platform
from oms.domain.order_events import OrderChanged
from oms.domain.status import OrderStatus, RefundStatus


def order(
    order_id: str,
    status: OrderStatus,
    *,
    version: int,
    at: datetime,
    paid_at: datetime | None = None,
    platform: Platform = Platform.DOUYIN,
    shop_id: str = "100001",
    tags: dict[str, str] | None = None,
    **changes: Any,
) -> Order:
    return Order(
        order_id=order_id,
        platform=platform,
        shop_id=shop_id,
        platform_order_id=order_id.rsplit("#", 1)[-1],
        status=status,
        refund_status=RefundStatus.NONE,
        platform_status=str(status),
        status_key=EventKey(at=at, rank=version),
        refund_key=EventKey(at=at, rank=0),
        version=version,
        paid_at=paid_at,
        tags=tags or {},
        last_event_id=f"{order_id}-e{version}",
        created_at=at,
        updated_at=at,
        **changes,
    )


def changed(after: Order, before: OrderStatus | None, *, at: datetime) -> OrderChanged:
    """The change that moved ``after`` from ``before`` to its status, at ``at``."""
    entry = HistoryEntry(
        order_id=after.order_id,
        event_id=after.last_event_id,
        event_type="status",
        source=EventSource.PUSH,
        event_time=at,
        received_at=at,
        recorded_at=at,
        outcome=Outcome.APPLIED if before else Outcome.CREATED,
        platform_status=after.platform_status,
        event_status=after.status,
        event_refund_status=RefundStatus.NONE,
        status_before=before,
        status_after=after.status,
        refund_before=RefundStatus.NONE,
        refund_after=RefundStatus.NONE,
        version_after=after.version,
    )
    return OrderChanged(order=after, entry=entry)
