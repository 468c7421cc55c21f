"""WeChat mini-program orders: WeChat Pay v3 signature and AEAD resource, parsing, statuses, client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    CredentialsMissingError,
    PlatformApiError,
    SignatureInvalidError,
    UnknownStatusError,
)
from oms.domain.ids import unified_order_id
from oms.domain.model import EventSource, Platform
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms.base import HttpResponse, PlatformAdapter, WebhookRequest
from oms.platforms.wechat_mini import ADAPTER, crypto
from oms.platforms.wechat_mini.client import WechatMiniClient
from oms.platforms.wechat_mini.parsing import (
    ORDER_STATE_MAP,
    REFUND_STATE_MAP,
    TRADE_STATE_MAP,
    order_state,
    refund_state,
    trade_state,
)
from oms.services.intake import WebhookIntake

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "wechat_mini"
APPID = "wxd678efh567hg6787"
API_V3_KEY = "0123456789abcdef0123456789ABCDEF"
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
NOW = datetime(2025, 2, 28, 16, 0, 10, tzinfo=UTC)

PLATFORM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


SECRETS: dict[str, Any] = {
    "appid": APPID,
    "mchid": "1230000109",
    "api_v3_key": API_V3_KEY,
    "app_secret": "unit-test-app-secret",
    "platform_certificates": {SERIAL: public_pem(PLATFORM_KEY)},
}


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sealed_notification(sample: str, **resource_changes: Any) -> bytes:
    """The body WeChat Pay would POST for a sample: the resource encrypted with the APIv3 key."""
    data = load(sample)
    notification, resource = data["notification"], {**data["resource"], **resource_changes}
    envelope = notification["resource"]
    envelope["ciphertext"] = crypto.encrypt_resource(
        API_V3_KEY, envelope["nonce"], envelope["associated_data"], json.dumps(resource, ensure_ascii=False)
    )
    return json.dumps(notification, ensure_ascii=False).encode()


def signed_request(
    body: bytes,
    *,
    key: rsa.RSAPrivateKey = PLATFORM_KEY,
    timestamp: datetime = NOW,
    nonce: str = "593BEC0C930BF1AFEB40B4A08C8FB242",
    serial: str = SERIAL,
) -> WebhookRequest:
    stamp = str(int(timestamp.timestamp()))
    headers = {
        "wechatpay-signature": crypto.sign(key, stamp, nonce, body),
        "wechatpay-timestamp": stamp,
        "wechatpay-nonce": nonce,
        "wechatpay-serial": serial,
        "content-type": "application/json",
    }
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


def envelope_for(request: WebhookRequest) -> IntakeEnvelope:
    [message] = ADAPTER.frame(request, SECRETS)
    raw, encoding = IntakeEnvelope.encode_raw(message.raw)
    return IntakeEnvelope(
        trace_id="t-1",
        platform=Platform.WECHAT_MINI,
        app_id=APPID,
        received_at=NOW,
        dedupe_id=message.dedupe_id,
        message_group="g",
        shop_id=message.shop_id,
        platform_order_id=message.platform_order_id,
        event_hint=message.event_hint,
        raw=raw,
        raw_encoding=encoding,
        plaintext=message.plaintext,
    )


class MemorySecrets:
    def app_secrets(self, platform: Platform, app_id: str | None) -> tuple[str, Any]:
        return APPID, SECRETS


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: list[IntakeEnvelope] = []

    def send(self, envelopes: Any) -> None:
        self.sent.extend(envelopes)


def intake(queue: MemoryQueue) -> WebhookIntake:
    return WebhookIntake(
        secrets=MemorySecrets(), queue=queue, clock=lambda: NOW, new_trace_id=lambda: "trace"
    )


def test_the_adapter_satisfies_the_protocol() -> None:
    assert isinstance(ADAPTER, PlatformAdapter)
    assert ADAPTER.platform is Platform.WECHAT_MINI


def test_a_signed_notification_verifies_and_decrypts_to_the_resource() -> None:
    # GIVEN a notification signed with the platform key and sealed with the APIv3 key
    request = signed_request(sealed_notification("transaction_success.json"))
    # WHEN it is verified and framed
    ADAPTER.verify(request, SECRETS)
    [message] = ADAPTER.frame(request, SECRETS)
    # THEN the plaintext holds the decrypted resource, routed to the mini-program and its order
    opened = json.loads(message.plaintext or "")
    assert opened["resource"]["transaction_id"] == "4200002500202503010000000001"
    assert (message.shop_id, message.platform_order_id) == (APPID, "MINI-20250301-0001")
    assert message.event_hint == "TRANSACTION.SUCCESS"
    assert not message.is_test
    assert ADAPTER.acknowledge().status == 204
    assert ADAPTER.acknowledge().body == ""


@pytest.mark.parametrize(
    "forge",
    [
        lambda r: WebhookRequest(r.method, r.headers, r.query, r.body.replace(b"SUCCESS", b"SUCCES5")),
        lambda r: signed_request(r.body, key=OTHER_KEY),
        lambda r: signed_request(r.body, serial="UNKNOWN-SERIAL"),
        lambda r: WebhookRequest(r.method, {**r.headers, "wechatpay-nonce": "other"}, r.query, r.body),
        lambda r: WebhookRequest(
            r.method, {**r.headers, "wechatpay-signature": "WECHATPAY/SIGNTEST/abc"}, r.query, r.body
        ),
        lambda r: WebhookRequest(
            r.method, {**r.headers, "wechatpay-signature": "not base64!"}, r.query, r.body
        ),
        lambda r: WebhookRequest("GET", r.headers, r.query, r.body),
        lambda r: WebhookRequest(
            r.method, {k: v for k, v in r.headers.items() if k != "wechatpay-serial"}, r.query, r.body
        ),
    ],
)
def test_forged_notifications_are_refused(forge: Any) -> None:
    genuine = signed_request(sealed_notification("transaction_success.json"))
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(forge(genuine), SECRETS)


def test_a_resource_sealed_with_another_key_does_not_open() -> None:
    data = load("transaction_success.json")
    envelope = data["notification"]["resource"]
    envelope["ciphertext"] = crypto.encrypt_resource(
        "x" * 32, envelope["nonce"], envelope["associated_data"], json.dumps(data["resource"])
    )
    request = signed_request(json.dumps(data["notification"]).encode())
    ADAPTER.verify(request, SECRETS)  # the signature is genuine...
    with pytest.raises(SignatureInvalidError):  # ...but the resource is not ours
        ADAPTER.frame(request, SECRETS)


def test_a_tampered_associated_data_fails_the_aead_tag() -> None:
    data = load("transaction_success.json")
    envelope = data["notification"]["resource"]
    envelope["ciphertext"] = crypto.encrypt_resource(
        API_V3_KEY, envelope["nonce"], "transaction", json.dumps(data["resource"])
    )
    envelope["associated_data"] = "refund"
    with pytest.raises(SignatureInvalidError):
        ADAPTER.frame(signed_request(json.dumps(data["notification"]).encode()), SECRETS)


def test_a_platform_certificate_in_x509_form_verifies_too() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(PLATFORM_KEY.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(PLATFORM_KEY, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    request = signed_request(sealed_notification("transaction_success.json"))
    ADAPTER.verify(request, {**SECRETS, "platform_certificates": {SERIAL: pem}})


def test_the_intake_rejects_a_stale_or_future_notification_and_takes_a_fresh_one() -> None:
    body = sealed_notification("transaction_success.json")
    queue = MemoryQueue()
    stale = intake(queue).receive("wechat_mini", signed_request(body, timestamp=NOW - timedelta(minutes=6)))
    ahead = intake(queue).receive("wechat_mini", signed_request(body, timestamp=NOW + timedelta(minutes=6)))
    fresh = intake(queue).receive("wechat_mini", signed_request(body, timestamp=NOW - timedelta(minutes=4)))
    assert (stale.reply.status, ahead.reply.status) == (401, 401)
    assert fresh.reply.status == 204
    assert fresh.enqueued == 1
    assert len(queue.sent) == 1


def test_retries_of_one_notification_share_a_dedupe_id_and_a_refund_does_not() -> None:
    body = sealed_notification("transaction_success.json")
    [first] = ADAPTER.frame(signed_request(body, nonce="n1"), SECRETS)
    [retry] = ADAPTER.frame(
        signed_request(sealed_notification("transaction_success.json"), nonce="n2"), SECRETS
    )
    [refund] = ADAPTER.frame(signed_request(sealed_notification("refund_success.json")), SECRETS)
    assert first.dedupe_id == retry.dedupe_id != refund.dedupe_id


def test_a_payment_at_midnight_utc8_parses_in_fen_and_utc() -> None:
    # GIVEN a payment at 00:00:03 on 1 March in UTC+8, 100.01 yuan total, 99.01 paid by the buyer
    envelope = envelope_for(signed_request(sealed_notification("transaction_success.json")))
    # WHEN the sanitizer decodes and parses it
    message = ADAPTER.decode(envelope)
    assert not ADAPTER.needs_fetch(message)
    event = ADAPTER.parse(message, None, envelope)
    # THEN it is a paid order of the previous day in UTC, amounts in yuan
    assert event.event_time == datetime(2025, 2, 28, 16, 0, 3, tzinfo=UTC)
    assert event.paid_at == event.event_time
    assert (event.total_amount, event.paid_amount) == (Decimal("100.01"), Decimal("99.01"))
    assert (event.status, event.refund_status) == (OrderStatus.PAID, RefundStatus.NONE)
    assert event.payment_id == "4200002500202503010000000001"
    assert event.buyer.open_id == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert event.order_id == unified_order_id("wechat_mini", APPID, "MINI-20250301-0001")
    assert event.tags["trade_type"] == "JSAPI"
    assert event.tags["mchid"] == "1230000109"
    assert event.source is EventSource.PUSH


def test_one_fen_is_one_hundredth_of_a_yuan() -> None:
    body = sealed_notification(
        "transaction_success.json", amount={"total": 1, "payer_total": 1, "currency": "CNY"}
    )
    event = ADAPTER.parse(*_decoded(body))
    assert event.total_amount == Decimal("0.01")


def _decoded(body: bytes) -> tuple[dict[str, Any], None, IntakeEnvelope]:
    envelope = envelope_for(signed_request(body))
    return ADAPTER.decode(envelope), None, envelope


def test_a_partial_refund_is_partial_and_never_moves_the_main_status_back() -> None:
    event = ADAPTER.parse(*_decoded(sealed_notification("refund_success.json")))
    assert (event.status, event.refund_status) == (OrderStatus.PAID, RefundStatus.PARTIAL)
    assert event.tags["refund_amount"] == "50.00"
    assert event.shop_id == APPID  # from the app's secrets: a refund carries no appid
    full = ADAPTER.parse(
        *_decoded(
            sealed_notification(
                "refund_success.json",
                amount={"total": 10001, "refund": 10001, "payer_total": 9901, "payer_refund": 9901},
            )
        )
    )
    assert full.refund_status is RefundStatus.REFUNDED


def test_a_shipping_snapshot_maps_order_state() -> None:
    envelope = envelope_for(signed_request(sealed_notification("transaction_success.json")))
    snapshot = load("get_order_shipped.json")["order"]
    event = ADAPTER.parse({}, snapshot, envelope)
    assert (event.status, event.platform_status) == (OrderStatus.SHIPPED, "order_state.2")
    assert event.placed_at == datetime(2025, 2, 28, 16, 0, tzinfo=UTC)
    assert event.paid_amount == Decimal("100.01")
    assert event.source is EventSource.RECONCILE
    # order_state cannot show a partial or pending refund: "no refund" from it is no fact
    assert not event.refund_known
    refunded = ADAPTER.parse({}, {**snapshot, "order_state": 5}, envelope)
    assert (refunded.refund_status, refunded.refund_known) == (RefundStatus.REFUNDED, True)


def test_every_documented_state_maps_and_unknown_ones_are_refused() -> None:
    assert set(ORDER_STATE_MAP) == {1, 2, 3, 4, 5}
    assert order_state("5") == (OrderStatus.CLOSED, RefundStatus.REFUNDED)
    assert trade_state("CLOSED")[0] is OrderStatus.CANCELLED
    assert {refund_state(state) for state in REFUND_STATE_MAP} >= {RefundStatus.REFUNDED, RefundStatus.NONE}
    assert set(TRADE_STATE_MAP) == {
        "SUCCESS",
        "REFUND",
        "NOTPAY",
        "CLOSED",
        "REVOKED",
        "USERPAYING",
        "PAYERROR",
    }
    for bad in (6, "x", None, True):
        with pytest.raises(UnknownStatusError):
            order_state(bad)
    with pytest.raises(UnknownStatusError):
        trade_state("PAID")
    with pytest.raises(UnknownStatusError):
        refund_state("DONE")


def test_a_non_order_notification_is_acknowledged_and_not_enqueued() -> None:
    data = load("transaction_success.json")
    data["notification"]["event_type"] = "MCHTRANSFER.BILL.FINISHED"
    envelope = data["notification"]["resource"]
    envelope["ciphertext"] = crypto.encrypt_resource(
        API_V3_KEY, envelope["nonce"], envelope["associated_data"], json.dumps(data["resource"])
    )
    [message] = ADAPTER.frame(signed_request(json.dumps(data["notification"]).encode()), SECRETS)
    assert message.is_test


class RecordingTransport:
    def __init__(self, *replies: tuple[int, dict[str, Any]]) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str, str, bytes | None]] = []

    def request(
        self, method: str, url: str, *, headers: Any = None, body: Any = None, timeout: float = 5.0
    ) -> HttpResponse:
        self.calls.append((method, url, body))
        status, reply = self.replies.pop(0)
        return HttpResponse(status=status, body=json.dumps(reply).encode())


def test_the_client_fetches_get_order_with_the_merchant_trade_number() -> None:
    transport = RecordingTransport(
        (200, {"access_token": "tok", "expires_in": 7200}), (200, load("get_order_shipped.json"))
    )
    client = ADAPTER.client(SECRETS, transport, clock=lambda: NOW, base_url="http://127.0.0.1:1")
    assert isinstance(client, WechatMiniClient)
    order = client.fetch_order(APPID, "MINI-20250301-0001")
    assert order["order_state"] == 2
    _method, url, body = transport.calls[1]
    assert urlsplit(url).path == "/wxa/sec/order/get_order"
    assert dict(parse_qsl(urlsplit(url).query)) == {"access_token": "tok"}
    assert json.loads(body or b"") == {"merchant_id": "1230000109", "merchant_trade_no": "MINI-20250301-0001"}


def test_the_client_marks_quota_errors_retryable_and_others_not() -> None:
    token = (200, {"access_token": "tok", "expires_in": 7200})
    client = ADAPTER.client(
        SECRETS, RecordingTransport(token, (200, {"errcode": 45011, "errmsg": "freq"})), clock=lambda: NOW
    )
    with pytest.raises(PlatformApiError) as busy:
        client.fetch_order(APPID, "X")
    client = ADAPTER.client(
        SECRETS, RecordingTransport(token, (200, {"errcode": 10060001, "errmsg": "no"})), clock=lambda: NOW
    )
    with pytest.raises(PlatformApiError) as missing:
        client.fetch_order(APPID, "X")
    assert busy.value.retryable
    assert not missing.value.retryable
    with pytest.raises(CredentialsMissingError):
        client.fetch_order("wx-other", "X")


def test_the_simulator_signs_notifications_the_adapter_accepts_and_serves_get_order() -> None:
    from local.simulator import PlatformSimulator, load_credentials
    from local.simulators import wechat_mini as simulated
    from oms.adapters.http import Urllib3Transport

    credentials = load_credentials()
    appid, app = next(iter(credentials["wechat_mini"].items()))
    resource = {**load("transaction_success.json")["resource"], "appid": appid, "mchid": app["mchid"]}
    with PlatformSimulator(credentials) as simulator:
        # GIVEN a notification as the simulated WeChat Pay sends it
        headers, body = simulated.pay_notification(
            app, resource, event_type="TRANSACTION.SUCCESS", signed_at=NOW
        )
        request = WebhookRequest("POST", {k.lower(): v for k, v in headers.items()}, {}, body)
        # WHEN the adapter verifies and frames it with the local secrets
        ADAPTER.verify(request, app)
        [message] = ADAPTER.frame(request, app)
        # THEN it opens to the resource; and get_order answers through the signed-in client
        assert json.loads(message.plaintext or "")["resource"]["out_trade_no"] == "MINI-20250301-0001"
        simulated.put_order(
            simulator, appid, load("get_order_shipped.json")["order"] | {"merchant_id": app["mchid"]}
        )
        client = ADAPTER.client(
            app, Urllib3Transport(), base_url=simulator.base_urls()["wechat_mini"], clock=lambda: NOW
        )
        assert client.fetch_order(appid, "MINI-20250301-0001")["order_state"] == 2
