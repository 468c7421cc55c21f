"""Fuzzing the WeChat mini-program (WeChat Pay v3) adapter: only typed errors, bounded time and
memory, for any notification: forged or not, sealed with the APIv3 key or not."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import example, given
from hypothesis import strategies as st

from local.simulator import load_credentials
from oms.domain.model import Platform
from oms.platforms.base import WebhookRequest
from oms.platforms.wechat_mini import ADAPTER, crypto
from tests.fuzz.adapter_suite import check_decode, check_frame, check_parse, check_verify
from tests.fuzz.support import (
    DEEP_ARRAY,
    DEEP_OBJECT,
    envelope,
    fuzz_settings,
    header_values,
    hostile_bytes,
    json_bytes,
    json_values,
    load_sample,
    mutated,
)

APP = load_credentials()["wechat_mini"]["wx00000000000mini1"]
SECRETS: dict[str, Any] = {key: APP[key] for key in ("appid", "mchid", "api_v3_key", "platform_certificates")}
SERIAL = next(iter(APP["platform_certificates"]))
_KEY = serialization.load_pem_private_key(APP["simulator_platform_private_key"].encode(), password=None)
assert isinstance(_KEY, rsa.RSAPrivateKey)
PRIVATE_KEY: rsa.RSAPrivateKey = _KEY
TRANSACTION = load_sample("wechat_mini", "transaction_success.json")
REFUND = load_sample("wechat_mini", "refund_success.json")
SNAPSHOT = load_sample("wechat_mini", "get_order_shipped.json")["order"]


def sealed_notification(notification: Any, resource: Any, *, seal_text: str | None = None) -> bytes:
    """``notification`` with its ``resource`` encrypted under the APIv3 key (when both are objects)."""
    if isinstance(notification, dict) and isinstance(notification.get("resource"), dict):
        frame = notification["resource"]
        nonce = (
            frame.get("nonce")
            if isinstance(frame.get("nonce"), str) and len(frame["nonce"]) == 12
            else "0" * 12
        )
        associated = frame.get("associated_data") if isinstance(frame.get("associated_data"), str) else ""
        plaintext = seal_text if seal_text is not None else json.dumps(resource, ensure_ascii=False)
        plaintext = plaintext.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        ciphertext = crypto.encrypt_resource(SECRETS["api_v3_key"], nonce, associated, plaintext)
        notification = {**notification, "resource": {**frame, "nonce": nonce, "ciphertext": ciphertext}}
    return json_bytes(notification)


def signed(body: bytes, timestamp: str = "1770220800", nonce: str = "fuzz-nonce") -> WebhookRequest:
    headers = {
        "Wechatpay-Signature": crypto.sign(PRIVATE_KEY, timestamp, nonce, body),
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": SERIAL,
    }
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


@st.composite
def notifications(draw: st.DrawFn) -> bytes:
    """A real notification (payment or refund), mutated outside and inside the sealed resource."""
    sample = draw(st.sampled_from((TRANSACTION, REFUND)))
    notification = draw(mutated(sample["notification"]))
    resource = draw(mutated(sample["resource"]))
    seal_text = draw(
        st.one_of(
            st.none(),
            st.text(max_size=64),
            json_values.map(json.dumps),
            st.sampled_from(("[" * 5000, '{"a":' * 3000, "", "null")),
        )
    )
    return sealed_notification(notification, resource, seal_text=seal_text)


@fuzz_settings()
@given(
    body=hostile_bytes,
    signature=header_values,
    timestamp=header_values,
    nonce=header_values,
    serial=header_values,
)
@example(
    body=b"{}", signature="WECHATPAY/SIGNTEST/" + "A" * 40, timestamp="1770220800", nonce="n", serial=SERIAL
)
@example(body=b"{}", signature="\ud800", timestamp="\u0661", nonce="n", serial=SERIAL)
@example(body=b"{}", signature="A" * 5000, timestamp="9" * 400, nonce="n", serial=SERIAL)
@example(body=b"{}", signature="!!!", timestamp="1", nonce="\x00", serial="\u200b" + SERIAL)
def test_verify_only_raises_typed_errors(
    body: bytes, signature: str | None, timestamp: str | None, nonce: str | None, serial: str | None
) -> None:
    pairs = (
        ("Wechatpay-Signature", signature),
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Serial", serial),
    )
    headers = {name: value for name, value in pairs if value is not None}
    check_verify(ADAPTER, WebhookRequest(method="POST", headers=headers, query={}, body=body), SECRETS)


@fuzz_settings()
@given(body=st.one_of(notifications(), hostile_bytes))
@example(body=DEEP_OBJECT)
@example(body=DEEP_ARRAY)
@example(body=sealed_notification(TRANSACTION["notification"], None, seal_text="[" * 100_000))
@example(body=sealed_notification(TRANSACTION["notification"], {"out_trade_no": "9" * 5000}))
@example(
    body=sealed_notification({**TRANSACTION["notification"], "event_type": 10**4000}, TRANSACTION["resource"])
)
def test_a_signed_notification_frames_or_raises_typed_errors(body: bytes) -> None:
    request = signed(body)
    check_verify(ADAPTER, request, SECRETS)
    check_frame(ADAPTER, request, SECRETS)


@fuzz_settings()
@given(raw=st.one_of(hostile_bytes, notifications()))
@example(raw=b'{"resource":' + DEEP_OBJECT + b"}")
@example(raw=b'{"event_type":"TRANSACTION.SUCCESS","resource":{"out_trade_no":"\xff"}}')
def test_decode_only_raises_typed_errors(raw: bytes) -> None:
    check_decode(ADAPTER, envelope(Platform.WECHAT_MINI, raw), "wechat_mini")


def _opened(sample: dict[str, Any]) -> dict[str, Any]:
    """What ``frame`` stores as plaintext: the notification with its resource opened."""
    notification = sample["notification"]
    return {
        **{key: notification[key] for key in ("id", "create_time", "event_type", "resource_type", "summary")},
        "original_type": notification["resource"]["original_type"],
        "resource": sample["resource"],
    }


OPENED = (_opened(TRANSACTION), _opened(REFUND))


@fuzz_settings()
@given(
    message=st.sampled_from(OPENED).flatmap(mutated),
    snapshot=st.one_of(st.none(), mutated(SNAPSHOT)),
    clean=st.booleans(),
    shop_id=st.one_of(st.none(), st.sampled_from(("wx00000000000mini1", "x" * 300, "\u200b"))),
)
@example(
    message={**OPENED[0], "resource": {**TRANSACTION["resource"], "amount": {"total": 10**4000}}},
    snapshot=None,
    clean=False,
    shop_id=None,
)
@example(
    message={**OPENED[1], "resource": {**REFUND["resource"], "amount": {"total": 0, "refund": 1e308}}},
    snapshot=None,
    clean=False,
    shop_id=None,
)
@example(
    message={
        **OPENED[0],
        "resource": {**TRANSACTION["resource"], "success_time": "9999-12-31T23:59:59+08:00"},
    },
    snapshot=None,
    clean=False,
    shop_id=None,
)
@example(
    message={**OPENED[0], "resource": None},
    snapshot={**SNAPSHOT, "order_state": 1e308},
    clean=False,
    shop_id=None,
)
def test_parse_only_raises_typed_errors(
    message: Any, snapshot: Any, clean: bool, shop_id: str | None
) -> None:
    check_parse(
        ADAPTER,
        message,
        snapshot,
        platform="wechat_mini",
        clean=clean,
        shop_id=shop_id,
        order_id="MINI-20250301-0001",
    )
