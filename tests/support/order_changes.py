"""A publisher of order changes that keeps what it was given (and can refuse, like SNS throttling)."""

from __future__ import annotations

from oms.domain.errors import StorageError
from oms.domain.order_events import OrderChanged


class RecordingPublisher:
    def __init__(self, *, refuse: int = 0) -> None:
        self.published: list[OrderChanged] = []
        self._refusals_left = refuse

    def publish(self, change: OrderChanged) -> None:
        if self._refusals_left:
            self._refusals_left -= 1
            raise StorageError("Publish failed: Throttling")
        self.published.append(change)

    @property
    def change_ids(self) -> list[str]:
        return [change.change_id for change in self.published]
