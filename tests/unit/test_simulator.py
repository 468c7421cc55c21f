"""The platform simulator, driven by the real adapters' clients over 127.0.0.1, and its push builders."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from local.simulator import (
    DOUYIN,
    HAPPY_PATHS,
    SHOPIFY,
    WECHAT_CHANNELS,
    LineSpec,
    PlatformSimulator,
    SimRequest,
    douyin_order,
    douyin_order_message,
    douyin_push,
    load_credentials,
    shopify_order,
    shopify_webhook,
    wechat_event,
    wechat_order,
    wechat_push,
    wechat_url_check,
)
from local.simulators import PLATFORM_MODULES
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import PlatformApiError, SignatureInvalidError
from oms.domain.model import OrderEvent, Platform
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms import get_adapter
from oms.platforms.base import FramedMessage, HttpResponse, HttpTransport, PlatformClient, WebhookRequest

CREDENTIALS = load_credentials()
DOUYIN_APP_KEY, DOUYIN_APP = next(iter(CREDENTIALS[DOUYIN].items()))
DOUYIN_SHOP = "100001"
SHOPIFY_SHOP = "demo-shop-1.myshopify.com"
SHOPIFY_APP = CREDENTIALS[SHOPIFY][SHOPIFY_SHOP]
WECHAT_APP_ID, WECHAT_APP = next(iter(CREDENTIALS[WECHAT_CHANNELS].items()))
NOW = datetime(2025, 3, 12, 8, 0, tzinfo=UTC)
LINES = (
    LineSpec(sku_id="1730000000001", quantity=2, unit_price=Decimal("99.90"), out_sku_id="QH-TOWEL-W"),
    LineSpec(sku_id="1730000000002", quantity=1, unit_price=Decimal("39.00")),
)


class LoopbackTransport(HttpTransport):
    """urllib, restricted to 127.0.0.1, ignoring proxy settings; HTTP errors become responses."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> HttpResponse:
        if urlsplit(url).hostname != "127.0.0.1":
            raise AssertionError(f"tests only talk to 127.0.0.1, not {url}")
        request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return HttpResponse(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, error.read(), dict(error.headers))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def simulator(clock: Clock) -> Iterator[PlatformSimulator]:
    with PlatformSimulator(CREDENTIALS, clock=clock) as running:
        yield running


def client_for(
    simulator: PlatformSimulator, platform: str, secrets: Mapping[str, Any], clock: Clock
) -> PlatformClient:
    return get_adapter(platform).client(
        secrets, LoopbackTransport(), base_url=simulator.base_urls()[platform], clock=clock
    )


def as_request(
    method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
) -> WebhookRequest:
    return WebhookRequest(
        method=method, headers={k.lower(): v for k, v in headers.items()}, query=query, body=body
    )


def envelope_of(platform: str, app_id: str, framed: FramedMessage) -> IntakeEnvelope:
    raw, encoding = IntakeEnvelope.encode_raw(framed.raw)
    return IntakeEnvelope(
        trace_id="trace-1",
        platform=Platform(platform),
        app_id=app_id,
        received_at=NOW,
        dedupe_id=framed.dedupe_id,
        message_group=f"{platform}:{framed.shop_id}:{framed.platform_order_id}",
        shop_id=framed.shop_id,
        platform_order_id=framed.platform_order_id,
        event_hint=framed.event_hint,
        raw=raw,
        raw_encoding=encoding,
        plaintext=framed.plaintext,
    )


def process(
    simulator: PlatformSimulator,
    platform: str,
    app_id: str,
    secrets: Mapping[str, Any],
    request: WebhookRequest,
    clock: Clock,
) -> OrderEvent:
    """What intake and the sanitizer do with a push: verify, frame, decode, fetch if needed, parse."""
    adapter = get_adapter(platform)
    adapter.verify(request, secrets)
    (framed,) = adapter.frame(request, secrets)
    envelope = envelope_of(platform, app_id, framed)
    message = adapter.decode(envelope)
    snapshot = None
    if adapter.needs_fetch(message):
        assert envelope.shop_id is not None
        assert envelope.platform_order_id is not None
        client = client_for(simulator, platform, secrets, clock)
        snapshot = client.fetch_order(envelope.shop_id, envelope.platform_order_id)
    return adapter.parse(message, snapshot, envelope)


# ---------------------------------------------------------------------------------------------
# serving
# ---------------------------------------------------------------------------------------------


def test_base_urls_point_at_the_running_server(simulator: PlatformSimulator) -> None:
    urls = simulator.base_urls()
    assert simulator.base_url == f"http://127.0.0.1:{simulator.port}"
    assert simulator.port > 0
    assert urls == {
        DOUYIN: f"{simulator.base_url}/douyin",
        SHOPIFY: f"{simulator.base_url}/shopify/{{shop}}",
        WECHAT_CHANNELS: f"{simulator.base_url}/wechat_channels",
        **{platform: f"{simulator.base_url}/{platform}" for platform in PLATFORM_MODULES},
        "woocommerce": f"{simulator.base_url}/woocommerce/{{shop}}",  # one site per shop, like Shopify
    }


def test_the_simulator_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        PlatformSimulator(CREDENTIALS, host="0.0.0.0")


def test_an_unknown_path_is_not_found(simulator: PlatformSimulator) -> None:
    response = LoopbackTransport().request("GET", f"{simulator.base_url}/myspace/router/rest")
    assert response.status == 404


def test_put_and_get_order_keep_a_private_copy(simulator: PlatformSimulator) -> None:
    order = wechat_order("3718590468852683008", WECHAT_APP_ID, 20, NOW, LINES, payment_id="4200000001")
    simulator.put_order(WECHAT_CHANNELS, WECHAT_APP_ID, order)
    order["status"] = 30
    stored = simulator.get_order(WECHAT_CHANNELS, WECHAT_APP_ID, "3718590468852683008")
    assert stored is not None
    assert stored["status"] == 20
    assert simulator.get_order(WECHAT_CHANNELS, WECHAT_APP_ID, "1") is None


# ---------------------------------------------------------------------------------------------
# Douyin
# ---------------------------------------------------------------------------------------------


def test_douyin_order_detail_through_the_douyin_client(simulator: PlatformSimulator, clock: Clock) -> None:
    # GIVEN the platform truth
    order = douyin_order("4916738052091854021", DOUYIN_SHOP, 105, NOW, LINES, payment_id="TP2025031216010033")
    simulator.put_order(DOUYIN, DOUYIN_SHOP, order)
    # WHEN the real client asks for it
    fetched = client_for(simulator, DOUYIN, DOUYIN_APP, clock).fetch_order(DOUYIN_SHOP, "4916738052091854021")
    # THEN it gets exactly that order, after the simulator checked the signature
    assert fetched == order
    assert simulator.calls["douyin:order.orderDetail"] == 1


@pytest.mark.parametrize(
    ("secrets_change", "sub_code"),
    [
        ({"app_secret": "not-the-secret"}, "isv.signature-invalid"),
        ({"access_tokens": {DOUYIN_SHOP: "a-token-nobody-issued"}}, "isv.access-token-no-existed"),
        ({"app_key": "7000000000000000999"}, "isv.app-id-missing"),
    ],
)
def test_douyin_refuses_a_bad_signature_token_or_app(
    simulator: PlatformSimulator, clock: Clock, secrets_change: dict[str, Any], sub_code: str
) -> None:
    simulator.put_order(
        DOUYIN, DOUYIN_SHOP, douyin_order("4916738052091854021", DOUYIN_SHOP, 105, NOW, LINES)
    )
    client = client_for(simulator, DOUYIN, {**DOUYIN_APP, **secrets_change}, clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(DOUYIN_SHOP, "4916738052091854021")
    assert caught.value.details["sub_code"] == sub_code


def test_douyin_serves_each_shop_only_its_own_orders(simulator: PlatformSimulator, clock: Clock) -> None:
    simulator.put_order(
        DOUYIN, DOUYIN_SHOP, douyin_order("4916738052091854021", DOUYIN_SHOP, 105, NOW, LINES)
    )
    client = client_for(simulator, DOUYIN, DOUYIN_APP, clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order("100002", "4916738052091854021")
    assert (caught.value.details["code"], caught.value.details["sub_code"]) == (
        "50002",
        "isv.business-failed",
    )


def test_douyin_rejects_a_tampered_body_and_a_wrong_http_method(simulator: PlatformSimulator) -> None:
    # GIVEN a correctly signed request whose body was changed on the way
    transport = LoopbackTransport()
    url = (
        simulator.base_urls()[DOUYIN]
        + "/order/orderDetail?"
        + "&".join(
            f"{k}={v}"
            for k, v in {
                "app_key": DOUYIN_APP_KEY,
                "method": "order.orderDetail",
                "access_token": DOUYIN_APP["access_tokens"][DOUYIN_SHOP],
                "timestamp": "1741766400",
                "v": "2",
                "sign_method": "md5",
                "sign": "0" * 32,
            }.items()
        )
    )
    response = transport.request("POST", url, body=b'{"shop_order_id":"1"}')
    assert json.loads(response.body)["sub_code"] == "isv.signature-invalid"
    assert transport.request("GET", url).status == 404


def test_douyin_fault_injection(simulator: PlatformSimulator, clock: Clock) -> None:
    simulator.put_order(
        DOUYIN, DOUYIN_SHOP, douyin_order("4916738052091854021", DOUYIN_SHOP, 105, NOW, LINES)
    )
    simulator.fail_next(DOUYIN, code=60000)
    client = client_for(simulator, DOUYIN, DOUYIN_APP, clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(DOUYIN_SHOP, "4916738052091854021")
    assert caught.value.details["code"] == "60000"
    assert client.fetch_order(DOUYIN_SHOP, "4916738052091854021")["order_id"] == "4916738052091854021"
    assert simulator.calls["douyin:order.orderDetail"] == 2


def test_a_douyin_push_verifies_and_parses_with_the_douyin_adapter(
    simulator: PlatformSimulator, clock: Clock
) -> None:
    # GIVEN a paid order in the platform and its signed push
    order = douyin_order("4916738052091854021", DOUYIN_SHOP, 105, NOW, LINES, payment_id="TP2025031216010033")
    simulator.put_order(DOUYIN, DOUYIN_SHOP, order)
    headers, body = douyin_push(
        [douyin_order_message(order, 101, "msg-1")], DOUYIN_APP_KEY, DOUYIN_APP["app_secret"]
    )
    # WHEN it goes through verify, frame, decode, fetch and parse
    event = process(
        simulator, DOUYIN, DOUYIN_APP_KEY, DOUYIN_APP, as_request("POST", headers, {}, body), clock
    )
    # THEN
    assert (event.shop_id, event.platform_order_id, event.status) == (
        DOUYIN_SHOP,
        "4916738052091854021",
        OrderStatus.PAID,
    )
    assert event.total_amount == Decimal("238.80")
    assert event.payment_id == "TP2025031216010033"
    # AND a push signed with another secret does not verify
    forged_headers, forged = douyin_push([douyin_order_message(order, 101, "msg-1")], DOUYIN_APP_KEY, "wrong")
    assert forged == body
    with pytest.raises(SignatureInvalidError):
        get_adapter(DOUYIN).verify(as_request("POST", forged_headers, {}, forged), DOUYIN_APP)


# ---------------------------------------------------------------------------------------------
# Shopify
# ---------------------------------------------------------------------------------------------


def test_shopify_order_through_the_shopify_client(simulator: PlatformSimulator, clock: Clock) -> None:
    order = shopify_order(5923717611762, SHOPIFY_SHOP, "paid", NOW, LINES)
    simulator.put_order(SHOPIFY, SHOPIFY_SHOP, order)
    fetched = client_for(simulator, SHOPIFY, SHOPIFY_APP, clock).fetch_order(SHOPIFY_SHOP, "5923717611762")
    assert fetched == order
    assert simulator.calls["shopify:orders.get"] == 1


def test_shopify_refuses_a_wrong_token_and_hides_other_shops_orders(
    simulator: PlatformSimulator, clock: Clock
) -> None:
    simulator.put_order(SHOPIFY, SHOPIFY_SHOP, shopify_order(5923717611762, SHOPIFY_SHOP, "paid", NOW, LINES))
    wrong_token = client_for(simulator, SHOPIFY, {**SHOPIFY_APP, "access_token": "shpat_wrong"}, clock)
    with pytest.raises(PlatformApiError) as caught:
        wrong_token.fetch_order(SHOPIFY_SHOP, "5923717611762")
    assert caught.value.details["http_status"] == 401
    other_shop = client_for(simulator, SHOPIFY, CREDENTIALS[SHOPIFY]["demo-shop-2.myshopify.com"], clock)
    with pytest.raises(PlatformApiError) as caught:
        other_shop.fetch_order("demo-shop-2.myshopify.com", "5923717611762")
    assert caught.value.details["http_status"] == 404


def test_shopify_throttling_fault(simulator: PlatformSimulator, clock: Clock) -> None:
    simulator.put_order(SHOPIFY, SHOPIFY_SHOP, shopify_order(5923717611762, SHOPIFY_SHOP, "paid", NOW, LINES))
    simulator.fail_next(SHOPIFY, status=429)
    client = client_for(simulator, SHOPIFY, SHOPIFY_APP, clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SHOPIFY_SHOP, "5923717611762")
    assert caught.value.retryable
    assert caught.value.details["retry_after"] == "1.0"
    assert client.fetch_order(SHOPIFY_SHOP, "5923717611762")["id"] == 5923717611762


def test_a_shopify_webhook_verifies_and_parses_with_the_shopify_adapter(
    simulator: PlatformSimulator, clock: Clock
) -> None:
    order = shopify_order(
        5923717611762, SHOPIFY_SHOP, "partially_fulfilled", NOW, LINES, shipping=Decimal("5")
    )
    headers, body = shopify_webhook(order, "orders/updated", SHOPIFY_SHOP, SHOPIFY_APP["api_secret"], "wh-1")
    event = process(
        simulator, SHOPIFY, SHOPIFY_SHOP, SHOPIFY_APP, as_request("POST", headers, {}, body), clock
    )
    assert (event.shop_id, event.platform_order_id, event.status) == (
        SHOPIFY_SHOP,
        "5923717611762",
        OrderStatus.PARTIALLY_SHIPPED,
    )
    assert (event.total_amount, event.shipping_amount) == (Decimal("243.80"), Decimal("5.00"))
    forged_headers, forged = shopify_webhook(order, "orders/updated", SHOPIFY_SHOP, "wrong", "wh-1")
    assert forged == body
    with pytest.raises(SignatureInvalidError):
        get_adapter(SHOPIFY).verify(as_request("POST", forged_headers, {}, forged), SHOPIFY_APP)


# ---------------------------------------------------------------------------------------------
# WeChat Channels
# ---------------------------------------------------------------------------------------------


def test_wechat_order_through_the_wechat_client_reuses_its_token(
    simulator: PlatformSimulator, clock: Clock
) -> None:
    order = wechat_order("3718590468852683008", WECHAT_APP_ID, 20, NOW, LINES, payment_id="4200000001")
    simulator.put_order(WECHAT_CHANNELS, WECHAT_APP_ID, order)
    client = client_for(simulator, WECHAT_CHANNELS, WECHAT_APP, clock)
    assert client.fetch_order(WECHAT_APP_ID, "3718590468852683008") == order
    assert client.fetch_order(WECHAT_APP_ID, "3718590468852683008") == order
    assert simulator.calls["wechat_channels:cgi-bin/token"] == 1
    assert simulator.calls["wechat_channels:channels/ec/order/get"] == 2


def test_wechat_expired_token_is_refreshed_by_the_client(simulator: PlatformSimulator, clock: Clock) -> None:
    # GIVEN a client holding a token the platform has since expired
    simulator.put_order(
        WECHAT_CHANNELS, WECHAT_APP_ID, wechat_order("3718590468852683008", WECHAT_APP_ID, 20, NOW, LINES)
    )
    client = client_for(simulator, WECHAT_CHANNELS, WECHAT_APP, clock)
    client.fetch_order(WECHAT_APP_ID, "3718590468852683008")
    simulator.expire_access_tokens()
    # WHEN it fetches again
    assert client.fetch_order(WECHAT_APP_ID, "3718590468852683008")["status"] == 20
    # THEN the platform answered 42001 once, and the client fetched a new token and retried
    assert simulator.calls["wechat_channels:cgi-bin/token"] == 2
    assert simulator.calls["wechat_channels:channels/ec/order/get"] == 3


def test_wechat_tokens_expire_on_the_simulated_clock(simulator: PlatformSimulator, clock: Clock) -> None:
    transport = LoopbackTransport()
    base = simulator.base_urls()[WECHAT_CHANNELS]
    credentials = f"appid={WECHAT_APP_ID}&secret={WECHAT_APP['app_secret']}"
    token_url = f"{base}/cgi-bin/token?grant_type=client_credential&{credentials}"
    token = json.loads(transport.request("GET", token_url).body)["access_token"]
    clock.now += timedelta(hours=2)
    reply = transport.request(
        "POST", f"{base}/channels/ec/order/get?access_token={token}", body=b'{"order_id":"1"}'
    )
    assert json.loads(reply.body)["errcode"] == 42001


@pytest.mark.parametrize(
    ("secrets_change", "errcode"),
    [({"app_secret": "not-the-secret"}, 40125), ({"app_id": "wx00000000000nope"}, 40013)],
)
def test_wechat_refuses_a_wrong_secret_or_app(
    simulator: PlatformSimulator, clock: Clock, secrets_change: dict[str, str], errcode: int
) -> None:
    client = client_for(simulator, WECHAT_CHANNELS, {**WECHAT_APP, **secrets_change}, clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(secrets_change.get("app_id", WECHAT_APP_ID), "3718590468852683008")
    assert caught.value.details["errcode"] == errcode


def test_wechat_unknown_order_and_fault(simulator: PlatformSimulator, clock: Clock) -> None:
    client = client_for(simulator, WECHAT_CHANNELS, WECHAT_APP, clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(WECHAT_APP_ID, "404")
    assert caught.value.details["errcode"] == 100002
    simulator.fail_next(WECHAT_CHANNELS, code=-1, times=2)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(WECHAT_APP_ID, "404")
    assert caught.value.details["errcode"] == -1
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(WECHAT_APP_ID, "404")
    assert caught.value.details["errcode"] == -1
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(WECHAT_APP_ID, "404")
    assert caught.value.details["errcode"] == 100002


def test_a_wechat_url_check_is_answered_by_the_wechat_adapter() -> None:
    query = wechat_url_check(WECHAT_APP, "echo-4375120948")
    reply = get_adapter(WECHAT_CHANNELS).handshake(as_request("GET", {}, query, b""), WECHAT_APP)
    assert reply is not None
    assert reply.body == "echo-4375120948"
    assert get_adapter(WECHAT_CHANNELS).app_id(as_request("GET", {}, query, b"")) == WECHAT_APP_ID


def test_a_wechat_push_verifies_and_parses_with_the_wechat_adapter(
    simulator: PlatformSimulator, clock: Clock
) -> None:
    # GIVEN a paid order in the platform and its encrypted pay push
    order = wechat_order("3718590468852683008", WECHAT_APP_ID, 20, NOW, LINES, payment_id="4200000001")
    simulator.put_order(WECHAT_CHANNELS, WECHAT_APP_ID, order)
    query, body = wechat_push(
        wechat_event("channels_ec_order_pay", "3718590468852683008", NOW),
        WECHAT_APP,
        1741766461,
        "1849150504",
    )
    # WHEN
    event = process(
        simulator, WECHAT_CHANNELS, WECHAT_APP_ID, WECHAT_APP, as_request("POST", {}, query, body), clock
    )
    # THEN
    assert (event.shop_id, event.platform_order_id, event.status, event.payment_id) == (
        WECHAT_APP_ID,
        "3718590468852683008",
        OrderStatus.PAID,
        "4200000001",
    )
    assert event.total_amount == Decimal("238.80")
    # AND a redelivery is re-encrypted but dedupes to the same id
    query_again, body_again = wechat_push(
        wechat_event("channels_ec_order_pay", "3718590468852683008", NOW), WECHAT_APP, 1741766521, "99"
    )
    assert body_again != body
    adapter = get_adapter(WECHAT_CHANNELS)
    (first,) = adapter.frame(as_request("POST", {}, query, body), WECHAT_APP)
    (again,) = adapter.frame(as_request("POST", {}, query_again, body_again), WECHAT_APP)
    assert first.dedupe_id == again.dedupe_id
    # AND a push sealed with another token does not verify
    with pytest.raises(SignatureInvalidError):
        adapter.verify(as_request("POST", {}, query, body), {**WECHAT_APP, "token": "other"})


def test_a_wechat_aftersale_push_reads_the_refund_from_the_snapshot(
    simulator: PlatformSimulator, clock: Clock
) -> None:
    order = wechat_order(
        "3718590468852683008",
        WECHAT_APP_ID,
        30,
        NOW,
        LINES,
        payment_id="4200000001",
        aftersale_open={"1730000000001": 1},
    )
    simulator.put_order(WECHAT_CHANNELS, WECHAT_APP_ID, order)
    query, body = wechat_push(
        wechat_event("channels_ec_aftersale_update", "3718590468852683008", NOW), WECHAT_APP, 1741766461, "5"
    )
    event = process(
        simulator, WECHAT_CHANNELS, WECHAT_APP_ID, WECHAT_APP, as_request("POST", {}, query, body), clock
    )
    assert (event.status, event.refund_status) == (OrderStatus.SHIPPED, RefundStatus.REQUESTED)


def test_simulator_handles_requests_without_a_socket_too() -> None:
    simulator = PlatformSimulator(CREDENTIALS)
    reply = simulator.handle(SimRequest("GET", "/wechat_channels/cgi-bin/token", {"grant_type": "x"}, {}))
    assert json.loads(reply.body) == {"errcode": 40002, "errmsg": "invalid grant_type"}
    assert simulator.calls["wechat_channels:cgi-bin/token"] == 1


# ---------------------------------------------------------------------------------------------
# order factories: every happy-path status parses, and the path only moves forward
# ---------------------------------------------------------------------------------------------


def _parse_snapshot(
    platform: str, shop_id: str, order: dict[str, Any], message: dict[str, Any]
) -> OrderEvent:
    envelope = IntakeEnvelope(
        trace_id="trace-1",
        platform=Platform(platform),
        app_id=shop_id,
        received_at=NOW,
        dedupe_id="lifecycle",
        message_group=f"{platform}:{shop_id}",
        shop_id=shop_id,
        raw="{}",
    )
    return get_adapter(platform).parse(message, order, envelope)


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (
            DOUYIN,
            [
                OrderStatus.PENDING_PAYMENT,
                OrderStatus.PAID,
                OrderStatus.APPROVED,
                OrderStatus.SHIPPED,
                OrderStatus.COMPLETED,
            ],
        ),
        (
            WECHAT_CHANNELS,
            [OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED],
        ),
        (
            SHOPIFY,
            [OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED],
        ),
    ],
)
def test_happy_path_factories_parse_into_the_canonical_lifecycle(
    platform: str, expected: list[OrderStatus]
) -> None:
    statuses = []
    for step, native in enumerate(HAPPY_PATHS[platform]):
        moment = NOW + timedelta(hours=step)
        if platform == DOUYIN:
            order = douyin_order(
                "4916738052091854021", DOUYIN_SHOP, int(native), moment, LINES, create_time=NOW
            )
            event = _parse_snapshot(platform, DOUYIN_SHOP, order, douyin_order_message(order, 100, "m"))
        elif platform == WECHAT_CHANNELS:
            order = wechat_order(
                "3718590468852683008", WECHAT_APP_ID, int(native), moment, LINES, create_time=NOW
            )
            event = _parse_snapshot(platform, WECHAT_APP_ID, order, {})
        else:
            order = shopify_order(5923717611762, SHOPIFY_SHOP, str(native), moment, LINES, created_at=NOW)
            event = _parse_snapshot(platform, SHOPIFY_SHOP, order, order)
        assert event.event_time == moment
        statuses.append(event.status)
    assert statuses == expected
