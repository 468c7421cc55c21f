"""Pinduoduo: MD5 router signing, UTC+8 times, yuan amounts, statuses, the pull-only adapter, the client."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from oms.domain.cleaning import clean_payload
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    CredentialsMissingError,
    PlatformApiError,
    SignatureInvalidError,
    UnknownStatusError,
)
from oms.domain.model import EventSource, Platform
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms.base import HttpResponse, PlatformAdapter, WebhookRequest
from oms.platforms.pinduoduo import ADAPTER
from oms.platforms.pinduoduo.client import PinduoduoClient
from oms.platforms.pinduoduo.parsing import ORDER_STATUS_MAP, REFUND_STATUS_MAP, dedupe_id, map_status
from oms.platforms.pinduoduo.signing import china_time, format_china_time, sign

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "pinduoduo"
SECRETS: dict[str, Any] = {"client_id": "cid", "client_secret": "csecret", "access_tokens": {"100001": "tok"}}
NOW = datetime(2025, 3, 1, 0, 5, tzinfo=UTC)


def detail_body() -> bytes:
    return (EVENTS / "order_information_get.json").read_bytes()


def envelope(body: bytes) -> IntakeEnvelope:
    return IntakeEnvelope(
        trace_id="t",
        platform=Platform.PINDUODUO,
        app_id="cid",
        received_at=NOW,
        dedupe_id="d-1",
        message_group="g",
        shop_id="100001",
        platform_order_id="250301-000000000000001",
        event_hint="pdd.order.information.get",
        raw=body.decode(),
    )


def test_sign_is_uppercase_md5_of_secret_sorted_pairs_secret() -> None:
    params = {"type": "pdd.order.information.get", "client_id": "cid", "timestamp": "1", "order_sn": "x"}
    expected = hashlib.md5(
        b"csecretclient_idcidorder_snxtimestamp1typepdd.order.information.getcsecret"
    ).hexdigest()
    assert sign(params, "csecret") == expected.upper()
    assert sign({**params, "sign": "ignored"}, "csecret") == expected.upper()


def test_midnight_in_utc8_is_the_previous_day_in_utc() -> None:
    assert china_time("2025-03-01 00:00:00", field="t") == datetime(2025, 2, 28, 16, 0, tzinfo=UTC)
    assert format_china_time(datetime(2025, 2, 28, 16, 0, tzinfo=UTC)) == "2025-03-01 00:00:00"
    assert china_time("1740758400", field="t") == datetime(2025, 2, 28, 16, 0, tzinfo=UTC)


def test_the_detail_parses_in_yuan_and_utc_with_receiver_as_delivered() -> None:
    # GIVEN the enqueued detail reply, decoded and cleaned as the sanitizer does
    env = envelope(detail_body())
    message, _ = clean_payload(ADAPTER.decode(env), Platform.PINDUODUO)
    assert not ADAPTER.needs_fetch(message)
    # WHEN it is parsed
    event = ADAPTER.parse(message, None, env)
    # THEN floats became exact yuan, UTC+8 became UTC, the receiver stays masked and encrypted
    assert (event.total_amount, event.shipping_amount) == (Decimal("99.01"), Decimal("0.00"))
    assert event.event_time == datetime(2025, 2, 28, 16, 0, 2, tzinfo=UTC)
    assert event.placed_at == datetime(2025, 2, 28, 16, 0, tzinfo=UTC)
    assert (event.status, event.refund_status, event.source) == (
        OrderStatus.PAID,
        RefundStatus.NONE,
        EventSource.POLL,
    )
    assert event.lines[0].quantity == 2
    assert event.lines[0].unit_price == Decimal("50.00")
    assert event.lines[0].out_sku_id == "SKU-A"
    assert event.receiver is not None
    assert event.receiver.name == "张*"
    assert event.receiver.encrypted["receiver_phone"].startswith("~")
    assert event.payment_id == "XP0125030100000000000001"


def test_every_documented_status_maps_and_unknown_ones_are_refused() -> None:
    assert set(ORDER_STATUS_MAP) == {1, 2, 3}
    assert set(REFUND_STATUS_MAP) == {1, 2, 3, 4}
    assert map_status(1, 4) == (OrderStatus.CANCELLED, RefundStatus.REFUNDED)
    assert map_status(2, 4) == (OrderStatus.SHIPPED, RefundStatus.REFUNDED)
    assert map_status("3", "2") == (OrderStatus.DELIVERED, RefundStatus.REQUESTED)
    for bad in ((0, 1), (1, 5), ("x", 1), (True, 1)):
        with pytest.raises(UnknownStatusError):
            map_status(*bad)


def test_dedupe_id_changes_with_the_version_only() -> None:
    info = json.loads(detail_body())["order_info_get_response"]["order_info"]
    assert dedupe_id(info) == dedupe_id(dict(info))
    assert dedupe_id(info) != dedupe_id({**info, "updated_at": "2025-03-01 00:00:03"})


def test_http_pushes_are_refused() -> None:
    assert isinstance(ADAPTER, PlatformAdapter)
    with pytest.raises(SignatureInvalidError):
        ADAPTER.verify(WebhookRequest("POST", {}, {}, b"{}"), SECRETS)


class Transport:
    def __init__(self, *replies: tuple[int, Any]) -> None:
        self.replies = list(replies)
        self.forms: list[dict[str, str]] = []

    def request(
        self, method: str, url: str, *, headers: Any = None, body: Any = None, timeout: float = 5.0
    ) -> HttpResponse:
        self.forms.append(dict(parse_qsl(body.decode())))
        status, reply = self.replies.pop(0)
        return HttpResponse(
            status=status, body=reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        )


def client(transport: Transport) -> PinduoduoClient:
    return ADAPTER.client(SECRETS, transport, clock=lambda: NOW)


def test_the_client_signs_every_request_and_walks_increment_pages() -> None:
    page1 = {
        "order_sn_increment_get_response": {
            "has_next": True,
            "order_sn_list": [{"order_sn": "a", "updated_at": "2025-03-01 00:00:00"}],
        }
    }
    page2 = {
        "order_sn_increment_get_response": {
            "has_next": False,
            "order_sn_list": [{"order_sn": "b", "updated_at": "2025-03-01 00:01:00"}],
        }
    }
    transport = Transport((200, page1), (200, page2))
    changed = client(transport).changed_orders("100001", NOW - timedelta(minutes=30), NOW)
    assert [item.order_sn for item in changed] == ["a", "b"]
    assert changed[1].updated_at == datetime(2025, 2, 28, 16, 1, tzinfo=UTC)
    for form in transport.forms:
        assert form["sign"] == sign(form, "csecret")
        assert form["access_token"] == "tok"
    assert [form["page"] for form in transport.forms] == ["1", "2"]
    with pytest.raises(ValueError, match="30 minutes"):
        client(transport).changed_orders("100001", NOW - timedelta(minutes=31), NOW)


def test_the_client_fetches_detail_and_updates_stock() -> None:
    transport = Transport(
        (200, detail_body()), (200, {"goods_quantity_update_response": {"is_success": True}})
    )
    info = client(transport).fetch_order("100001", "250301-000000000000001")
    assert info["pay_amount"] == "99.01"
    client(transport).update_stock("100001", goods_id="6001", sku_id="70011", quantity=5)
    assert transport.forms[1]["type"] == "pdd.goods.quantity.update"
    assert (transport.forms[1]["quantity"], transport.forms[1]["update_type"]) == ("5", "1")


def test_throttling_is_retryable_other_errors_are_not_and_unknown_malls_lack_credentials() -> None:
    throttled = {"error_response": {"error_code": 70031, "error_msg": "limit"}}
    refused = {"error_response": {"error_code": 10019, "error_msg": "token"}}
    with pytest.raises(PlatformApiError) as busy:
        client(Transport((200, throttled))).fetch_order("100001", "x")
    with pytest.raises(PlatformApiError) as wrong:
        client(Transport((200, refused))).fetch_order("100001", "x")
    assert busy.value.retryable
    assert not wrong.value.retryable
    with pytest.raises(PlatformApiError) as outage:
        client(Transport((503, b"busy"))).fetch_order("100001", "x")
    assert outage.value.retryable
    with pytest.raises(CredentialsMissingError):
        client(Transport()).fetch_order("999", "x")


def test_retryable_codes_are_configurable_and_validated() -> None:
    refused = {"error_response": {"error_code": 10019, "error_msg": "token"}}
    custom = PinduoduoClient(
        {**SECRETS, "retryable_error_codes": [10019]}, Transport((200, refused)), clock=lambda: NOW
    )
    with pytest.raises(PlatformApiError) as caught:
        custom.fetch_order("100001", "x")
    assert caught.value.retryable
    with pytest.raises(CredentialsMissingError):
        PinduoduoClient({**SECRETS, "retryable_error_codes": ["x"]}, Transport(), clock=lambda: NOW)


def test_integer_and_edge_amounts_are_exact_yuan() -> None:
    info = json.loads(detail_body())
    order = info["order_info_get_response"]["order_info"]
    order.update(pay_amount=100, postage=0.01, updated_at="2025-02-28 23:59:59")
    env = envelope(json.dumps(info).encode())
    event = ADAPTER.parse(ADAPTER.decode(env), None, env)
    assert (event.total_amount, event.shipping_amount) == (Decimal("100.00"), Decimal("0.01"))
    assert event.event_time == datetime(2025, 2, 28, 15, 59, 59, tzinfo=UTC)
