"""An operator's forced status change, as a :class:`~oms.domain.state_machine.Decision`.

A forced change is stored exactly like an event's decision (one conditional write of the header at
the version it was read, plus its history entry), so it can never interleave with a concurrent
event into an inconsistent order. Its history entry (source ``operator``) carries the audit record:
who, when, why, the mode, the status before and after.

The forced status takes an event key just after everything the order reflects: platform facts
older than the correction are stale from then on, and only a newer platform fact that the rules
allow moves the order again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from oms.domain.errors import ForceRefusedError
from oms.domain.ids import content_hash
from oms.domain.model import EventKey, EventSource, ForceMode, HistoryEntry, OperatorMark, Order, Outcome
from oms.domain.state_machine import Decision
from oms.domain.status import STATUS_RANK, OrderStatus, can_transition

FORCE_EVENT_TYPE = "operator.force_status"
#: The smallest step a key can advance by (event keys compare times first).
_TICK = timedelta(microseconds=1)


def force_event_id(request_id: str, order_id: str) -> str:
    """The forced change's event id: one request forces one order once, however often it is retried."""
    return "force-" + content_hash(request_id, order_id)[:32]


def force_status(
    order: Order,
    target: OrderStatus,
    *,
    mark: OperatorMark,
    event_id: str,
    now: datetime,
) -> Decision:
    """The decision forcing ``order`` to ``target``; raises :class:`ForceRefusedError` when refused.

    ``validated`` requires a transition :func:`~oms.domain.status.can_transition` allows;
    ``skip_validation`` accepts any canonical status other than the current one (``target`` is an
    :class:`OrderStatus`, so an unknown status cannot even be expressed).
    """
    if target == order.status:
        raise ForceRefusedError("the order is already in this status", order_id=order.order_id, status=target)
    if mark.mode is ForceMode.VALIDATED and not can_transition(order.status, target):
        raise ForceRefusedError(
            f"{order.status} -> {target} is not an allowed transition (mode validated)",
            order_id=order.order_id,
            status_before=order.status,
            status_after=target,
        )
    at = max(now, order.status_key.at + _TICK)
    key = EventKey(at=at, rank=STATUS_RANK[target])
    after = order.with_changes(
        status=target, status_key=key, version=order.version + 1, last_event_id=event_id, updated_at=now
    )
    entry = HistoryEntry(
        order_id=order.order_id,
        event_id=event_id,
        event_type=FORCE_EVENT_TYPE,
        source=EventSource.OPERATOR,
        event_time=at,
        received_at=now,
        recorded_at=now,
        outcome=Outcome.APPLIED,
        platform_status=order.platform_status,
        status_before=order.status,
        status_after=target,
        refund_before=order.refund_status,
        refund_after=order.refund_status,
        event_status=target,
        event_refund_status=order.refund_status,
        version_after=after.version,
        reason=mark.reason,
        operator=mark,
    )
    return Decision(outcome=Outcome.APPLIED, before=order, after=after, entry=entry)
