"""Fuzzing the Taobao adapter and client (TMC and increments, pulled): only typed errors, bounded
time and memory, whatever TOP replies and whatever the poller enqueued."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from oms.domain.model import Platform
from oms.platforms.taobao import ADAPTER
from oms.platforms.taobao.client import TaobaoClient, trade_of
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

REPLY = load_sample("taobao", "trade_fullinfo_get.json")
TRADE = REPLY["trade_fullinfo_get_response"]["trade"]
TMC = load_sample("taobao", "tmc_messages_consume.json")
TMC_OPEN = json.loads(json.dumps(TMC))
INCREMENT = {
    "trades_sold_increment_get_response": {
        "total_results": 1,
        "has_next": False,
        "trades": {"trade": [{"tid": TRADE["tid"], "modified": TRADE["modified"]}]},
    }
}
SECRETS: dict[str, Any] = {
    "app_key": "12345678",
    "app_secret": "fuzz-taobao-secret",
    "sessions": {"2200000001": "fuzz-session"},
}
NOW = datetime(2026, 2, 5, 12, 0, tzinfo=UTC)
END_OF_PAGES = json_bytes(
    {"trades_sold_increment_get_response": {"has_next": False, "trades": {"trade": []}}}
)


def client(transport: HostileTransport) -> TaobaoClient:
    return TaobaoClient(SECRETS, transport, clock=lambda: NOW)


@fuzz_settings()
@given(body=hostile_bytes, header=header_values)
def test_a_push_is_refused_with_a_typed_error(body: bytes, header: str | None) -> None:
    check_push_refused(ADAPTER, SECRETS, body, header)


@fuzz_settings()
@given(
    body=st.one_of(
        mutated(REPLY).map(json_bytes),
        mutated(INCREMENT).map(json_bytes),
        mutated(TMC_OPEN).map(json_bytes),
        hostile_bytes,
    ),
    status=st.sampled_from((200, 200, 200, 400, 500)),
)
@example(body=DEEP_OBJECT, status=200)
@example(body=DEEP_ARRAY, status=200)
@example(body=b'{"trade_fullinfo_get_response":{"trade":{"payment":' + b"9" * 5000 + b"}}}", status=200)
@example(body=b'{"error_response":{"code":' + b"9" * 5000 + b"}}", status=200)
@example(
    body=b'{"tmc_messages_consume_response":{"messages":{"tmc_message":[{"id":1,"content":"'
    + b"[" * 5000
    + b'"}]}}}',
    status=200,
)
@example(
    body=b'{"tmc_messages_consume_response":{"messages":{"tmc_message":[{"id":1,"content":"{\\"tid\\":'
    + b"9" * 5000
    + b'}"}]}}}',
    status=200,
)
def test_the_client_reads_any_reply_into_data_or_a_typed_error(body: bytes, status: int) -> None:
    outcome(lambda: trade_of(body))
    outcome(lambda: client(HostileTransport(body, status)).consume_messages())
    check_pull_client(
        client,
        body,
        status,
        shop_id="2200000001",
        order_id=str(TRADE["tid"]),
        window=(NOW - timedelta(hours=1), NOW),
        end_of_pages=END_OF_PAGES,
    )


@fuzz_settings()
@given(raw=st.one_of(hostile_bytes, mutated(REPLY).map(json_bytes)))
@example(raw=b'{"trade_fullinfo_get_response":' + DEEP_OBJECT + b"}")
@example(raw=b'{"trade_fullinfo_get_response":{"trade":{"tid":"\xff"}}}')
def test_decode_only_raises_typed_errors(raw: bytes) -> None:
    check_decode(ADAPTER, envelope(Platform.TAOBAO, raw, shop_id="2200000001"), "taobao")


@fuzz_settings()
@given(
    trade=mutated(TRADE),
    clean=st.booleans(),
    shop_id=st.one_of(st.none(), st.sampled_from(("2200000001", "x" * 300, "\u200b"))),
)
@example(trade={**TRADE, "payment": "1e4000"}, clean=False, shop_id="2200000001")
@example(trade={**TRADE, "payment": "-Infinity"}, clean=False, shop_id="2200000001")
@example(trade={**TRADE, "modified": "9999-12-31 23:59:59"}, clean=False, shop_id="2200000001")
@example(trade={**TRADE, "modified": "0001-01-01 00:00:00"}, clean=False, shop_id="2200000001")
@example(trade={**TRADE, "orders": {"order": [None]}}, clean=False, shop_id="2200000001")
@example(
    trade={**TRADE, "orders": {"order": [{"oid": 1, "num_iid": 2, "num": 10**4000}]}},
    clean=False,
    shop_id=None,
)
def test_parse_only_raises_typed_errors(trade: Any, clean: bool, shop_id: str | None) -> None:
    check_parse(
        ADAPTER, trade, None, platform="taobao", clean=clean, shop_id=shop_id, order_id=str(TRADE["tid"])
    )
