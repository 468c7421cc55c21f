"""``OrderChanged``: the one message every downstream capability learns about orders from.

When the sanitizer (or the reconciler, or an operator's forced correction: they all go through
the same conditional write) stores a change to an order, it publishes an ``OrderChanged`` to the
``OrderEventsTopic`` (SNS). Each downstream capability (inventory, SLA deadlines, settlement,
customer identity, …) has its own SQS queue subscribed to the topic and its own consumer.

Delivery is **at least once and unordered**: a publish that fails fails the sanitizer's record,
whose retry finds the change already stored and publishes it again; SNS and SQS may duplicate and
reorder. So consumers key their effects on :attr:`OrderChanged.change_id` (unique per stored
change: the order's version) and compare :attr:`OrderChanged.version` with what they have seen,
never assuming they receive changes in order or only once.

Only changes are published: an event that was stale, a duplicate or a regression changed nothing
and is not sent (it stays in the order's history for the diagnosis).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict

from oms.domain.model import HistoryEntry, Order
from oms.domain.status import OrderStatus, RefundStatus

#: The message attribute SNS filter policies select on (a consumer may take only some changes).
STATUS_ATTRIBUTE = "status_after"


class OrderChanged(BaseModel):
    """A stored change: the order after it, and the history entry that made it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order: Order
    entry: HistoryEntry

    @property
    def change_id(self) -> str:
        """Unique per stored change of an order (each change writes the next version)."""
        return f"{self.order.order_id}#v{self.order.version}"

    @property
    def version(self) -> int:
        return self.order.version

    @property
    def status_before(self) -> OrderStatus | None:
        return self.entry.status_before

    @property
    def status_after(self) -> OrderStatus:
        return self.order.status

    @property
    def refund_before(self) -> RefundStatus | None:
        return self.entry.refund_before

    @property
    def refund_after(self) -> RefundStatus:
        return self.order.refund_status

    @property
    def status_changed(self) -> bool:
        return self.entry.status_before != self.order.status

    @property
    def refund_changed(self) -> bool:
        return self.entry.refund_before != self.order.refund_status

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Parse a message body; raises pydantic's ``ValidationError`` on a malformed one."""
        return cls.model_validate_json(text)
