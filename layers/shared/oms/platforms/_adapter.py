"""The part every platform adapter shares: building its signed client from the app's secrets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, Protocol

from oms.platforms.base import AppSecrets, HttpTransport, PlatformClient


class ClientType(Protocol):
    """How every platform client is constructed."""

    def __call__(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> PlatformClient: ...


class BuildsClient:
    """``PlatformAdapter.client`` for an adapter whose client class takes the common arguments."""

    client_type: ClassVar[ClientType]

    def client(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> PlatformClient:
        return self.client_type(secrets, transport, base_url=base_url, clock=clock)
