"""Douyin Shop pushes: verify, cut into messages, decode one message.

A push is ``POST`` with headers ``app-id`` (the app key) and ``event-sign``
(``md5(app_key + raw body + app_secret)``), and a body that is a JSON array of
``{"tag": ..., "msg_id": ..., "data": "<JSON string>"}``. Pushes repeat (dedupe on ``msg_id``)
and get lost (the order API is the source of truth), so a message only carries ids and status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from oms.domain.cleaning import clean_text
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
from oms.platforms.douyin.signing import event_sign

APP_ID_HEADER = "app-id"
SIGNATURE_HEADER = "event-sign"
MAX_DEDUPE_ID_LENGTH = 128


class Tag(NamedTuple):
    name: str
    confirmed: bool


#: Known message tags. Only 0 (test) and 100 (trade create) are confirmed on an official page;
#: the others are as third-party SDKs report them. An unlisted tag is still framed and, when its
#: data names an order (``p_id``), processed: this map only names events. Extend it here.
TAGS: Mapping[str, Tag] = {
    "0": Tag("doudian_test", confirmed=True),
    "100": Tag("doudian_trade_TradeCreate", confirmed=True),
    "101": Tag("doudian_trade_TradePaid", confirmed=False),
    "102": Tag("doudian_trade_TradeSellerShip", confirmed=False),
    "103": Tag("doudian_trade_TradeSuccess", confirmed=False),
    "105": Tag("doudian_trade_TradeAddressChanged", confirmed=False),
    "106": Tag("doudian_trade_TradeCanceled", confirmed=False),
    "108": Tag("doudian_trade_TradeAmountChanged", confirmed=False),
}

#: Tags acknowledged but never enqueued.
TEST_TAGS = frozenset({"0"})


def tag_text(tag: Any) -> str | None:
    """A tag as text (pushes have carried it both as a number and as a string)."""
    if tag is None or isinstance(tag, bool) or not isinstance(tag, int | str):
        return None
    return str(tag).strip()


def event_type(tag: Any) -> str:
    """The canonical event type for a tag: its known name, else ``doudian_tag_<n>``."""
    text = tag_text(tag) or "unknown"
    known = TAGS.get(text)
    return known.name if known else f"doudian_tag_{text}"


def verify(request: WebhookRequest, secrets: AppSecrets) -> None:
    """Raise ``SignatureInvalidError`` unless ``event-sign`` matches the body and the app's secret."""
    given = request.header(SIGNATURE_HEADER)
    if not given:
        raise SignatureInvalidError("Douyin push has no event-sign header", header=SIGNATURE_HEADER)
    app_key = secrets.get("app_key") or request.header(APP_ID_HEADER) or ""
    expected = [
        event_sign(str(app_key), request.body, app_secret)
        for app_secret in rotating_secrets(secrets, "app_secret", platform="douyin")
    ]
    if not matches_any(expected, given.strip().lower()):
        raise SignatureInvalidError("Douyin push signature does not match", header=SIGNATURE_HEADER)


def frame(body: bytes) -> list[FramedMessage]:
    """One message per array element, ``raw`` being the element's exact bytes in ``body``.

    Raises
    ------
    SchemaInvalidError
        When the body is not a JSON array of objects.
    """
    messages = []
    for index, (raw, element) in enumerate(split_json_array(body)):
        if not isinstance(element, dict):
            raise SchemaInvalidError(f"Douyin push element {index} is not an object", field=f"body[{index}]")
        tag = tag_text(element.get("tag"))
        data = data_or_none(element.get("data"))
        messages.append(
            FramedMessage(
                dedupe_id=_dedupe_id(element, raw),
                raw=raw,
                shop_id=routing_id(data.get("shop_id")) if data else None,
                platform_order_id=routing_id(data.get("p_id")) if data else None,
                event_hint=tag,
                is_test=tag in TEST_TAGS,
            )
        )
    return messages


def decode(envelope: IntakeEnvelope) -> dict[str, Any]:
    """The framed element as an object, with its ``data`` JSON string expanded into an object."""
    return decode_message_with_data(envelope, platform="Douyin")


def _dedupe_id(element: Mapping[str, Any], raw: bytes) -> str:
    # Some SDKs spell it msgId; a message without a usable id is deduplicated on its content.
    for key in ("msg_id", "msgId"):
        value = element.get(key)
        if isinstance(value, int | str) and not isinstance(value, bool):
            text = clean_text(str(value))
            if text and len(text) <= MAX_DEDUPE_ID_LENGTH:
                return text
    return content_hash(raw)
