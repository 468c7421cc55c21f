"""The Douyin Shop (抖店) platform adapter: the one object ``oms.platforms`` registers.

Unconfirmed facts, configurable: message tags other than 0 and 100 (``push.TAGS``); the API
``timestamp`` format (secret ``timestamp_format``: ``"datetime"`` UTC+8 by default, or ``"unix"``).
See ``docs/platforms/douyin.md``.
"""

from __future__ import annotations

import json
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform
from oms.platforms._push import PushedPlatformAdapter
from oms.platforms.base import AppSecrets, FramedMessage, WebhookRequest
from oms.platforms.douyin import push
from oms.platforms.douyin.client import DEFAULT_BASE_URL, DouyinClient
from oms.platforms.douyin.order import order_event

ACKNOWLEDGEMENT = json.dumps({"code": 0, "msg": "success"}, separators=(",", ":"))


class DouyinAdapter(PushedPlatformAdapter):
    """Verify, frame, decode and parse Douyin pushes; build the signed order client.

    The app id is the ``app-id`` header (the app key whose secret signed the push); there is no
    URL-verification request and ``event-sign`` covers the body only (no freshness window).

    Examples
    --------
    >>> from oms.platforms.douyin import ADAPTER
    >>> ADAPTER.acknowledge().body
    '{"code":0,"msg":"success"}'
    """

    platform = Platform.DOUYIN
    label = "Douyin"
    default_base_url = DEFAULT_BASE_URL
    acknowledgement = ACKNOWLEDGEMENT
    client_type = DouyinClient
    app_id_header = push.APP_ID_HEADER

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise ``SignatureInvalidError`` unless ``event-sign`` is md5(app_key + body + app_secret)."""
        push.verify(request, secrets)

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """One message per element of the pushed array (tag 0 marked as a test)."""
        return push.frame(request.body)

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The message object with ``data`` expanded from its JSON string."""
        return push.decode(envelope)

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """True for messages about an order: their data carries only ids and a status."""
        data = message.get("data")
        return isinstance(data, dict) and data.get("p_id") not in (None, "")

    def order_event(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from the order snapshot (see :func:`.order.order_event`)."""
        return order_event(message, snapshot, envelope)
