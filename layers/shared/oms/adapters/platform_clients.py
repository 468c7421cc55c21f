"""Signed platform API clients, one per app, rebuilt when the app's secret rotates."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from oms.domain.model import Platform
from oms.platforms import get_adapter
from oms.platforms.base import AppSecrets, HttpTransport, PlatformClient
from oms.services.ports import Clock, SecretStore


class PlatformClients:
    """The client of a platform's app (``app_id`` None: the platform's only app)."""

    def __init__(
        self, *, secrets: SecretStore, transport: HttpTransport, base_urls: Mapping[str, str], clock: Clock
    ) -> None:
        self._secrets = secrets
        self._transport = transport
        self._base_urls = dict(base_urls)
        self._clock = clock
        self._clients: dict[tuple[str, str], tuple[AppSecrets, PlatformClient]] = {}
        self._lock = threading.Lock()

    def get(self, platform: Platform, app_id: str | None) -> tuple[str, PlatformClient]:
        """The app id and its client; raises ``CredentialsMissingError`` when there is no such app."""
        app_id, secrets = self._secrets.app_secrets(platform, app_id)
        with self._lock:
            cached = self._clients.get((platform, app_id))
            # Secrets rotate: a new secret object from the (cached) store means a new client.
            if cached is None or cached[0] is not secrets:
                client = get_adapter(platform).client(
                    secrets, self._transport, base_url=self._base_urls.get(platform), clock=self._clock
                )
                cached = self._clients[(platform, app_id)] = (secrets, client)
        return app_id, cached[1]
