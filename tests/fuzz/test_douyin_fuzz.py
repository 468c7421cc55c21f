"""Fuzzing the Douyin Shop adapter: only typed errors, bounded time and memory, for any input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from oms.domain.cleaning import clean_payload
from oms.domain.model import OrderEvent, Platform
from oms.platforms.base import WebhookRequest
from oms.platforms.douyin import ADAPTER
from oms.platforms.douyin.signing import event_sign
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
    outcome,
)

APP_KEY = "7000000000000000001"
SECRETS: dict[str, Any] = {"app_key": APP_KEY, "app_secret": "fuzz-douyin-app-secret"}
PUSH = load_sample("douyin", "push_batch_with_invisible.json")
PUSH_MESSAGES = [{**element, "data": json.loads(element["data"])} for element in PUSH]
SNAPSHOT = load_sample("douyin", "order_detail_paid.json")["data"]["shop_order_detail"]


def signed(body: bytes) -> WebhookRequest:
    headers = {"app-id": APP_KEY, "event-sign": event_sign(APP_KEY, body, SECRETS["app_secret"])}
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


@st.composite
def push_bodies(draw: st.DrawFn) -> bytes:
    """A push array built from the real sample, mutated, with ``data`` re-nested as JSON text
    (or left as an object, or as whatever the mutation made of it)."""
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
@given(body=hostile_bytes, sign=header_values, app_id=header_values)
@example(body=DEEP_ARRAY, sign=event_sign(APP_KEY, DEEP_ARRAY, "fuzz-douyin-app-secret"), app_id=APP_KEY)
@example(body=b"[]", sign="\u200b" * 32, app_id="\ufeff")
@example(body=b"", sign="\ud800", app_id=None)  # found: UnicodeEncodeError comparing the signature
@example(body=b"[]", sign="0" * 32, app_id="\udfff")
def test_verify_only_raises_typed_errors(body: bytes, sign: str | None, app_id: str | None) -> None:
    headers = {name: value for name, value in (("event-sign", sign), ("app-id", app_id)) if value is not None}
    request = WebhookRequest(method="POST", headers=headers, query={}, body=body)
    outcome(lambda: ADAPTER.verify(request, SECRETS))
    outcome(lambda: ADAPTER.app_id(request))
    assert outcome(lambda: ADAPTER.handshake(request, SECRETS)) is None


@fuzz_settings()
@given(body=st.one_of(push_bodies(), hostile_bytes))
@example(body=DEEP_ARRAY)
@example(body=DEEP_OBJECT)
@example(body=WIDE_ARRAY)
@example(body=b"[" + NEAR_LIMIT_ARRAY + b"]")
@example(body=b'[{"tag":"100","msg_id":"1","data":"' + b"[" * 5000 + b'"}]')  # found: RecursionError
@example(body=b'[{"tag":"100","msg_id":"' + b"9" * 5000 + b'","data":"{}"}]')
@example(body=b'[{"tag":"100","msg_id":"1","data":"{\\"p_id\\":' + b"9" * 4500 + b'}"}]')
def test_a_signed_push_frames_or_raises_typed_errors(body: bytes) -> None:
    request = signed(body)
    assert outcome(lambda: ADAPTER.verify(request, SECRETS)) is None
    framed = outcome(lambda: ADAPTER.frame(request, SECRETS))
    if isinstance(framed, list):
        for message in framed:
            assert 1 <= len(message.dedupe_id) <= 128
            assert message.raw in body


@fuzz_settings()
@given(raw=st.one_of(st.builds(lambda body: body, hostile_bytes), push_bodies()))
@example(raw=b'{"tag":"100","msg_id":"1","data":"' + b"[" * 100_000 + b'"}')
@example(raw=b'{"tag":"100","msg_id":"1","data":' + DEEP_OBJECT + b"}")
@example(raw=b'{"tag":"100","msg_id":"1","data":"{\\"p_id\\":\\"\xff\\"}"}')
def test_decode_only_raises_typed_errors(raw: bytes) -> None:
    decoded = outcome(lambda: ADAPTER.decode(envelope(Platform.DOUYIN, raw)))
    if isinstance(decoded, dict):
        outcome(lambda: ADAPTER.needs_fetch(decoded))
        # What decode lets through must survive the sanitizer's cleaning walk too.
        clean_payload(decoded, "douyin")


@fuzz_settings()
@given(
    message=mutated(PUSH_MESSAGES[0]),
    snapshot=mutated(SNAPSHOT),
    clean=st.booleans(),
    shop_id=st.one_of(st.none(), st.sampled_from(("65188572", "x" * 300, "\u200b"))),
)
# found: decimal.InvalidOperation quantising a huge amount
@example(message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "order_amount": 10**4000}, clean=False, shop_id=None)
# found: pydantic ValidationError (an id over 128 characters) escaping parse
@example(message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "order_id": "9" * 300}, clean=False, shop_id=None)
@example(message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "update_time": 10**30}, clean=False, shop_id=None)
@example(message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "order_status": 1e308}, clean=False, shop_id=None)
@example(message=PUSH_MESSAGES[0], snapshot={**SNAPSHOT, "shop_id": "x" * 300}, clean=False, shop_id=None)
def test_parse_only_raises_typed_errors(
    message: Any, snapshot: Any, clean: bool, shop_id: str | None
) -> None:
    if clean:
        message, _ = clean_payload(message, "douyin")
        snapshot, _ = clean_payload(snapshot, "douyin")
    target = envelope(Platform.DOUYIN, b"{}", shop_id=shop_id, platform_order_id="4916738052091854021")
    if isinstance(message, dict):
        outcome(lambda: ADAPTER.needs_fetch(message))
        event = outcome(
            lambda: ADAPTER.parse(message, snapshot if isinstance(snapshot, dict) else None, target)
        )
        assert not isinstance(event, BaseException) or event.code
        if not isinstance(event, BaseException):
            assert isinstance(event, OrderEvent)
