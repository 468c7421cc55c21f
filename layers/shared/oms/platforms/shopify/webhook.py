"""Shopify webhooks: verify, frame, decode.

``X-Shopify-Hmac-SHA256`` is the base64 HMAC-SHA256 of the raw body keyed with the app's API
secret. Each store runs its own custom app, so secrets are looked up by the shop domain
(``X-Shopify-Shop-Domain``). Webhooks repeat and arrive out of order (``orders/paid`` before
``orders/create``): they are deduplicated on ``X-Shopify-Webhook-Id`` and ordered by
``updated_at``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from oms.domain.errors import SignatureInvalidError
from oms.domain.ids import content_hash
from oms.platforms._common import load_json, load_json_object, matches_any, rotating_secrets
from oms.platforms.base import AppSecrets, FramedMessage, WebhookRequest

HMAC_HEADER = "x-shopify-hmac-sha256"
SHOP_DOMAIN_HEADER = "x-shopify-shop-domain"
TOPIC_HEADER = "x-shopify-topic"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
MAX_DEDUPE_ID_LENGTH = 128


def webhook_hmac(body: bytes, api_secret: str) -> str:
    """The ``X-Shopify-Hmac-SHA256`` value for ``body``: base64 of HMAC-SHA256 keyed with the secret.

    Examples
    --------
    >>> webhook_hmac(b"{}", "secret") == base64.b64encode(
    ...     hmac.new(b"secret", b"{}", hashlib.sha256).digest()).decode()
    True
    """
    return base64.b64encode(hmac.new(api_secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def verify(request: WebhookRequest, secrets: AppSecrets) -> None:
    """Raise ``SignatureInvalidError`` unless the HMAC header matches the body and the API secret."""
    given = request.header(HMAC_HEADER)
    if not given:
        raise SignatureInvalidError("Shopify webhook has no HMAC header", header=HMAC_HEADER)
    expected = [
        webhook_hmac(request.body, api_secret)
        for api_secret in rotating_secrets(secrets, "api_secret", platform="shopify")
    ]
    if not matches_any(expected, given.strip()):
        raise SignatureInvalidError("Shopify webhook signature does not match", header=HMAC_HEADER)


def shop_domain(request: WebhookRequest) -> str | None:
    value = request.header(SHOP_DOMAIN_HEADER)
    return value.strip().lower() if value and value.strip() else None


def frame(request: WebhookRequest) -> list[FramedMessage]:
    """The webhook as one message, routed by shop domain and order id.

    Raises
    ------
    SchemaInvalidError
        When the body is not JSON.
    """
    body = load_json(request.body, what="body")
    order_id = body.get("id") if isinstance(body, dict) else None
    return [
        FramedMessage(
            dedupe_id=_dedupe_id(request),
            raw=request.body,
            shop_id=shop_domain(request),
            platform_order_id=str(order_id)
            if isinstance(order_id, int | str) and not isinstance(order_id, bool) and str(order_id)
            else None,
            event_hint=(request.header(TOPIC_HEADER) or "").strip() or None,
        )
    ]


def decode(payload_text: str) -> dict[str, Any]:
    """The webhook body: a JSON order object."""
    return load_json_object(payload_text, what="body")


def _dedupe_id(request: WebhookRequest) -> str:
    webhook_id = (request.header(WEBHOOK_ID_HEADER) or "").strip()
    if webhook_id and len(webhook_id) <= MAX_DEDUPE_ID_LENGTH:
        return webhook_id
    return content_hash(request.body)
