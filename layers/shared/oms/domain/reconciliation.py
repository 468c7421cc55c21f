"""Comparing an order with its platform's truth: who is ahead, and what the patrol may do about it.

The patrol (``order_reconciler``) fetches each open order from its platform's order API and
compares:

- **same**: nothing to do (a refund-only difference is applied like any newer fact);
- **platform ahead** (a lost or late push): the platform's state is applied as a *reconciliation
  event* through the same state machine and conditional write as a push;
- **local ahead** and the order's last change came from the order center's own system of record
  (an operator): an **action item** (the platform should be told; nothing is written);
- **local ahead** otherwise, or **contradictory** (no allowed transition either way): a
  **conflict**, recorded with its evidence in the order's history (an ignored event, never a
  regression).

A reconciliation event's id is derived from the platform truth it carries (order, status, refund
status, the platform's update time): two patrols that see the same truth write the same event id,
and the history's conditional write lets only one of them apply it.
"""

from __future__ import annotations

from enum import StrEnum

from oms.domain.ids import content_hash
from oms.domain.model import EventSource, OrderEvent
from oms.domain.status import OrderStatus, can_transition

RECONCILE_EVENT_TYPE = "reconcile.platform_truth"


class Comparison(StrEnum):
    SAME = "same"
    PLATFORM_AHEAD = "platform_ahead"
    LOCAL_AHEAD = "local_ahead"
    CONTRADICTORY = "contradictory"


class Verdict(StrEnum):
    IN_SYNC = "in_sync"
    HEALED = "healed"  # this patrol applied the platform's state
    ALREADY_HEALED = "already_healed"  # another patrol (or a push) recorded the same truth first
    CONFLICT = "conflict"
    ACTION_ITEM = "action_item"
    UNREACHABLE = "unreachable"  # the platform could not be asked (or its answer not read)


def compare(local: OrderStatus, platform: OrderStatus) -> Comparison:
    if local == platform:
        return Comparison.SAME
    if can_transition(local, platform):
        return Comparison.PLATFORM_AHEAD
    if can_transition(platform, local):
        return Comparison.LOCAL_AHEAD
    return Comparison.CONTRADICTORY


def reconciliation_event(truth: OrderEvent) -> OrderEvent:
    """The platform's truth as a reconciliation event, its id derived from that truth only."""
    digest = content_hash(
        truth.order_id, truth.status, truth.refund_status, truth.platform_status, truth.event_time.isoformat()
    )
    return truth.model_copy(
        update={
            "event_id": f"reconcile-{digest[:32]}",
            "event_type": RECONCILE_EVENT_TYPE,
            "source": EventSource.RECONCILE,
        }
    )
