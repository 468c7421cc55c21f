"""The interfaces services depend on; adapters implement them, tests may fake them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import FailureRecord, HistoryEntry, Order, Platform
from oms.domain.state_machine import Decision
from oms.platforms.base import AppSecrets

Clock = Callable[[], datetime]


class OrdersRepository(Protocol):
    def get(self, order_id: str) -> Order | None: ...

    def save(self, decision: Decision) -> bool:
        """Write a decision atomically; False when its event was already recorded (a duplicate).

        Raises ``ConcurrentUpdateError`` when the order changed since it was read.
        """
        ...

    def history(self, order_id: str) -> list[HistoryEntry]: ...

    def find_by_platform_order_id(self, platform_order_id: str) -> list[str]:
        """Unified ids of every order carrying this platform order number (any platform, shop)."""
        ...


class IntakeQueue(Protocol):
    def send(self, envelopes: Sequence[IntakeEnvelope]) -> None:
        """Enqueue in one call; raises ``StorageError`` if any message was not accepted."""
        ...


class RawArchive(Protocol):
    def put_batch(self, envelopes: Sequence[IntakeEnvelope]) -> Mapping[str, str]:
        """Archive raw payloads in one object; returns trace id → location (``s3://bucket/key#trace``)."""
        ...

    def get(self, location: str) -> IntakeEnvelope:
        """Read one archived envelope back by its location."""
        ...


class SecretStore(Protocol):
    def app_secrets(self, platform: Platform, app_id: str | None) -> tuple[str, AppSecrets]:
        """The app id and secrets for ``app_id`` (or the only app configured, when None).

        Raises ``CredentialsMissingError`` when there is no such app.
        """
        ...


class OrderFetcher(Protocol):
    def __call__(
        self, platform: Platform, app_id: str | None, shop_id: str, platform_order_id: str, message_key: str
    ) -> dict[str, Any]:
        """The platform's order snapshot for the message ``message_key``.

        A redelivered message gets the snapshot its first attempt saw, so one event id always
        carries one content (see docs/decisions.md).
        """
        ...


class FailureLog(Protocol):
    def record(self, failure: FailureRecord) -> None: ...
