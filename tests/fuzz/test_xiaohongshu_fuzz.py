"""Fuzzing the Xiaohongshu adapter: only typed errors, bounded time and memory, for any input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from oms.domain.model import Platform
from oms.platforms.base import WebhookRequest
from oms.platforms.xiaohongshu import ADAPTER
from oms.platforms.xiaohongshu.push import DEFAULT_PUSH_SIGN_PATH
from oms.platforms.xiaohongshu.signing import push_sign
from tests.fuzz.adapter_suite import check_decode, check_frame, check_parse, check_verify
from tests.fuzz.support import (
    DEEP_ARRAY,
    DEEP_OBJECT,
    NEAR_LIMIT_ARRAY,
    WIDE_ARRAY,
    envelope,
    fuzz_settings,
    header_values,
    hostile_bytes,
    json_bytes,
    load_sample,
    mutated,
)

APP_KEY = "fuzz-xhs-app-key"
SECRETS: dict[str, Any] = {"app_key": APP_KEY, "app_secret": "fuzz-xiaohongshu-app-secret"}
TIMESTAMP = "1770220800"
PUSH = load_sample("xiaohongshu", "push_status_change.json")
PUSH_MESSAGES = [{**element, "data": json.loads(element["data"])} for element in PUSH]
SNAPSHOT = load_sample("xiaohongshu", "order_detail_awaiting_shipment.json")["data"]


def signed(body: bytes) -> WebhookRequest:
    sign = push_sign(DEFAULT_PUSH_SIGN_PATH, APP_KEY, TIMESTAMP, body, SECRETS["app_secret"])
    headers = {"app-key": APP_KEY, "timestamp": TIMESTAMP, "sign": sign}
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


@st.composite
def push_bodies(draw: st.DrawFn) -> bytes:
    """The real push array, mutated, with ``data`` re-nested as a JSON string (or not)."""
    messages = draw(mutated(PUSH_MESSAGES))
    if isinstance(messages, list):
        messages = [
            {**item, "data": json.dumps(item["data"], ensure_ascii=draw(st.booleans()))}
            if isinstance(item, dict) and isinstance(item.get("data"), dict) and draw(st.booleans())
            else item
            for item in messages
        ]
    return json_bytes(messages, draw(st.booleans()))


@fuzz_settings()
@given(body=hostile_bytes, sign=header_values, timestamp=header_values, app_key=header_values)
@example(body=b"[]", sign="\ud800", timestamp="1770220800", app_key=APP_KEY)
@example(body=b"[]", sign="0" * 32, timestamp="9" * 40, app_key="\ufeff")
@example(body=b"[]", sign="0" * 32, timestamp="\u0661\u0662", app_key=None)  # Arabic-Indic digits
def test_verify_only_raises_typed_errors(
    body: bytes, sign: str | None, timestamp: str | None, app_key: str | None
) -> None:
    pairs = (("sign", sign), ("timestamp", timestamp), ("app-key", app_key))
    headers = {name: value for name, value in pairs if value is not None}
    check_verify(ADAPTER, WebhookRequest(method="POST", headers=headers, query={}, body=body), SECRETS)


@fuzz_settings()
@given(body=st.one_of(push_bodies(), hostile_bytes))
@example(body=DEEP_ARRAY)
@example(body=DEEP_OBJECT)
@example(body=WIDE_ARRAY)
@example(body=b"[" + NEAR_LIMIT_ARRAY + b"]")
@example(body=b'[{"msgTag":"x","sellerId":"1","data":"' + b"[" * 5000 + b'"}]')
@example(body=b'[{"msgTag":"x","sellerId":"' + b"9" * 5000 + b'","data":"{}"}]')
@example(body=b'[{"msgTag":"x","sellerId":"1","data":"{\\"orderId\\":' + b"9" * 4500 + b'}"}]')
def test_a_signed_push_frames_or_raises_typed_errors(body: bytes) -> None:
    request = signed(body)
    check_verify(ADAPTER, request, SECRETS)
    check_frame(ADAPTER, request, SECRETS)


@fuzz_settings()
@given(raw=st.one_of(hostile_bytes, push_bodies()))
@example(raw=b'{"msgTag":"x","data":"' + b"[" * 100_000 + b'"}')
@example(raw=b'{"msgTag":"x","data":' + DEEP_OBJECT + b"}")
@example(raw=b'{"msgTag":"x","data":"{\\"orderId\\":\\"\xff\\"}"}')
def test_decode_only_raises_typed_errors(raw: bytes) -> None:
    check_decode(ADAPTER, envelope(Platform.XIAOHONGSHU, raw), "xiaohongshu")


@fuzz_settings()
@given(
    message=mutated(PUSH_MESSAGES[0]),
    snapshot=mutated(SNAPSHOT),
    clean=st.booleans(),
    shop_id=st.one_of(st.none(), st.sampled_from(("5f0c00000000000000000001", "x" * 300, "\u200b"))),
)
@example(
    message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "totalPayAmount": 10**4000}, clean=False, shop_id=None
)
@example(message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "orderId": "9" * 300}, clean=False, shop_id=None)
@example(
    message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "orderUpdateTime": 10**30}, clean=False, shop_id=None
)
@example(message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "orderStatus": 1e308}, clean=False, shop_id=None)
@example(message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "itemList": [None]}, clean=False, shop_id=None)
def test_parse_only_raises_typed_errors(
    message: Any, snapshot: Any, clean: bool, shop_id: str | None
) -> None:
    check_parse(
        ADAPTER,
        message,
        snapshot,
        platform="xiaohongshu",
        clean=clean,
        shop_id=shop_id,
        order_id="P735012345678901234",
    )
