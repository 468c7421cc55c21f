"""WooCommerce webhooks: the creation ping, signature check, framing, decoding.

A delivery is ``POST`` with the resource as JSON and headers ``X-WC-Webhook-Signature`` (base64
HMAC-SHA256 of the raw body keyed with the webhook's secret), ``X-WC-Webhook-Source`` (the site
URL), ``-Topic`` (``order.updated``), ``-Resource``, ``-Event``, ``-ID`` and ``-Delivery-ID``.
When a webhook is saved, WooCommerce first posts ``webhook_id=<N>`` (form-encoded, unsigned, no
``X-WC-*`` headers) and refuses to save it unless the answer is HTTP 200.

Secrets are kept per site host (``shop.example.com``); a delivery names it in ``X-WC-Webhook-Source``,
a ping cannot, so with several sites configured the delivery URL carries ``?site=<host>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import urlsplit

from oms.domain.cleaning import clean_text
from oms.domain.errors import SignatureInvalidError
from oms.domain.ids import content_hash
from oms.platforms._common import load_json, load_json_object, matches_any, rotating_secrets
from oms.platforms.base import AppSecrets, FramedMessage, WebhookRequest

SIGNATURE_HEADER = "x-wc-webhook-signature"
SOURCE_HEADER = "x-wc-webhook-source"
TOPIC_HEADER = "x-wc-webhook-topic"
RESOURCE_HEADER = "x-wc-webhook-resource"
ORDER_RESOURCE = "order"
_PING = re.compile(rb"\s*webhook_id=\d{1,20}\s*")


def webhook_signature(body: bytes, webhook_secret: str) -> str:
    """``X-WC-Webhook-Signature`` for ``body``: base64 of HMAC-SHA256 keyed with the secret.

    Examples
    --------
    >>> digest = hmac.new(b"s", b"{}", hashlib.sha256).digest()
    >>> webhook_signature(b"{}", "s") == base64.b64encode(digest).decode()
    True
    """
    digest = hmac.new(webhook_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def is_ping(request: WebhookRequest) -> bool:
    """True for the ``webhook_id=N`` ping sent when a webhook is created (it carries no signature)."""
    return (
        request.method.upper() == "POST"
        and request.header(SIGNATURE_HEADER) is None
        and _PING.fullmatch(request.body) is not None
    )


def site(request: WebhookRequest) -> str | None:
    """The site host from ``X-WC-Webhook-Source`` (or the ``site`` query parameter), lower-cased."""
    source = (request.header(SOURCE_HEADER) or "").strip()
    try:
        host = urlsplit(source).hostname if "://" in source else source.rstrip("/")
    except ValueError:
        # e.g. "https://[::1/": urlsplit refuses a broken IPv6 literal (found by fuzzing); a
        # source naming no host is no site, and the query parameter may still name one.
        host = None
    if not host:
        host = (request.query.get("site") or "").strip()
    return host.lower() or None


def verify(request: WebhookRequest, secrets: AppSecrets) -> None:
    """Raise ``SignatureInvalidError`` unless the signature matches the body and the webhook secret."""
    given = (request.header(SIGNATURE_HEADER) or "").strip()
    if not given:
        raise SignatureInvalidError("WooCommerce webhook has no signature", header=SIGNATURE_HEADER)
    expected = [
        webhook_signature(request.body, value)
        for value in rotating_secrets(secrets, "webhook_secret", platform="woocommerce")
    ]
    if not matches_any(expected, given):
        raise SignatureInvalidError("WooCommerce webhook signature does not match", header=SIGNATURE_HEADER)


def frame(request: WebhookRequest) -> list[FramedMessage]:
    """The delivery as one message; deliveries about other resources are acknowledged, not queued.

    WooCommerce gives every attempt a new delivery id, so the dedupe id hashes the topic and the
    body: a redelivered identical body is taken once, any real change is a new message.
    """
    body = load_json(request.body, what="body")
    order_id = body.get("id") if isinstance(body, dict) else None
    topic = (request.header(TOPIC_HEADER) or "").strip() or None
    resource = (request.header(RESOURCE_HEADER) or "").strip() or (topic or "").partition(".")[0]
    return [
        FramedMessage(
            dedupe_id=content_hash(topic or "", request.body),
            raw=request.body,
            shop_id=site(request),
            platform_order_id=clean_text(str(order_id))
            if isinstance(order_id, int | str) and not isinstance(order_id, bool) and str(order_id)
            else None,
            event_hint=topic,
            is_test=bool(resource) and resource != ORDER_RESOURCE,
        )
    ]


def decode(payload_text: str) -> dict[str, Any]:
    """The delivery body: a JSON order object."""
    return load_json_object(payload_text, what="body")
