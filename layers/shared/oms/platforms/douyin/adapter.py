"""The Douyin Shop (抖店) platform adapter: the one object ``oms.platforms`` registers.

Unconfirmed facts, configurable: message tags other than 0 and 100 (``push.TAGS``); the API
``timestamp`` format (secret ``timestamp_format``: ``"datetime"`` UTC+8 by default, or ``"unix"``).
See ``docs/platforms/douyin.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform
from oms.platforms._common import schema_violation
from oms.platforms.base import (
    AppSecrets,
    FramedMessage,
    FreshnessWindow,
    HttpTransport,
    PlatformClient,
    WebhookReply,
    WebhookRequest,
)
from oms.platforms.douyin import push
from oms.platforms.douyin.client import DEFAULT_BASE_URL, DouyinClient
from oms.platforms.douyin.order import order_event

ACKNOWLEDGEMENT = json.dumps({"code": 0, "msg": "success"}, separators=(",", ":"))


class DouyinAdapter:
    """Verify, frame, decode and parse Douyin pushes; build the signed order client.

    Examples
    --------
    >>> from oms.platforms.douyin import ADAPTER
    >>> ADAPTER.acknowledge().body
    '{"code":0,"msg":"success"}'
    """

    platform: Platform = Platform.DOUYIN
    max_body_bytes: int = 256 * 1024
    default_base_url: str = DEFAULT_BASE_URL
    #: The push signature covers no timestamp.
    freshness: FreshnessWindow | None = None

    def app_id(self, request: WebhookRequest) -> str | None:
        """The ``app-id`` header (the app key whose secret signed the push)."""
        value = request.header(push.APP_ID_HEADER)
        return value.strip() if value and value.strip() else None

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """Douyin has no URL-verification request: always ``None``."""
        return None

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise ``SignatureInvalidError`` unless ``event-sign`` is md5(app_key + body + app_secret)."""
        push.verify(request, secrets)

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """Always ``None``: ``event-sign`` covers the body only, so staleness cannot be checked; replays are
        deduplicated instead."""
        return None

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """One message per element of the pushed array (tag 0 marked as a test)."""
        return push.frame(request.body)

    def acknowledge(self) -> WebhookReply:
        return WebhookReply(status=200, body=ACKNOWLEDGEMENT)

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The message object with ``data`` expanded from its JSON string."""
        return push.decode(envelope)

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """True for messages about an order: their data carries only ids and a status."""
        data = message.get("data")
        return isinstance(data, dict) and data.get("p_id") not in (None, "")

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from the order snapshot (see :func:`order_event`)."""
        try:
            return order_event(message, snapshot, envelope)
        except ValidationError as error:
            raise schema_violation(error, what="Douyin order") from None

    def client(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> PlatformClient:
        return DouyinClient(secrets, transport, base_url=base_url, clock=clock)
