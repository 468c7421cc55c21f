"""The Xiaohongshu (小红书) platform adapter: the one object ``oms.platforms`` registers.

Unconfirmed facts, configurable in the app's secrets: the push signature rule (``push_sign_path``,
default ``/webhooks/xiaohongshu``, and ``push_sign_body``, default true; see :func:`.signing.push_sign`),
the push reply (``{"success":true}`` here), the after-sale status values
(:data:`.status.AFTER_SALES_STATUS_MAP`) and the API's rate-limit codes (``rate_limit_codes``).
See ``docs/platforms/xiaohongshu.md``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform
from oms.platforms._push import PushedPlatformAdapter
from oms.platforms.base import AppSecrets, FramedMessage, FreshnessWindow, WebhookRequest
from oms.platforms.xiaohongshu import push
from oms.platforms.xiaohongshu.client import DEFAULT_BASE_URL, XiaohongshuClient
from oms.platforms.xiaohongshu.order import order_event

#: The push reply. **[unconfirmed]**: any HTTP 200 is assumed to stop redelivery.
ACKNOWLEDGEMENT = json.dumps({"success": True, "code": 0}, separators=(",", ":"))
#: The signed ``timestamp`` header may be this old: the platform's retry schedule is not
#: published, so the window is generous (4 h, like WeChat's) and replays inside it are deduplicated.
FRESHNESS = FreshnessWindow(max_age=timedelta(hours=4), max_ahead=timedelta(minutes=5))


class XiaohongshuAdapter(PushedPlatformAdapter):
    """Verify, frame, decode and parse Xiaohongshu pushes; build the signed API client.

    The app id is the ``app-key`` header (secrets are kept per app key); there is no
    URL-verification request.

    Examples
    --------
    >>> from oms.platforms.xiaohongshu import ADAPTER
    >>> ADAPTER.acknowledge().body
    '{"success":true,"code":0}'
    """

    platform = Platform.XIAOHONGSHU
    label = "Xiaohongshu"
    default_base_url = DEFAULT_BASE_URL
    acknowledgement = ACKNOWLEDGEMENT
    client_type = XiaohongshuClient
    freshness = FRESHNESS
    app_id_header = push.APP_KEY_HEADER

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise ``SignatureInvalidError`` unless the ``sign`` header matches (see :mod:`.push`)."""
        push.verify(request, secrets)

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """The signed ``timestamp`` header in UTC."""
        return push.signed_at(request)

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """One message per element of the pushed array."""
        return push.frame(request.body)

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The message object with ``data`` expanded from its JSON string."""
        return push.decode(envelope)

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """True when the message names an order: pushes carry ids and a status, not the order."""
        data = message.get("data")
        return isinstance(data, dict) and data.get("orderId") not in (None, "")

    def order_event(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from the order detail (see :func:`.order.order_event`)."""
        return order_event(message, self.detail(snapshot, field="order"), envelope)
