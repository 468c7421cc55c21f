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

from pydantic import BaseModel, ConfigDict, model_validator

from oms.domain.model import HistoryEntry, Order
from oms.domain.status import OrderStatus, RefundStatus

#: The message attribute SNS filter policies select on (a consumer may take only some changes).
STATUS_ATTRIBUTE = "status_after"


class OrderChanged(BaseModel):
    """A stored change: the history entry that made it, and the order as of it or later.

    ``entry`` is the change itself (before/after statuses, the event, who or what made it).
    ``order`` is the order when the change was published: normally the version the change wrote;
    for a change published again (its first publish failed) it may be a later version. Act on
    ``entry`` for what changed and on ``order`` for the order's data (lines, buyer, amounts).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    order: Order
    entry: HistoryEntry

    @model_validator(mode="after")
    def _a_stored_change(self) -> Self:
        if not self.entry.outcome.changes_order or self.entry.version_after is None:
            raise ValueError("an OrderChanged carries a change that was stored (created or applied)")
        if self.entry.order_id != self.order.order_id or self.order.version < self.entry.version_after:
            raise ValueError("the order must be the entry's order, at the entry's version or later")
        return self

    @property
    def change_id(self) -> str:
        """Unique per stored change of an order (each change writes the next version)."""
        return f"{self.entry.order_id}#v{self.version}"

    @property
    def version(self) -> int:
        """The order version this change wrote."""
        assert self.entry.version_after is not None  # checked by the validator
        return self.entry.version_after

    @property
    def status_before(self) -> OrderStatus | None:
        return self.entry.status_before

    @property
    def status_after(self) -> OrderStatus:
        return self.entry.status_after or self.order.status

    @property
    def refund_before(self) -> RefundStatus | None:
        return self.entry.refund_before

    @property
    def refund_after(self) -> RefundStatus:
        return self.entry.refund_after or self.order.refund_status

    @property
    def status_changed(self) -> bool:
        return self.status_before != self.status_after

    @property
    def refund_changed(self) -> bool:
        return self.refund_before != self.refund_after

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Parse a message body; raises pydantic's ``ValidationError`` on a malformed one."""
        return cls.model_validate_json(text)
