"""The WooCommerce platform adapter: the one object ``oms.platforms`` registers.

Every site is its own store, so the "app id" is the site host (from ``X-WC-Webhook-Source``, or
``?site=`` on the delivery URL) and secrets are stored per host::

    {"webhook_secret": "...", "consumer_key": "ck_...", "consumer_secret": "cs_..."}

``previous_webhook_secret`` is accepted during a rotation. See ``docs/platforms/woocommerce.md``.
"""

from __future__ import annotations

from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform
from oms.platforms._push import PushedPlatformAdapter
from oms.platforms.base import AppSecrets, FramedMessage, WebhookReply, WebhookRequest
from oms.platforms.woocommerce import webhook
from oms.platforms.woocommerce.client import DEFAULT_BASE_URL, WooCommerceClient
from oms.platforms.woocommerce.order import order_event


class WooCommerceAdapter(PushedPlatformAdapter):
    """Verify, frame, decode and parse WooCommerce order webhooks; build the REST client.

    The signature covers the body only: replays are deduplicated, not timed out.

    Examples
    --------
    >>> from oms.platforms.woocommerce import ADAPTER
    >>> ADAPTER.acknowledge().status
    200
    """

    platform = Platform.WOOCOMMERCE
    label = "WooCommerce"
    default_base_url = DEFAULT_BASE_URL
    acknowledgement = "{}"
    client_type = WooCommerceClient
    max_body_bytes = 1024 * 1024

    def app_id(self, request: WebhookRequest) -> str | None:
        """The site host: secrets are kept per site."""
        return webhook.site(request)

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """Answer the unsigned ``webhook_id=N`` ping with HTTP 200 (WooCommerce will not save the
        webhook otherwise); nothing is queued for it. None for deliveries."""
        if webhook.is_ping(request):
            return self.acknowledge()
        return None

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise ``SignatureInvalidError`` unless ``X-WC-Webhook-Signature`` matches the body."""
        webhook.verify(request, secrets)

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        return webhook.frame(request)

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        return webhook.decode(self.utf8_payload(envelope))

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """True only when the body is not a whole order (``order.deleted`` carries just the id)."""
        return "status" not in message or "line_items" not in message

    def order_event(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        return order_event(snapshot if snapshot is not None else message, envelope)
