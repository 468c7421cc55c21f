"""WooCommerce adapter: webhook signature and ping, parsing with masking, status map, REST client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from local.simulator import LineSpec, PlatformSimulator, SimRequest, load_credentials
from local.simulators import woocommerce as sim
from oms.domain.cleaning import clean_payload
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    CredentialsMissingError,
    PlatformApiError,
    SchemaInvalidError,
    SignatureInvalidError,
    UnknownStatusError,
)
from oms.domain.model import OrderEvent, Platform
from oms.domain.status import OrderStatus, RefundStatus, can_transition
from oms.platforms import get_adapter
from oms.platforms.base import FramedMessage, HttpResponse, HttpTransport, PlatformAdapter, WebhookRequest
from oms.platforms.woocommerce import ADAPTER, WooCommerceClient
from oms.platforms.woocommerce.order import utc_from_gmt
from oms.platforms.woocommerce.status import STATUS_MAP, map_status
from oms.platforms.woocommerce.webhook import webhook_signature
from tests.support.http import RecordingTransport, json_response

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "woocommerce"
SITE = "demo-woo-1.example"
SITE_URL = f"https://{SITE}/"
SECRETS: dict[str, Any] = {
    "webhook_secret": "test-woocommerce-webhook-secret-not-real",
    "consumer_key": "ck_test_demo_woo_1_not_real",
    "consumer_secret": "cs_test_demo_woo_1_not_real",
}


def order_json(name: str = "order_updated_processing.json") -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def delivery(
    order: Mapping[str, Any], topic: str = "order.updated", secret: str | None = None
) -> WebhookRequest:
    headers, body = sim.webhook(order, topic, SITE_URL, secret or SECRETS["webhook_secret"])
    return WebhookRequest("POST", headers, {}, body)


def envelope_for(message: FramedMessage) -> IntakeEnvelope:
    raw, encoding = IntakeEnvelope.encode_raw(message.raw)
    return IntakeEnvelope(
        trace_id="trace-1",
        platform=Platform.WOOCOMMERCE,
        app_id=SITE,
        received_at=datetime(2026, 2, 4, 16, 0, 3, tzinfo=UTC),
        dedupe_id=message.dedupe_id,
        message_group=f"woocommerce:{message.shop_id}:{message.platform_order_id}",
        shop_id=message.shop_id,
        platform_order_id=message.platform_order_id,
        event_hint=message.event_hint,
        raw=raw,
        raw_encoding=encoding,
    )


def event_from(order: Mapping[str, Any]) -> OrderEvent:
    request = delivery(order)
    ADAPTER.verify(request, SECRETS)
    envelope = envelope_for(ADAPTER.frame(request, SECRETS)[0])
    message, _ = clean_payload(ADAPTER.decode(envelope), "woocommerce")
    assert not ADAPTER.needs_fetch(message)
    return ADAPTER.parse(message, None, envelope)


def clock() -> datetime:
    return datetime(2026, 2, 4, 16, 0, 3, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------------


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    digest = hmac.new(b"secret", b'{"id":1}', hashlib.sha256).digest()
    assert webhook_signature(b'{"id":1}', "secret") == base64.b64encode(digest).decode()


def test_the_adapter_is_registered_and_satisfies_the_protocol() -> None:
    assert get_adapter("woocommerce") is ADAPTER
    assert isinstance(ADAPTER, PlatformAdapter)


def test_a_signed_delivery_verifies_and_frames_by_site_and_order() -> None:
    request = delivery(order_json())
    assert ADAPTER.app_id(request) == SITE
    ADAPTER.verify(request, SECRETS)
    (message,) = ADAPTER.frame(request, SECRETS)
    assert (message.shop_id, message.platform_order_id, message.event_hint, message.is_test) == (
        SITE,
        "4127",
        "order.updated",
        False,
    )
    assert message.raw == request.body


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: WebhookRequest(r.method, r.headers, r.query, r.body.replace(b"111.90", b"1.90")),
        lambda r: WebhookRequest(r.method, {**r.headers, "x-wc-webhook-signature": "AAAA"}, r.query, r.body),
        lambda r: WebhookRequest(
            r.method, {k: v for k, v in r.headers.items() if k != "x-wc-webhook-signature"}, r.query, r.body
        ),
    ],
    ids=["body", "signature", "unsigned"],
)
def test_forged_deliveries_are_refused(tamper: Any) -> None:
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(tamper(delivery(order_json())), SECRETS)


def test_the_previous_webhook_secret_verifies_during_rotation() -> None:
    request = delivery(order_json(), secret="old-secret")
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(request, SECRETS)
    ADAPTER.verify(request, SECRETS | {"previous_webhook_secret": "old-secret"})


def test_the_creation_ping_is_answered_200_by_the_handshake() -> None:
    headers, body = sim.ping(7)
    assert body == (EVENTS / "ping_body.txt").read_bytes()
    ping = WebhookRequest("POST", headers, {"site": SITE}, body)
    assert ADAPTER.app_id(ping) == SITE
    reply = ADAPTER.handshake(ping, SECRETS)
    assert reply is not None
    assert reply.status == 200
    # a delivery, or a "ping" that carries a signature, is no ping
    assert ADAPTER.handshake(delivery(order_json()), SECRETS) is None
    signed = WebhookRequest("POST", {"x-wc-webhook-signature": "x"}, {}, body)
    assert ADAPTER.handshake(signed, SECRETS) is None


def test_a_redelivered_body_dedupes_and_a_change_does_not() -> None:
    first = ADAPTER.frame(delivery(order_json()), SECRETS)[0]
    again = ADAPTER.frame(delivery(order_json()), SECRETS)[0]
    changed = ADAPTER.frame(delivery(order_json() | {"status": "completed"}), SECRETS)[0]
    assert first.dedupe_id == again.dedupe_id != changed.dedupe_id


def test_deliveries_about_products_are_acknowledged_not_enqueued() -> None:
    (message,) = ADAPTER.frame(delivery({"id": 4129, "name": "Oolong"}, topic="product.updated"), SECRETS)
    assert message.is_test


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def test_the_order_becomes_a_canonical_event_with_gmt_times_and_masked_receiver() -> None:
    event = event_from(order_json())
    assert (event.status, event.refund_status) == (OrderStatus.PAID, RefundStatus.NONE)
    assert (event.total_amount, event.paid_amount, event.shipping_amount, event.currency) == (
        Decimal("111.90"),
        Decimal("111.90"),
        Decimal("12.00"),
        "CNY",
    )
    # date_modified says 2026-02-05T00:00:00 (site time, UTC+8); the GMT twin is what counts
    assert event.event_time == datetime(2026, 2, 4, 16, 0, tzinfo=UTC)
    assert event.placed_at == datetime(2026, 2, 4, 15, 58, tzinfo=UTC)
    (line,) = event.lines
    assert (line.sku_id, line.out_sku_id, line.quantity, line.unit_price) == (
        "4130",
        "TEA-OOLONG-250",
        2,
        Decimal("49.95"),
    )
    receiver = event.receiver
    assert receiver is not None
    assert (receiver.name, receiver.phone, receiver.city, receiver.province) == (
        "S***********",
        "*********0000",
        "Hangzhou",
        "ZJ",
    )
    assert "Example" not in (receiver.detail or "")
    assert event.payment_id == "2026020422001400001"
    assert event.buyer.buyer_id == "17"
    assert event.tags["shipping_country"] == "CN"


def test_a_refunded_order_closes_and_a_partial_refund_is_partial() -> None:
    refunded = event_from(order_json("order_get_refunded.json"))
    assert (refunded.status, refunded.refund_status) == (OrderStatus.CLOSED, RefundStatus.REFUNDED)
    partial = order_json() | {"refunds": [{"id": 1, "reason": "", "total": "-5.00"}]}
    assert event_from(partial).refund_status == RefundStatus.PARTIAL


def test_a_deleted_order_notice_is_completed_from_the_order_api_and_closes() -> None:
    request = delivery({"id": 4127}, topic="order.deleted")
    envelope = envelope_for(ADAPTER.frame(request, SECRETS)[0])
    message = ADAPTER.decode(envelope)
    assert ADAPTER.needs_fetch(message)
    assert not ADAPTER.needs_fetch(order_json())
    event = ADAPTER.parse(message, order_json() | {"status": "trash"}, envelope)
    assert (event.status, event.event_type, event.platform_order_id) == (
        OrderStatus.CLOSED,
        "order.deleted",
        "4127",
    )


def test_a_float_amount_is_refused() -> None:
    with pytest.raises(SchemaInvalidError):
        event_from(order_json() | {"total": 111.9})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-04T16:00:00", datetime(2026, 2, 4, 16, 0, tzinfo=UTC)),
        ("2026-02-05T00:00:00+08:00", datetime(2026, 2, 4, 16, 0, tzinfo=UTC)),
        (None, None),
    ],
)
def test_gmt_times_are_utc(value: Any, expected: datetime | None) -> None:
    assert utc_from_gmt(value, field="t") == expected


def test_a_malformed_time_is_a_schema_error() -> None:
    with pytest.raises(SchemaInvalidError):
        utc_from_gmt("yesterday", field="date_modified_gmt")


# --------------------------------------------------------------------------------------------
# Statuses
# --------------------------------------------------------------------------------------------


def test_every_documented_status_is_mapped() -> None:
    documented = {
        "pending",
        "processing",
        "on-hold",
        "completed",
        "cancelled",
        "refunded",
        "failed",
        "checkout-draft",
    }
    assert set(STATUS_MAP) == documented | {"trash"}


def test_cancelled_only_before_completion_and_failed_payments_may_still_be_paid() -> None:
    failed, _ = map_status({"status": "failed"})
    assert can_transition(failed, map_status({"status": "processing"})[0])
    assert can_transition(map_status({"status": "processing"})[0], map_status({"status": "cancelled"})[0])
    assert not can_transition(map_status({"status": "completed"})[0], map_status({"status": "cancelled"})[0])
    assert map_status({"status": "wc-processing"})[0] == OrderStatus.PAID


@pytest.mark.parametrize("status", ["wc-shipped", "shipped-custom", 3])
def test_unknown_statuses_are_reported(status: Any) -> None:
    with pytest.raises(UnknownStatusError):
        map_status({"status": status})


# --------------------------------------------------------------------------------------------
# REST client
# --------------------------------------------------------------------------------------------


def test_fetch_order_uses_basic_auth_on_the_site() -> None:
    transport = RecordingTransport(json_response(order_json()))
    client = ADAPTER.client(SECRETS, transport, clock=clock)
    assert client.fetch_order(SITE, "4127")["id"] == 4127
    (request,) = transport.requests
    assert (request["method"], request["url"]) == ("GET", f"https://{SITE}/wp-json/wc/v3/orders/4127")
    expected = base64.b64encode(b"ck_test_demo_woo_1_not_real:cs_test_demo_woo_1_not_real").decode()
    assert request["headers"]["Authorization"] == f"Basic {expected}"


@pytest.mark.parametrize(
    ("product_id", "path"),
    [(None, "/products/4130"), ("4129", "/products/4129/variations/4130"), ("4130", "/products/4130")],
)
def test_update_stock_puts_the_total(product_id: str | None, path: str) -> None:
    transport = RecordingTransport(json_response({"id": 4130, "stock_quantity": 9}))
    WooCommerceClient(SECRETS, transport).update_stock(SITE, "4130", 9, product_id=product_id)
    (request,) = transport.requests
    assert (request["method"], urlsplit(request["url"]).path) == ("PUT", f"/wp-json/wc/v3{path}")
    assert json.loads(request["body"]) == {"manage_stock": True, "stock_quantity": 9}


@pytest.mark.parametrize(
    ("response", "retryable"),
    [
        (HttpResponse(status=429, body=b"", headers={"Retry-After": "3"}), True),
        (HttpResponse(status=503, body=b""), True),
        (json_response(order_json("order_get_not_found.json"), status=404), False),
        (json_response({"code": "woocommerce_rest_cannot_view"}, status=401), False),
    ],
)
def test_http_errors_are_typed_and_throttling_retryable(response: HttpResponse, retryable: bool) -> None:
    client = WooCommerceClient(SECRETS, RecordingTransport(response))
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SITE, "4127")
    assert caught.value.retryable is retryable


def test_credentials_never_travel_over_plain_http_or_to_another_host() -> None:
    with pytest.raises(CredentialsMissingError):
        WooCommerceClient(SECRETS, RecordingTransport(), base_url="http://{shop}").fetch_order(SITE, "1")
    with pytest.raises(SchemaInvalidError):
        WooCommerceClient(SECRETS, RecordingTransport()).fetch_order("evil.example/@x", "1")
    sub = RecordingTransport(json_response({"id": 1}))
    WooCommerceClient(SECRETS | {"site_url": "https://example.com/shop"}, sub).fetch_order(SITE, "1")
    assert sub.requests[0]["url"] == "https://example.com/shop/wp-json/wc/v3/orders/1"


# --------------------------------------------------------------------------------------------
# Simulator round trip
# --------------------------------------------------------------------------------------------


class SimulatorTransport(HttpTransport):
    """Hands requests to the simulator in process (its HTTP front serves GET and POST only)."""

    def __init__(self, simulator: PlatformSimulator) -> None:
        self._simulator = simulator

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> HttpResponse:
        split = urlsplit(url)
        reply = self._simulator.handle(
            SimRequest(
                method, split.path, {}, {k.lower(): v for k, v in (headers or {}).items()}, body or b""
            )
        )
        return HttpResponse(status=reply.status, body=reply.body, headers=reply.headers)


@pytest.fixture(scope="module")
def simulator() -> Iterator[PlatformSimulator]:
    with PlatformSimulator(load_credentials()) as running:
        yield running


def test_the_simulator_checks_basic_auth_and_serves_orders_and_stock(simulator: PlatformSimulator) -> None:
    from oms.adapters.http import Urllib3Transport

    site, secrets = next(iter(load_credentials()["woocommerce"].items()))
    line = LineSpec(sku_id="5130", product_id="5129", quantity=1, unit_price=Decimal("19.90"))
    truth = sim.order(5127, "completed", clock(), [line])
    sim.put_order(simulator, site, truth)
    client = ADAPTER.client(secrets, Urllib3Transport(), base_url=sim.base_url(simulator), clock=clock)
    assert client.fetch_order(site, "5127") == truth
    wrong = ADAPTER.client(
        secrets | {"consumer_secret": "nope"},
        Urllib3Transport(),
        base_url=sim.base_url(simulator),
        clock=clock,
    )
    with pytest.raises(PlatformApiError):
        wrong.fetch_order(site, "5127")
    in_process = WooCommerceClient(secrets, SimulatorTransport(simulator), base_url=sim.base_url(simulator))
    in_process.update_stock(site, "5130", 6, product_id="5129")
    assert sim.stock(simulator, site, "5130") == 6
    # the simulator's delivery verifies with the adapter and parses
    headers, body = sim.webhook(truth, "order.updated", f"https://{site}/", secrets["webhook_secret"])
    request = WebhookRequest("POST", headers, {}, body)
    ADAPTER.verify(request, secrets)
    envelope = envelope_for(ADAPTER.frame(request, secrets)[0])
    event = ADAPTER.parse(ADAPTER.decode(envelope), None, envelope)
    assert (event.status, event.total_amount, event.shop_id) == (
        OrderStatus.COMPLETED,
        Decimal("19.90"),
        site,
    )
