"""The WooCommerce platform adapter: the one object ``oms.platforms`` registers.

Every site is its own store, so the "app id" is the site host (from ``X-WC-Webhook-Source``, or
``?site=`` on the delivery URL) and secrets are stored per host::

    {"webhook_secret": "...", "consumer_key": "ck_...", "consumer_secret": "cs_..."}

``previous_webhook_secret`` is accepted during a rotation. See ``docs/platforms/woocommerce.md``.
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
from oms.platforms.woocommerce import webhook
from oms.platforms.woocommerce.client import DEFAULT_BASE_URL, WooCommerceClient
from oms.platforms.woocommerce.order import order_event


class WooCommerceAdapter:
    """Verify, frame, decode and parse WooCommerce order webhooks; build the REST client.

    Examples
    --------
    >>> from oms.platforms.woocommerce import ADAPTER
    >>> ADAPTER.acknowledge().status
    200
    """

    platform: Platform = Platform.WOOCOMMERCE
    max_body_bytes: int = 1024 * 1024
    default_base_url: str = DEFAULT_BASE_URL
    #: The signature covers the body only: replays are deduplicated, not timed out.
    freshness: FreshnessWindow | None = None

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

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """Always ``None``: no signed time."""
        return None

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        return webhook.frame(request)

    def acknowledge(self) -> WebhookReply:
        return WebhookReply(status=200, body="{}")

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        try:
            text = envelope.payload_text
        except UnicodeDecodeError as exc:
            raise SchemaInvalidError("WooCommerce webhook body is not UTF-8", field="body") from exc
        return webhook.decode(text)

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """True only when the body is not a whole order (``order.deleted`` carries just the id)."""
        return "status" not in message or "line_items" not in message

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        try:
            return order_event(snapshot if snapshot is not None else message, envelope)
        except ValidationError as error:
            raise schema_violation(error, what="WooCommerce order") from None

    def client(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> PlatformClient:
        return WooCommerceClient(secrets, transport, base_url=base_url, clock=clock)
