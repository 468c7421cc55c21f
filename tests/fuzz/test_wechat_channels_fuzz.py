"""Fuzzing the WeChat Channels adapter: only typed errors, bounded time and memory, for any input.

Pushes are encrypted, so most fuzzing happens behind a valid envelope: the hostile bytes are put
*inside* a correctly signed AES ciphertext, which is where a platform (or a leaked key) could put
them.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import example, given
from hypothesis import strategies as st

from oms.domain.cleaning import clean_payload
from oms.domain.model import OrderEvent, Platform
from oms.platforms.base import WebhookRequest
from oms.platforms.wechat_channels import ADAPTER, crypto
from tests.fuzz.support import (
    DEEP_ARRAY,
    DEEP_OBJECT,
    INVALID_UTF8,
    envelope,
    fuzz_settings,
    header_values,
    hostile_bytes,
    json_bytes,
    load_sample,
    mutated,
    outcome,
)

APP_ID = "wx00000000000fuzz1"
SECRETS: dict[str, Any] = {
    "app_id": APP_ID,
    "token": "fuzz-wechat-token",
    "encoding_aes_key": "FuzzOnlyEncodingAESKeyForWeChatChannels0000",
    "app_secret": "fuzz-wechat-app-secret",
}
TIMESTAMP, NONCE = "1741766461", "1849150504"
PUSH = load_sample("wechat_channels", "push_order_pay_plaintext.json")
AFTERSALE = load_sample("wechat_channels", "push_aftersale_update_plaintext.json")
SNAPSHOT = load_sample("wechat_channels", "order_get_paid.json")["order"]


def seal(message: bytes, appid: bytes = APP_ID.encode()) -> str:
    """WeChat's envelope around arbitrary bytes (``crypto.encrypt`` only takes valid text)."""
    key = crypto.aes_key(SECRETS["encoding_aes_key"])
    content = b"\x00" * 16 + struct.pack(">I", len(message)) + message + appid
    pad = crypto.PAD_BLOCK_BYTES - len(content) % crypto.PAD_BLOCK_BYTES
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(content + bytes([pad]) * pad) + encryptor.finalize()).decode()


def signed_push(encrypted: str, body: bytes | None = None) -> WebhookRequest:
    query = {
        "msg_signature": crypto.msg_signature(SECRETS["token"], TIMESTAMP, NONCE, encrypted),
        "timestamp": TIMESTAMP,
        "nonce": NONCE,
        "encrypt_type": "aes",
    }
    if body is None:
        body = json.dumps({"ToUserName": "gh_fuzz", "Encrypt": encrypted}).encode()
    return WebhookRequest(method="POST", headers={}, query=query, body=body)


plaintexts = st.one_of(
    st.sampled_from((PUSH, AFTERSALE)).flatmap(mutated).map(json_bytes),
    hostile_bytes,
)


@fuzz_settings()
@given(
    method=st.sampled_from(("POST", "GET", "post", "PUT", "")),
    query=st.dictionaries(
        st.sampled_from(("msg_signature", "signature", "timestamp", "nonce", "echostr", "app_id")),
        header_values.filter(lambda value: value is not None),
    ),
    body=hostile_bytes,
)
# found: UnicodeEncodeError hashing a lone surrogate from the query
@example(
    method="GET", query={"signature": "\ud800", "timestamp": "1", "nonce": "1", "echostr": "e"}, body=b""
)
@example(method="POST", query={"msg_signature": "a", "timestamp": "\ud800", "nonce": "1"}, body=b"{}")
# found: RecursionError reading the Encrypt field of a deeply nested body
@example(method="POST", query={"msg_signature": "a", "timestamp": "1", "nonce": "1"}, body=DEEP_ARRAY)
def test_handshake_and_verify_only_raise_typed_errors(
    method: str, query: dict[str, str], body: bytes
) -> None:
    request = WebhookRequest(method=method, headers={}, query=query, body=body)
    outcome(lambda: ADAPTER.app_id(request))
    outcome(lambda: ADAPTER.handshake(request, SECRETS))
    outcome(lambda: ADAPTER.verify(request, SECRETS))


@fuzz_settings()
@given(
    encrypted=st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200).map(lambda data: base64.b64encode(data).decode()),
        plaintexts.map(lambda message: seal(message)[: len(seal(message)) - 4]),
    ),
)
@example(encrypted="")
@example(encrypted="====")
@example(encrypted=base64.b64encode(b"\x00" * 31).decode())
def test_a_signed_but_broken_ciphertext_is_a_signature_error(encrypted: str) -> None:
    # The signature covers Encrypt, so a sender without the AES key can still sign garbage.
    request = signed_push(encrypted)
    outcome(lambda: ADAPTER.verify(request, SECRETS))
    outcome(lambda: ADAPTER.frame(request, SECRETS))


@fuzz_settings()
@given(plaintext=plaintexts, appid=st.sampled_from((APP_ID.encode(), b"", b"wx-other", b"\xff")))
@example(plaintext=DEEP_ARRAY, appid=APP_ID.encode())
@example(plaintext=DEEP_OBJECT, appid=APP_ID.encode())
@example(
    plaintext=b'{"Event":"channels_ec_order_pay","order_info":{"order_id":"\xff"}}', appid=APP_ID.encode()
)
@example(plaintext=INVALID_UTF8[2], appid=APP_ID.encode())
@example(
    plaintext=b'{"Event":"channels_ec_order_pay","order_info":{"order_id":' + b"9" * 4500 + b"}}",
    appid=APP_ID.encode(),
)
def test_a_signed_push_frames_or_raises_typed_errors(plaintext: bytes, appid: bytes) -> None:
    request = signed_push(seal(plaintext, appid))
    outcome(lambda: ADAPTER.verify(request, SECRETS))
    framed = outcome(lambda: ADAPTER.frame(request, SECRETS))
    if isinstance(framed, list):
        assert len(framed) == 1
        assert 1 <= len(framed[0].dedupe_id) <= 128


@fuzz_settings()
@given(plaintext=st.one_of(st.sampled_from((PUSH, AFTERSALE)).flatmap(mutated), st.text(max_size=200)))
@example(plaintext="[" * 100_000 + "]" * 100_000)
@example(plaintext="\ud800")
def test_decode_only_raises_typed_errors(plaintext: Any) -> None:
    text = plaintext if isinstance(plaintext, str) else json.dumps(plaintext, ensure_ascii=False)
    decoded = outcome(lambda: ADAPTER.decode(envelope(Platform.WECHAT_CHANNELS, b"{}", plaintext=text)))
    if isinstance(decoded, dict):
        outcome(lambda: ADAPTER.needs_fetch(decoded))
        clean_payload(decoded, "wechat_channels")


@fuzz_settings()
@given(
    message=st.sampled_from((PUSH, AFTERSALE)).flatmap(mutated),
    snapshot=st.one_of(st.none(), mutated(SNAPSHOT)),
    clean=st.booleans(),
)
@example(message=PUSH, snapshot={**SNAPSHOT, "update_time": 10**30}, clean=False)
@example(message=PUSH, snapshot={**SNAPSHOT, "order_id": "9" * 300}, clean=False)
@example(message=PUSH, snapshot={**SNAPSHOT, "status": 10**4000}, clean=False)
def test_parse_only_raises_typed_errors(message: Any, snapshot: Any, clean: bool) -> None:
    if clean:
        message, _ = clean_payload(message, "wechat_channels")
        snapshot, _ = clean_payload(snapshot, "wechat_channels")
    target = envelope(Platform.WECHAT_CHANNELS, b"{}", app_id=APP_ID, shop_id=APP_ID)
    if isinstance(message, dict):
        outcome(lambda: ADAPTER.needs_fetch(message))
        event = outcome(
            lambda: ADAPTER.parse(message, snapshot if isinstance(snapshot, dict) else None, target)
        )
        if not isinstance(event, BaseException):
            assert isinstance(event, OrderEvent)
