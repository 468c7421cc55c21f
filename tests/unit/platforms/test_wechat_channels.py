"""WeChat Channels shop adapter: crypto vectors, push verification and framing, parsing, the API client."""

from __future__ import annotations

import base64
import copy
import json
import struct
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from oms.domain.cleaning import clean_payload
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    CredentialsMissingError,
    PaymentParseError,
    PlatformApiError,
    SchemaInvalidError,
    SignatureInvalidError,
    UnknownStatusError,
)
from oms.domain.ids import unified_order_id
from oms.domain.model import Platform
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms.base import HttpResponse, HttpTransport, PlatformAdapter, WebhookRequest
from oms.platforms.wechat_channels import ADAPTER, crypto
from oms.platforms.wechat_channels.client import WechatChannelsClient
from oms.platforms.wechat_channels.parsing import STATUS_MAP, map_status, refund_status

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "wechat_channels"
APP_ID = "wx5f3c1d2e4b6a7980"
SECRETS: dict[str, str] = {
    "app_id": APP_ID,
    "token": "unit-test-token",
    "encoding_aes_key": "UnitTestEncodingAESKeyForWeChatChannels0000",
    "app_secret": "unit-test-app-secret",
}
ORDER_ID = "3718590468852683008"
RECEIVED_AT = datetime(2025, 3, 12, 8, 1, 7, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def signed_push(
    event: Mapping[str, Any] | str,
    *,
    secrets: Mapping[str, str] = SECRETS,
    timestamp: str = "1741766461",
    nonce: str = "1849150504",
    random16: bytes = b"0123456789abcdef",
    sealed_for: str | None = None,
) -> WebhookRequest:
    """A push as WeChat sends it: encrypted JSON body, msg_signature over the ciphertext."""
    plaintext = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
    encrypted = crypto.encrypt(
        plaintext, secrets["encoding_aes_key"], sealed_for or secrets["app_id"], random16
    )
    query = {
        "signature": crypto.url_signature(secrets["token"], timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": crypto.msg_signature(secrets["token"], timestamp, nonce, encrypted),
    }
    body = json.dumps({"ToUserName": "gh_97417a04a28d", "Encrypt": encrypted}).encode()
    return WebhookRequest(method="POST", headers={"content-type": "application/json"}, query=query, body=body)


def resigned(request: WebhookRequest, encrypted: str, secrets: Mapping[str, str] = SECRETS) -> WebhookRequest:
    """The same push with another ciphertext, correctly signed (only someone with the token could)."""
    query = dict(request.query)
    query["msg_signature"] = crypto.msg_signature(
        secrets["token"], query["timestamp"], query["nonce"], encrypted
    )
    body = json.dumps({"ToUserName": "gh_97417a04a28d", "Encrypt": encrypted}).encode()
    return WebhookRequest(method="POST", headers=request.headers, query=query, body=body)


def envelope_for(message: Any, *, dedupe_id: str = "d" * 64) -> IntakeEnvelope:
    plaintext = json.dumps(message)
    return IntakeEnvelope(
        trace_id="trace-1",
        platform=Platform.WECHAT_CHANNELS,
        app_id=APP_ID,
        received_at=RECEIVED_AT,
        dedupe_id=dedupe_id,
        message_group=f"wechat_channels:{APP_ID}:{ORDER_ID}",
        shop_id=APP_ID,
        platform_order_id=ORDER_ID,
        event_hint=message.get("Event") if isinstance(message, dict) else None,
        raw='{"ToUserName":"gh_97417a04a28d","Encrypt":"..."}',
        plaintext=plaintext,
    )


PAY_EVENT: dict[str, Any] = load("push_order_pay_plaintext.json")


# ---------------------------------------------------------------------------------------------
# crypto: vectors
# ---------------------------------------------------------------------------------------------


def test_url_signature_matches_the_official_vector() -> None:
    # GIVEN the URL-check example of the WeChat docs (PLATFORMS.md)
    vector = load("url_check_official.json")
    query = vector["query"]
    # WHEN / THEN
    assert crypto.url_signature(vector["token"], query["timestamp"], query["nonce"]) == query["signature"]


def test_push_signatures_match_the_official_vector() -> None:
    # GIVEN the encrypted-push example of the WeChat message-push docs
    vector = load("push_official_vector.json")
    query, app = vector["query"], vector["app"]
    # THEN both the plain URL signature and the msg_signature over the ciphertext match
    assert crypto.url_signature(app["token"], query["timestamp"], query["nonce"]) == query["signature"]
    assert (
        crypto.msg_signature(app["token"], query["timestamp"], query["nonce"], vector["body"]["Encrypt"])
        == query["msg_signature"]
    )


def test_decrypt_opens_the_official_ciphertext_and_encrypt_reproduces_it() -> None:
    vector = load("push_official_vector.json")
    app = vector["app"]
    # WHEN decrypting the documented ciphertext
    plaintext = crypto.decrypt(vector["body"]["Encrypt"], app["encoding_aes_key"], app["app_id"])
    # THEN it is the documented message, and sealing it again with the same random bytes gives
    # back the documented ciphertext bit for bit
    assert plaintext == vector["plaintext"]
    again = crypto.encrypt(plaintext, app["encoding_aes_key"], app["app_id"], vector["random16"].encode())
    assert again == vector["body"]["Encrypt"]


def _independent_seal(message: bytes, encoding_aes_key: str, appid: bytes, random16: bytes) -> str:
    """Sender-side construction written from the spec, not from the module under test."""
    key = base64.b64decode(encoding_aes_key + "=")
    content = random16 + struct.pack("!I", len(message)) + message + appid
    pad = 32 - len(content) % 32
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(content + bytes([pad]) * pad) + encryptor.finalize()).decode()


# With an 18-character app id the plaintext is 38 + n bytes: n = 26 and 58 fill whole 32-byte
# blocks, so the padding is a full block of 32s; the neighbours pad by 1 and 31.
@pytest.mark.parametrize("message", [b"", b"x" * 25, b"x" * 26, b"x" * 27, b"x" * 58, "订单".encode() * 50])
def test_decrypt_accepts_every_padding_length_an_independent_sender_produces(message: bytes) -> None:
    # GIVEN a message sealed by a sender written from the spec
    sealed = _independent_seal(message, SECRETS["encoding_aes_key"], APP_ID.encode(), b"R" * 16)
    # WHEN / THEN
    assert crypto.decrypt(sealed, SECRETS["encoding_aes_key"], APP_ID) == message.decode()


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=400), random16=st.binary(min_size=16, max_size=16))
def test_encrypt_then_decrypt_round_trips_any_text(text: str, random16: bytes) -> None:
    sealed = crypto.encrypt(text, SECRETS["encoding_aes_key"], APP_ID, random16)
    assert len(base64.b64decode(sealed)) % 32 == 0
    assert crypto.decrypt(sealed, SECRETS["encoding_aes_key"], APP_ID) == text


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200))
def test_decrypt_of_arbitrary_bytes_raises_only_signature_invalid(data: bytes) -> None:
    # Random ciphertexts must never escape as ValueError, struct.error, UnicodeDecodeError...
    with pytest.raises(SignatureInvalidError):
        crypto.decrypt(base64.b64encode(data).decode(), SECRETS["encoding_aes_key"], APP_ID)


def test_decrypt_refuses_a_message_sealed_for_another_app() -> None:
    sealed = crypto.encrypt("{}", SECRETS["encoding_aes_key"], "wx0000000000000bad", b"0" * 16)
    with pytest.raises(SignatureInvalidError) as caught:
        crypto.decrypt(sealed, SECRETS["encoding_aes_key"], APP_ID)
    assert caught.value.details["reason"] == "appid_mismatch"


def test_decrypt_refuses_a_message_whose_declared_length_overruns_it() -> None:
    key = SECRETS["encoding_aes_key"]
    raw_key = base64.b64decode(key + "=")
    content = b"R" * 16 + struct.pack(">I", 10_000) + b"{}" + APP_ID.encode()
    pad = 32 - len(content) % 32
    encryptor = Cipher(algorithms.AES(raw_key), modes.CBC(raw_key[:16])).encryptor()
    sealed = base64.b64encode(encryptor.update(content + bytes([pad]) * pad) + encryptor.finalize()).decode()
    with pytest.raises(SignatureInvalidError) as caught:
        crypto.decrypt(sealed, key, APP_ID)
    assert caught.value.details["reason"] == "bad_length"


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda sealed: sealed[:-8], None),  # truncated
        (lambda sealed: "!!" + sealed[2:], "bad_base64"),
        (lambda sealed: "", "bad_length"),
        (lambda sealed: base64.b64encode(base64.b64decode(sealed)[:-16]).decode(), None),  # one block short
        (lambda sealed: base64.b64encode(base64.b64decode(sealed)[16:]).decode(), None),  # first block gone
    ],
)
def test_decrypt_turns_every_malformed_ciphertext_into_signature_invalid(
    mangle: Any, reason: str | None
) -> None:
    sealed = crypto.encrypt(json.dumps(PAY_EVENT), SECRETS["encoding_aes_key"], APP_ID, b"0" * 16)
    with pytest.raises(SignatureInvalidError) as caught:
        crypto.decrypt(mangle(sealed), SECRETS["encoding_aes_key"], APP_ID)
    if reason is not None:
        assert caught.value.details["reason"] == reason


@pytest.mark.parametrize("bad_key", ["short", "A" * 42 + "!", "A" * 44])
def test_a_malformed_encoding_aes_key_is_signature_invalid(bad_key: str) -> None:
    with pytest.raises(SignatureInvalidError):
        crypto.decrypt("AAAA", bad_key, APP_ID)


# ---------------------------------------------------------------------------------------------
# adapter: handshake, verify, frame, acknowledge
# ---------------------------------------------------------------------------------------------


def test_adapter_satisfies_the_platform_protocol() -> None:
    assert isinstance(ADAPTER, PlatformAdapter)
    assert ADAPTER.platform is Platform.WECHAT_CHANNELS
    assert ADAPTER.max_body_bytes == 64 * 1024
    assert ADAPTER.default_base_url == "https://api.weixin.qq.com"


def test_app_id_comes_from_the_push_url_query() -> None:
    with_app = WebhookRequest(method="POST", headers={}, query={"app_id": APP_ID}, body=b"")
    without = WebhookRequest(method="POST", headers={}, query={"app_id": ""}, body=b"")
    assert ADAPTER.app_id(with_app) == APP_ID
    assert ADAPTER.app_id(without) is None


def test_handshake_answers_the_official_url_check_with_the_echostr() -> None:
    # GIVEN WeChat's URL check for an app whose token is AAAAA
    vector = load("url_check_official.json")
    request = WebhookRequest(method="GET", headers={}, query=vector["query"], body=b"")
    # WHEN
    reply = ADAPTER.handshake(request, {**SECRETS, "token": vector["token"]})
    # THEN the echostr goes back as plain text
    assert reply is not None
    assert (reply.status, reply.body, reply.content_type) == (200, vector["query"]["echostr"], "text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"signature": "0" * 40, "timestamp": "1714036504", "nonce": "1514711492", "echostr": "x"},
        {
            "signature": "f464b24fc39322e44b38aa78f5edd27bd1441696",
            "timestamp": "1714036505",
            "nonce": "1514711492",
            "echostr": "x",
        },
        {"timestamp": "1714036504", "nonce": "1514711492", "echostr": "x"},
        {
            "signature": "f464b24fc39322e44b38aa78f5edd27bd1441696",
            "timestamp": "1714036504",
            "nonce": "1514711492",
        },
    ],
)
def test_handshake_refuses_a_forged_or_incomplete_url_check(query: dict[str, str]) -> None:
    request = WebhookRequest(method="GET", headers={}, query=query, body=b"")
    with pytest.raises(SignatureInvalidError):
        ADAPTER.handshake(request, {**SECRETS, "token": "AAAAA"})


def test_handshake_is_none_for_a_push() -> None:
    assert ADAPTER.handshake(signed_push(PAY_EVENT), SECRETS) is None


def test_verify_accepts_the_official_push() -> None:
    vector = load("push_official_vector.json")
    request = WebhookRequest(
        method="POST", headers={}, query=vector["query"], body=json.dumps(vector["body"]).encode()
    )
    ADAPTER.verify(request, {**vector["app"], "app_secret": "unused"})


def test_verify_accepts_a_signed_push() -> None:
    ADAPTER.verify(signed_push(PAY_EVENT), SECRETS)


def _with_query(request: WebhookRequest, **changes: str | None) -> WebhookRequest:
    query = {**request.query, **changes}
    query = {name: value for name, value in query.items() if value is not None}
    return WebhookRequest(method=request.method, headers=request.headers, query=query, body=request.body)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda r: _with_query(r, msg_signature="0" * 40), id="forged-signature"),
        pytest.param(
            lambda r: _with_query(r, msg_signature=r.query["msg_signature"][:-1]), id="truncated-signature"
        ),
        pytest.param(lambda r: _with_query(r, msg_signature=None), id="no-signature"),
        pytest.param(lambda r: _with_query(r, timestamp="1741766462"), id="other-timestamp"),
        pytest.param(lambda r: _with_query(r, nonce="1"), id="other-nonce"),
        pytest.param(
            lambda r: _with_query(r, msg_signature=r.query["signature"]), id="url-signature-instead-of-msg"
        ),
        pytest.param(
            lambda r: WebhookRequest(
                r.method, r.headers, r.query, r.body.replace(b'"Encrypt": "', b'"Encrypt": "A')
            ),
            id="altered-ciphertext",
        ),
        pytest.param(
            lambda r: WebhookRequest(r.method, r.headers, r.query, r.body[:-20]), id="truncated-body"
        ),
        pytest.param(lambda r: WebhookRequest(r.method, r.headers, r.query, b"\xff\xfe"), id="binary-body"),
        pytest.param(
            lambda r: WebhookRequest(r.method, r.headers, r.query, json.dumps(PAY_EVENT).encode()),
            id="plaintext-mode",
        ),
        pytest.param(lambda r: WebhookRequest("GET", r.headers, r.query, r.body), id="get"),
    ],
)
def test_verify_refuses_forged_altered_and_truncated_pushes(forge: Any) -> None:
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(forge(signed_push(PAY_EVENT)), SECRETS)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda sealed: sealed[:-4], id="truncated"),
        pytest.param(
            lambda sealed: base64.b64encode(base64.b64decode(sealed)[:-32]).decode(), id="block-dropped"
        ),
        pytest.param(lambda sealed: "%%%%", id="not-base64"),
    ],
)
def test_verify_refuses_a_correctly_signed_but_corrupt_ciphertext(corrupt: Any) -> None:
    # GIVEN a ciphertext that was altered and then signed with the right token
    request = signed_push(PAY_EVENT)
    sealed = json.loads(request.body)["Encrypt"]
    # WHEN / THEN decryption fails, typed, never with a raw exception
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(resigned(request, corrupt(sealed)), SECRETS)


def test_verify_refuses_a_push_sealed_for_another_app() -> None:
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(signed_push(PAY_EVENT, sealed_for="wx0000000000000bad"), SECRETS)


def test_verify_without_the_app_id_secret_is_credentials_missing() -> None:
    secrets = {key: value for key, value in SECRETS.items() if key != "app_id"}
    with pytest.raises(CredentialsMissingError):
        ADAPTER.verify(signed_push(PAY_EVENT), secrets)


def test_frame_cuts_one_message_routed_by_app_and_order() -> None:
    # GIVEN a signed pay push whose order id is a JSON number beyond 2**53
    request = signed_push(PAY_EVENT)
    # WHEN
    (message,) = ADAPTER.frame(request, SECRETS)
    # THEN
    assert message.raw == request.body
    assert json.loads(message.plaintext or "") == PAY_EVENT
    assert message.shop_id == APP_ID
    assert message.platform_order_id == ORDER_ID
    assert message.event_hint == "channels_ec_order_pay"
    assert message.is_test is False
    assert len(message.dedupe_id) == 64


def test_a_retry_re_encrypted_with_new_random_bytes_keeps_its_dedupe_id() -> None:
    # GIVEN the same event delivered twice, the second time re-encrypted and re-signed
    first = signed_push(PAY_EVENT)
    retry = signed_push(PAY_EVENT, timestamp="1741766521", nonce="77", random16=b"fedcba9876543210")
    assert first.body != retry.body
    # WHEN
    (one,) = ADAPTER.frame(first, SECRETS)
    (two,) = ADAPTER.frame(retry, SECRETS)
    # THEN the dedupe id is the same, while another event of the order gets another id
    assert one.dedupe_id == two.dedupe_id
    deliver = {**PAY_EVENT, "Event": "channels_ec_order_deliver", "CreateTime": 1741852801}
    (other,) = ADAPTER.frame(signed_push(deliver), SECRETS)
    assert other.dedupe_id != one.dedupe_id


def test_frame_routes_by_the_cleaned_order_id() -> None:
    # GIVEN an after-sale push whose string order id carries a zero-width space and full-width digits
    event = load("push_aftersale_update_plaintext.json")
    event["finder_shop_aftersale_status_update"]["order_id"] = "３７18590468852683008\u200b"
    # WHEN
    (message,) = ADAPTER.frame(signed_push(event), SECRETS)
    # THEN routing uses the id the sanitizer will see, while plaintext stays as delivered
    assert message.platform_order_id == ORDER_ID
    assert "\u200b" in json.loads(message.plaintext or "")["finder_shop_aftersale_status_update"]["order_id"]


def test_a_malformed_order_id_is_framed_for_the_sanitizer_to_report() -> None:
    # GIVEN an authentic order push whose order id is not an identifier
    event = {**PAY_EVENT, "order_info": {"order_id": {"nested": 1}}}
    # WHEN framed, it is still enqueued (a 4xx would only make WeChat retry it for hours)
    (message,) = ADAPTER.frame(signed_push(event), SECRETS)
    assert (message.platform_order_id, message.is_test) == (None, False)
    # THEN parsing reports it, naming the field
    with pytest.raises(SchemaInvalidError) as caught:
        ADAPTER.parse(event, _snapshot(), envelope_for(event))
    assert caught.value.details["field"] == "order_info.order_id"


def test_frame_takes_the_order_id_of_an_aftersale_push() -> None:
    (message,) = ADAPTER.frame(signed_push(load("push_aftersale_update_plaintext.json")), SECRETS)
    assert message.platform_order_id == ORDER_ID
    assert message.event_hint == "channels_ec_aftersale_update"
    assert message.is_test is False


def test_a_push_about_no_order_is_acknowledged_and_not_enqueued() -> None:
    vector = load("push_official_vector.json")
    request = WebhookRequest(
        method="POST", headers={}, query=vector["query"], body=json.dumps(vector["body"]).encode()
    )
    (message,) = ADAPTER.frame(request, {**vector["app"], "app_secret": "unused"})
    assert message.event_hint == "debug_demo"
    assert message.platform_order_id is None
    assert message.is_test is True


def test_frame_refuses_a_decrypted_push_that_is_not_a_json_object() -> None:
    with pytest.raises(SchemaInvalidError):
        ADAPTER.frame(signed_push("[1, 2]"), SECRETS)
    with pytest.raises(SchemaInvalidError):
        ADAPTER.frame(signed_push("not json"), SECRETS)


def test_acknowledge_is_plain_success() -> None:
    reply = ADAPTER.acknowledge()
    assert (reply.status, reply.body, reply.content_type) == (200, "success", "text/plain")


# ---------------------------------------------------------------------------------------------
# decode, needs_fetch, parse
# ---------------------------------------------------------------------------------------------


def test_decode_returns_the_decrypted_json() -> None:
    assert ADAPTER.decode(envelope_for(PAY_EVENT)) == PAY_EVENT
    with pytest.raises(SchemaInvalidError):
        ADAPTER.decode(envelope_for(["not", "an", "object"]))


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("channels_ec_order_new", True),
        ("channels_ec_order_pay", True),
        ("channels_ec_order_deliver", True),
        ("channels_ec_order_cancel", True),
        ("channels_ec_aftersale_update", True),
        ("product_spu_audit", False),
        ("debug_demo", False),
    ],
)
def test_needs_fetch_for_every_order_event(event: str, expected: bool) -> None:
    assert ADAPTER.needs_fetch({**PAY_EVENT, "Event": event}) is expected


def _snapshot(name: str = "order_get_paid.json") -> dict[str, Any]:
    order: dict[str, Any] = load(name)["order"]
    return order


def test_parse_maps_a_paid_order_snapshot() -> None:
    # GIVEN the pay push and the order/get snapshot it led to
    envelope = envelope_for(PAY_EVENT, dedupe_id="e" * 64)
    # WHEN
    event = ADAPTER.parse(PAY_EVENT, _snapshot(), envelope)
    # THEN
    assert event.event_id == "e" * 64
    assert (event.platform, event.shop_id, event.platform_order_id) == (
        Platform.WECHAT_CHANNELS,
        APP_ID,
        ORDER_ID,
    )
    assert event.order_id == unified_order_id("wechat_channels", APP_ID, ORDER_ID)
    assert event.event_type == "channels_ec_order_pay"
    assert event.event_time == datetime(2025, 3, 12, 8, 1, 6, tzinfo=UTC)
    assert (event.status, event.refund_status, event.platform_status) == (
        OrderStatus.PAID,
        RefundStatus.NONE,
        "20",
    )
    assert event.currency == "CNY"
    assert (event.total_amount, event.paid_amount, event.shipping_amount) == (
        Decimal("233.80"),
        Decimal("233.80"),
        Decimal("5.00"),
    )
    assert event.payment_id == "4332301095202503122057439992"
    assert event.placed_at == datetime(2025, 3, 12, 8, 0, tzinfo=UTC)
    assert event.paid_at == datetime(2025, 3, 12, 8, 1, tzinfo=UTC)
    towel, wipes = event.lines
    assert (towel.line_id, towel.sku_id, towel.out_sku_id, towel.quantity, towel.unit_price) == (
        "10000103058379:2069165392",
        "2069165392",
        "QH-TOWEL-70140-W",
        2,
        Decimal("99.90"),
    )
    assert (wipes.out_sku_id, wipes.quantity, wipes.unit_price) == (None, 1, Decimal("39.00"))
    assert (event.buyer.open_id, event.buyer.union_id) == (
        "oAv1969ctu4B_MrW17zk7JChQrBA",
        "ofeIxD4qpxEIdkUmusYuJAvWi-H4cgngomdmkZ5Dt41LPpun",
    )
    receiver = event.receiver
    assert receiver is not None
    assert receiver.masked
    assert (
        receiver.name,
        receiver.phone,
        receiver.province,
        receiver.city,
        receiver.district,
        receiver.detail,
    ) == (
        "张**",
        "139****1755",
        "浙江省",
        "杭州市",
        "西湖区",
        "文三路****号",
    )
    assert receiver.encrypted == {
        "hash_code": "60e36c9691eef079a45fb629c78b88ef",
        "virtual_order_tel_number": "17012341234-6821",
    }
    assert event.tags["price_info.discounted_price"] == "10.00"
    assert event.tags["pay_info.payment_method"] == "1"
    assert not any("notes" in key for key in event.tags)


def test_parse_reads_an_open_aftersale_on_a_shipped_order() -> None:
    event = ADAPTER.parse(
        load("push_aftersale_update_plaintext.json"),
        _snapshot("order_get_shipped_aftersale_open.json"),
        envelope_for(load("push_aftersale_update_plaintext.json")),
    )
    assert (event.status, event.refund_status) == (OrderStatus.SHIPPED, RefundStatus.REQUESTED)
    assert event.event_type == "channels_ec_aftersale_update"
    assert event.tags["delivery_info.waybill_ids"] == "SF1409876543210"
    assert event.tags["aftersale_detail.aftersale_order_ids"] == "2000000075529920"


def test_parse_closes_an_order_cancelled_after_a_full_refund() -> None:
    event = ADAPTER.parse(PAY_EVENT, _snapshot("order_get_refunded_closed.json"), envelope_for(PAY_EVENT))
    assert (event.status, event.refund_status, event.platform_status) == (
        OrderStatus.CLOSED,
        RefundStatus.REFUNDED,
        "200",
    )


def test_parse_of_an_unpaid_order_has_no_payment() -> None:
    snapshot = _snapshot()
    snapshot["status"] = 10
    snapshot["order_detail"]["pay_info"] = {"prepay_id": "up_wx1", "prepay_time": 1741766410}
    event = ADAPTER.parse(PAY_EVENT, snapshot, envelope_for(PAY_EVENT))
    assert event.status == OrderStatus.PENDING_PAYMENT
    assert (event.paid_amount, event.paid_at, event.payment_id) == (None, None, None)
    assert event.total_amount == Decimal("233.80")


def test_parse_accepts_numbers_sent_as_strings() -> None:
    snapshot = _snapshot()
    snapshot["status"], snapshot["order_id"] = "30", int(ORDER_ID)
    event = ADAPTER.parse(PAY_EVENT, snapshot, envelope_for(PAY_EVENT))
    assert (event.status, event.platform_order_id, event.platform_status) == (
        OrderStatus.SHIPPED,
        ORDER_ID,
        "30",
    )


def test_a_payment_id_with_a_zero_width_space_fails_raw_and_parses_once_cleaned() -> None:
    # GIVEN a transaction id carrying a trailing U+200B, the class of input of the 2026-02-05 incident
    snapshot = _snapshot()
    snapshot["order_detail"]["pay_info"]["transaction_id"] += "\u200b"
    # THEN the raw snapshot is refused, typed
    with pytest.raises(PaymentParseError):
        ADAPTER.parse(PAY_EVENT, snapshot, envelope_for(PAY_EVENT))
    # AND the cleaned one parses
    cleaned, applied = clean_payload(snapshot, "wechat_channels")
    event = ADAPTER.parse(PAY_EVENT, cleaned, envelope_for(PAY_EVENT))
    assert event.payment_id == "4332301095202503122057439992"
    assert any(rule.path == "order_detail.pay_info.transaction_id" for rule in applied)


def _drop(path: str) -> Any:
    def mutate(snapshot: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = snapshot
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[int(leaf) if leaf.isdigit() else leaf]

    return mutate


def _set(path: str, value: Any) -> Any:
    def mutate(snapshot: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = snapshot
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(leaf) if leaf.isdigit() else leaf] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_drop("order_id"), "order.order_id"),
        (_drop("update_time"), "order.update_time"),
        (_set("update_time", "yesterday"), "order.update_time"),
        (_drop("order_detail"), "order.order_detail"),
        (_drop("order_detail.price_info"), "order_detail.price_info"),
        (_drop("order_detail.price_info.order_price"), "order_detail.price_info.order_price"),
        (_set("order_detail.price_info.freight", 5.5), "order_detail.price_info.freight"),
        (_set("order_detail.product_infos", {"sku_id": "1"}), "order_detail.product_infos"),
        (_drop("order_detail.product_infos.0.sku_id"), "order_detail.product_infos[0].sku_id"),
        (_drop("order_detail.product_infos.0.sku_cnt"), "order_detail.product_infos[0].sku_cnt"),
        (_set("order_detail.product_infos.0.sku_cnt", -1), "order_detail.product_infos[0].sku_cnt"),
        (_set("order_detail.product_infos.0.sku_id", "9" * 200), "order_detail.product_infos[0].line_id"),
        (_set("order_id", "3718590468852683009"), "order.order_id"),
    ],
)
def test_parse_reports_a_missing_or_malformed_field_by_name(mutate: Any, field: str) -> None:
    snapshot = copy.deepcopy(_snapshot())
    mutate(snapshot)
    with pytest.raises(SchemaInvalidError) as caught:
        ADAPTER.parse(PAY_EVENT, snapshot, envelope_for(PAY_EVENT))
    assert caught.value.details["field"] == field


def test_parse_of_a_snapshot_pulled_without_a_push() -> None:
    # GIVEN no push message (the reconciler's pull): the snapshot alone decides
    event = ADAPTER.parse({}, _snapshot(), envelope_for({}))
    assert event.event_type == "channels_ec_order_snapshot"
    assert event.status == OrderStatus.PAID


def test_an_over_long_order_id_is_schema_invalid_naming_the_field() -> None:
    snapshot = _snapshot()
    snapshot["order_id"] = "9" * 200
    with pytest.raises(SchemaInvalidError) as caught:
        ADAPTER.parse({}, snapshot, envelope_for({}))
    assert caught.value.details["field"] == "platform_order_id"


def test_parse_without_a_snapshot_is_schema_invalid() -> None:
    with pytest.raises(SchemaInvalidError):
        ADAPTER.parse(PAY_EVENT, None, envelope_for(PAY_EVENT))


def test_parse_of_an_unknown_status_is_unknown_status() -> None:
    snapshot = _snapshot()
    snapshot["status"] = 40
    with pytest.raises(UnknownStatusError) as caught:
        ADAPTER.parse(PAY_EVENT, snapshot, envelope_for(PAY_EVENT))
    assert caught.value.details["status"] == "40"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (10, OrderStatus.PENDING_PAYMENT),
        (12, OrderStatus.PENDING_PAYMENT),
        (13, OrderStatus.PENDING_PAYMENT),
        (20, OrderStatus.PAID),
        (21, OrderStatus.PARTIALLY_SHIPPED),
        (30, OrderStatus.SHIPPED),
        (100, OrderStatus.COMPLETED),
        (190, OrderStatus.CANCELLED),
        (200, OrderStatus.CLOSED),
        (250, OrderStatus.CANCELLED),
    ],
)
def test_status_table(status: int, expected: OrderStatus) -> None:
    assert map_status(status) is expected
    assert map_status(str(status)) is expected


def test_status_table_covers_exactly_the_documented_statuses() -> None:
    assert set(STATUS_MAP) == {10, 12, 13, 20, 21, 30, 100, 190, 200, 250}


@pytest.mark.parametrize("status", [0, 11, 40, 101, -10, "abc", "", None, True, 20.0])
def test_anything_else_is_an_unknown_status(status: Any) -> None:
    with pytest.raises(UnknownStatusError):
        map_status(status)


@pytest.mark.parametrize(
    ("status", "counters", "open_orders", "expected"),
    [
        (30, [(2, 0, 0), (1, 0, 0)], 0, RefundStatus.NONE),
        (30, [(2, 0, 1), (1, 0, 0)], 0, RefundStatus.REQUESTED),
        (30, [(2, 0, 0), (1, 0, 0)], 1, RefundStatus.REQUESTED),
        (30, [(2, 2, 0), (1, 0, 0)], 0, RefundStatus.PARTIAL),
        (30, [(2, 1, 1), (1, 0, 0)], 0, RefundStatus.REQUESTED),
        (100, [(2, 2, 0), (1, 1, 0)], 0, RefundStatus.REFUNDED),
        (200, [(2, 0, 0), (1, 0, 0)], 0, RefundStatus.REFUNDED),
    ],
)
def test_refund_status_follows_the_aftersale_counters(
    status: int, counters: list[tuple[int, int, int]], open_orders: int, expected: RefundStatus
) -> None:
    products = [
        {"sku_cnt": count, "finish_aftersale_sku_cnt": finished, "on_aftersale_sku_cnt": ongoing}
        for count, finished, ongoing in counters
    ]
    order = {"status": status, "aftersale_detail": {"on_aftersale_order_cnt": open_orders}}
    assert refund_status(order, products) is expected


# ---------------------------------------------------------------------------------------------
# client
# ---------------------------------------------------------------------------------------------


class FakeTransport(HttpTransport):
    """Scripted WeChat API: replies in order, per path; records every request."""

    def __init__(self, replies: Mapping[str, list[tuple[int, Any]]]) -> None:
        self.replies = {path: list(script) for path, script in replies.items()}
        self.requests: list[tuple[str, str, dict[str, str], bytes | None]] = []
        self.urls: list[str] = []

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
        self.urls.append(url)
        self.requests.append((method, split.path, dict(parse_qsl(split.query)), body))
        # Keyed by endpoint, whatever prefix the base URL adds.
        endpoint = next(path for path in self.replies if split.path.endswith(path))
        status, payload = self.replies[endpoint].pop(0)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return HttpResponse(status=status, body=data)

    def calls(self, path: str) -> list[tuple[str, str, dict[str, str], bytes | None]]:
        return [request for request in self.requests if request[1].endswith(path)]


TOKEN_PATH = "/cgi-bin/token"
ORDER_PATH = "/channels/ec/order/get"
ORDER_REPLY = load("order_get_paid.json")


def token_reply(token: str, expires_in: int = 7200) -> tuple[int, Any]:
    return 200, {"access_token": token, "expires_in": expires_in}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 12, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make_client(
    transport: FakeTransport, clock: Clock | None = None, base_url: str | None = None
) -> WechatChannelsClient:
    client = ADAPTER.client(SECRETS, transport, base_url=base_url, clock=clock or Clock())
    assert isinstance(client, WechatChannelsClient)
    return client


def test_fetch_order_gets_a_token_then_the_order() -> None:
    # GIVEN
    transport = FakeTransport({TOKEN_PATH: [token_reply("T1")], ORDER_PATH: [(200, ORDER_REPLY)]})
    # WHEN
    order = make_client(transport).fetch_order(APP_ID, ORDER_ID)
    # THEN
    assert order == ORDER_REPLY["order"]
    (token_call,) = transport.calls(TOKEN_PATH)
    assert token_call[0] == "GET"
    assert token_call[2] == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": SECRETS["app_secret"],
    }
    (order_call,) = transport.calls(ORDER_PATH)
    assert order_call[0] == "POST"
    assert order_call[2] == {"access_token": "T1"}
    assert json.loads(order_call[3] or b"") == {"order_id": ORDER_ID}


def test_the_default_base_url_is_the_production_host_and_an_override_is_used() -> None:
    default = FakeTransport({TOKEN_PATH: [token_reply("T1")], ORDER_PATH: [(200, ORDER_REPLY)]})
    local = FakeTransport({TOKEN_PATH: [token_reply("T1")], ORDER_PATH: [(200, ORDER_REPLY)]})
    make_client(default).fetch_order(APP_ID, ORDER_ID)
    make_client(local, base_url="http://127.0.0.1:9/wechat_channels/").fetch_order(APP_ID, ORDER_ID)
    assert [url.split("?")[0] for url in default.urls] == [
        "https://api.weixin.qq.com/cgi-bin/token",
        "https://api.weixin.qq.com/channels/ec/order/get",
    ]
    assert [url.split("?")[0] for url in local.urls] == [
        "http://127.0.0.1:9/wechat_channels/cgi-bin/token",
        "http://127.0.0.1:9/wechat_channels/channels/ec/order/get",
    ]


def test_the_token_is_cached_until_its_expiry_minus_the_margin() -> None:
    # GIVEN a token valid for 7200 s and a client refreshing 5 minutes early
    clock = Clock()
    transport = FakeTransport(
        {TOKEN_PATH: [token_reply("T1"), token_reply("T2")], ORDER_PATH: [(200, ORDER_REPLY)] * 3}
    )
    client = make_client(transport, clock)
    # WHEN three fetches happen: now, just before the refresh point, at the refresh point
    client.fetch_order(APP_ID, ORDER_ID)
    clock.now += timedelta(seconds=7200 - 300 - 1)
    client.fetch_order(APP_ID, ORDER_ID)
    clock.now += timedelta(seconds=1)
    client.fetch_order(APP_ID, ORDER_ID)
    # THEN one token served the first two, a new one the third
    assert len(transport.calls(TOKEN_PATH)) == 2
    assert [call[2]["access_token"] for call in transport.calls(ORDER_PATH)] == ["T1", "T1", "T2"]


def test_a_short_lived_token_is_still_reused_for_half_its_life() -> None:
    clock = Clock()
    transport = FakeTransport(
        {TOKEN_PATH: [token_reply("T1", 60), token_reply("T2", 60)], ORDER_PATH: [(200, ORDER_REPLY)] * 3}
    )
    client = make_client(transport, clock)
    client.fetch_order(APP_ID, ORDER_ID)
    clock.now += timedelta(seconds=29)
    client.fetch_order(APP_ID, ORDER_ID)
    clock.now += timedelta(seconds=1)
    client.fetch_order(APP_ID, ORDER_ID)
    assert [call[2]["access_token"] for call in transport.calls(ORDER_PATH)] == ["T1", "T1", "T2"]


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_rejected_token_is_dropped_and_the_call_retried_once(errcode: int) -> None:
    # GIVEN WeChat rejects the cached token (another process refreshed it, or it expired early)
    transport = FakeTransport(
        {
            TOKEN_PATH: [token_reply("T1"), token_reply("T2")],
            ORDER_PATH: [(200, {"errcode": errcode, "errmsg": "access_token expired"}), (200, ORDER_REPLY)],
        }
    )
    # WHEN
    order = make_client(transport).fetch_order(APP_ID, ORDER_ID)
    # THEN a new token was fetched and the retry used it
    assert order["order_id"] == ORDER_ID
    assert [call[2]["access_token"] for call in transport.calls(ORDER_PATH)] == ["T1", "T2"]


def test_a_token_rejected_twice_is_an_error_without_a_third_attempt() -> None:
    expired = load("order_get_token_expired.json")
    transport = FakeTransport(
        {TOKEN_PATH: [token_reply("T1"), token_reply("T2")], ORDER_PATH: [(200, expired), (200, expired)]}
    )
    with pytest.raises(PlatformApiError) as caught:
        make_client(transport).fetch_order(APP_ID, ORDER_ID)
    assert caught.value.details["errcode"] == 42001
    assert len(transport.calls(ORDER_PATH)) == 2


def test_another_errcode_is_an_error_and_not_retried() -> None:
    transport = FakeTransport(
        {
            TOKEN_PATH: [token_reply("T1")],
            ORDER_PATH: [(200, {"errcode": 100002, "errmsg": "order not exist"})],
        }
    )
    with pytest.raises(PlatformApiError) as caught:
        make_client(transport).fetch_order(APP_ID, ORDER_ID)
    assert (caught.value.details["errcode"], caught.value.details["errmsg"]) == (100002, "order not exist")
    assert len(transport.calls(ORDER_PATH)) == 1


@pytest.mark.parametrize(
    "token_response",
    [
        (200, {"errcode": 40125, "errmsg": "invalid appsecret"}),
        (200, {"expires_in": 7200}),
        (200, {"access_token": "T1", "expires_in": "7200"}),
        (502, b"<html>bad gateway</html>"),
        (200, b"not json"),
        (200, ["not", "an", "object"]),
    ],
)
def test_a_failed_token_request_is_a_platform_api_error(token_response: tuple[int, Any]) -> None:
    transport = FakeTransport({TOKEN_PATH: [token_response], ORDER_PATH: []})
    with pytest.raises(PlatformApiError) as caught:
        make_client(transport).fetch_order(APP_ID, ORDER_ID)
    assert caught.value.details["api"] == "/cgi-bin/token"
    assert transport.calls(ORDER_PATH) == []


def test_an_http_failure_or_a_reply_without_order_is_a_platform_api_error() -> None:
    transport = FakeTransport(
        {TOKEN_PATH: [token_reply("T1")], ORDER_PATH: [(503, b"busy"), (200, {"errcode": 0, "errmsg": "ok"})]}
    )
    client = make_client(transport)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(APP_ID, ORDER_ID)
    assert caught.value.details["http_status"] == 503
    with pytest.raises(PlatformApiError):
        client.fetch_order(APP_ID, ORDER_ID)


def test_a_client_refuses_another_apps_shop() -> None:
    transport = FakeTransport({TOKEN_PATH: [], ORDER_PATH: []})
    with pytest.raises(CredentialsMissingError):
        make_client(transport).fetch_order("wx0000000000000bad", ORDER_ID)
    assert transport.requests == []


@pytest.mark.parametrize("missing", ["app_id", "app_secret"])
def test_a_client_needs_the_app_id_and_secret(missing: str) -> None:
    secrets = {key: value for key, value in SECRETS.items() if key != missing}
    with pytest.raises(CredentialsMissingError):
        ADAPTER.client(secrets, FakeTransport({}), clock=Clock())


def test_parse_keeps_wechats_own_settlement_for_the_settlement_entries() -> None:
    # GIVEN a completed order WeChat has settled: 12.34 of commission, paid out at update time
    snapshot = _snapshot()
    snapshot["status"] = 100
    snapshot["order_detail"]["settle_info"] = {
        "predict_commission_fee": 1300,
        "commission_fee": 1234,
        "settle_time": snapshot["update_time"],
    }
    message = load("push_order_pay_plaintext.json")
    event = ADAPTER.parse(message, snapshot, envelope_for(message))
    assert event.tags["settle_info.commission_fee"] == "12.34"
    assert event.tags["settle_info.settle_time"] == event.event_time.isoformat()
    # AND an order not settled yet carries no settlement tags
    unsettled = ADAPTER.parse(message, _snapshot(), envelope_for(message))
    assert not any(key.startswith("settle_info.") for key in unsettled.tags)
