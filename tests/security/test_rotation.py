"""Rotating a platform secret: while ``previous_<key>`` is configured, both the new and the old
secret verify a push; once it is removed, the old one is refused (docs/security.md, "Rotation")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from local.simulator import wechat_event, wechat_push
from oms.domain.errors import SignatureInvalidError
from oms.platforms.base import WebhookRequest
from oms.platforms.douyin import ADAPTER as DOUYIN
from oms.platforms.douyin.signing import event_sign
from oms.platforms.shopify import ADAPTER as SHOPIFY
from oms.platforms.shopify.webhook import webhook_hmac
from oms.platforms.wechat_channels import ADAPTER as WECHAT

OLD, NEW, STRANGER = "old-secret-value", "new-secret-value", "someone-elses-secret"
APP_KEY = "7000000000000000001"
OLD_AES, NEW_AES = "Old" + "A" * 40, "New" + "B" * 40  # EncodingAESKeys are 43 characters


def douyin_request(app_secret: str) -> WebhookRequest:
    body = b'[{"tag":"0","msg_id":"rotation","data":"{}"}]'
    headers = {"app-id": APP_KEY, "event-sign": event_sign(APP_KEY, body, app_secret)}
    return WebhookRequest("POST", headers, {}, body)


def shopify_request(api_secret: str) -> WebhookRequest:
    body = b'{"id": 1}'
    return WebhookRequest("POST", {"x-shopify-hmac-sha256": webhook_hmac(body, api_secret)}, {}, body)


def wechat_request(token: str, aes_key: str) -> WebhookRequest:
    app = {"app_id": "wx00000000rotation", "token": token, "encoding_aes_key": aes_key}
    event = wechat_event("channels_ec_order_pay", "3700000000000000301", datetime(2026, 2, 5, tzinfo=UTC))
    query, body = wechat_push(event, app, 1770292800, "rotation-nonce")
    return WebhookRequest("POST", {}, query, body)


def verifies(adapter: Any, request: WebhookRequest, secrets: dict[str, str]) -> bool:
    try:
        adapter.verify(request, secrets)
    except SignatureInvalidError:
        return False
    return True


@pytest.mark.parametrize(
    ("adapter", "build", "key", "base"),
    [
        (DOUYIN, douyin_request, "app_secret", {"app_key": APP_KEY}),
        (SHOPIFY, shopify_request, "api_secret", {}),
    ],
    ids=["douyin", "shopify"],
)
def test_during_a_rotation_old_and_new_secrets_verify_and_nothing_else(
    adapter: Any, build: Any, key: str, base: dict[str, str]
):
    rotating = {**base, key: NEW, f"previous_{key}": OLD}
    assert verifies(adapter, build(NEW), rotating)
    assert verifies(adapter, build(OLD), rotating)
    assert not verifies(adapter, build(STRANGER), rotating)
    # once the rotation is over, the old secret is refused
    assert not verifies(adapter, build(OLD), {**base, key: NEW})


def test_a_wechat_token_and_aes_key_rotate_together():
    app_id = "wx00000000rotation"
    rotating = {
        "app_id": app_id,
        "token": NEW,
        "encoding_aes_key": NEW_AES,
        "previous_token": OLD,
        "previous_encoding_aes_key": OLD_AES,
    }
    assert verifies(WECHAT, wechat_request(NEW, NEW_AES), rotating)
    assert verifies(WECHAT, wechat_request(OLD, OLD_AES), rotating)
    assert not verifies(WECHAT, wechat_request(STRANGER, NEW_AES), rotating)
    settled = {"app_id": app_id, "token": NEW, "encoding_aes_key": NEW_AES}
    assert not verifies(WECHAT, wechat_request(OLD, OLD_AES), settled)
    # a push signed with a known token but sealed with a key we do not hold still fails
    assert not verifies(WECHAT, wechat_request(NEW, "Stranger" + "C" * 35), rotating)
