"""Untyped crashes the adapter fuzzers found (tests/fuzz), each pinned as a plain regression test."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import ErrorCode, OmsError, SchemaInvalidError
from oms.domain.model import Platform
from oms.platforms import get_adapter
from oms.platforms.base import WebhookRequest
from oms.platforms.pinduoduo.signing import china_time
from oms.platforms.woocommerce.webhook import site


def _envelope(platform: Platform, raw: bytes) -> IntakeEnvelope:
    text, encoding = IntakeEnvelope.encode_raw(raw)
    return IntakeEnvelope(
        trace_id="t",
        platform=platform,
        app_id="a",
        received_at=datetime(2026, 2, 5, tzinfo=UTC),
        dedupe_id="d",
        message_group=f"{platform}:_:_",
        raw=text,
        raw_encoding=encoding,
    )


@pytest.mark.parametrize(
    "platform",
    [Platform.KUAISHOU, Platform.PINDUODUO, Platform.TAOBAO, Platform.WECHAT_MINI, Platform.WECHAT_CHANNELS],
)
def test_a_stored_payload_that_is_not_utf8_is_schema_invalid_not_a_unicode_error(platform: Platform) -> None:
    with pytest.raises(OmsError) as raised:
        get_adapter(platform).decode(_envelope(platform, b'{"id":"\x80"}'))
    assert raised.value.code is ErrorCode.SCHEMA_INVALID


@pytest.mark.parametrize("text", ["0001-01-01 00:00:00", "0001-01-01 07:59:59"])
def test_a_china_time_before_the_first_utc_instant_is_out_of_range(text: str) -> None:
    with pytest.raises(SchemaInvalidError):
        china_time(text, field="updated_at")


def test_a_webhook_source_with_a_broken_ipv6_host_names_no_site() -> None:
    request = WebhookRequest(
        method="POST",
        headers={"x-wc-webhook-source": "https://[::1/"},
        query={"site": "shop.example"},
        body=b"",
    )
    assert site(request) == "shop.example"
    assert (
        site(
            WebhookRequest(
                method="POST", headers={"x-wc-webhook-source": "https://[::1/"}, query={}, body=b""
            )
        )
        is None
    )
