"""Fuzzing the Pinduoduo adapter and client (pulled, never pushed): only typed errors, bounded
time and memory, whatever the platform's API replies and whatever the poller enqueued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from oms.domain.model import Platform
from oms.platforms.pinduoduo import ADAPTER
from oms.platforms.pinduoduo.client import PinduoduoClient, order_info
from tests.fuzz.adapter_suite import check_decode, check_parse
from tests.fuzz.pull_support import HostileTransport, check_pull_client, check_push_refused
from tests.fuzz.support import (
    DEEP_ARRAY,
    DEEP_OBJECT,
    envelope,
    fuzz_settings,
    header_values,
    hostile_bytes,
    json_bytes,
    load_sample,
    mutated,
    outcome,
)

REPLY = load_sample("pinduoduo", "order_information_get.json")
INFO = REPLY["order_info_get_response"]["order_info"]
INCREMENT = {
    "order_sn_increment_get_response": {
        "total_count": 1,
        "has_next": False,
        "order_sn_list": [{"order_sn": INFO["order_sn"], "updated_at": INFO["updated_at"]}],
    }
}
SECRETS: dict[str, Any] = {
    "client_id": "fuzz-pdd-client",
    "client_secret": "fuzz-pdd-secret",
    "access_tokens": {"100001": "fuzz-token"},
}
NOW = datetime(2026, 2, 5, 12, 0, tzinfo=UTC)
END_OF_PAGES = json_bytes({"order_sn_increment_get_response": {"has_next": False, "order_sn_list": []}})


def client(transport: HostileTransport) -> PinduoduoClient:
    return PinduoduoClient(SECRETS, transport, clock=lambda: NOW)


@fuzz_settings()
@given(body=hostile_bytes, header=header_values)
def test_a_push_is_refused_with_a_typed_error(body: bytes, header: str | None) -> None:
    check_push_refused(ADAPTER, SECRETS, body, header)


@fuzz_settings()
@given(
    body=st.one_of(mutated(REPLY).map(json_bytes), mutated(INCREMENT).map(json_bytes), hostile_bytes),
    status=st.sampled_from((200, 200, 200, 400, 429, 500)),
)
@example(body=DEEP_OBJECT, status=200)
@example(body=DEEP_ARRAY, status=200)
@example(body=b'{"order_info_get_response":{"order_info":{"pay_amount":' + b"9" * 5000 + b"}}}", status=200)
@example(body=b'{"error_response":{"error_code":' + b"9" * 5000 + b"}}", status=200)
@example(body=b'{"error_response":{"error_code":1e308,"error_msg":null}}', status=200)
@example(
    body=b'{"order_sn_increment_get_response":{"has_next":true,"order_sn_list":[{"order_sn":"1"}]}}',
    status=200,
)
def test_the_client_reads_any_reply_into_data_or_a_typed_error(body: bytes, status: int) -> None:
    outcome(lambda: order_info(body))
    check_pull_client(
        client,
        body,
        status,
        shop_id="100001",
        order_id=INFO["order_sn"],
        window=(NOW - timedelta(minutes=30), NOW),
        end_of_pages=END_OF_PAGES,
    )


@fuzz_settings()
@given(raw=st.one_of(hostile_bytes, mutated(REPLY).map(json_bytes)))
@example(raw=b'{"order_info_get_response":' + DEEP_OBJECT + b"}")
@example(raw=b'{"order_info_get_response":{"order_info":{"order_sn":"\xff"}}}')
def test_decode_only_raises_typed_errors(raw: bytes) -> None:
    check_decode(ADAPTER, envelope(Platform.PINDUODUO, raw, shop_id="100001"), "pinduoduo")


@fuzz_settings()
@given(
    info=mutated(INFO),
    clean=st.booleans(),
    shop_id=st.one_of(st.none(), st.sampled_from(("100001", "x" * 300, "\u200b"))),
)
@example(info={**INFO, "pay_amount": "1e4000"}, clean=False, shop_id="100001")
@example(info={**INFO, "pay_amount": "NaN"}, clean=False, shop_id="100001")
@example(info={**INFO, "updated_at": "9999-12-31 23:59:59"}, clean=False, shop_id="100001")
@example(info={**INFO, "updated_at": "0001-01-01 00:00:00"}, clean=False, shop_id="100001")
@example(info={**INFO, "order_status": 1e308}, clean=False, shop_id="100001")
@example(
    info={**INFO, "item_list": [{**INFO["item_list"][0], "goods_count": 10**4000}]},
    clean=False,
    shop_id="100001",
)
def test_parse_only_raises_typed_errors(info: Any, clean: bool, shop_id: str | None) -> None:
    check_parse(
        ADAPTER, info, None, platform="pinduoduo", clean=clean, shop_id=shop_id, order_id=INFO["order_sn"]
    )
