"""The freshness window: the WeChat adapter exposes the signed time, the intake's clock judges it.

These run :class:`WebhookIntake` in memory (a fixed clock, a recording queue, a dict of secrets),
so the window's edges can be tested to the second.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.simulator import douyin_order, douyin_order_message, douyin_push, wechat_event, wechat_push
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import CredentialsMissingError, SignatureInvalidError
from oms.domain.model import Platform
from oms.platforms import get_adapter
from oms.platforms.base import AppSecrets, FreshnessWindow, PlatformAdapter, WebhookRequest
from oms.platforms.wechat_channels.adapter import FRESHNESS
from oms.services.intake import WebhookIntake
from oms.services.ports import IntakeQueue, SecretStore

NOW = datetime(2026, 2, 5, 12, 0, tzinfo=UTC)
APP = {
    "app_id": "wx00000000000fresh",
    "token": "freshness-token",
    "encoding_aes_key": "FreshnessTestEncodingAESKeyForWeChat0000000",
    "app_secret": "freshness-app-secret",
}
DOUYIN_APP = {"app_key": "7000000000000000009", "app_secret": "freshness-douyin-secret"}


class RecordingQueue(IntakeQueue):
    def __init__(self) -> None:
        self.sent: list[IntakeEnvelope] = []

    def send(self, envelopes: Sequence[IntakeEnvelope]) -> None:
        self.sent += envelopes


class Secrets(SecretStore):
    def app_secrets(self, platform: Platform, app_id: str | None) -> tuple[str, AppSecrets]:
        apps: dict[str, dict[str, Any]] = {
            "wechat_channels": {APP["app_id"]: APP},
            "douyin": {DOUYIN_APP["app_key"]: DOUYIN_APP},
        }.get(str(platform), {})
        if app_id is None and len(apps) == 1:
            app_id = next(iter(apps))
        if app_id not in apps:
            raise CredentialsMissingError("no such app", platform=str(platform))
        return app_id, apps[app_id]


def intake(queue: RecordingQueue, **freshness: FreshnessWindow) -> WebhookIntake:
    return WebhookIntake(
        secrets=Secrets(),
        queue=queue,
        clock=lambda: NOW,
        new_trace_id=lambda: "trace-fresh",
        freshness=freshness or None,
    )


def wechat_request(signed_at: datetime, nonce: str = "n-1") -> WebhookRequest:
    event = wechat_event("channels_ec_order_pay", "3700000000000000201", NOW - timedelta(hours=8))
    query, body = wechat_push(event, APP, int(signed_at.timestamp()), nonce)
    return WebhookRequest(method="POST", headers={}, query=query, body=body)


@pytest.mark.parametrize(
    ("signed_at", "accepted"),
    [
        (NOW, True),
        (NOW - FRESHNESS.max_age, True),  # the oldest second still inside
        (NOW - FRESHNESS.max_age - timedelta(seconds=1), False),
        (NOW + FRESHNESS.max_ahead, True),
        (NOW + FRESHNESS.max_ahead + timedelta(seconds=1), False),
        (NOW - timedelta(days=400), False),
    ],
)
def test_wechat_pushes_are_taken_only_inside_the_default_window(signed_at: datetime, accepted: bool):
    queue = RecordingQueue()
    result = intake(queue).receive("wechat_channels", wechat_request(signed_at))
    if accepted:
        assert (result.reply.status, result.error_code, len(queue.sent)) == (200, None, 1)
        # the envelope's received_at is the same instant the freshness was judged at
        assert queue.sent[0].received_at == NOW
    else:
        assert (result.reply.status, result.error_code, queue.sent) == (401, "SIGNATURE_INVALID", [])
        assert json.loads(result.reply.body) == {"error": "SIGNATURE_INVALID"}


def test_the_default_window_covers_wechats_whole_retry_schedule():
    # WeChat retries an unanswered push up to 10 times over about 3.6 hours; a retry that keeps its
    # first timestamp must still be taken at the end of that schedule.
    assert FRESHNESS.max_age >= timedelta(hours=3, minutes=36)
    assert timedelta(0) < FRESHNESS.max_ahead <= timedelta(minutes=15)


def test_the_window_is_configured_per_platform_in_the_service():
    queue = RecordingQueue()
    tight = intake(queue, wechat_channels=FreshnessWindow(max_age=timedelta(minutes=5)))
    assert tight.receive("wechat_channels", wechat_request(NOW - timedelta(minutes=6))).error_code == (
        "SIGNATURE_INVALID"
    )
    assert tight.receive("wechat_channels", wechat_request(NOW - timedelta(minutes=4))).error_code is None
    assert tight.freshness_window(get_adapter("wechat_channels")) == FreshnessWindow(timedelta(minutes=5))
    assert intake(queue).freshness_window(get_adapter("wechat_channels")) == FRESHNESS


def test_platforms_that_sign_no_timestamp_declare_no_window_and_are_not_judged_by_time():
    adapters: list[PlatformAdapter] = [get_adapter(name) for name in ("douyin", "shopify", "wechat_channels")]
    windows = {str(adapter.platform): adapter.freshness for adapter in adapters}
    assert windows == {"douyin": None, "shopify": None, "wechat_channels": FRESHNESS}
    # a Douyin push carries no signed time: however the clock stands, it is taken
    order = douyin_order("6920000000000000201", "100001", 105, NOW - timedelta(days=30), [])
    headers, body = douyin_push(
        [douyin_order_message(order, 101, "m-old")], DOUYIN_APP["app_key"], DOUYIN_APP["app_secret"]
    )
    queue = RecordingQueue()
    result = intake(queue).receive("douyin", WebhookRequest("POST", headers, {}, body))
    assert (result.error_code, len(queue.sent)) == (None, 1)


@pytest.mark.parametrize("timestamp", ["", "yesterday", "-5", "1.5e9", "１７７０２９３７００", "9" * 30])
def test_a_signed_value_that_is_no_unix_time_is_refused(timestamp: str):
    adapter = get_adapter("wechat_channels")
    request = WebhookRequest("POST", {}, {"timestamp": timestamp}, b"{}")
    with pytest.raises(SignatureInvalidError):
        adapter.signed_at(request)


def test_the_signed_time_is_read_from_the_signed_query_parameter():
    adapter = get_adapter("wechat_channels")
    request = WebhookRequest("POST", {}, {"timestamp": "1770292800"}, b"{}")
    assert adapter.signed_at(request) == datetime(2026, 2, 5, 12, 0, tzinfo=UTC)


def test_the_freshness_check_comes_after_the_signature_check():
    # A forged push with a stale timestamp is refused for its signature, and both are 401: an
    # attacker learns nothing about the window from a forged push.
    request = wechat_request(NOW - timedelta(days=1))
    forged = WebhookRequest(
        request.method, request.headers, {**request.query, "msg_signature": "0" * 40}, request.body
    )
    adapter = get_adapter("wechat_channels")
    with pytest.raises(SignatureInvalidError) as raised:
        adapter.verify(forged, APP)
    assert raised.value.details.get("reason") != "stale"
    assert intake(RecordingQueue()).receive("wechat_channels", forged).error_code == "SIGNATURE_INVALID"
