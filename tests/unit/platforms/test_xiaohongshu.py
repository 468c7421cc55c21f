"""Xiaohongshu adapter: signing vectors, push verification and framing, parsing, the API client."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from local.simulator import LineSpec, PlatformSimulator, load_credentials
from local.simulators import xiaohongshu as sim
from oms.adapters.http import Urllib3Transport
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
from oms.platforms.base import FramedMessage, HttpResponse, PlatformAdapter, WebhookRequest
from oms.platforms.xiaohongshu import ADAPTER, XiaohongshuClient
from oms.platforms.xiaohongshu.order import utc_from_ms
from oms.platforms.xiaohongshu.signing import api_sign, legacy_sign, push_sign
from oms.platforms.xiaohongshu.status import AFTER_SALES_STATUS_MAP, ORDER_STATUS_MAP, map_status
from tests.support.http import RecordingTransport, json_response

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "xiaohongshu"
APP_KEY = "test-xhs-app-key-0001"
APP_SECRET = "test-xiaohongshu-app-secret-not-real"
SELLER = "5f0c00000000000000000001"
ORDER_ID = "P735012345678901234"
SECRETS: dict[str, Any] = {
    "app_key": APP_KEY,
    "app_secret": APP_SECRET,
    "access_tokens": {SELLER: "test-xhs-access-token-seller-1"},
}
SIGNED_AT = 1770220805


def load_bytes(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def detail(name: str = "order_detail_awaiting_shipment.json") -> dict[str, Any]:
    return json.loads(load_bytes(name))["data"]  # type: ignore[no-any-return]


def push_request(body: bytes, *, sign: str | None = None, timestamp: int = SIGNED_AT) -> WebhookRequest:
    stamp = str(timestamp)
    headers = {
        "app-key": APP_KEY,
        "timestamp": stamp,
        "sign": push_sign("/webhooks/xiaohongshu", APP_KEY, stamp, body, APP_SECRET)
        if sign is None
        else sign,
    }
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


def envelope_for(message: FramedMessage) -> IntakeEnvelope:
    raw, encoding = IntakeEnvelope.encode_raw(message.raw)
    return IntakeEnvelope(
        trace_id="trace-1",
        platform=Platform.XIAOHONGSHU,
        app_id=APP_KEY,
        received_at=datetime(2026, 2, 4, 16, 0, 6, tzinfo=UTC),
        dedupe_id=message.dedupe_id,
        message_group=f"xiaohongshu:{message.shop_id}:{message.platform_order_id}",
        shop_id=message.shop_id,
        platform_order_id=message.platform_order_id,
        event_hint=message.event_hint,
        raw=raw,
        raw_encoding=encoding,
    )


def event_from(body: bytes, snapshot: dict[str, Any], index: int = 0) -> OrderEvent:
    """The real path: verify, frame, decode, clean message and snapshot, parse."""
    request = push_request(body)
    ADAPTER.verify(request, SECRETS)
    envelope = envelope_for(ADAPTER.frame(request, SECRETS)[index])
    message, _ = clean_payload(ADAPTER.decode(envelope), "xiaohongshu")
    assert ADAPTER.needs_fetch(message)
    cleaned, _ = clean_payload(snapshot, "xiaohongshu")
    return ADAPTER.parse(message, cleaned, envelope)


def clock() -> datetime:
    return datetime(2026, 2, 4, 16, 0, 5, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Vectors and signing
# --------------------------------------------------------------------------------------------


def test_legacy_rest_sign_matches_the_official_vector() -> None:
    pairs = {"page_no": "1", "page_size": "50", "status": "0", "app-key": "xhs", "timestamp": "1469902537"}
    sign = legacy_sign("/ark/open_api/v1/items", pairs, "9a539709cafc1efc9ef05838be468a28")
    assert sign == "72be6fad4dd0e5104dbdebbcdadb2a06"


def test_common_controller_sign_is_md5_of_method_query_and_secret() -> None:
    expected = hashlib.md5(b"order.getOrderDetail?appId=a&timestamp=1&version=2.0s").hexdigest()
    assert api_sign("order.getOrderDetail", "a", "1", "s") == expected
    assert api_sign("order.getOrderDetail", "a", "2", "s") != expected


def test_the_adapter_is_registered_and_satisfies_the_protocol() -> None:
    assert get_adapter("xiaohongshu") is ADAPTER
    assert isinstance(ADAPTER, PlatformAdapter)


# --------------------------------------------------------------------------------------------
# Pushes: verification, freshness, framing
# --------------------------------------------------------------------------------------------


def test_a_signed_push_verifies_and_frames_into_one_message_per_element() -> None:
    request = push_request(load_bytes("push_status_change.json"))
    ADAPTER.verify(request, SECRETS)
    framed = ADAPTER.frame(request, SECRETS)
    assert [(m.shop_id, m.platform_order_id, m.event_hint) for m in framed] == [
        (SELLER, ORDER_ID, "msg_fulfillment_status_change"),
        (SELLER, ORDER_ID, "msg_after_sale_create"),
    ]
    assert framed[0].raw.startswith(b'{"msgTag":"msg_fulfillment_status_change"')
    assert len({m.dedupe_id for m in framed}) == 2


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: WebhookRequest(r.method, r.headers, r.query, r.body.replace(b"4,", b"6,")),
        lambda r: WebhookRequest(r.method, {**r.headers, "sign": "0" * 32}, r.query, r.body),
        lambda r: WebhookRequest(r.method, {**r.headers, "timestamp": str(SIGNED_AT + 1)}, r.query, r.body),
        lambda r: WebhookRequest(
            r.method, {k: v for k, v in r.headers.items() if k != "sign"}, r.query, r.body
        ),
    ],
    ids=["body", "sign", "timestamp", "no-sign"],
)
def test_forged_pushes_are_refused(tamper: Any) -> None:
    request = tamper(push_request(load_bytes("push_status_change.json")))
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(request, SECRETS)


def test_a_push_signed_with_the_previous_secret_verifies_during_rotation() -> None:
    body = load_bytes("push_status_change.json")
    old = push_sign("/webhooks/xiaohongshu", APP_KEY, str(SIGNED_AT), body, "old-secret")
    request = push_request(body, sign=old)
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(request, SECRETS)
    ADAPTER.verify(request, SECRETS | {"previous_app_secret": "old-secret"})


def test_the_unconfirmed_push_rule_is_configurable() -> None:
    body = load_bytes("push_status_change.json")
    headers_only = push_sign("/xhs/push", APP_KEY, str(SIGNED_AT), body, APP_SECRET, sign_body=False)
    request = push_request(body, sign=headers_only)
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(request, SECRETS)
    ADAPTER.verify(request, SECRETS | {"push_sign_path": "/xhs/push", "push_sign_body": False})


def test_the_signed_timestamp_judges_freshness_in_seconds_or_milliseconds() -> None:
    now = datetime.fromtimestamp(SIGNED_AT, tz=UTC)
    window = ADAPTER.freshness
    assert window is not None
    fresh = push_request(b"[]", timestamp=SIGNED_AT)
    millis = push_request(b"[]", timestamp=SIGNED_AT * 1000)
    stale = push_request(b"[]", timestamp=SIGNED_AT - 5 * 3600)
    assert ADAPTER.signed_at(fresh) == ADAPTER.signed_at(millis) == now
    assert window.admits(ADAPTER.signed_at(fresh), now)  # type: ignore[arg-type]
    assert not window.admits(ADAPTER.signed_at(stale), now)  # type: ignore[arg-type]
    with pytest.raises(SignatureInvalidError):
        ADAPTER.signed_at(WebhookRequest("POST", {"timestamp": "soon"}, {}, b"[]"))


def test_status_4_delivered_twice_dedupes_to_one_message_id() -> None:
    # GIVEN the same status-4 message pushed twice (the platform is known to do this)
    body = load_bytes("push_status_change.json")
    first = ADAPTER.frame(push_request(body), SECRETS)[0]
    again = ADAPTER.frame(push_request(body, timestamp=SIGNED_AT + 30), SECRETS)[0]
    # THEN both carry the same dedupe id, so the queue and the history take it once
    assert first.dedupe_id == again.dedupe_id


def test_test_messages_are_acknowledged_not_enqueued() -> None:
    request = push_request(load_bytes("push_test_message.json"))
    ADAPTER.verify(request, SECRETS)
    assert [m.is_test for m in ADAPTER.frame(request, SECRETS)] == [True]
    assert ADAPTER.acknowledge().status == 200


def test_a_body_that_is_not_an_array_of_objects_cannot_be_framed() -> None:
    with pytest.raises(SchemaInvalidError):
        ADAPTER.frame(push_request(b'{"msgTag":"x"}'), SECRETS)
    with pytest.raises(SchemaInvalidError):
        ADAPTER.frame(push_request(b"[1]"), SECRETS)


# --------------------------------------------------------------------------------------------
# Parsing: amounts, times, receiver, tags
# --------------------------------------------------------------------------------------------


def test_the_order_detail_becomes_a_canonical_event_in_yuan_and_utc() -> None:
    event = event_from(load_bytes("push_status_change.json"), detail())
    assert (event.platform, event.shop_id, event.platform_order_id) == ("xiaohongshu", SELLER, ORDER_ID)
    assert (event.status, event.refund_status) == (OrderStatus.APPROVED, RefundStatus.NONE)
    # fen → yuan
    assert (event.total_amount, event.paid_amount, event.shipping_amount) == (
        Decimal("89.80"),
        Decimal("89.80"),
        Decimal("10.00"),
    )
    # 1770220800000 ms is midnight 2026-02-05 in UTC+8: 16:00 the day before in UTC
    assert event.event_time == datetime(2026, 2, 4, 16, 0, tzinfo=UTC)
    assert event.paid_at == datetime(2026, 2, 4, 16, 0, tzinfo=UTC)
    assert event.placed_at == datetime(2026, 2, 4, 15, 59, tzinfo=UTC)
    (line,) = event.lines
    assert (line.sku_id, line.out_sku_id, line.quantity, line.unit_price) == (
        "64f0000000000000000000b1",
        "CREAM-50",
        2,
        Decimal("39.90"),
    )
    assert event.receiver is not None
    assert event.receiver.encrypted == {"openAddressId": "f3c1b2a9e8d74c6b"}
    assert event.receiver.name is None
    assert event.receiver.masked
    assert event.payment_id == "XHSPAY2026020500000001"
    assert event.event_type == "msg_fulfillment_status_change"
    assert event.tags["orderType"] == "1"


def test_an_after_sale_push_keeps_its_refund_fee_in_yuan() -> None:
    snapshot = detail() | {"orderAfterSalesStatus": 2}
    event = event_from(load_bytes("push_status_change.json"), snapshot, index=1)
    assert event.refund_status == RefundStatus.REQUESTED
    assert event.tags["refund_fee"] == "39.90"  # yuan, not 0.3990
    assert event.tags["returns_id"] == "R7350000000001"


def test_one_fen_and_the_last_millisecond_before_midnight_are_exact() -> None:
    snapshot = detail() | {"totalPayAmount": 1, "orderUpdateTime": 1770220799999}
    event = event_from(load_bytes("push_status_change.json"), snapshot)
    assert event.total_amount == Decimal("0.01")
    assert event.event_time == datetime(2026, 2, 4, 15, 59, 59, 999000, tzinfo=UTC)


@pytest.mark.parametrize("value", [-1, "12x", 1.5, True, 10**16])
def test_malformed_times_are_schema_errors(value: Any) -> None:
    with pytest.raises(SchemaInvalidError):
        utc_from_ms(value, field="t")


def test_a_detail_of_another_order_is_refused() -> None:
    with pytest.raises(SchemaInvalidError):
        event_from(load_bytes("push_status_change.json"), detail() | {"orderId": "P1"})


def test_an_amount_in_yuan_where_fen_is_expected_is_refused() -> None:
    with pytest.raises(SchemaInvalidError):
        event_from(load_bytes("push_status_change.json"), detail() | {"totalPayAmount": "89.80"})


# --------------------------------------------------------------------------------------------
# Statuses
# --------------------------------------------------------------------------------------------


def test_every_documented_status_is_mapped() -> None:
    assert set(ORDER_STATUS_MAP) == set(range(1, 11))
    assert set(AFTER_SALES_STATUS_MAP) == set(range(1, 8))


def test_cancelled_is_reached_only_from_unshipped_statuses_and_closed_from_any() -> None:
    # cancelled (9) and closed (8) follow from each open Xiaohongshu status as the rules allow
    for code, status in ORDER_STATUS_MAP.items():
        if status in (OrderStatus.CANCELLED, OrderStatus.CLOSED, OrderStatus.COMPLETED):
            continue
        assert can_transition(status, map_status(8)[0])
        assert can_transition(status, map_status(9)[0]) == (code in (1, 2, 3, 4)), code


def test_the_happy_path_only_moves_forward() -> None:
    path = [map_status(code)[0] for code in (1, 2, 3, 4, 5, 6, 7)]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path) if a != b)


@pytest.mark.parametrize(("order_status", "after"), [(11, None), ("x", None), (4, 99), (True, None)])
def test_unknown_statuses_are_reported(order_status: Any, after: Any) -> None:
    with pytest.raises(UnknownStatusError):
        map_status(order_status, after)


# --------------------------------------------------------------------------------------------
# API client
# --------------------------------------------------------------------------------------------


def test_fetch_order_signs_a_common_controller_call() -> None:
    transport = RecordingTransport(
        json_response(json.loads(load_bytes("order_detail_awaiting_shipment.json")))
    )
    client = ADAPTER.client(SECRETS, transport, clock=clock)
    assert client.fetch_order(SELLER, ORDER_ID)["orderStatus"] == 4
    (request,) = transport.requests
    assert request["url"] == "https://ark.xiaohongshu.com/ark/open_api/v3/common_controller"
    body = json.loads(request["body"])
    stamp = str(int(clock().timestamp()))
    assert body == {
        "orderId": ORDER_ID,
        "method": "order.getOrderDetail",
        "appId": APP_KEY,
        "timestamp": stamp,
        "version": "2.0",
        "accessToken": "test-xhs-access-token-seller-1",
        "sign": api_sign("order.getOrderDetail", APP_KEY, stamp, APP_SECRET),
    }


def test_update_stock_sends_the_total() -> None:
    transport = RecordingTransport(json_response({"success": True, "data": {}}))
    client = XiaohongshuClient(SECRETS, transport, base_url="http://127.0.0.1:1/xhs", clock=clock)
    client.update_stock(SELLER, "sku-1", 12)
    body = json.loads(transport.requests[0]["body"])
    assert (body["method"], body["skuId"], body["qty"]) == ("inventory.syncSkuStock", "sku-1", 12)
    assert transport.requests[0]["url"].startswith("http://127.0.0.1:1/xhs/")
    with pytest.raises(SchemaInvalidError):
        client.update_stock(SELLER, "sku-1", -1)


@pytest.mark.parametrize(
    ("response", "retryable"),
    [
        (HttpResponse(status=429, body=b""), True),
        (HttpResponse(status=503, body=b"busy"), True),
        (json_response({"success": False, "error_code": -1003, "error_msg": "limit"}), True),
        (json_response({"success": False, "error_code": -20001, "error_msg": "订单不存在"}), False),
    ],
)
def test_api_errors_are_typed_and_rate_limits_retryable(response: HttpResponse, retryable: bool) -> None:
    client = ADAPTER.client(SECRETS, RecordingTransport(response), clock=clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SELLER, ORDER_ID)
    assert caught.value.retryable is retryable


def test_rate_limit_codes_are_configurable() -> None:
    reply = json_response({"success": False, "error_code": 7, "error_msg": "slow down"})
    client = ADAPTER.client(SECRETS | {"rate_limit_codes": [7]}, RecordingTransport(reply), clock=clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SELLER, ORDER_ID)
    assert caught.value.retryable


def test_a_seller_without_a_token_is_a_credentials_error() -> None:
    client = ADAPTER.client(SECRETS, RecordingTransport(), clock=clock)
    with pytest.raises(CredentialsMissingError):
        client.fetch_order("someone-else", ORDER_ID)
    with pytest.raises(CredentialsMissingError):
        ADAPTER.client({"app_key": APP_KEY}, RecordingTransport(), clock=clock)


def test_the_freshness_window_covers_four_hours() -> None:
    assert ADAPTER.freshness is not None
    assert ADAPTER.freshness.max_age == timedelta(hours=4)


# --------------------------------------------------------------------------------------------
# Simulator round trip: the client signs, the simulator checks, the adapter verifies its pushes
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[PlatformSimulator]:
    with PlatformSimulator(load_credentials()) as running:
        yield running


def test_the_simulator_serves_signed_detail_and_stock_calls(simulator: PlatformSimulator) -> None:
    app_key, app = next(iter(load_credentials()["xiaohongshu"].items()))
    seller = next(iter(app["access_tokens"]))
    lines = [LineSpec(sku_id="64f0b1", quantity=2, unit_price=Decimal("39.90"), out_sku_id="C-50")]
    truth = sim.order("P7350000000000001", seller, 4, clock(), lines, shipping=Decimal("10"))
    sim.put_order(simulator, seller, truth)
    client = ADAPTER.client(
        app, Urllib3Transport(), base_url=simulator.base_urls()["xiaohongshu"], clock=clock
    )
    # WHEN the client fetches and syncs stock THEN the simulator accepted its signature
    assert client.fetch_order(seller, "P7350000000000001") == truth
    client.update_stock(seller, "64f0b1", 7)  # type: ignore[attr-defined]
    assert sim.stock(simulator, seller, "64f0b1") == 7
    # a wrong secret is refused by the simulator like the platform would
    forged = ADAPTER.client(
        app | {"app_secret": "wrong"}, Urllib3Transport(), base_url=sim.base_url(simulator), clock=clock
    )
    with pytest.raises(PlatformApiError):
        forged.fetch_order(seller, "P7350000000000001")
    # and an injected throttle surfaces as a retryable error
    simulator.fail_next("xiaohongshu", status=429)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(seller, "P7350000000000001")
    assert caught.value.retryable
    # the simulator's push verifies with the adapter and parses against the served detail
    headers, body = sim.push([sim.status_message(truth, seller)], app_key, app["app_secret"], SIGNED_AT)
    request = WebhookRequest("POST", headers, {}, body)
    ADAPTER.verify(request, app)
    envelope = envelope_for(ADAPTER.frame(request, app)[0])
    event = ADAPTER.parse(ADAPTER.decode(envelope), client.fetch_order(seller, "P7350000000000001"), envelope)
    assert (event.status, event.total_amount) == (OrderStatus.APPROVED, Decimal("89.80"))
