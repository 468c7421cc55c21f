"""Xiaohongshu pushes: verify, cut into messages, decode one message.

A push is ``POST`` with headers ``app-key``, ``timestamp`` and ``sign``, and a body that is a JSON
array of ``{"msgTag", "sellerId", "data": "<JSON string>"}``; ``data`` holds ``orderId``,
``orderStatus`` and ``updateTime`` (ms). The verification rule is **[unconfirmed]**: it follows
the legacy REST signing (:func:`.signing.push_sign`) with the path and body coverage configurable.
Messages carry no id of their own; they are deduplicated on (tag, seller, order, status, update
time), so the known double delivery of status 4 collapses into one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError, SignatureInvalidError
from oms.domain.ids import content_hash
from oms.platforms._common import (
    data_or_none,
    decode_message_with_data,
    matches_any,
    rotating_secrets,
    routing_id,
    split_json_array,
)
from oms.platforms.base import AppSecrets, FramedMessage, WebhookRequest
from oms.platforms.xiaohongshu.signing import push_sign

APP_KEY_HEADER = "app-key"
TIMESTAMP_HEADER = "timestamp"
SIGNATURE_HEADER = "sign"
#: Default path the push signature covers **[unconfirmed]**: the route the platform posts to.
DEFAULT_PUSH_SIGN_PATH = "/webhooks/xiaohongshu"
#: Tags acknowledged and never enqueued (the console's connectivity test).
TEST_TAGS = frozenset({"msg_test", "test"})
#: Timestamps above this are milliseconds (10**11 seconds is the year 5138).
_MS_THRESHOLD = 10**11


def verify(request: WebhookRequest, secrets: AppSecrets) -> None:
    """Raise ``SignatureInvalidError`` unless ``sign`` matches (see :func:`.signing.push_sign`).

    Secrets: ``app_secret`` (``previous_app_secret`` during a rotation); optional ``push_sign_path``
    (default ``/webhooks/xiaohongshu``) and ``push_sign_body`` (default true), both unconfirmed.
    """
    given = (request.header(SIGNATURE_HEADER) or "").strip().lower()
    timestamp = (request.header(TIMESTAMP_HEADER) or "").strip()
    if not given or not timestamp:
        raise SignatureInvalidError("Xiaohongshu push lacks sign or timestamp", platform="xiaohongshu")
    app_key = str(secrets.get("app_key") or request.header(APP_KEY_HEADER) or "")
    path = str(secrets.get("push_sign_path") or DEFAULT_PUSH_SIGN_PATH)
    sign_body = secrets.get("push_sign_body", True) is not False
    expected = [
        push_sign(path, app_key, timestamp, request.body, app_secret, sign_body=sign_body)
        for app_secret in rotating_secrets(secrets, "app_secret", platform="xiaohongshu")
    ]
    if not matches_any(expected, given):
        raise SignatureInvalidError("Xiaohongshu push signature does not match", platform="xiaohongshu")


def signed_at(request: WebhookRequest) -> datetime:
    """The ``timestamp`` header (seconds or milliseconds) in UTC; ``SignatureInvalidError`` if no time."""
    value = (request.header(TIMESTAMP_HEADER) or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 16:
        raise SignatureInvalidError(
            "push timestamp is not a Unix time", platform="xiaohongshu", reason="bad_timestamp"
        )
    number = int(value)
    seconds = number / 1000 if number >= _MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise SignatureInvalidError(
            "push timestamp is out of range", platform="xiaohongshu", reason="bad_timestamp"
        ) from None


def frame(body: bytes) -> list[FramedMessage]:
    """One message per array element, ``raw`` being the element's exact bytes.

    Raises
    ------
    SchemaInvalidError
        When the body is not a JSON array of objects.
    """
    messages = []
    for index, (raw, element) in enumerate(split_json_array(body)):
        if not isinstance(element, dict):
            raise SchemaInvalidError(
                f"Xiaohongshu push element {index} is not an object", field=f"body[{index}]"
            )
        tag = routing_id(element.get("msgTag"))
        data = data_or_none(element.get("data")) or {}
        seller = routing_id(element.get("sellerId"))
        order_id = routing_id(data.get("orderId"))
        messages.append(
            FramedMessage(
                dedupe_id=_dedupe_id(tag, seller, data, raw),
                raw=raw,
                shop_id=seller,
                platform_order_id=order_id,
                event_hint=tag,
                is_test=tag in TEST_TAGS,
            )
        )
    return messages


def decode(envelope: IntakeEnvelope) -> dict[str, Any]:
    """The framed element as an object, with its ``data`` JSON string expanded into an object."""
    return decode_message_with_data(envelope, platform="Xiaohongshu")


def _dedupe_id(tag: str | None, seller: str | None, data: Mapping[str, Any], raw: bytes) -> str:
    order_id = routing_id(data.get("orderId"))
    if not (tag and order_id):
        return content_hash(raw)
    return content_hash(
        tag,
        seller or "",
        order_id,
        routing_id(data.get("orderStatus")) or "",
        routing_id(data.get("updateTime")) or "",
    )
