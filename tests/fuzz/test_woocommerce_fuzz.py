"""Fuzzing the WooCommerce adapter: only typed errors, bounded time and memory, for any input."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from oms.domain.model import Platform
from oms.platforms.base import WebhookRequest
from oms.platforms.woocommerce import ADAPTER
from oms.platforms.woocommerce.webhook import webhook_signature
from tests.fuzz.adapter_suite import check_decode, check_frame, check_parse, check_verify
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
)

SITE = "fuzz-shop.example"
SECRETS: dict[str, Any] = {"webhook_secret": "fuzz-woocommerce-webhook-secret"}
ORDER = load_sample("woocommerce", "order_updated_processing.json")


def signed(body: bytes, topic: str = "order.updated") -> WebhookRequest:
    headers = {
        "x-wc-webhook-source": f"https://{SITE}/",
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-signature": webhook_signature(body, SECRETS["webhook_secret"]),
        "x-wc-webhook-delivery-id": "1",
    }
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


@fuzz_settings()
@given(
    body=hostile_bytes,
    signature=header_values,
    source=header_values,
    topic=header_values,
    content_type=st.sampled_from((None, "application/json", "application/x-www-form-urlencoded")),
)
@example(
    body=b"webhook_id=1",
    signature=None,
    source=None,
    topic=None,
    content_type="application/x-www-form-urlencoded",
)
@example(body=b"webhook_id=" + b"9" * 5000, signature=None, source=None, topic=None, content_type=None)
@example(body=b"webhook_id=%FF%FE", signature=None, source="\u200b", topic=None, content_type=None)
@example(body=b"{}", signature="\ud800", source="https://[::1/", topic="order.updated", content_type=None)
def test_verify_only_raises_typed_errors(
    body: bytes, signature: str | None, source: str | None, topic: str | None, content_type: str | None
) -> None:
    pairs = (
        ("x-wc-webhook-signature", signature),
        ("x-wc-webhook-source", source),
        ("x-wc-webhook-topic", topic),
        ("content-type", content_type),
    )
    headers = {name: value for name, value in pairs if value is not None}
    check_verify(ADAPTER, WebhookRequest(method="POST", headers=headers, query={}, body=body), SECRETS)


@fuzz_settings()
@given(body=st.one_of(mutated(ORDER).map(json_bytes), hostile_bytes), topic=header_values)
@example(body=DEEP_ARRAY, topic="order.updated")
@example(body=DEEP_OBJECT, topic="order.created")
@example(body=WIDE_ARRAY, topic="order.updated")
@example(body=b'{"id":' + b"9" * 5000 + b"}", topic="order.deleted")
@example(body=b'{"id":"\xff"}', topic="order.updated")
def test_a_signed_delivery_frames_or_raises_typed_errors(body: bytes, topic: str | None) -> None:
    request = signed(body, topic or "")
    check_verify(ADAPTER, request, SECRETS)
    check_frame(ADAPTER, request, SECRETS)


@fuzz_settings()
@given(raw=st.one_of(hostile_bytes, mutated(ORDER).map(json_bytes)))
@example(raw=DEEP_OBJECT)
@example(raw=b'{"status":"processing","line_items":' + b"[" * 100_000 + b"}")
def test_decode_only_raises_typed_errors(raw: bytes) -> None:
    check_decode(ADAPTER, envelope(Platform.WOOCOMMERCE, raw, shop_id=SITE), "woocommerce")


@fuzz_settings()
@given(
    message=mutated(ORDER),
    clean=st.booleans(),
    shop_id=st.one_of(st.none(), st.sampled_from((SITE, "x" * 300, "\u200b"))),
)
@example(message={**ORDER, "total": "1e4000"}, clean=False, shop_id=SITE)
@example(message={**ORDER, "total": "NaN"}, clean=False, shop_id=SITE)
@example(message={**ORDER, "date_modified_gmt": "9999-12-31T23:59:59"}, clean=False, shop_id=SITE)
@example(message={**ORDER, "date_modified_gmt": "0001-01-01T00:00:00"}, clean=False, shop_id=SITE)
@example(message={**ORDER, "refunds": [{"total": "-Infinity"}]}, clean=False, shop_id=SITE)
@example(
    message={**ORDER, "line_items": [{**ORDER["line_items"][0], "quantity": 10**4000}]},
    clean=False,
    shop_id=SITE,
)
def test_parse_only_raises_typed_errors(message: Any, clean: bool, shop_id: str | None) -> None:
    # a delivery is the whole order: the message is also the snapshot a fetch would return
    check_parse(
        ADAPTER, message, message, platform="woocommerce", clean=clean, shop_id=shop_id, order_id="4127"
    )
