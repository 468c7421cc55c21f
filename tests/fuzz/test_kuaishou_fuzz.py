"""Fuzzing the Kuaishou adapter (AES-encrypted pushes): only typed errors, bounded time and memory."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from oms.domain.model import Platform
from oms.platforms.base import WebhookRequest
from oms.platforms.kuaishou import ADAPTER
from oms.platforms.kuaishou.signing import encrypt
from tests.fuzz.adapter_suite import check_decode, check_frame, check_parse, check_verify
from tests.fuzz.support import (
    DEEP_ARRAY,
    DEEP_OBJECT,
    INVALID_UTF8,
    envelope,
    fuzz_settings,
    header_values,
    hostile_bytes,
    json_values,
    load_sample,
    mutated,
)

SAMPLE = load_sample("kuaishou", "push_pay_success_encrypted.json")
MESSAGE_KEY = SAMPLE["message_key"]
SECRETS: dict[str, Any] = {"app_key": "ks_test_app_key_0001", "message_key": MESSAGE_KEY}
MESSAGE = json.loads(SAMPLE["plaintext"])
MESSAGE_OPEN = {**MESSAGE, "info": json.loads(MESSAGE["info"])}
SNAPSHOT = load_sample("kuaishou", "order_detail_paid.json")["data"]


def sealed(plaintext: str | bytes) -> bytes:
    """A body encrypted with the app's message key: it opens, whatever it holds."""
    text = plaintext.decode("utf-8", "surrogateescape") if isinstance(plaintext, bytes) else plaintext
    return encrypt(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"), MESSAGE_KEY).encode()


def request(body: bytes, query: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(method="POST", headers={}, query=query or {}, body=body)


@st.composite
def plaintexts(draw: st.DrawFn) -> str:
    """The real message, mutated, with ``info`` re-nested as a JSON string (or not)."""
    message = draw(mutated(MESSAGE_OPEN))
    if isinstance(message, dict) and isinstance(message.get("info"), dict) and draw(st.booleans()):
        message = {**message, "info": json.dumps(message["info"], ensure_ascii=draw(st.booleans()))}
    return json.dumps(message, ensure_ascii=draw(st.booleans()))


@fuzz_settings()
@given(body=hostile_bytes, app_key=header_values)
@example(body=base64.b64encode(b"\x00" * 15), app_key=None)  # not a multiple of the block size
@example(body=base64.b64encode(b"\x00" * 32), app_key="ks_test_app_key_0001")  # bad padding
@example(body=b"=" * 64, app_key=None)
@example(body=b'{"test":true}', app_key="\u200b")
@example(body=b'{"test":' + b"[" * 5000 + b"}", app_key=None)
def test_verify_only_raises_typed_errors(body: bytes, app_key: str | None) -> None:
    query = {"app_key": app_key} if app_key is not None else {}
    check_verify(ADAPTER, request(body, query), SECRETS)


@fuzz_settings()
@given(
    plaintext=st.one_of(
        plaintexts(),
        json_values.map(json.dumps),
        st.text(max_size=256),
        st.sampled_from(("[" * 5000, '{"a":' * 3000, "null", "{}", '{"event":"kwaishop_order_x"}')),
    )
)
@example(plaintext=DEEP_OBJECT.decode())
@example(plaintext=DEEP_ARRAY.decode())
@example(plaintext='{"eventId":"1","bizId":' + "9" * 5000 + "}")
@example(plaintext='{"event":"kwaishop_order_paySuccess","bizId":1,"info":"' + "[" * 5000 + '"}')
@example(plaintext='{"appKey":"another-app","event":"kwaishop_order_paySuccess"}')
def test_a_push_sealed_with_the_key_frames_or_raises_typed_errors(plaintext: str) -> None:
    body = sealed(plaintext)
    check_verify(ADAPTER, request(body), SECRETS)
    check_frame(ADAPTER, request(body), SECRETS)


@fuzz_settings()
@given(raw=st.one_of(hostile_bytes, plaintexts().map(lambda text: text.encode("utf-8", "surrogatepass"))))
@example(raw=b'{"event":"kwaishop_order_paySuccess","info":"' + b"[" * 100_000 + b'"}')
@example(raw=b'{"event":"kwaishop_order_paySuccess","info":' + DEEP_OBJECT + b"}")
@example(raw=b'{"event":"kwaishop_order_paySuccess","bizId":"' + INVALID_UTF8[0] + b'"}')
def test_decode_only_raises_typed_errors(raw: bytes) -> None:
    check_decode(ADAPTER, envelope(Platform.KUAISHOU, raw), "kuaishou")


@fuzz_settings()
@given(
    message=mutated(MESSAGE_OPEN),
    snapshot=mutated(SNAPSHOT),
    clean=st.booleans(),
    shop_id=st.one_of(st.none(), st.sampled_from(("7000000001", "x" * 300, "\u200b"))),
)
@example(message=MESSAGE_OPEN, snapshot={**SNAPSHOT, "orderBaseInfo": None}, clean=False, shop_id=None)
@example(
    message=MESSAGE_OPEN,
    snapshot={**SNAPSHOT, "orderBaseInfo": {**SNAPSHOT["orderBaseInfo"], "totalFee": 10**4000}},
    clean=False,
    shop_id=None,
)
@example(
    message=MESSAGE_OPEN,
    snapshot={**SNAPSHOT, "orderRefundList": [{"refundStatus": 1e308}]},
    clean=False,
    shop_id=None,
)
@example(message=MESSAGE_OPEN, snapshot={**SNAPSHOT, "orderItemInfo": [None]}, clean=False, shop_id=None)
def test_parse_only_raises_typed_errors(
    message: Any, snapshot: Any, clean: bool, shop_id: str | None
) -> None:
    check_parse(
        ADAPTER,
        message,
        snapshot,
        platform="kuaishou",
        clean=clean,
        shop_id=shop_id,
        order_id="2419200000000001",
    )
