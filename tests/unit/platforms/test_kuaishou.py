"""Kuaishou adapter: encrypted pushes and the setup ping, parsing, status map, the signed client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from local.simulator import LineSpec, PlatformSimulator, load_credentials
from local.simulators import kuaishou as sim
from oms.adapters.http import Urllib3Transport
from oms.domain.cleaning import clean_payload
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    BadRequestError,
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
from oms.platforms.kuaishou import ADAPTER, KuaishouClient
from oms.platforms.kuaishou.order import order_event
from oms.platforms.kuaishou.signing import api_sign, decrypt, encrypt, sign_string
from oms.platforms.kuaishou.status import ORDER_STATUS_MAP, REFUND_STATUS_MAP, map_status
from tests.support.http import RecordingTransport, json_response

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "kuaishou"
VECTOR = json.loads((EVENTS / "push_pay_success_encrypted.json").read_text(encoding="utf-8"))
APP_KEY = "ks_test_app_key_0001"
SELLER = "7000000001"
OID = "2419200000000001"
SECRETS: dict[str, Any] = {
    "app_key": APP_KEY,
    "app_secret": "test-kuaishou-app-secret-not-real",
    "sign_secret": "test-kuaishou-sign-secret-not-real",
    "message_key": VECTOR["message_key"],
    "access_tokens": {SELLER: "test-kuaishou-access-token-seller-1"},
}


def detail() -> dict[str, Any]:
    return json.loads((EVENTS / "order_detail_paid.json").read_text(encoding="utf-8"))["data"]  # type: ignore[no-any-return]


def push_request(body: bytes, query: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest("POST", {"content-type": "text/plain"}, query or {}, body)


def envelope_for(message: FramedMessage) -> IntakeEnvelope:
    raw, encoding = IntakeEnvelope.encode_raw(message.raw)
    return IntakeEnvelope(
        trace_id="trace-1",
        platform=Platform.KUAISHOU,
        app_id=APP_KEY,
        received_at=datetime(2026, 2, 4, 16, 0, 2, tzinfo=UTC),
        dedupe_id=message.dedupe_id,
        message_group=f"kuaishou:{message.shop_id}:{message.platform_order_id}",
        shop_id=message.shop_id,
        platform_order_id=message.platform_order_id,
        event_hint=message.event_hint,
        raw=raw,
        raw_encoding=encoding,
        plaintext=message.plaintext,
    )


def event_from(body: bytes, snapshot: dict[str, Any]) -> OrderEvent:
    request = push_request(body)
    ADAPTER.verify(request, SECRETS)
    envelope = envelope_for(ADAPTER.frame(request, SECRETS)[0])
    message, _ = clean_payload(ADAPTER.decode(envelope), "kuaishou")
    assert ADAPTER.needs_fetch(message)
    cleaned, _ = clean_payload(snapshot, "kuaishou")
    return ADAPTER.parse(message, cleaned, envelope)


def clock() -> datetime:
    return datetime(2026, 2, 4, 16, 0, 1, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Cryptography and signing
# --------------------------------------------------------------------------------------------


def test_the_derived_push_vector_decrypts_with_a_zero_iv() -> None:
    assert decrypt(VECTOR["body"], VECTOR["message_key"]) == VECTOR["plaintext"]
    assert encrypt(VECTOR["plaintext"], VECTOR["message_key"]) == VECTOR["body"]
    # zero IV: the first block is AES-ECB of the first plaintext block (XOR with zeros)
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(VECTOR["message_key"])
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    first_block = ecb.update(VECTOR["plaintext"].encode()[:16]) + ecb.finalize()
    assert base64.b64decode(VECTOR["body"])[:16] == first_block


def test_md5_and_hmac_signs_cover_the_sorted_parameters_and_the_sign_secret() -> None:
    params = {"method": "open.order.detail", "appkey": "k", "sign": "ignored", "timestamp": "1"}
    text = sign_string(params, "s")
    assert text == "appkey=k&method=open.order.detail&timestamp=1&signSecret=s"
    assert api_sign(params, "s") == hashlib.md5(text.encode()).hexdigest()
    digest = hmac.new(b"s", text.encode(), hashlib.sha256)
    assert api_sign(params, "s", "HMAC_SHA256") == base64.b64encode(digest.digest()).decode()
    assert api_sign(params, "s", "HMAC_SHA256", "hex") == digest.hexdigest()
    with pytest.raises(ValueError, match="signMethod"):
        api_sign(params, "s", "SHA1")


def test_the_adapter_is_registered_and_satisfies_the_protocol() -> None:
    assert get_adapter("kuaishou") is ADAPTER
    assert isinstance(ADAPTER, PlatformAdapter)
    assert ADAPTER.acknowledge().body == '{"result":1}'


# --------------------------------------------------------------------------------------------
# Pushes
# --------------------------------------------------------------------------------------------


def test_an_encrypted_push_opens_and_frames_with_its_plaintext() -> None:
    request = push_request(VECTOR["body"].encode())
    ADAPTER.verify(request, SECRETS)
    (message,) = ADAPTER.frame(request, SECRETS)
    assert (message.dedupe_id, message.shop_id, message.platform_order_id, message.event_hint) == (
        "evt_7000000001_2419200000000001_30",
        SELLER,
        OID,
        "kwaishop_order_paySuccess",
    )
    assert message.plaintext == VECTOR["plaintext"]
    assert message.raw == VECTOR["body"].encode()
    assert not message.is_test


def test_the_clear_setup_ping_is_acknowledged_by_the_handshake_and_never_framed() -> None:
    ping = push_request((EVENTS / "push_setup_ping.json").read_bytes())
    reply = ADAPTER.handshake(ping, SECRETS)
    assert reply is not None
    assert (reply.status, reply.body) == (200, '{"result":1}')
    assert ADAPTER.handshake(push_request(VECTOR["body"].encode()), SECRETS) is None


def test_an_encrypted_test_push_is_acknowledged_not_enqueued() -> None:
    body = sim.push({"eventId": "t-1", "test": True, "appKey": APP_KEY}, SECRETS["message_key"])
    (message,) = ADAPTER.frame(push_request(body), SECRETS)
    assert message.is_test


@pytest.mark.parametrize(
    "body",
    [
        VECTOR["body"][:-4].encode() + b"AAA=",  # tampered last block: bad padding
        base64.b64encode(b"x" * 16),  # not a ciphertext of ours
        b"not base64 at all!",
        b"",
        encrypt("[1,2]", VECTOR["message_key"]).encode(),  # opens, but not an object
    ],
    ids=["tampered", "foreign", "not-base64", "empty", "not-object"],
)
def test_forged_pushes_are_refused(body: bytes) -> None:
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(push_request(body), SECRETS)


def test_a_push_for_another_app_is_refused() -> None:
    body = sim.push(json.loads(VECTOR["plaintext"]) | {"appKey": "someone-else"}, SECRETS["message_key"])
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(push_request(body), SECRETS)


def test_a_push_sealed_with_the_previous_key_opens_during_rotation() -> None:
    old_key = base64.b64encode(b"old-kuaishou-key").decode()
    body = encrypt(VECTOR["plaintext"], old_key).encode()
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(push_request(body), SECRETS)
    ADAPTER.verify(push_request(body), SECRETS | {"previous_message_key": old_key})


def test_a_replayed_push_keeps_its_event_id() -> None:
    # Kuaishou retries with the same eventId: a replay dedupes on it
    first = ADAPTER.frame(push_request(VECTOR["body"].encode()), SECRETS)[0]
    again = ADAPTER.frame(push_request(VECTOR["body"].encode() + b"\n"), SECRETS)[0]
    assert first.dedupe_id == again.dedupe_id


def test_the_app_is_named_by_the_push_url() -> None:
    assert ADAPTER.app_id(push_request(b"", {"app_key": APP_KEY})) == APP_KEY
    assert ADAPTER.app_id(push_request(b"")) is None


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def test_the_detail_becomes_a_canonical_event_in_yuan_and_utc() -> None:
    event = event_from(VECTOR["body"].encode(), detail())
    assert (event.shop_id, event.platform_order_id, event.event_type) == (
        SELLER,
        OID,
        "kwaishop_order_paySuccess",
    )
    assert (event.status, event.refund_status) == (OrderStatus.PAID, RefundStatus.NONE)
    assert (event.total_amount, event.paid_amount, event.shipping_amount) == (
        Decimal("129.80"),
        Decimal("129.80"),
        Decimal("10.00"),
    )
    # 1770220800000 ms = 2026-02-05 00:00 in UTC+8
    assert event.event_time == datetime(2026, 2, 4, 16, 0, tzinfo=UTC)
    (line,) = event.lines
    assert (line.sku_id, line.out_sku_id, line.quantity, line.unit_price) == (
        "23000000001",
        "SUGAR-500",
        2,
        Decimal("59.90"),
    )
    assert event.receiver is not None
    assert (event.receiver.name, event.receiver.phone) == ("王*", "139****0000")
    assert event.receiver.encrypted["encryptedMobile"] == "#ks#enc#mobile"
    assert event.payment_id == "KSPAY2026020500000001"
    assert event.buyer.open_id == "f1a2b3c4d5e6f7a8"


def test_the_unconfirmed_amount_unit_can_be_switched_to_yuan() -> None:
    request = push_request(VECTOR["body"].encode())
    envelope = envelope_for(ADAPTER.frame(request, SECRETS)[0])
    message = ADAPTER.decode(envelope)
    snapshot = detail()
    snapshot["orderBaseInfo"] |= {"totalFee": "129.80", "expressFee": "10"}
    snapshot["orderItemInfo"] |= {"price": "59.90"}
    event = order_event(message, snapshot, envelope, unit="yuan")
    assert event.total_amount == Decimal("129.80")
    with pytest.raises(SchemaInvalidError):
        order_event(message, snapshot, envelope)  # "129.80" is no whole number of fen


def test_one_fen_is_one_cent_of_a_yuan() -> None:
    snapshot = detail()
    snapshot["orderBaseInfo"]["totalFee"] = 1
    assert event_from(VECTOR["body"].encode(), snapshot).total_amount == Decimal("0.01")


def test_a_detail_of_another_order_is_refused() -> None:
    snapshot = detail()
    snapshot["orderBaseInfo"]["oid"] = 1
    with pytest.raises(SchemaInvalidError):
        event_from(VECTOR["body"].encode(), snapshot)


# --------------------------------------------------------------------------------------------
# Statuses
# --------------------------------------------------------------------------------------------


def test_every_documented_status_is_mapped_and_the_path_moves_forward() -> None:
    assert set(ORDER_STATUS_MAP) == {10, 30, 40, 50, 70, 80}
    path = [map_status(code)[0] for code in (10, 30, 40, 50, 70)]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))
    assert all(can_transition(status, map_status(80)[0]) for status in path[:-1])


@pytest.mark.parametrize(
    ("status", "refunds", "expected"),
    [
        (30, [10], (OrderStatus.PAID, RefundStatus.REQUESTED)),
        (30, [50], (OrderStatus.PAID, RefundStatus.REFUNDING)),
        (80, [60], (OrderStatus.CLOSED, RefundStatus.REFUNDED)),
        (70, [60], (OrderStatus.COMPLETED, RefundStatus.PARTIAL)),
        (70, [60, 10], (OrderStatus.COMPLETED, RefundStatus.REQUESTED)),
        (50, [70], (OrderStatus.DELIVERED, RefundStatus.NONE)),
    ],
)
def test_refunds_map_into_the_refund_dimension(status: int, refunds: list[int], expected: Any) -> None:
    assert map_status(status, refunds) == expected


def test_every_refund_status_is_mapped() -> None:
    assert set(REFUND_STATUS_MAP) == {10, 11, 20, 30, 40, 50, 60, 70}


@pytest.mark.parametrize(("status", "refunds"), [(20, []), ("x", []), (30, [99]), (True, [])])
def test_unknown_statuses_are_reported(status: Any, refunds: list[Any]) -> None:
    with pytest.raises(UnknownStatusError):
        map_status(status, refunds)


# --------------------------------------------------------------------------------------------
# API client
# --------------------------------------------------------------------------------------------


def test_fetch_order_posts_a_signed_form() -> None:
    transport = RecordingTransport(json_response(json.loads((EVENTS / "order_detail_paid.json").read_text())))
    client = ADAPTER.client(SECRETS, transport, clock=clock)
    assert client.fetch_order(SELLER, OID)["orderBaseInfo"]["status"] == 30
    (request,) = transport.requests
    assert request["url"] == "https://openapi.kwaixiaodian.com/open/order/detail"
    form = dict(parse_qsl(request["body"].decode()))
    assert form["param"] == '{"oid":2419200000000001}'
    assert form["timestamp"] == str(int(clock().timestamp() * 1000))
    assert (form["signMethod"], form["version"], form["appkey"]) == ("MD5", "1", APP_KEY)
    assert form["sign"] == api_sign(form, SECRETS["sign_secret"])


def test_hmac_signing_and_its_encoding_are_configurable() -> None:
    for encoding in ("base64", "hex"):
        transport = RecordingTransport(json_response({"result": 1, "data": {}}))
        secrets = SECRETS | {"sign_method": "HMAC_SHA256", "hmac_encoding": encoding}
        KuaishouClient(secrets, transport, clock=clock).fetch_order(SELLER, OID)
        form = dict(parse_qsl(transport.requests[0]["body"].decode()))
        assert form["sign"] == api_sign(form, SECRETS["sign_secret"], "HMAC_SHA256", encoding)
    with pytest.raises(CredentialsMissingError):
        KuaishouClient(SECRETS | {"hmac_encoding": "base32"}, RecordingTransport(), clock=clock)


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [(10, 12, (2, 1)), (10, 7, (3, 2)), (5, 5, None)],
)
def test_update_stock_sends_the_change(current: int, target: int, expected: tuple[int, int] | None) -> None:
    transport = RecordingTransport(json_response({"result": 1}))
    client = KuaishouClient(SECRETS, transport, clock=clock)
    client.update_stock(SELLER, "23000000001", target, product_id="22000000001", current_quantity=current)
    if expected is None:
        assert transport.requests == []
        return
    params = json.loads(dict(parse_qsl(transport.requests[0]["body"].decode()))["param"])
    assert params == {
        "kwaiItemId": 22000000001,
        "skuId": 23000000001,
        "skuChangeStock": expected[0],
        "changeType": expected[1],
    }


def test_update_stock_needs_the_item_and_the_current_quantity() -> None:
    client = KuaishouClient(SECRETS, RecordingTransport(), clock=clock)
    with pytest.raises(BadRequestError):
        client.update_stock(SELLER, "1", 3)


@pytest.mark.parametrize(
    ("response", "retryable"),
    [
        (HttpResponse(status=429, body=b""), True),
        (HttpResponse(status=502, body=b""), True),
        (json_response({"result": 24, "error_msg": "签名校验失败"}), False),
    ],
)
def test_api_errors_are_typed_and_rate_limits_retryable(response: HttpResponse, retryable: bool) -> None:
    client = KuaishouClient(SECRETS, RecordingTransport(response), clock=clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SELLER, OID)
    assert caught.value.retryable is retryable


def test_configured_rate_limit_results_are_retryable() -> None:
    reply = json_response({"result": 803, "error_msg": "调用频率超限"})
    client = KuaishouClient(SECRETS | {"rate_limit_codes": [803]}, RecordingTransport(reply), clock=clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SELLER, OID)
    assert caught.value.retryable


# --------------------------------------------------------------------------------------------
# Simulator round trip
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[PlatformSimulator]:
    with PlatformSimulator(load_credentials()) as running:
        yield running


def test_the_simulator_checks_signatures_and_serves_orders_and_stock(simulator: PlatformSimulator) -> None:
    app_key, app = next(iter(load_credentials()["kuaishou"].items()))
    seller = next(iter(app["access_tokens"]))
    line = LineSpec(sku_id="23000000009", quantity=1, unit_price=Decimal("9.90"), product_id="22000000009")
    truth = sim.order(2419200000000009, 40, clock(), line)
    sim.put_order(simulator, seller, truth)
    client = ADAPTER.client(app, Urllib3Transport(), base_url=sim.base_url(simulator), clock=clock)
    assert client.fetch_order(seller, "2419200000000009") == truth
    sim.set_stock(simulator, seller, "23000000009", 10)
    client.update_stock(seller, "23000000009", 4, product_id="22000000009", current_quantity=10)  # type: ignore[attr-defined]
    assert sim.stock(simulator, seller, "23000000009") == 4
    # the other HMAC encoding is refused: the simulator holds the app's configured one
    wrong = ADAPTER.client(
        app | {"hmac_encoding": "hex"}, Urllib3Transport(), base_url=sim.base_url(simulator), clock=clock
    )
    with pytest.raises(PlatformApiError):
        wrong.fetch_order(seller, "2419200000000009")
    # the simulator's encrypted push opens with the adapter and parses against the served detail
    body = sim.push(sim.order_message(truth, seller, app_key, "evt-9"), app["message_key"])
    request = push_request(body)
    ADAPTER.verify(request, app)
    envelope = envelope_for(ADAPTER.frame(request, app)[0])
    event = ADAPTER.parse(ADAPTER.decode(envelope), client.fetch_order(seller, "2419200000000009"), envelope)
    assert (event.status, event.total_amount, event.event_type) == (
        OrderStatus.SHIPPED,
        Decimal("9.90"),
        "kwaishop_order_delivering",
    )
