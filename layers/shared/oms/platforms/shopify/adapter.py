"""The Shopify platform adapter: the one object ``oms.platforms`` registers.

Each store runs its own custom app, so the "app id" is the shop domain
(``X-Shopify-Shop-Domain``) and secrets are stored per shop domain:
``{"api_secret": "...", "access_token": "..."}``. See ``docs/platforms/shopify.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
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
from oms.platforms.shopify import webhook
from oms.platforms.shopify.client import DEFAULT_BASE_URL, ShopifyClient
from oms.platforms.shopify.order import order_event


class ShopifyAdapter:
    """Verify, frame, decode and parse Shopify order webhooks; build the Admin API client.

    Examples
    --------
    >>> from oms.platforms.shopify import ADAPTER
    >>> ADAPTER.acknowledge().status
    200
    """

    platform: Platform = Platform.SHOPIFY
    max_body_bytes: int = 1024 * 1024
    #: ``{shop}`` is replaced by the shop domain: every store is its own API host.
    default_base_url: str = DEFAULT_BASE_URL
    #: The push signature covers no timestamp.
    freshness: FreshnessWindow | None = None

    def app_id(self, request: WebhookRequest) -> str | None:
        """The shop domain (``X-Shopify-Shop-Domain``, lower-cased): secrets are kept per store."""
        return webhook.shop_domain(request)

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """Shopify has no URL-verification request: always ``None``."""
        return None

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise ``SignatureInvalidError`` unless ``X-Shopify-Hmac-SHA256`` matches the body."""
        webhook.verify(request, secrets)

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """Always ``None``: the HMAC covers the body only, so staleness cannot be checked; replays are
        deduplicated instead."""
        return None

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """The webhook as one message (deduplicated on ``X-Shopify-Webhook-Id``)."""
        return webhook.frame(request)

    def acknowledge(self) -> WebhookReply:
        return WebhookReply(status=200, body="{}")

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The order object the webhook carries."""
        try:
            text = envelope.payload_text
        except UnicodeDecodeError as exc:
            raise SchemaInvalidError("Shopify webhook body is not UTF-8", field="body") from exc
        return webhook.decode(text)

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """Never: an order webhook carries the whole order."""
        return False

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from the order (the fetched snapshot, when one was fetched)."""
        try:
            return order_event(snapshot if snapshot is not None else message, envelope)
        except ValidationError as error:
            raise schema_violation(error, what="Shopify order") from None

    def client(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> PlatformClient:
        return ShopifyClient(secrets, transport, base_url=base_url, clock=clock)
