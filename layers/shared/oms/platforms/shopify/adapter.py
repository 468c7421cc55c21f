"""The Shopify platform adapter: the one object ``oms.platforms`` registers.

Each store runs its own custom app, so the "app id" is the shop domain
(``X-Shopify-Shop-Domain``) and secrets are stored per shop domain:
``{"api_secret": "...", "access_token": "..."}``. See ``docs/platforms/shopify.md``.
"""

from __future__ import annotations

from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform
from oms.platforms._push import PushedPlatformAdapter
from oms.platforms.base import AppSecrets, FramedMessage, WebhookRequest
from oms.platforms.shopify import webhook
from oms.platforms.shopify.client import DEFAULT_BASE_URL, ShopifyClient
from oms.platforms.shopify.order import order_event


class ShopifyAdapter(PushedPlatformAdapter):
    """Verify, frame, decode and parse Shopify order webhooks; build the Admin API client.

    No URL-verification request; the HMAC covers the body only (no freshness window).
    ``default_base_url`` holds ``{shop}``, replaced by the shop domain: every store is its own host.

    Examples
    --------
    >>> from oms.platforms.shopify import ADAPTER
    >>> ADAPTER.acknowledge().status
    200
    """

    platform = Platform.SHOPIFY
    label = "Shopify"
    default_base_url = DEFAULT_BASE_URL
    acknowledgement = "{}"
    client_type = ShopifyClient
    max_body_bytes = 1024 * 1024

    def app_id(self, request: WebhookRequest) -> str | None:
        """The shop domain (``X-Shopify-Shop-Domain``, lower-cased): secrets are kept per store."""
        return webhook.shop_domain(request)

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise ``SignatureInvalidError`` unless ``X-Shopify-Hmac-SHA256`` matches the body."""
        webhook.verify(request, secrets)

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """The webhook as one message (deduplicated on ``X-Shopify-Webhook-Id``)."""
        return webhook.frame(request)

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The order object the webhook carries."""
        return webhook.decode(self.utf8_payload(envelope))

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """Never: an order webhook carries the whole order."""
        return False

    def order_event(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from the order (the fetched snapshot, when one was fetched)."""
        return order_event(snapshot if snapshot is not None else message, envelope)
