"""Fuzzing the Shopify adapter: only typed errors, bounded time and memory, for any input."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from oms.domain.cleaning import clean_payload
from oms.domain.model import OrderEvent, Platform
from oms.platforms.base import WebhookRequest
from oms.platforms.shopify import ADAPTER
from oms.platforms.shopify.webhook import webhook_hmac
from tests.fuzz.support import (
    DEEP_ARRAY,
    DEEP_OBJECT,
    WIDE_ARRAY,
    envelope,
    fuzz_settings,
    header_values,
    hostile_bytes,
    json_bytes,
    load_sample,
    mutated,
    outcome,
)

SHOP = "fuzz-shop.myshopify.com"
SECRETS: dict[str, Any] = {"api_secret": "fuzz-shopify-api-secret", "access_token": "shpat_fuzz"}
ORDER = load_sample("shopify", "orders_paid.json")
SNAPSHOT = load_sample("shopify", "order_get_response.json")["order"]


def signed(body: bytes, **headers: str) -> WebhookRequest:
    values = {
        "x-shopify-hmac-sha256": webhook_hmac(body, SECRETS["api_secret"]),
        "x-shopify-shop-domain": SHOP,
        "x-shopify-topic": "orders/paid",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }
    return WebhookRequest(method="POST", headers=values | headers, query={}, body=body)


@fuzz_settings()
@given(body=hostile_bytes, hmac_header=header_values, shop=header_values)
@example(body=DEEP_ARRAY, hmac_header=webhook_hmac(DEEP_ARRAY, "fuzz-shopify-api-secret"), shop=SHOP)
@example(body=b"{}", hmac_header="\ud800", shop="\udfff")  # found: UnicodeEncodeError in the comparison
def test_verify_only_raises_typed_errors(body: bytes, hmac_header: str | None, shop: str | None) -> None:
    headers = {
        name: value
        for name, value in (("x-shopify-hmac-sha256", hmac_header), ("x-shopify-shop-domain", shop))
        if value is not None
    }
    request = WebhookRequest(method="POST", headers=headers, query={}, body=body)
    outcome(lambda: ADAPTER.verify(request, SECRETS))
    outcome(lambda: ADAPTER.app_id(request))
    assert outcome(lambda: ADAPTER.handshake(request, SECRETS)) is None


@fuzz_settings()
@given(
    body=st.one_of(mutated(ORDER).map(json_bytes), hostile_bytes),
    webhook_id=header_values,
    topic=header_values,
)
@example(body=DEEP_ARRAY, webhook_id="w", topic="orders/paid")  # found: RecursionError
@example(body=DEEP_OBJECT, webhook_id="w", topic="orders/paid")
@example(body=b'{"id":1,"line_items":' + WIDE_ARRAY + b"}", webhook_id="w", topic="orders/paid")
@example(body=b'{"id":' + b"9" * 5000 + b"}", webhook_id="w" * 500, topic="\u200b")
def test_a_signed_webhook_frames_or_raises_typed_errors(
    body: bytes, webhook_id: str | None, topic: str | None
) -> None:
    extra = {
        name: value
        for name, value in (("x-shopify-webhook-id", webhook_id), ("x-shopify-topic", topic))
        if value is not None
    }
    request = signed(body, **extra)
    assert outcome(lambda: ADAPTER.verify(request, SECRETS)) is None
    framed = outcome(lambda: ADAPTER.frame(request, SECRETS))
    if isinstance(framed, list):
        assert len(framed) == 1
        assert 1 <= len(framed[0].dedupe_id) <= 128


@fuzz_settings()
@given(raw=st.one_of(mutated(ORDER).map(json_bytes), hostile_bytes))
@example(raw=DEEP_OBJECT)
@example(raw=b'{"id":1,"line_items":' + WIDE_ARRAY + b"}")
@example(raw=b'{"id":1,"note":"\xed\xa0\x80"}')
def test_decode_only_raises_typed_errors(raw: bytes) -> None:
    decoded = outcome(lambda: ADAPTER.decode(envelope(Platform.SHOPIFY, raw)))
    if isinstance(decoded, dict):
        assert outcome(lambda: ADAPTER.needs_fetch(decoded)) is False
        clean_payload(decoded, "shopify")


@fuzz_settings()
@given(
    message=mutated(ORDER),
    snapshot=st.one_of(st.none(), mutated(SNAPSHOT)),
    clean=st.booleans(),
    topic=st.one_of(st.none(), st.sampled_from(("orders/paid", "orders/cancelled", "x" * 300))),
)
@example(message={**ORDER, "total_price": "1e999999"}, snapshot=None, clean=False, topic=None)  # found
@example(message={**ORDER, "id": "9" * 300}, snapshot=None, clean=False, topic=None)  # found
@example(
    message={**ORDER, "updated_at": "0001-01-01T00:00:00+01:00"}, snapshot=None, clean=False, topic=None
)  # found
@example(message={**ORDER, "currency": "ＣＮＹ"}, snapshot=None, clean=False, topic=None)
@example(message={**ORDER, "total_price": "-12.30"}, snapshot=None, clean=False, topic=None)
def test_parse_only_raises_typed_errors(message: Any, snapshot: Any, clean: bool, topic: str | None) -> None:
    if clean:
        message, _ = clean_payload(message, "shopify")
        snapshot, _ = clean_payload(snapshot, "shopify")
    target = envelope(Platform.SHOPIFY, b"{}", shop_id=SHOP, event_hint=topic)
    if isinstance(message, dict):
        event = outcome(
            lambda: ADAPTER.parse(message, snapshot if isinstance(snapshot, dict) else None, target)
        )
        if not isinstance(event, BaseException):
            assert isinstance(event, OrderEvent)
