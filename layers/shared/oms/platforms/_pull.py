"""What the adapters of pull-only platforms (Pinduoduo, Taobao) share.

Their orders reach the intake queue through ``order_poller`` (:mod:`oms.services.polling`), which
enqueues the full order detail, so the sanitizer never fetches; anything posted to their webhook
route is not theirs and is refused as unsigned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from oms.domain.errors import SignatureInvalidError
from oms.domain.model import Platform
from oms.platforms._adapter import BuildsClient
from oms.platforms.base import AppSecrets, FramedMessage, FreshnessWindow, WebhookReply, WebhookRequest


class PulledPlatformAdapter(BuildsClient):
    """The push half of :class:`~oms.platforms.base.PlatformAdapter` for a platform that does not push.

    Subclasses set ``platform``, ``label``, ``default_base_url`` and ``client_type`` and provide
    ``decode`` and ``parse``.
    """

    platform: ClassVar[Platform]
    label: ClassVar[str]
    max_body_bytes = 256 * 1024
    freshness: FreshnessWindow | None = None

    def app_id(self, request: WebhookRequest) -> str | None:
        return request.query.get("app_id") or None

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        return None

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Always refuses: the platform has no HTTP push, so anything posted here is not its own."""
        raise SignatureInvalidError(
            f"{self.label} orders are pulled, not pushed", platform=str(self.platform)
        )

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        return None

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        raise SignatureInvalidError(
            f"{self.label} orders are pulled, not pushed", platform=str(self.platform)
        )

    def acknowledge(self) -> WebhookReply:
        return WebhookReply(status=200, body='{"success":true}')

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """Never: the poller enqueues the full order."""
        return False

    def _not_pushed(self) -> SignatureInvalidError:
        return SignatureInvalidError(
            f"{self.label} orders are pulled, not pushed", platform=str(self.platform)
        )
