"""The hostile-push corpus for the push platforms added after the first three: Xiaohongshu,
Kuaishou, WooCommerce and WeChat Pay (mini-program orders), through the real intake handler.

Same rules as :mod:`tests.security.test_signature_corpus`: every forged, altered, truncated or
stale push is answered 401 ``SIGNATURE_INVALID``, nothing is queued (not even to the DLQ), and
the refusal is counted once in ``WebhooksRejected`` with its platform and code; a replayed push
(same message id) is accepted at the door and has no second effect. Each corpus is derived from a
push the test below shows is accepted.

Stale pushes exist only where the platform signs a send time: Xiaohongshu's ``timestamp`` header
and WeChat Pay's ``Wechatpay-Timestamp``. Kuaishou's time is inside the ciphertext, which the
intake's ``signed_at`` cannot open, and WooCommerce signs the body only; for both, an old
captured push replayed later is shown to change nothing (decisions D80, D81).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.resources import Deployed
from local.simulator import LineSpec, PlatformSimulator
from local.simulators import kuaishou, wechat_mini, woocommerce, xiaohongshu
from oms.platforms.wechat_mini import crypto as wechat_pay
from oms.platforms.woocommerce.webhook import webhook_signature
from oms.platforms.xiaohongshu.push import DEFAULT_PUSH_SIGN_PATH
from oms.platforms.xiaohongshu.signing import push_sign
from tests.functional.conftest import CREDENTIALS, queue_depth
from tests.security.conftest import EmfReader
from tests.security.test_signature_corpus import (
    AHEAD_BY,
    BASE64,
    HEX,
    STALE_BY,
    Push,
    flip_byte,
    flip_char,
    get_order,
    rejections,
    send,
)

XHS_APP_KEY, XHS_APP = next(iter(CREDENTIALS["xiaohongshu"].items()))
XHS_SELLER = next(iter(XHS_APP["access_tokens"]))
KS_APP_KEY, KS_APP = next(iter(CREDENTIALS["kuaishou"].items()))
KS_SELLER = next(iter(KS_APP["access_tokens"]))
WOO_SITE, WOO_APP = next(iter(CREDENTIALS["woocommerce"].items()))
MINI_APP_ID, MINI_APP = next(iter(CREDENTIALS["wechat_mini"].items()))
T0 = datetime(2026, 2, 5, 12, 15, tzinfo=UTC)
LINES = [LineSpec(sku_id="1760000000001", quantity=1, unit_price=Decimal("59.90"), out_sku_id="TEA-1")]
#: A key WeChat Pay never held: what a forger signs with.
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --- valid pushes ------------------------------------------------------------------------------


def xhs_order(order_id: str = "P735000000000000201") -> dict[str, Any]:
    return xiaohongshu.order(order_id, XHS_SELLER, 4, T0, LINES)


def xhs_valid(order_id: str = "P735000000000000201", *, signed_at: datetime | None = None) -> Push:
    stamp = int((signed_at or datetime.now(UTC)).timestamp())
    message = xiaohongshu.status_message(xhs_order(order_id), XHS_SELLER)
    headers, body = xiaohongshu.push([message], XHS_APP_KEY, XHS_APP["app_secret"], stamp)
    return Push("xiaohongshu", body, headers)


def xhs_resigned(push: Push, *, timestamp: str, secret: str | None = None) -> Push:
    sign = push_sign(
        DEFAULT_PUSH_SIGN_PATH, XHS_APP_KEY, timestamp, push.body, secret or XHS_APP["app_secret"]
    )
    return push.with_headers(timestamp=timestamp, sign=sign)


def ks_order(oid: int = 2419200000000201) -> dict[str, Any]:
    return kuaishou.order(oid, 30, T0, LINES[0])


def ks_valid(oid: int = 2419200000000201, event_id: str = "sec-ks-1", *, key: str | None = None) -> Push:
    message = kuaishou.order_message(ks_order(oid), KS_SELLER, KS_APP_KEY, event_id)
    body = kuaishou.push(message, key or KS_APP["message_key"])
    return Push("kuaishou", body, {"content-type": "application/json"}, {"app_key": KS_APP_KEY})


def woo_valid(order_id: int = 4201, *, secret: str | None = None, status: str = "processing") -> Push:
    order = woocommerce.order(order_id, status, T0, LINES, transaction_id=f"TX{order_id}")
    headers, body = woocommerce.webhook(
        order, "order.updated", f"https://{WOO_SITE}/", secret or WOO_APP["webhook_secret"]
    )
    return Push("woocommerce", body, headers)


def mini_resource(trade_no: str = "MINI-SEC-0001") -> dict[str, Any]:
    order = wechat_mini.shipping_order(
        MINI_APP, trade_no, 1, LINES, created=T0, paid=T0 + timedelta(seconds=20), transaction_id="4200000201"
    )
    return wechat_mini.transaction_resource(MINI_APP, order)


def mini_valid(
    trade_no: str = "MINI-SEC-0001", *, signed_at: datetime | None = None, app: dict[str, Any] | None = None
) -> Push:
    headers, body = wechat_mini.pay_notification(
        app or MINI_APP,
        mini_resource(trade_no),
        event_type="TRANSACTION.SUCCESS",
        signed_at=signed_at or datetime.now(UTC),
    )
    return Push("wechat_mini", body, headers, {"app_id": MINI_APP_ID})


def mini_resigned(push: Push, *, key: rsa.RSAPrivateKey | None = None, timestamp: str | None = None) -> Push:
    """``push`` with ``Wechatpay-Signature`` recomputed (by a holder of ``key``) over its headers."""
    stamp = timestamp if timestamp is not None else push.headers["Wechatpay-Timestamp"]
    signing_key = key or _simulator_key()
    signature = wechat_pay.sign(signing_key, stamp, push.headers["Wechatpay-Nonce"], push.body)
    return replace(
        push, headers={**push.headers, "Wechatpay-Timestamp": stamp, "Wechatpay-Signature": signature}
    )


def _simulator_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        MINI_APP["simulator_platform_private_key"].encode(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _mini_header(push: Push, name: str, value: str | None) -> Push:
    headers = {**push.headers, name: value}
    return replace(push, headers={key: item for key, item in headers.items() if item is not None})


# --- the corpus ----------------------------------------------------------------------------------


def xhs_corpus() -> dict[str, Push]:
    valid = xhs_valid()
    sign = valid.headers["sign"]
    now = datetime.now(UTC)
    return {
        "forged with another secret": xhs_resigned(
            valid, timestamp=valid.headers["timestamp"], secret="not-the-app-secret"
        ),
        "no sign header": valid.with_headers(sign=None),
        "no timestamp header": valid.with_headers(timestamp=None),
        "first body byte altered": replace(valid, body=flip_byte(valid.body, 0)),
        "middle body byte altered": replace(valid, body=flip_byte(valid.body, len(valid.body) // 2)),
        "last body byte altered": replace(valid, body=flip_byte(valid.body, -1)),
        "one sign character altered": valid.with_headers(sign=flip_char(sign, -1, HEX)),
        "sign truncated": valid.with_headers(sign=sign[:16]),
        "body truncated": replace(valid, body=valid.body[: len(valid.body) // 2]),
        "timestamp altered (signature of another time)": valid.with_headers(
            timestamp=str(int(valid.headers["timestamp"]) + 1)
        ),
        "app key we hold no secret for": valid.with_headers(app_key="intruder-app-key"),
        "stale: signed six hours ago": xhs_valid(signed_at=now - STALE_BY),
        "stale: signed an hour in the future": xhs_valid(signed_at=now + AHEAD_BY),
        "signed timestamp that is not a time": xhs_resigned(valid, timestamp="yesterday"),
    }


def ks_corpus() -> dict[str, Push]:
    valid = ks_valid()
    text = valid.body.decode()
    plaintext = json.dumps(kuaishou.order_message(ks_order(), KS_SELLER, KS_APP_KEY, "sec-ks-clear"))
    return {
        "sealed with another message key": ks_valid(key=base64.b64encode(b"K" * 16).decode()),
        "sealed for another app": Push(
            "kuaishou",
            kuaishou.push(
                kuaishou.order_message(ks_order(), KS_SELLER, "another-app-key", "sec-ks-other"),
                KS_APP["message_key"],
            ),
            query={"app_key": KS_APP_KEY},
        ),
        "first ciphertext character altered": replace(valid, body=flip_char(text, 0, BASE64).encode()),
        "last block altered": replace(valid, body=flip_char(text, -6, BASE64).encode()),
        "ciphertext truncated by a block": replace(
            valid, body=base64.b64encode(base64.b64decode(text)[:-16])
        ),
        "ciphertext truncated mid-block": replace(valid, body=text[: len(text) // 2].encode()),
        "plaintext order message, not encrypted": Push(
            "kuaishou", plaintext.encode(), query={"app_key": KS_APP_KEY}
        ),
        "empty body": replace(valid, body=b""),
        "app key we hold no secret for": valid.with_query(app_key="intruder-app-key"),
    }


def woo_corpus() -> dict[str, Push]:
    valid = woo_valid()
    signature = valid.headers["x-wc-webhook-signature"]
    return {
        "forged with another secret": woo_valid(secret="not-the-webhook-secret"),
        "no signature header": valid.with_headers(x_wc_webhook_signature=None),
        "first body byte altered": replace(valid, body=flip_byte(valid.body, 0)),
        "middle body byte altered": replace(valid, body=flip_byte(valid.body, len(valid.body) // 2)),
        "last body byte altered": replace(valid, body=flip_byte(valid.body, -1)),
        "one signature character altered": valid.with_headers(
            x_wc_webhook_signature=flip_char(signature, 3, BASE64)
        ),
        "signature truncated": valid.with_headers(x_wc_webhook_signature=signature[:22]),
        "signature as hex instead of base64": valid.with_headers(
            x_wc_webhook_signature=base64.b64decode(signature).hex()
        ),
        "body truncated": replace(valid, body=valid.body[: len(valid.body) // 2]),
        "status changed, signature kept": replace(
            valid, body=valid.body.replace(b'"status":"processing"', b'"status":"completed"')
        ),
        "site we hold no secret for": valid.with_headers(x_wc_webhook_source="https://intruder.example/"),
        "signed with the secret over another body": valid.with_headers(
            x_wc_webhook_signature=webhook_signature(b"{}", WOO_APP["webhook_secret"])
        ),
    }


def mini_corpus() -> dict[str, Push]:
    valid = mini_valid()
    signature = valid.headers["Wechatpay-Signature"]
    now = datetime.now(UTC)
    return {
        "forged with another private key": mini_resigned(valid, key=OTHER_RSA_KEY),
        "no signature header": _mini_header(valid, "Wechatpay-Signature", None),
        "no serial header": _mini_header(valid, "Wechatpay-Serial", None),
        "serial of a certificate we do not hold": _mini_header(valid, "Wechatpay-Serial", "PUB_KEY_ID_9999"),
        "first body byte altered": replace(valid, body=flip_byte(valid.body, 0)),
        "middle body byte altered": replace(valid, body=flip_byte(valid.body, len(valid.body) // 2)),
        "last body byte altered": replace(valid, body=flip_byte(valid.body, -1)),
        "one signature character altered": _mini_header(
            valid, "Wechatpay-Signature", flip_char(signature, 10, BASE64)
        ),
        "signature truncated": _mini_header(valid, "Wechatpay-Signature", signature[:64]),
        "body truncated": replace(valid, body=valid.body[: len(valid.body) // 2]),
        "timestamp altered (signature of another time)": _mini_header(
            valid, "Wechatpay-Timestamp", str(int(valid.headers["Wechatpay-Timestamp"]) + 1)
        ),
        "nonce altered": _mini_header(valid, "Wechatpay-Nonce", valid.headers["Wechatpay-Nonce"] + "x"),
        "signature probe (WECHATPAY/SIGNTEST/)": _mini_header(
            valid, "Wechatpay-Signature", "WECHATPAY/SIGNTEST/" + signature[19:]
        ),
        "stale: signed six hours ago": mini_valid(signed_at=now - STALE_BY),
        "stale: signed an hour in the future": mini_valid(signed_at=now + AHEAD_BY),
        "signed timestamp that is not a time": mini_resigned(valid, timestamp="yesterday"),
    }


CORPUS = {
    "xiaohongshu": xhs_corpus,
    "kuaishou": ks_corpus,
    "woocommerce": woo_corpus,
    "wechat_mini": mini_corpus,
}


# --- tests ---------------------------------------------------------------------------------------


VALID = {"xiaohongshu": xhs_valid, "kuaishou": ks_valid, "woocommerce": woo_valid, "wechat_mini": mini_valid}


@pytest.mark.parametrize("platform", list(VALID))
def test_the_push_each_corpus_is_derived_from_is_accepted(stack: Deployed, emf: EmfReader, platform: str):
    # built here, not at collection: a signed time must be "now" when the intake judges it
    reply = send(VALID[platform]())
    assert 200 <= reply["statusCode"] < 300, reply
    assert queue_depth(stack, "IntakeQueue") == 1
    assert rejections(emf()) == []


@pytest.mark.parametrize("platform", list(CORPUS))
def test_every_hostile_push_is_refused_counted_and_never_enqueued(
    stack: Deployed, emf: EmfReader, platform: str
):
    # One stack per platform, each case checked on its own (deploying one per case costs ~3 s).
    # GIVEN the platform's corpus (built inside the test: "now" is the intake's clock too)
    failures: list[str] = []
    for case, push in CORPUS[platform]().items():
        # WHEN a push reaches the intake handler
        reply = send(push)
        records = emf()
        # THEN it is refused as a bad signature (a non-2xx is also what makes WeChat Pay and
        # Kuaishou retry, which a genuine sender would and a forger gains nothing from), nothing
        # is queued, not even to the DLQ, and the refusal is counted once under its platform and code
        outcome = (
            reply["statusCode"],
            json.loads(reply["body"] or "null"),
            queue_depth(stack, "IntakeQueue"),
            queue_depth(stack, "IntakeDLQ"),
            rejections(records),
            any("WebhooksAccepted" in record for record in records),
        )
        expected = (401, {"error": "SIGNATURE_INVALID"}, 0, 0, [(platform, "SIGNATURE_INVALID", 1.0)], False)
        if outcome != expected:
            failures.append(f"{case}: {outcome}")
    assert failures == []


def test_a_genuine_notification_sealed_with_an_apiv3_key_we_do_not_hold_is_kept_not_refused(
    stack: Deployed, emf: EmfReader
):
    # The signature is WeChat Pay's own, so the notification is authentic: our APIv3 key is wrong
    # (a rotation half done). Refusing it would make WeChat Pay give up after 24 h; it is kept
    # whole instead, and the sanitizer fails it to the DLQ for a redrive once the key is fixed.
    push = mini_valid("MINI-SEC-0301", app={**MINI_APP, "api_v3_key": "another-apiv3-key-not-real-00000"})
    reply = send(push)
    assert reply["statusCode"] == 204
    assert queue_depth(stack, "IntakeQueue") == 1
    assert rejections(emf()) == []


def test_a_replayed_xiaohongshu_push_is_accepted_and_has_no_second_effect(
    stack: Deployed, simulator: PlatformSimulator, emf: EmfReader
):
    xiaohongshu.put_order(simulator, XHS_SELLER, xhs_order("P735000000000000211"))
    push = xhs_valid("P735000000000000211")
    assert_replay_has_one_effect(stack, push, f"xiaohongshu:{XHS_SELLER}:P735000000000000211")


def test_a_replayed_kuaishou_push_is_accepted_and_has_no_second_effect(
    stack: Deployed, simulator: PlatformSimulator, emf: EmfReader
):
    kuaishou.put_order(simulator, KS_SELLER, ks_order(2419200000000211))
    push = ks_valid(2419200000000211, event_id="sec-ks-replay")
    assert_replay_has_one_effect(stack, push, f"kuaishou:{KS_SELLER}:2419200000000211")


def test_a_replayed_woocommerce_delivery_is_accepted_and_has_no_second_effect(
    stack: Deployed, emf: EmfReader
):
    push = woo_valid(4211)
    assert_replay_has_one_effect(stack, push, f"woocommerce:{WOO_SITE}:4211")


def test_a_replayed_wechat_pay_notification_is_accepted_and_has_no_second_effect(
    stack: Deployed, emf: EmfReader
):
    push = mini_valid("MINI-SEC-0211")
    assert_replay_has_one_effect(stack, push, f"wechat_mini:{MINI_APP_ID}:MINI-SEC-0211", accepted=204)


def assert_replay_has_one_effect(stack: Deployed, push: Push, reference: str, *, accepted: int = 200) -> None:
    """As :func:`tests.security.test_signature_corpus.assert_replay_has_one_effect`, for a
    platform whose acknowledgement is ``accepted`` (WeChat Pay: 204)."""
    from tests.functional.conftest import receive_all, sanitize

    # GIVEN an authentic push, delivered and processed
    assert send(push)["statusCode"] == accepted
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    first = get_order(reference)
    # WHEN exactly the same request arrives again, THEN the door accepts it...
    assert send(push)["statusCode"] == accepted
    # ...and whatever reached the queue changes nothing: same version, one history entry
    assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    again = get_order(reference)
    assert again["order"] == first["order"]
    assert len(again["history"]) == 1
    assert queue_depth(stack, "IntakeQueue") == 0


def test_an_old_captured_woocommerce_delivery_replayed_after_a_newer_one_changes_nothing(
    stack: Deployed, emf: EmfReader
):
    # WooCommerce signs no send time, so a captured delivery cannot be refused for its age (D81):
    # it is authentic. Replayed after the order moved on, it is stale to the state machine.
    from tests.functional.conftest import receive_all, sanitize

    old = woo_valid(4221, status="processing")
    newer_order = woocommerce.order(
        4221, "completed", T0 + timedelta(hours=3), LINES, transaction_id="TX4221"
    )
    headers, body = woocommerce.webhook(
        newer_order, "order.updated", f"https://{WOO_SITE}/", WOO_APP["webhook_secret"]
    )
    for push in (old, Push("woocommerce", body, headers), old):
        assert send(push)["statusCode"] == 200
        assert sanitize(stack, receive_all(stack)) == {"batchItemFailures": []}
    view = get_order(f"woocommerce:{WOO_SITE}:4221")
    assert view["order"]["status"] == "completed"
    assert [entry["outcome"] for entry in view["history"]][:2] == ["created", "applied"]
    assert rejections(emf()) == []


def test_the_new_corpus_covers_every_push_platform_added_after_the_first_three():
    from oms.platforms import supported_platforms
    from oms.services.polling import INCREMENT_PROFILES
    from tests.security.test_signature_corpus import CORPUS as FIRST_CORPUS

    pushed = {str(platform) for platform in supported_platforms()} - {str(p) for p in INCREMENT_PROFILES}
    assert set(FIRST_CORPUS) | set(CORPUS) == pushed


def test_a_kuaishou_ciphertext_altered_anywhere_is_refused(stack: Deployed, emf: EmfReader):
    # Kuaishou seals with AES-CBC and no MAC: an altered block decrypts to garbage (or bad
    # padding). Every block's worth of positions is tried: none may open to an accepted push.
    valid = ks_valid(2419200000000231, event_id="sec-ks-positions")
    text = valid.body.decode().rstrip("=")
    positions = range(0, len(text), 11)
    for index in positions:
        reply = send(replace(valid, body=flip_char(text, index, BASE64).encode() + b"=" * (-len(text) % 4)))
        assert reply["statusCode"] == 401, index
    assert queue_depth(stack, "IntakeQueue") == 0
    assert len(rejections(emf())) == len(positions)


def test_stale_cases_exist_exactly_where_a_send_time_is_signed():
    from oms.platforms import get_adapter

    for platform, build in CORPUS.items():
        has_window = get_adapter(platform).freshness is not None
        has_stale_cases = any(name.startswith("stale") for name in build())
        assert has_window == has_stale_cases, platform


def test_the_time_used_by_stale_cases_is_outside_each_window():
    from oms.platforms import get_adapter

    for platform in ("xiaohongshu", "wechat_mini"):
        window = get_adapter(platform).freshness
        assert window is not None
        now = datetime.now(UTC)
        assert not window.admits(now - STALE_BY, now)
        assert not window.admits(now + AHEAD_BY, now)
        assert window.admits(now - timedelta(seconds=time.time() % 1), now)
