"""Shopify adapter: webhook verification and framing, status map, masking, the Admin API client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oms.domain.cleaning import clean_payload
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    CredentialsMissingError,
    ErrorCode,
    PlatformApiError,
    SchemaInvalidError,
    SignatureInvalidError,
    UnknownStatusError,
)
from oms.domain.ids import content_hash, unified_order_id
from oms.domain.model import OrderEvent, OrderLine, Platform
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms._common import mask_address, mask_name, mask_phone
from oms.platforms.base import FramedMessage, HttpResponse, PlatformAdapter, WebhookRequest
from oms.platforms.shopify import ADAPTER, ShopifyClient
from oms.platforms.shopify.status import FINANCIAL_STATUS_MAP, FULFILLMENT_STATUS_MAP
from oms.platforms.shopify.webhook import webhook_hmac
from tests.support.http import RecordingTransport

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "shopify"
SHOP = "qinghe-home.myshopify.com"
API_SECRET = "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"
ACCESS_TOKEN = "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"
SECRETS = {"api_secret": API_SECRET, "access_token": ACCESS_TOKEN}
WEBHOOK_ID = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


def load_bytes(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def load_json(name: str) -> Any:
    return json.loads(load_bytes(name))


def webhook_request(
    body: bytes,
    *,
    signature: str | None = None,
    topic: str = "orders/paid",
    webhook_id: str | None = WEBHOOK_ID,
) -> WebhookRequest:
    headers = {
        "content-type": "application/json",
        "x-shopify-hmac-sha256": webhook_hmac(body, API_SECRET) if signature is None else signature,
        "x-shopify-shop-domain": SHOP,
        "x-shopify-topic": topic,
        "x-shopify-api-version": "2025-01",
    }
    if webhook_id is not None:
        headers["x-shopify-webhook-id"] = webhook_id
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


def envelope_for(message: FramedMessage) -> IntakeEnvelope:
    raw, encoding = IntakeEnvelope.encode_raw(message.raw)
    return IntakeEnvelope(
        trace_id="trace-1",
        platform=Platform.SHOPIFY,
        app_id=SHOP,
        received_at=datetime(2025, 3, 12, 16, 0, 8, tzinfo=UTC),
        dedupe_id=message.dedupe_id,
        message_group=f"shopify:{message.shop_id}:{message.platform_order_id}",
        shop_id=message.shop_id,
        platform_order_id=message.platform_order_id,
        event_hint=message.event_hint,
        raw=raw,
        raw_encoding=encoding,
    )


def sanitised_event(body: bytes, *, topic: str = "orders/paid") -> OrderEvent:
    """The real path: verify, frame, decode, clean, parse."""
    request = webhook_request(body, topic=topic)
    ADAPTER.verify(request, SECRETS)
    [framed] = ADAPTER.frame(request, SECRETS)
    envelope = envelope_for(framed)
    message, _ = clean_payload(ADAPTER.decode(envelope), "shopify")
    assert ADAPTER.needs_fetch(message) is False
    return ADAPTER.parse(message, None, envelope)


def body_of(order: Mapping[str, Any]) -> bytes:
    return json.dumps(order, ensure_ascii=False).encode("utf-8")


def clock() -> datetime:
    return datetime(2025, 3, 14, 15, 3, 20, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def test_webhook_hmac_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = load_bytes("orders_paid.json")
    expected = base64.b64encode(hmac.new(API_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert webhook_hmac(body, API_SECRET) == expected


def test_verify_accepts_a_correctly_signed_webhook() -> None:
    ADAPTER.verify(webhook_request(load_bytes("orders_paid.json")), SECRETS)


@pytest.mark.parametrize(
    "make_request",
    [
        lambda body: webhook_request(body, signature=webhook_hmac(body, "another-secret")),
        lambda body: webhook_request(body, signature=""),
        lambda body: webhook_request(
            body.replace(b'"99.47"', b'"0.01"'), signature=webhook_hmac(body, API_SECRET)
        ),
        lambda body: webhook_request(
            body, signature=hmac.new(API_SECRET.encode(), body, hashlib.sha256).hexdigest()
        ),
    ],
    ids=["forged", "empty", "altered-body", "hex-instead-of-base64"],
)
def test_verify_rejects_bad_signatures(make_request: Any) -> None:
    with pytest.raises(SignatureInvalidError) as caught:
        ADAPTER.verify(make_request(load_bytes("orders_paid.json")), SECRETS)
    assert caught.value.code == ErrorCode.SIGNATURE_INVALID


def test_verify_rejects_a_webhook_without_the_hmac_header() -> None:
    body = load_bytes("orders_paid.json")
    request = WebhookRequest(method="POST", headers={"x-shopify-shop-domain": SHOP}, query={}, body=body)
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(request, SECRETS)


def test_verify_needs_the_api_secret() -> None:
    with pytest.raises(CredentialsMissingError):
        ADAPTER.verify(webhook_request(load_bytes("orders_paid.json")), {"access_token": ACCESS_TOKEN})


def test_app_id_is_the_shop_domain() -> None:
    request = webhook_request(b"{}")
    assert ADAPTER.app_id(request) == SHOP
    shouting = WebhookRequest(
        method="POST", headers={"x-shopify-shop-domain": " QingHe-Home.myshopify.com "}, query={}, body=b"{}"
    )
    assert ADAPTER.app_id(shouting) == SHOP


# --------------------------------------------------------------------------------------------
# Framing and decoding
# --------------------------------------------------------------------------------------------


def test_frame_gives_one_message_routed_by_shop_and_order() -> None:
    body = load_bytes("orders_paid.json")
    [message] = ADAPTER.frame(webhook_request(body), SECRETS)
    assert message.raw == body
    assert message.dedupe_id == WEBHOOK_ID
    assert message.shop_id == SHOP
    assert message.platform_order_id == "5923717611762"
    assert message.event_hint == "orders/paid"
    assert message.is_test is False


def test_frame_without_a_webhook_id_dedupes_on_content() -> None:
    body = load_bytes("orders_paid.json")
    [message] = ADAPTER.frame(webhook_request(body, webhook_id=None), SECRETS)
    assert message.dedupe_id == content_hash(body)


def test_frame_of_json_that_is_not_an_order_has_no_order_id() -> None:
    [message] = ADAPTER.frame(webhook_request(b'{"shop_id": 1}'), SECRETS)
    assert message.platform_order_id is None


@pytest.mark.parametrize("body", [b"not json", b"", b"\xff{}"])
def test_frame_rejects_a_body_that_is_not_json(body: bytes) -> None:
    with pytest.raises(SchemaInvalidError):
        ADAPTER.frame(webhook_request(body), SECRETS)


def test_decode_rejects_json_that_is_not_an_object() -> None:
    envelope = envelope_for(FramedMessage(dedupe_id="d", raw=b"[1, 2]", shop_id=SHOP))
    with pytest.raises(SchemaInvalidError):
        ADAPTER.decode(envelope)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def test_parse_of_a_paid_order() -> None:
    # GIVEN the orders/paid webhook of a USD order with a discount, tax and shipping
    event = sanitised_event(load_bytes("orders_paid.json"))
    # THEN the event carries the order exactly
    assert event.event_id == WEBHOOK_ID
    assert (event.platform, event.shop_id, event.platform_order_id) == (
        Platform.SHOPIFY,
        SHOP,
        "5923717611762",
    )
    assert event.order_id == unified_order_id("shopify", SHOP, "5923717611762")
    assert event.event_type == "orders/paid"
    assert (event.status, event.refund_status) == (OrderStatus.PAID, RefundStatus.NONE)
    assert event.platform_status == "financial=paid;fulfillment=unfulfilled"
    # AND times are UTC (updated_at is 09:00:07 at UTC-7)
    assert event.event_time == datetime(2025, 3, 12, 16, 0, 7, tzinfo=UTC)
    assert event.placed_at == datetime(2025, 3, 12, 16, 0, 0, tzinfo=UTC)
    assert event.paid_at is None
    # AND amounts are exact decimals in the shop currency
    assert event.currency == "USD"
    assert event.total_amount == Decimal("99.47")
    assert event.paid_amount == Decimal("99.47")
    assert event.shipping_amount == Decimal("9.00")
    assert event.payment_id is None
    assert event.lines == (
        OrderLine(
            line_id="14587269046514",
            sku_id="47123904585970",
            out_sku_id="QH-MUG-350-BL",
            quantity=2,
            unit_price=Decimal("29.00"),
            title="Ceramic Mug 350ml - Haze Blue",
        ),
        OrderLine(
            line_id="14587269079282",
            sku_id="47123904618738",
            out_sku_id="QH-CST-4P",
            quantity=1,
            unit_price=Decimal("36.00"),
            title="Cork Coaster Set (4)",
        ),
    )
    assert event.buyer.buyer_id == "7301928377522"
    assert event.tags == {
        "order_name": "#1042",
        "order_number": "1042",
        "source_name": "web",
        "financial_status": "paid",
        "presentment_currency": "USD",
        "test": "false",
        "shopify_tags": "spring-sale, vip",
        "payment_gateways": "shopify_payments",
        "shipping_country_code": "US",
    }


def test_receiver_data_is_stored_masked_and_never_in_clear() -> None:
    event = sanitised_event(load_bytes("orders_paid.json"))
    receiver = event.receiver
    assert receiver is not None
    assert receiver.name == "W********"
    assert receiver.phone == "*******1234"
    assert (receiver.province, receiver.city) == ("California", "Mountain View")
    assert receiver.detail == "**** A*********** P*** A** *"
    assert receiver.masked is True
    assert receiver.encrypted == {}
    stored = event.model_dump_json()
    for clear in (
        "Wei Zhang",
        "415-555-1234",
        "4155551234",
        "1600 Amphitheatre",
        "Apt 5",
        "wei.zhang@example.com",
    ):
        assert clear not in stored


def test_a_cancelled_and_refunded_order_in_another_offset_and_script() -> None:
    event = sanitised_event(load_bytes("orders_cancelled.json"), topic="orders/cancelled")
    assert (event.status, event.refund_status) == (OrderStatus.CANCELLED, RefundStatus.REFUNDED)
    assert event.event_time == datetime(2025, 3, 13, 1, 5, 46, tzinfo=UTC)
    assert event.tags["cancel_reason"] == "customer"
    assert event.receiver is not None
    assert (event.receiver.name, event.receiver.phone) == ("陳**", "*******4567")
    assert event.receiver.detail == "九**** *** * *** B*"
    stored = event.model_dump_json()
    for clear in ("陳小明", "小明", "6123 4567", "彌敦道", "238"):
        assert clear not in stored


def test_a_partially_fulfilled_order() -> None:
    event = sanitised_event(load_bytes("orders_partially_fulfilled.json"), topic="orders/updated")
    assert event.status == OrderStatus.PARTIALLY_SHIPPED
    assert event.event_time == datetime(2025, 3, 13, 17, 20, 31, tzinfo=UTC)


def test_parse_prefers_a_fetched_snapshot_over_the_webhook_body() -> None:
    request = webhook_request(load_bytes("orders_paid.json"))
    [framed] = ADAPTER.frame(request, SECRETS)
    envelope = envelope_for(framed)
    snapshot = load_json("order_get_response.json")["order"]
    event = ADAPTER.parse(ADAPTER.decode(envelope), snapshot, envelope)
    assert event.status == OrderStatus.SHIPPED
    assert event.event_time == datetime(2025, 3, 14, 15, 3, 20, tzinfo=UTC)


EXPECTED_STATUSES = [
    # (financial_status, fulfillment_status, cancelled_at, closed_at, status, refund)
    ("pending", None, None, None, OrderStatus.PENDING_PAYMENT, RefundStatus.NONE),
    ("authorized", None, None, None, OrderStatus.PENDING_PAYMENT, RefundStatus.NONE),
    ("partially_paid", None, None, None, OrderStatus.PAID, RefundStatus.NONE),
    ("paid", None, None, None, OrderStatus.PAID, RefundStatus.NONE),
    ("paid", "unfulfilled", None, None, OrderStatus.PAID, RefundStatus.NONE),
    ("partially_refunded", None, None, None, OrderStatus.PAID, RefundStatus.PARTIAL),
    ("refunded", None, None, None, OrderStatus.CLOSED, RefundStatus.REFUNDED),
    ("refunded", "restocked", None, None, OrderStatus.CLOSED, RefundStatus.REFUNDED),
    ("voided", None, None, None, OrderStatus.CANCELLED, RefundStatus.NONE),
    ("expired", None, None, None, OrderStatus.CLOSED, RefundStatus.NONE),
    ("paid", "partial", None, None, OrderStatus.PARTIALLY_SHIPPED, RefundStatus.NONE),
    ("paid", "fulfilled", None, None, OrderStatus.SHIPPED, RefundStatus.NONE),
    ("paid", "fulfilled", None, "2025-03-20T10:00:00Z", OrderStatus.COMPLETED, RefundStatus.NONE),
    ("paid", None, None, "2025-03-20T10:00:00Z", OrderStatus.PAID, RefundStatus.NONE),
    ("partially_refunded", "fulfilled", None, None, OrderStatus.SHIPPED, RefundStatus.PARTIAL),
    ("refunded", "fulfilled", None, None, OrderStatus.SHIPPED, RefundStatus.REFUNDED),
    ("authorized", "partial", None, None, OrderStatus.PARTIALLY_SHIPPED, RefundStatus.NONE),
    ("voided", "partial", None, None, OrderStatus.CLOSED, RefundStatus.NONE),
    ("expired", "fulfilled", None, None, OrderStatus.CLOSED, RefundStatus.NONE),
    ("paid", None, "2025-03-13T01:00:00Z", None, OrderStatus.CANCELLED, RefundStatus.NONE),
    (
        "refunded",
        "restocked",
        "2025-03-13T01:00:00Z",
        "2025-03-13T01:00:00Z",
        OrderStatus.CANCELLED,
        RefundStatus.REFUNDED,
    ),
    ("partially_refunded", "partial", "2025-03-13T01:00:00Z", None, OrderStatus.CLOSED, RefundStatus.PARTIAL),
]


@pytest.mark.parametrize(
    ("financial", "fulfillment", "cancelled_at", "closed_at", "status", "refund"), EXPECTED_STATUSES
)
def test_every_documented_status_combination_maps(
    financial: str,
    fulfillment: str | None,
    cancelled_at: str | None,
    closed_at: str | None,
    status: OrderStatus,
    refund: RefundStatus,
) -> None:
    order = load_json("orders_paid.json") | {
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "cancelled_at": cancelled_at,
        "closed_at": closed_at,
    }
    event = sanitised_event(body_of(order))
    assert (event.status, event.refund_status) == (status, refund)


def test_the_status_table_covers_every_platform_status() -> None:
    assert {row[0] for row in EXPECTED_STATUSES} == set(FINANCIAL_STATUS_MAP)
    assert {row[1] for row in EXPECTED_STATUSES} == set(FULFILLMENT_STATUS_MAP)


@pytest.mark.parametrize(
    ("field", "value"),
    [("financial_status", "chargeback_pending"), ("fulfillment_status", "shipped"), ("financial_status", 3)],
)
def test_an_unknown_status_is_reported_with_its_value(field: str, value: Any) -> None:
    order = load_json("orders_paid.json") | {field: value}
    with pytest.raises(UnknownStatusError) as caught:
        sanitised_event(body_of(order))
    assert caught.value.code == ErrorCode.UNKNOWN_STATUS
    assert caught.value.details == {"field": field, "value": str(value)}


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        ("financial_status", "financial_status"),
        ("updated_at", "updated_at"),
        ("id", "id"),
        ("currency", "currency"),
        ("line_items", "line_items"),
    ],
)
def test_a_missing_required_field_is_named(remove: str, field: str) -> None:
    order = load_json("orders_paid.json")
    del order[remove]
    with pytest.raises(SchemaInvalidError) as caught:
        sanitised_event(body_of(order))
    assert caught.value.details["field"] == field


def test_an_updated_at_without_offset_is_refused() -> None:
    order = load_json("orders_paid.json") | {"updated_at": "2025-03-12T09:00:07"}
    with pytest.raises(SchemaInvalidError) as caught:
        sanitised_event(body_of(order))
    assert caught.value.details["field"] == "updated_at"


def test_amounts_follow_the_currency_minor_units() -> None:
    order = load_json("orders_paid.json") | {
        "currency": "JPY",
        "total_price": "12800",
        "total_outstanding": "3000",
    }
    order["total_shipping_price_set"] = {"shop_money": {"amount": "800", "currency_code": "JPY"}}
    event = sanitised_event(body_of(order))
    assert (event.total_amount, event.paid_amount, event.shipping_amount) == (
        Decimal("12800"),
        Decimal("9800"),
        Decimal("800"),
    )


def test_a_float_amount_is_refused() -> None:
    order = load_json("orders_paid.json") | {"total_price": 99.47}
    with pytest.raises(SchemaInvalidError) as caught:
        sanitised_event(body_of(order))
    assert caught.value.details["field"] == "total_price"


def test_a_custom_line_item_without_a_variant_falls_back_to_the_sku_then_the_line() -> None:
    order = load_json("orders_paid.json")
    order["line_items"][0]["variant_id"] = None
    order["line_items"][1]["variant_id"] = None
    order["line_items"][1]["sku"] = ""
    event = sanitised_event(body_of(order))
    assert [(line.sku_id, line.out_sku_id) for line in event.lines] == [
        ("QH-MUG-350-BL", "QH-MUG-350-BL"),
        ("14587269079282", None),
    ]


def test_an_order_without_customer_or_shipping_address() -> None:
    order = load_json("orders_paid.json") | {"customer": None, "shipping_address": None}
    event = sanitised_event(body_of(order))
    assert event.buyer.buyer_id is None
    assert event.receiver is None


# --------------------------------------------------------------------------------------------
# Masking helpers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clear", "masked"), [("张三", "张*"), ("张", "*"), ("Li Lei", "L*****"), ("  ", None), (None, None)]
)
def test_mask_name(clear: str | None, masked: str | None) -> None:
    assert mask_name(clear) == masked


@pytest.mark.parametrize(
    ("clear", "masked"),
    [("13812341234", "*******1234"), ("+86 138-1234-1234", "*********1234"), ("1234", "****"), ("n/a", None)],
)
def test_mask_phone(clear: str, masked: str | None) -> None:
    assert mask_phone(clear) == masked


def test_mask_address_hides_numbers_and_all_but_initials() -> None:
    assert mask_address("123 Main Street") == "*** M*** S*****"
    assert mask_address("崇文路88号3栋") == "崇*******"
    assert mask_address("   ") is None


# --------------------------------------------------------------------------------------------
# API client
# --------------------------------------------------------------------------------------------


def test_fetch_order_gets_the_order_with_the_access_token() -> None:
    reply = load_json("order_get_response.json")
    transport = RecordingTransport(HttpResponse(status=200, body=body_of(reply)))
    client = ADAPTER.client(SECRETS, transport, clock=clock)
    order = client.fetch_order(SHOP, "5923717611762")
    assert order == reply["order"]
    [sent] = transport.requests
    assert sent["method"] == "GET"
    assert sent["url"] == f"https://{SHOP}/admin/api/2025-01/orders/5923717611762.json"
    assert sent["headers"]["X-Shopify-Access-Token"] == ACCESS_TOKEN
    assert sent["body"] is None


def test_fetch_order_through_a_simulator_base_url_naming_the_shop() -> None:
    reply = load_json("order_get_response.json")
    transport = RecordingTransport(HttpResponse(status=200, body=body_of(reply)))
    client = ShopifyClient(SECRETS, transport, base_url="http://127.0.0.1:3100/shopify/{shop}/", clock=clock)
    client.fetch_order(SHOP, "5923717611762")
    assert transport.requests[0]["url"] == (
        f"http://127.0.0.1:3100/shopify/{SHOP}/admin/api/2025-01/orders/5923717611762.json"
    )


def test_throttling_is_a_retryable_error_carrying_retry_after() -> None:
    response = HttpResponse(
        status=429, body=load_bytes("order_get_throttled.json"), headers={"Retry-After": "2.0"}
    )
    client = ADAPTER.client(SECRETS, RecordingTransport(response), clock=clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SHOP, "5923717611762")
    assert caught.value.retryable is True
    assert caught.value.details["retry_after"] == "2.0"
    assert caught.value.details["http_status"] == 429
    assert "Exceeded 2 calls per second" in caught.value.message


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (401, False), (503, True)])
def test_other_http_errors(status: int, retryable: bool) -> None:
    response = HttpResponse(status=status, body=b'{"errors":"Not Found"}')
    client = ADAPTER.client(SECRETS, RecordingTransport(response), clock=clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SHOP, "5923717611762")
    assert caught.value.retryable is retryable
    assert caught.value.details["http_status"] == status


def test_a_reply_without_an_order_is_a_schema_error() -> None:
    client = ADAPTER.client(
        SECRETS, RecordingTransport(HttpResponse(status=200, body=b'{"orders":[]}')), clock=clock
    )
    with pytest.raises(SchemaInvalidError):
        client.fetch_order(SHOP, "5923717611762")


@pytest.mark.parametrize(
    "shop", ["evil.example/x", "qinghe-home.myshopify.com:8443", "", "UPPER.myshopify.com"]
)
def test_a_shop_id_that_is_not_a_host_name_is_refused_before_any_request(shop: str) -> None:
    transport = RecordingTransport()
    client = ADAPTER.client(SECRETS, transport, clock=clock)
    with pytest.raises(SchemaInvalidError):
        client.fetch_order(shop, "1")
    assert transport.requests == []


def test_the_client_needs_an_access_token() -> None:
    with pytest.raises(CredentialsMissingError):
        ADAPTER.client({"api_secret": API_SECRET}, RecordingTransport(), clock=clock)


# --------------------------------------------------------------------------------------------
# The adapter as the registry sees it
# --------------------------------------------------------------------------------------------


def test_the_adapter_satisfies_the_platform_protocol() -> None:
    assert isinstance(ADAPTER, PlatformAdapter)
    assert ADAPTER.platform == Platform.SHOPIFY
    assert ADAPTER.max_body_bytes == 1024 * 1024
    assert ADAPTER.acknowledge().status == 200
    assert json.loads(ADAPTER.acknowledge().body) == {}
    assert ADAPTER.handshake(webhook_request(b"{}"), SECRETS) is None
