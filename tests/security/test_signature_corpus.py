"""A corpus of hostile pushes per platform, through the real intake handler against moto.

Every forged, altered (one byte of body or header), truncated or stale push must be answered
401 ``SIGNATURE_INVALID``, leave the intake queue empty, and be counted once in the
``WebhooksRejected`` metric with its platform and code. A replayed push (same message id) is
accepted at the door, as the platform's own retries must be, and has no second effect downstream.

Each corpus entry is derived from a push that the same test file shows is accepted, so a corpus
entry cannot pass by being broken in some unrelated way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from local.resources import Deployed
from local.simulator import (
    LineSpec,
    PlatformSimulator,
    douyin_order,
    douyin_order_message,
    douyin_push,
    shopify_order,
    shopify_webhook,
    wechat_event,
    wechat_order,
    wechat_push,
    wechat_url_check,
)
from oms.platforms.douyin.signing import event_sign
from oms.platforms.shopify.webhook import webhook_hmac
from oms.platforms.wechat_channels import crypto
from tests.functional.conftest import CREDENTIALS, context, queue_depth, receive_all, sanitize
from tests.security.conftest import EmfReader
from tests.support.events import http_event

DOUYIN_APP_KEY, DOUYIN_APP = next(iter(CREDENTIALS["douyin"].items()))
DOUYIN_SHOP = next(iter(DOUYIN_APP["access_tokens"]))
(SHOP, SHOPIFY_APP), (OTHER_SHOP, _) = list(CREDENTIALS["shopify"].items())[:2]
WECHAT_APP_ID, WECHAT_APP = next(iter(CREDENTIALS["wechat_channels"].items()))
WECHAT = {"app_id": WECHAT_APP_ID, **WECHAT_APP}
T0 = datetime(2026, 2, 5, 12, 15, tzinfo=UTC)
LINES = [LineSpec(sku_id="1760000000001", quantity=1, unit_price=Decimal("59.90"), out_sku_id="TEA-1")]
#: Well outside WeChat's default window (4 h back, 5 min ahead), whatever the test machine's clock.
STALE_BY = timedelta(hours=6)
AHEAD_BY = timedelta(hours=1)


@dataclass(frozen=True)
class Push:
    """One HTTP request to ``/webhooks/{platform}``."""

    platform: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    method: str = "POST"

    def with_headers(self, **changes: str | None) -> Push:
        headers = {**self.headers, **{name.replace("_", "-"): value for name, value in changes.items()}}
        return replace(self, headers={name: value for name, value in headers.items() if value is not None})

    def with_query(self, **changes: str | None) -> Push:
        query = {**self.query, **changes}
        return replace(self, query={name: value for name, value in query.items() if value is not None})


def send(push: Push) -> dict[str, Any]:
    from functions.webhook_intake import app

    event = http_event(
        push.method,
        f"/webhooks/{push.platform}",
        route="/webhooks/{platform}",
        path_parameters={"platform": push.platform},
        headers=push.headers,
        query=push.query,
        body=push.body,
    )
    return app.handler(event, context("intake"))


def flip_byte(data: bytes, index: int) -> bytes:
    """``data`` with one bit of one byte changed (the smallest possible alteration)."""
    index %= len(data)
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def flip_char(text: str, index: int, alphabet: str) -> str:
    """``text`` with one character replaced by another of the same alphabet (still well-formed)."""
    index %= len(text)
    replacement = alphabet[(alphabet.index(text[index]) + 1) % len(alphabet)]
    return text[:index] + replacement + text[index + 1 :]


HEX = "0123456789abcdef"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


# --- valid pushes ------------------------------------------------------------------------------


def douyin_valid(order_id: str = "6920000000000000101", msg_id: str = "sec-msg-1") -> Push:
    order = douyin_order(order_id, DOUYIN_SHOP, 105, T0, LINES, payment_id="PAYSEC1")
    headers, body = douyin_push(
        [douyin_order_message(order, 101, msg_id)], DOUYIN_APP_KEY, DOUYIN_APP["app_secret"]
    )
    return Push("douyin", body, headers)


def shopify_valid(order_id: int = 820001, webhook_id: str = "sec-webhook-1") -> Push:
    order = shopify_order(order_id, SHOP, "paid", T0, LINES)
    headers, body = shopify_webhook(order, "orders/paid", SHOP, SHOPIFY_APP["api_secret"], webhook_id)
    return Push("shopify", body, headers)


def wechat_valid(
    order_id: str = "3700000000000000101", *, signed_at: datetime | None = None, nonce: str = "sec-nonce"
) -> Push:
    stamp = int((signed_at or datetime.now(UTC)).timestamp())
    query, body = wechat_push(wechat_event("channels_ec_order_pay", order_id, T0), WECHAT, stamp, nonce)
    return Push("wechat_channels", body, query=query)


def wechat_resigned(push: Push, *, timestamp: str | None = None, token: str | None = None) -> Push:
    """``push`` with its ``msg_signature`` recomputed (what a sender holding ``token`` can do)."""
    stamp = timestamp if timestamp is not None else push.query["timestamp"]
    encrypted = json.loads(push.body)["Encrypt"]
    signature = crypto.msg_signature(token or WECHAT["token"], stamp, push.query["nonce"], encrypted)
    return push.with_query(timestamp=stamp, msg_signature=signature)


def wechat_sealed(plaintext: str, *, aes_key: str, appid: str) -> Push:
    """A correctly signed push whose ciphertext was sealed with ``aes_key`` for ``appid``."""
    encrypted = crypto.encrypt(plaintext, aes_key, appid, b"\x07" * 16)
    body = json.dumps({"ToUserName": "gh_0000simshop", "Encrypt": encrypted}).encode()
    stamp, nonce = str(int(time.time())), "sec-nonce-sealed"
    query = {
        "timestamp": stamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": crypto.msg_signature(WECHAT["token"], stamp, nonce, encrypted),
        "app_id": WECHAT_APP_ID,
    }
    return Push("wechat_channels", body, query=query)


# --- the corpus ----------------------------------------------------------------------------------


def douyin_corpus() -> dict[str, Push]:
    valid = douyin_valid()
    sign = valid.headers["event-sign"]
    return {
        "forged with another secret": valid.with_headers(
            event_sign=event_sign(DOUYIN_APP_KEY, valid.body, "not-the-app-secret")
        ),
        "no signature header": valid.with_headers(event_sign=None),
        "empty signature": valid.with_headers(event_sign=""),
        "first body byte altered": replace(valid, body=flip_byte(valid.body, 0)),
        "middle body byte altered": replace(valid, body=flip_byte(valid.body, len(valid.body) // 2)),
        "last body byte altered": replace(valid, body=flip_byte(valid.body, -1)),
        "one signature character altered": valid.with_headers(event_sign=flip_char(sign, -1, HEX)),
        "signature truncated": valid.with_headers(event_sign=sign[:16]),
        "signature extended": valid.with_headers(event_sign=sign + "0"),
        "body truncated": replace(valid, body=valid.body[: len(valid.body) // 2]),
        "body extended after the array": replace(valid, body=valid.body + b" "),
        "signature of an empty body": replace(valid, body=b"").with_headers(
            event_sign=event_sign(DOUYIN_APP_KEY, b"", "not-the-app-secret")
        ),
        "app id of an app we hold no secret for": valid.with_headers(app_id="7999999999999999999"),
    }


def shopify_corpus() -> dict[str, Push]:
    valid = shopify_valid()
    signature = valid.headers["x-shopify-hmac-sha256"]
    digest = hmac.new(SHOPIFY_APP["api_secret"].encode(), valid.body, hashlib.sha256).digest()
    return {
        "forged with another secret": valid.with_headers(
            x_shopify_hmac_sha256=webhook_hmac(valid.body, "not-the-api-secret")
        ),
        "no signature header": valid.with_headers(x_shopify_hmac_sha256=None),
        "first body byte altered": replace(valid, body=flip_byte(valid.body, 0)),
        "middle body byte altered": replace(valid, body=flip_byte(valid.body, len(valid.body) // 2)),
        "last body byte altered": replace(valid, body=flip_byte(valid.body, -1)),
        "one signature character altered": valid.with_headers(
            x_shopify_hmac_sha256=flip_char(signature, 5, BASE64)
        ),
        "signature truncated": valid.with_headers(x_shopify_hmac_sha256=signature[:22]),
        "signature as hex instead of base64": valid.with_headers(x_shopify_hmac_sha256=digest.hex()),
        "body truncated": replace(valid, body=valid.body[: len(valid.body) // 2]),
        "signed for another shop": valid.with_headers(x_shopify_shop_domain=OTHER_SHOP),
        "shop we hold no secret for": valid.with_headers(x_shopify_shop_domain="intruder.myshopify.com"),
    }


def wechat_corpus() -> dict[str, Push]:
    valid = wechat_valid()
    signature = valid.query["msg_signature"]
    encrypted = json.loads(valid.body)["Encrypt"]
    plaintext = json.dumps(wechat_event("channels_ec_order_pay", "3700000000000000102", T0))
    now = datetime.now(UTC)
    return {
        "forged with another token": wechat_resigned(valid, token="not-the-token"),
        "no msg_signature": valid.with_query(msg_signature=None),
        "one signature character altered": valid.with_query(msg_signature=flip_char(signature, 0, HEX)),
        "signature truncated": valid.with_query(msg_signature=signature[:20]),
        "one ciphertext character altered": replace(
            valid, body=json.dumps({"Encrypt": flip_char(encrypted, 10, BASE64)}).encode()
        ),
        "ciphertext truncated": replace(valid, body=json.dumps({"Encrypt": encrypted[:-24]}).encode()),
        "body truncated": replace(valid, body=valid.body[: len(valid.body) // 2]),
        "timestamp altered": valid.with_query(timestamp=str(int(valid.query["timestamp"]) + 1)),
        "nonce altered": valid.with_query(nonce=valid.query["nonce"] + "x"),
        "signed, but sealed with another AES key": wechat_sealed(
            plaintext, aes_key="B" * 43, appid=WECHAT_APP_ID
        ),
        "signed, but sealed for another app": wechat_sealed(
            plaintext, aes_key=WECHAT["encoding_aes_key"], appid="wx0000000000other"
        ),
        "stale: signed six hours ago": wechat_valid(signed_at=now - STALE_BY),
        "stale: signed an hour in the future": wechat_valid(signed_at=now + AHEAD_BY),
        "signed timestamp that is not a time": wechat_resigned(valid, timestamp="yesterday"),
        "URL check with a forged signature": Push(
            "wechat_channels",
            b"",
            query=wechat_url_check(WECHAT, "echo-123") | {"signature": "0" * 40},
            method="GET",
        ),
    }


CORPUS: dict[str, Callable[[], dict[str, Push]]] = {
    "douyin": douyin_corpus,
    "shopify": shopify_corpus,
    "wechat_channels": wechat_corpus,
}
CASES = [(platform, name) for platform, build in CORPUS.items() for name in build()]


def rejections(records: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    return [
        (record["platform"], record["code"], value)
        for record in records
        if "WebhooksRejected" in record
        for value in record["WebhooksRejected"]
    ]


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "push", [douyin_valid(), shopify_valid(), wechat_valid()], ids=lambda push: push.platform
)
def test_the_push_each_corpus_is_derived_from_is_accepted(stack: Deployed, emf: EmfReader, push: Push):
    reply = send(push)
    assert reply["statusCode"] == 200, reply
    assert queue_depth(stack, "IntakeQueue") == 1
    assert rejections(emf()) == []


@pytest.mark.parametrize(("platform", "case"), CASES, ids=[f"{p}: {c}" for p, c in CASES])
def test_every_hostile_push_is_refused_counted_and_never_enqueued(
    stack: Deployed, emf: EmfReader, platform: str, case: str
):
    # GIVEN a push from the corpus (built inside the test: "now" is the intake's clock too)
    push = CORPUS[platform]()[case]
    # WHEN it reaches the intake handler
    reply = send(push)
    # THEN it is refused as a bad signature
    assert reply["statusCode"] == 401, reply
    assert json.loads(reply["body"]) == {"error": "SIGNATURE_INVALID"}
    # AND nothing is queued, not even to the dead-letter queue
    assert queue_depth(stack, "IntakeQueue") == 0
    assert queue_depth(stack, "IntakeDLQ") == 0
    # AND the refusal is counted once, under its platform and code
    records = emf()
    assert rejections(records) == [(platform, "SIGNATURE_INVALID", 1.0)]
    assert not any("WebhooksAccepted" in record for record in records)


def test_a_replayed_douyin_push_is_accepted_and_has_no_second_effect(
    stack: Deployed, simulator: PlatformSimulator, emf: EmfReader
):
    order_id = "6920000000000000111"
    simulator.put_order(
        "douyin", DOUYIN_SHOP, douyin_order(order_id, DOUYIN_SHOP, 105, T0, LINES, payment_id="PAYSEC2")
    )
    push = douyin_valid(order_id, msg_id="sec-replay-1")
    assert_replay_has_one_effect(stack, push, f"douyin:{DOUYIN_SHOP}:{order_id}")


def test_a_replayed_shopify_push_is_accepted_and_has_no_second_effect(stack: Deployed, emf: EmfReader):
    push = shopify_valid(820011, webhook_id="sec-replay-2")
    assert_replay_has_one_effect(stack, push, f"shopify:{SHOP}:820011")


def test_a_replayed_wechat_push_is_accepted_and_has_no_second_effect(
    stack: Deployed, simulator: PlatformSimulator, emf: EmfReader
):
    order_id = "3700000000000000111"
    simulator.put_order(
        "wechat_channels",
        WECHAT_APP_ID,
        wechat_order(order_id, WECHAT_APP_ID, 20, T0, LINES, payment_id="4200000111"),
    )
    push = wechat_valid(order_id, nonce="sec-replay-3")
    assert_replay_has_one_effect(stack, push, f"wechat_channels:{WECHAT_APP_ID}:{order_id}")


def assert_replay_has_one_effect(stack: Deployed, push: Push, reference: str) -> None:
    # GIVEN an authentic push, delivered and processed
    assert send(push)["statusCode"] == 200
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    first = get_order(reference)
    # WHEN exactly the same request arrives again (a platform retry, or a captured replay)
    reply = send(push)
    # THEN the door accepts it (a platform must not be told to retry forever)...
    assert reply["statusCode"] == 200
    # ...and whatever reached the queue changes nothing: same version, one history entry
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    again = get_order(reference)
    assert again["order"] == first["order"]
    assert len(again["history"]) == 1
    assert queue_depth(stack, "IntakeQueue") == 0


def get_order(reference: str) -> dict[str, Any]:
    from functions.admin_api import app

    event = http_event(
        "GET", f"/orders/{reference}", route="/orders/{order_id}", path_parameters={"order_id": reference}
    )
    response = app.handler(event, context("admin"))
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])  # type: ignore[no-any-return]


def test_the_corpus_covers_every_platform_of_the_intake_pipeline():
    # The three platforms whose pushes intake verifies today (issue #2). A platform added later
    # gets its own corpus here when its push route lands.
    from oms.platforms import supported_platforms

    assert set(CORPUS) == {"douyin", "shopify", "wechat_channels"}
    assert set(CORPUS) <= {str(platform) for platform in supported_platforms()}


def test_a_signature_header_altered_in_any_position_is_refused(stack: Deployed, emf: EmfReader):
    # Every position of the Shopify HMAC, not just one: a comparison that stopped early (or
    # compared a prefix) would let some of these through.
    valid = shopify_valid(820021, webhook_id="sec-positions")
    signature = valid.headers["x-shopify-hmac-sha256"]
    for index in range(len(signature.rstrip("="))):
        reply = send(valid.with_headers(x_shopify_hmac_sha256=flip_char(signature, index, BASE64)))
        assert reply["statusCode"] == 401, index
    assert queue_depth(stack, "IntakeQueue") == 0
    assert len(rejections(emf())) == len(signature.rstrip("="))


def test_altered_signatures_stay_well_formed():
    # The corpus alters signatures within their alphabet, so a refusal is the comparison's doing,
    # not a decoding failure.
    altered = flip_char(base64.b64encode(b"x" * 32).decode(), 3, BASE64)
    assert len(base64.b64decode(altered)) == 32
    assert altered != base64.b64encode(b"x" * 32).decode()
    assert set(flip_char("0f" * 20, 7, HEX)) <= set(HEX)


def test_a_shopify_body_replayed_under_a_new_webhook_id_changes_nothing(stack: Deployed, emf: EmfReader):
    # Shopify's HMAC covers the body, not X-Shopify-Webhook-Id: a captured body can be resent with
    # a fresh id. It then is a new event, but of the same snapshot, so the state machine calls it
    # stale and the order stays as it was.
    push = shopify_valid(820031, webhook_id="sec-original")
    assert send(push)["statusCode"] == 200
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    first = get_order(f"shopify:{SHOP}:820031")
    assert send(push.with_headers(x_shopify_webhook_id="sec-forged-id"))["statusCode"] == 200
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    again = get_order(f"shopify:{SHOP}:820031")
    assert again["order"] == first["order"]
    assert [entry["outcome"] for entry in again["history"]] == ["created", "stale"]
