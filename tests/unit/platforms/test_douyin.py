"""Douyin Shop adapter: signing vectors, push verification and framing, parsing, the API client."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from oms.domain.cleaning import clean_payload
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    CredentialsMissingError,
    ErrorCode,
    PaymentParseError,
    PlatformApiError,
    SchemaInvalidError,
    SignatureInvalidError,
    UnknownStatusError,
)
from oms.domain.ids import content_hash, unified_order_id
from oms.domain.model import OrderEvent, OrderLine, Platform
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms.base import (
    FramedMessage,
    HttpResponse,
    PlatformAdapter,
    WebhookRequest,
)
from oms.platforms.douyin import ADAPTER, DouyinClient
from oms.platforms.douyin.signing import api_method, api_sign, api_timestamp, event_sign, param_json
from oms.platforms.douyin.status import MAIN_STATUS_REFUND, ORDER_STATUS_MAP, map_status
from tests.support.http import RecordingTransport, json_response

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "douyin"
APP_KEY = "7216548805720883516"
APP_SECRET = "5f0c3b8e-6a1d-4f2e-9b7c-2d4e6f8a0b1c"
SHOP_ID = "65188572"
ORDER_ID = "4916738052091854021"
SECRETS: dict[str, Any] = {
    "app_key": APP_KEY,
    "app_secret": APP_SECRET,
    "access_tokens": {SHOP_ID: "e7c1a3b5-0d2f-4e6a-8c9b-1f3d5a7c9e0b"},
}
RECEIVED_AT = datetime(2025, 3, 12, 8, 1, 6, tzinfo=UTC)


def load_bytes(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def load_json(name: str) -> Any:
    return json.loads(load_bytes(name))


def snapshot_of(name: str) -> dict[str, Any]:
    return load_json(name)["data"]["shop_order_detail"]  # type: ignore[no-any-return]


def push_request(body: bytes, *, sign: str | None = None, app_id: str = APP_KEY) -> WebhookRequest:
    headers = {"app-id": app_id, "content-type": "application/json"}
    headers["event-sign"] = event_sign(APP_KEY, body, APP_SECRET) if sign is None else sign
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


def envelope_for(message: FramedMessage, part: int = 0, parts: int = 1) -> IntakeEnvelope:
    raw, encoding = IntakeEnvelope.encode_raw(message.raw)
    return IntakeEnvelope(
        trace_id=f"trace-{part}",
        platform=Platform.DOUYIN,
        app_id=APP_KEY,
        received_at=RECEIVED_AT,
        dedupe_id=message.dedupe_id,
        message_group=f"douyin:{message.shop_id}:{message.platform_order_id}",
        shop_id=message.shop_id,
        platform_order_id=message.platform_order_id,
        event_hint=message.event_hint,
        raw=raw,
        raw_encoding=encoding,
        part=part,
        parts=parts,
    )


def sanitised_event(push_file: str, snapshot: dict[str, Any], index: int = 0) -> OrderEvent:
    """The real path: verify, frame, decode, clean message and snapshot, parse."""
    request = push_request(load_bytes(push_file))
    ADAPTER.verify(request, SECRETS)
    framed = ADAPTER.frame(request, SECRETS)
    envelope = envelope_for(framed[index], index, len(framed))
    message, _ = clean_payload(ADAPTER.decode(envelope), "douyin")
    cleaned_snapshot, _ = clean_payload(snapshot, "douyin")
    assert ADAPTER.needs_fetch(message)
    return ADAPTER.parse(message, cleaned_snapshot, envelope)


def fixed_clock() -> datetime:
    return datetime(2025, 3, 12, 8, 1, 5, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Signing vectors (PLATFORMS.md)
# --------------------------------------------------------------------------------------------


def test_api_sign_matches_the_derived_vector() -> None:
    # GIVEN the derived vector of PLATFORMS.md
    # WHEN it is signed with the default method (hmac-sha256)
    sign = api_sign(
        "test_key", "test_secret", "order.orderDetail", '{"order_id":"123"}', "2024-01-01 12:00:00"
    )
    # THEN the documented signature comes out
    assert sign == "314938a67105e139ea293d4679642af9ad41935cdce25371d3289d25dc516a6e"


def test_api_sign_md5_hashes_the_same_string_to_sign() -> None:
    plain = (
        b"test_secretapp_keytest_keymethodorder.orderDetail"
        b'param_json{"order_id":"123"}timestamp2024-01-01 12:00:00v2test_secret'
    )
    sign = api_sign(
        "test_key",
        "test_secret",
        "order.orderDetail",
        '{"order_id":"123"}',
        "2024-01-01 12:00:00",
        "2",
        "md5",
    )
    assert sign == hashlib.md5(plain).hexdigest()
    assert sign != api_sign(
        "test_key",
        "test_secret",
        "order.orderDetail",
        '{"order_id":"124"}',
        "2024-01-01 12:00:00",
        "2",
        "md5",
    )


def test_api_sign_rejects_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="sign_method"):
        api_sign("k", "s", "order.orderDetail", "{}", "2024-01-01 12:00:00", sign_method="sha1")


def test_param_json_sorts_keys_at_every_depth_without_spaces_keeping_non_ascii() -> None:
    params = {"shop_order_id": "1", "b": {"z": 1, "a": ["抖", {"y": 2, "x": 1}]}, "a": None}
    assert param_json(params) == '{"a":null,"b":{"a":["抖",{"x":1,"y":2}],"z":1},"shop_order_id":"1"}'


def test_event_sign_is_md5_of_app_key_body_and_secret() -> None:
    body = load_bytes("push_trade_create.json")
    expected = hashlib.md5(APP_KEY.encode() + body + APP_SECRET.encode()).hexdigest()
    assert event_sign(APP_KEY, body, APP_SECRET) == expected
    assert len(expected) == 32


def test_api_method_and_timestamp_formats() -> None:
    assert api_method("/order/orderDetail") == "order.orderDetail"
    assert api_method("sku/syncStockBatch") == "sku.syncStockBatch"
    moment = datetime(2024, 1, 1, 4, 0, 0, tzinfo=UTC)
    # UTC 04:00 is 12:00 in China Standard Time
    assert api_timestamp(moment) == "2024-01-01 12:00:00"
    assert api_timestamp(moment, "unix") == "1704081600"


# --------------------------------------------------------------------------------------------
# Push verification
# --------------------------------------------------------------------------------------------


def test_verify_accepts_a_correctly_signed_push() -> None:
    request = push_request(load_bytes("push_trade_create.json"))
    ADAPTER.verify(request, SECRETS)  # no exception


def test_verify_accepts_an_upper_case_hex_signature() -> None:
    body = load_bytes("push_trade_create.json")
    ADAPTER.verify(push_request(body, sign=event_sign(APP_KEY, body, APP_SECRET).upper()), SECRETS)


@pytest.mark.parametrize(
    ("description", "mutate"),
    [
        ("forged with another secret", lambda body: push_request(body, sign=event_sign(APP_KEY, body, "x"))),
        ("empty signature", lambda body: push_request(body, sign="")),
        (
            "body altered after signing",
            lambda body: push_request(
                body.replace(b"65188572", b"65188573"), sign=event_sign(APP_KEY, body, APP_SECRET)
            ),
        ),
        (
            "one byte of whitespace added",
            lambda body: push_request(body + b" ", sign=event_sign(APP_KEY, body, APP_SECRET)),
        ),
    ],
)
def test_verify_rejects_bad_signatures(description: str, mutate: Any) -> None:
    request = mutate(load_bytes("push_trade_create.json"))
    with pytest.raises(SignatureInvalidError) as caught:
        ADAPTER.verify(request, SECRETS)
    assert caught.value.code == ErrorCode.SIGNATURE_INVALID, description


def test_verify_rejects_a_push_without_the_signature_header() -> None:
    body = load_bytes("push_trade_create.json")
    request = WebhookRequest(method="POST", headers={"app-id": APP_KEY}, query={}, body=body)
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(request, SECRETS)


def test_verify_needs_the_app_secret() -> None:
    request = push_request(load_bytes("push_trade_create.json"))
    with pytest.raises(CredentialsMissingError):
        ADAPTER.verify(request, {"app_key": APP_KEY})


def test_app_id_is_the_app_id_header() -> None:
    assert ADAPTER.app_id(push_request(b"[]")) == APP_KEY
    assert ADAPTER.app_id(WebhookRequest(method="POST", headers={}, query={}, body=b"[]")) is None


# --------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------


def test_frame_cuts_one_message_per_element_with_exact_bytes() -> None:
    # GIVEN a pretty-printed push of one trade-create message
    body = load_bytes("push_trade_create.json")
    # WHEN it is framed
    [message] = ADAPTER.frame(push_request(body), SECRETS)
    # THEN the raw bytes are the element's own slice of the body, indentation included
    start = body.index(b"{")
    end = body.rindex(b"}") + 1
    assert message.raw == body[start:end]
    assert message.dedupe_id == "7481235312647661834:0:100:4916738052091854021"
    assert message.shop_id == SHOP_ID
    assert message.platform_order_id == ORDER_ID
    assert message.event_hint == "100"
    assert message.is_test is False


def test_frame_keeps_invisible_and_full_width_characters_byte_for_byte() -> None:
    # GIVEN a batch whose second element carries U+200B and full-width digits in its data
    body = load_bytes("push_batch_with_invisible.json")
    # WHEN it is framed
    messages = ADAPTER.frame(push_request(body), SECRETS)
    # THEN the three slices, put back with the separators of the file, rebuild the body exactly
    assert len(messages) == 3
    assert body == b"[" + b",\n ".join(message.raw for message in messages) + b"]\n"
    zero_width_space = "\u200b".encode()
    assert zero_width_space in messages[1].raw
    assert "４９１６７３８０５２０９１８５４０２１".encode() in messages[1].raw
    assert zero_width_space not in messages[0].raw + messages[2].raw
    # AND routing ids are cleaned like the sanitizer will clean them, so all three share a group
    assert {message.platform_order_id for message in messages} == {ORDER_ID}
    assert {message.shop_id for message in messages} == {SHOP_ID}
    assert [message.event_hint for message in messages] == ["101", "101", "102"]
    assert len({message.dedupe_id for message in messages}) == 3


def test_frame_marks_tag_zero_as_a_test_message() -> None:
    [message] = ADAPTER.frame(push_request(load_bytes("push_test_message.json")), SECRETS)
    assert message.is_test is True
    assert message.event_hint == "0"
    assert message.platform_order_id is None


def test_frame_accepts_numeric_tags_and_the_msgid_spelling() -> None:
    body = b'[{"tag":100,"msgId":"m-1","data":"{\\"p_id\\":42,\\"shop_id\\":7}"}]'
    [message] = ADAPTER.frame(push_request(body), SECRETS)
    assert (message.dedupe_id, message.event_hint, message.platform_order_id, message.shop_id) == (
        "m-1",
        "100",
        "42",
        "7",
    )


def test_frame_falls_back_to_a_content_hash_without_a_message_id() -> None:
    body = b'[{"tag":"100","data":"{\\"p_id\\":42}"}, {"tag":"100","msg_id":"","data":"{}"}]'
    first, second = ADAPTER.frame(push_request(body), SECRETS)
    assert first.dedupe_id == content_hash(first.raw)
    assert second.dedupe_id == content_hash(second.raw)
    assert first.dedupe_id != second.dedupe_id


def test_frame_still_routes_a_message_whose_data_does_not_decode() -> None:
    # Decoding reports it later, with the raw payload kept; framing must not lose it.
    [message] = ADAPTER.frame(push_request(b'[{"tag":"100","msg_id":"m","data":"{not json"}]'), SECRETS)
    assert message.platform_order_id is None
    assert message.raw == b'{"tag":"100","msg_id":"m","data":"{not json"}'


def test_frame_of_an_empty_array_is_empty() -> None:
    assert ADAPTER.frame(push_request(b" [ ] "), SECRETS) == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"tag":"100"}',
        b"[1, 2]",
        b'[{"tag":"100"}, "x"]',
        b'[{"tag":"100"}] trailing',
        b'[{"tag":"100"}',
        b'[{"tag":"100"},]',
        b"",
        b"\xff\xfe[]",
    ],
)
def test_frame_rejects_a_body_that_is_not_an_array_of_objects(body: bytes) -> None:
    with pytest.raises(SchemaInvalidError):
        ADAPTER.frame(push_request(body), SECRETS)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def test_decode_expands_the_data_json_string() -> None:
    [message] = ADAPTER.frame(push_request(load_bytes("push_trade_create.json")), SECRETS)
    decoded = ADAPTER.decode(envelope_for(message))
    assert decoded["tag"] == "100"
    assert decoded["data"]["p_id"] == int(ORDER_ID)
    assert decoded["data"]["s_ids"] == [4916738052091854022, 4916738052091854023]
    assert ADAPTER.needs_fetch(decoded) is True


def test_a_message_naming_no_order_needs_no_fetch() -> None:
    [message] = ADAPTER.frame(push_request(load_bytes("push_test_message.json")), SECRETS)
    assert ADAPTER.needs_fetch(ADAPTER.decode(envelope_for(message))) is False


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"tag":"100","msg_id":"m","data":"{not json"}', "data"),
        (b'{"tag":"100","msg_id":"m","data":"[1]"}', "data"),
        (b'{"tag":"100","msg_id":"m"}', "data"),
        (b"[1]", "message"),
        (b"not json", "message"),
    ],
)
def test_decode_reports_malformed_messages_as_schema_errors(raw: bytes, field: str) -> None:
    envelope = envelope_for(FramedMessage(dedupe_id="m", raw=raw))
    with pytest.raises(SchemaInvalidError) as caught:
        ADAPTER.decode(envelope)
    assert caught.value.details["field"] == field


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def test_parse_builds_the_event_from_the_order_snapshot() -> None:
    # GIVEN a paid order snapshot fetched for a trade-create push
    snapshot = snapshot_of("order_detail_paid.json")
    # WHEN the push goes the sanitizer's way
    event = sanitised_event("push_trade_create.json", snapshot)
    # THEN the event says exactly what the snapshot says, in canonical form
    assert event.event_id == "7481235312647661834:0:100:4916738052091854021"
    assert event.platform == Platform.DOUYIN
    assert (event.shop_id, event.platform_order_id) == (SHOP_ID, ORDER_ID)
    assert event.order_id == unified_order_id("douyin", SHOP_ID, ORDER_ID)
    assert event.event_type == "doudian_trade_TradeCreate"
    assert event.event_time == datetime(2025, 3, 12, 8, 1, 5, tzinfo=UTC)
    assert event.placed_at == datetime(2025, 3, 12, 8, 0, 0, tzinfo=UTC)
    assert event.paid_at == datetime(2025, 3, 12, 8, 1, 0, tzinfo=UTC)
    assert (event.status, event.refund_status) == (OrderStatus.PAID, RefundStatus.NONE)
    assert event.platform_status == "order_status=105;main_status=105"
    assert event.currency == "CNY"
    assert event.total_amount == Decimal("269.00")
    assert event.paid_amount == Decimal("239.00")
    assert event.shipping_amount == Decimal("10.00")
    assert str(event.total_amount) == "269.00"
    assert event.payment_id == "TP2025031216010033520680982186"
    assert event.lines == (
        OrderLine(
            line_id="4916738052091854022",
            sku_id="1763666345093204",
            out_sku_id="QH-MUG-350-BL",
            quantity=1,
            unit_price=Decimal("129.00"),
            title="青禾 陶瓷马克杯 350ml",
        ),
        OrderLine(
            line_id="4916738052091854023",
            sku_id="1763666345093311",
            out_sku_id="QH-CST-4P",
            quantity=2,
            unit_price=Decimal("65.00"),
            title="青禾 软木杯垫 四只装",
        ),
    )
    assert event.buyer.open_id == snapshot["doudian_open_id"]
    assert event.tags == {
        "shop_id": SHOP_ID,
        "order_status": "105",
        "main_status": "105",
        "b_type": "2",
        "sub_b_type": "1",
        "biz": "2",
        "order_type": "0",
        "trade_type": "0",
        "pay_type": "1",
        "c_biz": "8",
    }


def test_parse_keeps_receiver_data_masked_and_encrypted_as_delivered() -> None:
    snapshot = snapshot_of("order_detail_paid.json")
    receiver = sanitised_event("push_trade_create.json", snapshot).receiver
    assert receiver is not None
    assert (receiver.name, receiver.phone) == ("李**", "1********50")
    assert (receiver.province, receiver.city, receiver.district, receiver.street) == (
        "江苏省",
        "苏州市",
        "吴中区",
        "斜塘街道",
    )
    assert receiver.detail == "崇文路*****************栋"
    assert receiver.masked is True
    assert receiver.encrypted == {
        "encrypt_post_receiver": snapshot["encrypt_post_receiver"],
        "encrypt_post_tel": snapshot["encrypt_post_tel"],
        "post_addr.encrypt_detail": snapshot["post_addr"]["encrypt_detail"],
    }
    assert "李**" not in repr(receiver)


def test_parse_of_an_order_refunded_before_shipment() -> None:
    event = sanitised_event(
        "push_trade_create.json", snapshot_of("order_detail_refunded_before_shipment.json")
    )
    assert (event.status, event.refund_status) == (OrderStatus.CANCELLED, RefundStatus.REFUNDED)
    assert event.event_time == datetime(2025, 3, 14, 8, 3, 20, tzinfo=UTC)


def test_parse_of_the_invisible_character_push_after_cleaning() -> None:
    # GIVEN the element whose ids carry U+200B and full-width digits, and a snapshot whose
    # payment id came with a trailing U+200B (the 2026-02-05 incident)
    snapshot = snapshot_of("order_detail_paid.json")
    snapshot["channel_payment_no"] += "\u200b"
    # WHEN it goes through cleaning and parsing
    event = sanitised_event("push_batch_with_invisible.json", snapshot, index=1)
    # THEN ids and the payment id come out clean
    assert (event.shop_id, event.platform_order_id) == (SHOP_ID, ORDER_ID)
    assert event.payment_id == "TP2025031216010033520680982186"
    assert event.event_id == "7481235571964137739:0:101:4916738052091854021"
    assert event.event_type == "doudian_trade_TradePaid"


def test_a_percent_encoded_zero_width_space_in_the_payment_id_is_a_payment_parse_error() -> None:
    snapshot = snapshot_of("order_detail_payment_id_percent_encoded_zwsp.json")
    assert snapshot["channel_payment_no"].endswith("%E2%80%8B")
    with pytest.raises(PaymentParseError) as caught:
        sanitised_event("push_trade_create.json", snapshot)
    assert caught.value.code == ErrorCode.PAY_PARSE_ERR
    assert caught.value.details["field"] == "channel_payment_no"


EXPECTED_STATUSES = [
    # (order_status, main_status, canonical status, refund status)
    (1, 1, OrderStatus.PENDING_PAYMENT, RefundStatus.NONE),
    (1, 103, OrderStatus.PAID, RefundStatus.NONE),
    (105, 105, OrderStatus.PAID, RefundStatus.NONE),
    (2, 2, OrderStatus.APPROVED, RefundStatus.NONE),
    (101, 101, OrderStatus.PARTIALLY_SHIPPED, RefundStatus.NONE),
    (3, 3, OrderStatus.SHIPPED, RefundStatus.NONE),
    (4, 4, OrderStatus.CANCELLED, RefundStatus.NONE),
    (5, 5, OrderStatus.COMPLETED, RefundStatus.NONE),
    (4, 21, OrderStatus.CANCELLED, RefundStatus.REFUNDED),
    (4, 22, OrderStatus.CLOSED, RefundStatus.REFUNDED),
    (4, 39, OrderStatus.CLOSED, RefundStatus.REFUNDED),
    (5, 39, OrderStatus.COMPLETED, RefundStatus.REFUNDED),
    (3, None, OrderStatus.SHIPPED, RefundStatus.NONE),
]


@pytest.mark.parametrize(("order_status", "main_status", "status", "refund"), EXPECTED_STATUSES)
def test_every_documented_status_maps(
    order_status: int, main_status: int | None, status: OrderStatus, refund: RefundStatus
) -> None:
    snapshot = snapshot_of("order_detail_paid.json")
    snapshot["order_status"] = order_status
    if main_status is None:
        del snapshot["main_status"]
    else:
        snapshot["main_status"] = main_status
    event = sanitised_event("push_trade_create.json", snapshot)
    assert (event.status, event.refund_status) == (status, refund)


def test_the_status_table_covers_every_platform_status() -> None:
    assert {row[0] for row in EXPECTED_STATUSES} == set(ORDER_STATUS_MAP)
    assert {row[1] for row in EXPECTED_STATUSES} - {None} == set(MAIN_STATUS_REFUND)
    assert map_status("105", "105") == (OrderStatus.PAID, RefundStatus.NONE)


@pytest.mark.parametrize(
    ("field", "value"), [("order_status", 999), ("main_status", 77), ("order_status", "x")]
)
def test_an_unknown_status_is_reported_with_its_value(field: str, value: Any) -> None:
    snapshot = snapshot_of("order_detail_paid.json")
    snapshot[field] = value
    with pytest.raises(UnknownStatusError) as caught:
        sanitised_event("push_trade_create.json", snapshot)
    assert caught.value.code == ErrorCode.UNKNOWN_STATUS
    assert caught.value.details == {"field": field, "value": str(value)}


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        ("update_time", "shop_order_detail.update_time"),
        ("order_status", "shop_order_detail.order_status"),
        ("order_id", "shop_order_detail.order_id"),
        ("sku_order_list", "shop_order_detail.sku_order_list"),
    ],
)
def test_a_missing_required_field_is_named(remove: str, field: str) -> None:
    snapshot = snapshot_of("order_detail_paid.json")
    del snapshot[remove]
    with pytest.raises(SchemaInvalidError) as caught:
        sanitised_event("push_trade_create.json", snapshot)
    assert caught.value.details["field"] == field


def test_a_line_without_quantity_is_named() -> None:
    snapshot = snapshot_of("order_detail_paid.json")
    del snapshot["sku_order_list"][1]["item_num"]
    with pytest.raises(SchemaInvalidError) as caught:
        sanitised_event("push_trade_create.json", snapshot)
    assert caught.value.details["field"] == "shop_order_detail.sku_order_list[1].item_num"


def test_a_fractional_amount_is_refused() -> None:
    snapshot = snapshot_of("order_detail_paid.json")
    snapshot["pay_amount"] = "239.5"
    with pytest.raises(SchemaInvalidError) as caught:
        sanitised_event("push_trade_create.json", snapshot)
    assert caught.value.details["field"] == "shop_order_detail.pay_amount"


def test_parse_needs_the_snapshot_of_the_pushed_order() -> None:
    [message] = ADAPTER.frame(push_request(load_bytes("push_trade_create.json")), SECRETS)
    envelope = envelope_for(message)
    decoded = ADAPTER.decode(envelope)
    with pytest.raises(SchemaInvalidError):
        ADAPTER.parse(decoded, None, envelope)
    other = snapshot_of("order_detail_paid.json") | {"order_id": "4916738052091850000"}
    with pytest.raises(SchemaInvalidError, match="another order"):
        ADAPTER.parse(decoded, other, envelope)


def test_parse_reads_the_live_api_names_for_sku_order_id_and_unit_price() -> None:
    # The live API names the SKU order id ``order_id`` and the unit price ``origin_amount``.
    snapshot = snapshot_of("order_detail_paid.json")
    for item in snapshot["sku_order_list"]:
        del item["sku_order_id"], item["sku_price"]
    event = sanitised_event("push_trade_create.json", snapshot)
    assert [(line.line_id, line.unit_price) for line in event.lines] == [
        ("4916738052091854022", Decimal("129.00")),
        ("4916738052091854023", Decimal("65.00")),
    ]


# --------------------------------------------------------------------------------------------
# API client
# --------------------------------------------------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def test_fetch_order_signs_the_request_and_returns_the_order_detail() -> None:
    # GIVEN a transport answering with the paid order
    reply = load_json("order_detail_paid.json")
    transport = RecordingTransport(json_response(reply))
    client = ADAPTER.client(SECRETS, transport, clock=fixed_clock)
    # WHEN the order is fetched
    order = client.fetch_order(SHOP_ID, ORDER_ID)
    # THEN the shop_order_detail comes back
    assert order == reply["data"]["shop_order_detail"]
    # AND the request is the documented, signed POST
    [sent] = transport.requests
    assert sent["method"] == "POST"
    parts = urlsplit(sent["url"])
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == "https://openapi-fxg.jinritemai.com/order/orderDetail"
    )
    assert sent["body"] == b'{"shop_order_id":"4916738052091854021"}'
    query = query_of(sent["url"])
    assert query["app_key"] == APP_KEY
    assert query["method"] == "order.orderDetail"
    assert query["access_token"] == SECRETS["access_tokens"][SHOP_ID]
    assert query["timestamp"] == "2025-03-12 16:01:05"
    assert (query["v"], query["sign_method"]) == ("2", "hmac-sha256")
    # AND the sign, recomputed independently from what was sent, matches
    plain = (
        f"{APP_SECRET}app_key{APP_KEY}methodorder.orderDetail"
        f"param_json{sent['body'].decode()}timestamp{query['timestamp']}v2{APP_SECRET}"
    )
    expected = hmac.new(APP_SECRET.encode(), plain.encode(), hashlib.sha256).hexdigest()
    assert query["sign"] == expected


def test_fetch_order_with_md5_unix_timestamps_and_a_simulator_base_url() -> None:
    secrets = SECRETS | {"sign_method": "md5", "timestamp_format": "unix"}
    transport = RecordingTransport(json_response(load_json("order_detail_paid.json")))
    client = DouyinClient(secrets, transport, base_url="http://127.0.0.1:3100/douyin/", clock=fixed_clock)
    client.fetch_order(SHOP_ID, ORDER_ID)
    [sent] = transport.requests
    assert sent["url"].startswith("http://127.0.0.1:3100/douyin/order/orderDetail?")
    query = query_of(sent["url"])
    assert query["timestamp"] == "1741766465"
    assert query["sign"] == api_sign(
        APP_KEY, APP_SECRET, "order.orderDetail", sent["body"].decode(), "1741766465", "2", "md5"
    )


def test_fetch_order_without_a_token_for_the_shop_is_a_credentials_error() -> None:
    client = ADAPTER.client(SECRETS, RecordingTransport(), clock=fixed_clock)
    with pytest.raises(CredentialsMissingError) as caught:
        client.fetch_order("99999", ORDER_ID)
    assert caught.value.details["shop_id"] == "99999"


@pytest.mark.parametrize("broken", [{"app_secret": ""}, {"sign_method": "sha1"}, {"timestamp_format": "iso"}])
def test_unusable_secrets_fail_when_the_client_is_built(broken: dict[str, str]) -> None:
    with pytest.raises(CredentialsMissingError):
        ADAPTER.client(SECRETS | broken, RecordingTransport(), clock=fixed_clock)


def test_a_platform_error_code_becomes_a_platform_api_error_with_the_code() -> None:
    reply = load_json("order_detail_error.json")
    client = ADAPTER.client(SECRETS, RecordingTransport(json_response(reply)), clock=fixed_clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SHOP_ID, ORDER_ID)
    error = caught.value
    assert error.code == ErrorCode.PLATFORM_API_ERROR
    assert error.details["code"] == "50002"
    assert error.details["sub_code"] == "isv.business-failed:1000"
    assert error.details["log_id"] == reply["log_id"]


@pytest.mark.parametrize(
    ("response", "retryable"),
    [
        (HttpResponse(status=502, body=b"<html>bad gateway</html>"), True),
        (HttpResponse(status=429, body=b""), True),
        (HttpResponse(status=403, body=b"forbidden"), False),
        (HttpResponse(status=400, body=b'{"code":40002,"msg":"invalid param"}'), False),
    ],
)
def test_http_failures_become_platform_api_errors(response: HttpResponse, retryable: bool) -> None:
    client = ADAPTER.client(SECRETS, RecordingTransport(response), clock=fixed_clock)
    with pytest.raises(PlatformApiError) as caught:
        client.fetch_order(SHOP_ID, ORDER_ID)
    assert caught.value.retryable is retryable
    assert caught.value.details["http_status"] == response.status


def test_a_success_reply_without_the_order_is_a_schema_error() -> None:
    reply = {"code": 10000, "msg": "success", "data": {}}
    client = ADAPTER.client(SECRETS, RecordingTransport(json_response(reply)), clock=fixed_clock)
    with pytest.raises(SchemaInvalidError):
        client.fetch_order(SHOP_ID, ORDER_ID)


# --------------------------------------------------------------------------------------------
# The adapter as the registry sees it
# --------------------------------------------------------------------------------------------


def test_the_adapter_satisfies_the_platform_protocol() -> None:
    assert isinstance(ADAPTER, PlatformAdapter)
    assert ADAPTER.platform == Platform.DOUYIN
    assert ADAPTER.max_body_bytes == 256 * 1024
    assert ADAPTER.default_base_url == "https://openapi-fxg.jinritemai.com"
    reply = ADAPTER.acknowledge()
    assert (reply.status, json.loads(reply.body)) == (200, {"code": 0, "msg": "success"})
    assert ADAPTER.handshake(push_request(b"[]"), SECRETS) is None


@pytest.mark.parametrize("value", [3.9, "3.0", "", None, True, "３"])
def test_a_status_that_is_not_an_integer_code_is_unknown(value):
    from oms.domain.errors import UnknownStatusError
    from oms.platforms.douyin.status import map_status

    with pytest.raises(UnknownStatusError):
        map_status(value)
