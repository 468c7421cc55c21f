"""The Kuaishou shop (快手小店) adapter: the one object ``oms.platforms`` registers.

Pushes are encrypted (AES-CBC, zero IV; :mod:`.signing`) and answered ``{"result":1}`` within
3 s; the clear-text ``{"test":true}`` ping sent when the URL is saved is answered the same and
never enqueued. The push URL may carry ``?app_key=…`` so one deployment serves several apps;
without it the only configured app is used. One app's secrets::

    {"app_key", "app_secret", "sign_secret", "message_key", "access_tokens": {"<seller>": "<token>"},
     "sign_method": "MD5" | "HMAC_SHA256", "hmac_encoding": "base64" | "hex"}

Unconfirmed, configurable: the HMAC output encoding (``hmac_encoding``), statuses 10/80 and the
refund statuses (:mod:`.status`), the amount unit (:data:`.order.AMOUNT_UNIT`), rate-limit codes.
The signed time sits inside the ciphertext, so there is no freshness window; the encrypted
``eventId`` dedupes retries and replays. See ``docs/platforms/kuaishou.md``.
"""

from __future__ import annotations

import json
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform
from oms.platforms._push import PushedPlatformAdapter
from oms.platforms.base import AppSecrets, FramedMessage, WebhookReply, WebhookRequest
from oms.platforms.kuaishou import push
from oms.platforms.kuaishou.client import DEFAULT_BASE_URL, KuaishouClient
from oms.platforms.kuaishou.order import order_event

ACKNOWLEDGEMENT = json.dumps({"result": 1}, separators=(",", ":"))


class KuaishouAdapter(PushedPlatformAdapter):
    """Open, frame, decode and parse Kuaishou pushes; build the signed API client.

    The app id is the ``app_key`` query parameter merchants may add to the push URL; the only
    signed time is inside the ciphertext (no freshness window, retries are deduplicated).

    Examples
    --------
    >>> from oms.platforms.kuaishou import ADAPTER
    >>> ADAPTER.acknowledge().body
    '{"result":1}'
    """

    platform = Platform.KUAISHOU
    label = "Kuaishou"
    default_base_url = DEFAULT_BASE_URL
    acknowledgement = ACKNOWLEDGEMENT
    client_type = KuaishouClient
    app_id_query = "app_key"

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """Acknowledge the clear-text ``{"test":true}`` setup ping; None for real pushes.

        The ping carries nothing to verify and nothing is enqueued for it.
        """
        if request.method.upper() == "POST" and push.is_setup_ping(request.body):
            return self.acknowledge()
        return None

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise ``SignatureInvalidError`` unless the body opens with the app's message key."""
        push.open_push(request, secrets)

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """The push as one message, with its plaintext; encrypted test pushes are not enqueued."""
        return push.frame(request, secrets)

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The decrypted push with ``info`` expanded."""
        return push.decode(envelope)

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """True for order events: they carry ids, the order comes from ``open.order.detail``."""
        return push.is_order_event(message) and message.get("bizId") not in (None, "")

    def order_event(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from the order detail (see :func:`.order.order_event`)."""
        return order_event(message, self.detail(snapshot, field="orderBaseInfo"), envelope)
