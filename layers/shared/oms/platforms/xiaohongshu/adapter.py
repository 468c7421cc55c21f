"""The Xiaohongshu (小红书) platform adapter: the one object ``oms.platforms`` registers.

Unconfirmed facts, configurable in the app's secrets: the push signature rule (``push_sign_path``,
default ``/webhooks/xiaohongshu``, and ``push_sign_body``, default true; see :func:`.signing.push_sign`),
the push reply (``{"success":true}`` here), the after-sale status values
(:data:`.status.AFTER_SALES_STATUS_MAP`) and the API's rate-limit codes (``rate_limit_codes``).
See ``docs/platforms/xiaohongshu.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError
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
from oms.platforms.xiaohongshu import push
from oms.platforms.xiaohongshu.client import DEFAULT_BASE_URL, XiaohongshuClient
from oms.platforms.xiaohongshu.order import order_event

#: The push reply. **[unconfirmed]**: any HTTP 200 is assumed to stop redelivery.
ACKNOWLEDGEMENT = json.dumps({"success": True, "code": 0}, separators=(",", ":"))
#: The signed ``timestamp`` header may be this old: the platform's retry schedule is not
#: published, so the window is generous (4 h, like WeChat's) and replays inside it are deduplicated.
FRESHNESS = FreshnessWindow(max_age=timedelta(hours=4), max_ahead=timedelta(minutes=5))


class XiaohongshuAdapter:
    """Verify, frame, decode and parse Xiaohongshu pushes; build the signed API client.

    Examples
    --------
    >>> from oms.platforms.xiaohongshu import ADAPTER
    >>> ADAPTER.acknowledge().body
    '{"success":true,"code":0}'
    """

    platform: Platform = Platform.XIAOHONGSHU
    max_body_bytes: int = 256 * 1024
    default_base_url: str = DEFAULT_BASE_URL
    freshness: FreshnessWindow | None = FRESHNESS

    def app_id(self, request: WebhookRequest) -> str | None:
        """The ``app-key`` header: secrets are kept per app key."""
        value = request.header(push.APP_KEY_HEADER)
        return value.strip() if value and value.strip() else None

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """Xiaohongshu has no URL-verification request: always ``None``."""
        return None

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise ``SignatureInvalidError`` unless the ``sign`` header matches (see :mod:`.push`)."""
        push.verify(request, secrets)

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """The signed ``timestamp`` header in UTC."""
        return push.signed_at(request)

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """One message per element of the pushed array."""
        return push.frame(request.body)

    def acknowledge(self) -> WebhookReply:
        return WebhookReply(status=200, body=ACKNOWLEDGEMENT)

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The message object with ``data`` expanded from its JSON string."""
        return push.decode(envelope)

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """True when the message names an order: pushes carry ids and a status, not the order."""
        data = message.get("data")
        return isinstance(data, dict) and data.get("orderId") not in (None, "")

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from the order detail (see :func:`.order.order_event`)."""
        if snapshot is None:
            raise SchemaInvalidError("a Xiaohongshu event needs the order detail", field="order")
        try:
            return order_event(message, snapshot, envelope)
        except ValidationError as error:
            raise schema_violation(error, what="Xiaohongshu order") from None

    def client(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> PlatformClient:
        return XiaohongshuClient(secrets, transport, base_url=base_url, clock=clock)
