"""Taobao / Tmall: the official TOP MD5 vector, HMAC, UTC+8 times, yuan, statuses, TMC, the client."""

from __future__ import annotations

import hashlib
import hmac
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
from oms.domain.model import Platform
from oms.domain.status import OrderStatus, RefundStatus
from oms.platforms.base import HttpResponse, PlatformAdapter, WebhookRequest
from oms.platforms.taobao import ADAPTER
from oms.platforms.taobao.client import TaobaoClient, response_key
from oms.platforms.taobao.parsing import REFUND_MAP, STATUS_MAP, map_refund, map_status, refund_of
from oms.platforms.taobao.signing import sign

EVENTS = Path(__file__).resolve().parents[3] / "events" / "platforms" / "taobao"
SECRETS: dict[str, Any] = {
    "app_key": "12345678",
    "app_secret": "helloworld",
    "sessions": {"2200000001": "sess"},
}
NOW = datetime(2025, 3, 1, 16, 0, tzinfo=UTC)
OFFICIAL_PARAMS = {
    "app_key": "12345678",
    "fields": "num_iid,title,nick,price,num",
    "format": "json",
    "method": "taobao.item.seller.get",
    "num_iid": "11223344",
    "session": "test",
    "sign_method": "md5",
    "timestamp": "2016-01-01 12:00:00",
    "v": "2.0",
}


def test_the_official_md5_vector_passes() -> None:
    assert sign(OFFICIAL_PARAMS, "helloworld") == "66987CB115214E59E6EC978214934FB8"


def test_hmac_md5_is_keyed_with_the_secret_and_uppercase() -> None:
    joined = "".join(k + v for k, v in sorted({**OFFICIAL_PARAMS, "sign_method": "hmac"}.items()))
    expected = hmac.new(b"helloworld", joined.encode(), hashlib.md5).hexdigest().upper()
    assert sign({**OFFICIAL_PARAMS, "sign_method": "hmac"}, "helloworld", "hmac") == expected


def envelope() -> IntakeEnvelope:
    return IntakeEnvelope(
        trace_id="t",
        platform=Platform.TAOBAO,
        app_id="12345678",
        received_at=NOW,
        dedupe_id="d",
        message_group="g",
        shop_id="2200000001",
        raw=(EVENTS / "trade_fullinfo_get.json").read_text(encoding="utf-8"),
    )


def test_a_trade_modified_at_23_59_59_utc8_parses_in_yuan_and_utc() -> None:
    env = envelope()
    message, _ = clean_payload(ADAPTER.decode(env), Platform.TAOBAO)
    event = ADAPTER.parse(message, None, env)
    assert event.event_time == datetime(2025, 3, 1, 15, 59, 59, tzinfo=UTC)
    assert event.placed_at == datetime(2025, 2, 28, 16, 0, tzinfo=UTC)
    assert (event.total_amount, event.shipping_amount) == (Decimal("199.99"), Decimal("10.00"))
    assert event.paid_amount == Decimal("199.99")
    assert (event.status, event.refund_status) == (OrderStatus.PARTIALLY_SHIPPED, RefundStatus.PARTIAL)
    assert event.platform_order_id == "3300000000000001"
    assert [line.line_id for line in event.lines] == ["3300000000000002", "3300000000000003"]
    assert event.lines[1].sku_id == "600002"  # no SKU: the item id stands in
    assert event.receiver is not None
    assert event.receiver.encrypted == {"oaid": "1CqJYGM0cxAQ8mBXcnFhz0h"}
    assert event.tags["discount_fee"] == "20.01"


def test_every_documented_status_maps() -> None:
    assert len(STATUS_MAP) == 12
    assert len(REFUND_MAP) >= 6
    assert map_status("TRADE_CLOSED_BY_TAOBAO") is OrderStatus.CANCELLED
    assert map_status("TRADE_CLOSED") is OrderStatus.CLOSED
    assert refund_of(OrderStatus.CLOSED, []) is RefundStatus.REFUNDED
    assert refund_of(
        OrderStatus.PAID, [{"refund_status": "SUCCESS"}, {"refund_status": "WAIT_SELLER_AGREE"}]
    ) is (RefundStatus.REQUESTED)
    assert refund_of(OrderStatus.SHIPPED, [{"refund_status": "SUCCESS"}]) is RefundStatus.REFUNDED
    with pytest.raises(UnknownStatusError):
        map_status("PAID")
    with pytest.raises(UnknownStatusError):
        map_refund("MAYBE")


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


def client(transport: Transport) -> TaobaoClient:
    return ADAPTER.client(SECRETS, transport, clock=lambda: NOW)


def test_requests_are_signed_with_a_utc8_timestamp_and_the_shop_session() -> None:
    transport = Transport((200, (EVENTS / "trade_fullinfo_get.json").read_bytes()))
    trade = client(transport).fetch_order("2200000001", "3300000000000001")
    assert trade["payment"] == "199.99"
    form = transport.forms[0]
    assert form["timestamp"] == "2025-03-02 00:00:00"
    assert form["session"] == "sess"
    assert form["sign"] == sign(form, "helloworld")


def test_tmc_consume_reads_messages_and_confirm_sends_their_ids() -> None:
    transport = Transport(
        (200, (EVENTS / "tmc_messages_consume.json").read_bytes()),
        (200, {response_key("taobao.tmc.messages.confirm"): {"is_success": True}}),
    )
    [message] = client(transport).consume_messages()
    assert (message.tid, message.user_id, message.topic) == (
        "3300000000000001",
        "2200000001",
        "taobao_trade_TradeBuyerPay",
    )
    client(transport).confirm_messages([message.message_id])
    assert transport.forms[1]["s_message_ids"] == "7011223344556677"
    assert "session" not in transport.forms[1]


def test_increments_walk_pages_in_utc8() -> None:
    page = {
        "trades_sold_increment_get_response": {
            "has_next": False,
            "trades": {"trade": [{"tid": 1, "modified": "2025-03-02 00:00:00"}]},
        }
    }
    transport = Transport((200, page))
    [changed] = client(transport).changed_orders("2200000001", NOW - timedelta(hours=1), NOW)
    assert changed.updated_at == NOW
    assert transport.forms[0]["end_modified"] == "2025-03-02 00:00:00"
    with pytest.raises(ValueError, match="24 hours"):
        client(transport).changed_orders("2200000001", NOW - timedelta(days=2), NOW)


def test_app_call_limited_is_retryable_other_errors_are_not() -> None:
    limited = {
        "error_response": {
            "code": 7,
            "msg": "App Call Limited",
            "sub_code": "accesscontrol.limited-by-app-access-count",
        }
    }
    refused = {"error_response": {"code": 27, "msg": "Invalid session"}}
    with pytest.raises(PlatformApiError) as busy:
        client(Transport((200, limited))).fetch_order("2200000001", "1")
    with pytest.raises(PlatformApiError) as wrong:
        client(Transport((200, refused))).fetch_order("2200000001", "1")
    assert busy.value.retryable
    assert not wrong.value.retryable
    with pytest.raises(CredentialsMissingError):
        client(Transport()).fetch_order("unknown-shop", "1")


def test_stock_update_sends_type_1_for_full() -> None:
    transport = Transport((200, {"item_quantity_update_response": {"item": {}}}))
    client(transport).update_stock("2200000001", num_iid="600001", sku_id="700001", quantity=3)
    assert (transport.forms[0]["type"], transport.forms[0]["quantity"]) == ("1", "3")
