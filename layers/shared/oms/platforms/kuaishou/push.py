"""Kuaishou pushes: the setup ping, decryption (which is the authentication), framing, decoding.

A push is ``POST`` whose body is Base64 ciphertext (see :mod:`.signing`). The plaintext is
``{eventId, bizId, userId, openId, appKey, event, info: "<JSON string>", createTime, test}``:
``bizId`` is the order id, ``userId`` the seller. Events ``kwaishop_order_addOrder``,
``_paySuccess``, ``_delivering``, ``_deliverySuccess``, ``_orderSuccess``, ``_orderFail``. When the
push URL is saved, Kuaishou sends ``{"test":true}``; it is acknowledged and never enqueued.
Kuaishou retries 5 times (5/10/20/30/60 min) keeping the ``eventId``: messages dedupe on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.domain.cleaning import clean_text
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError, SignatureInvalidError
from oms.domain.ids import content_hash
from oms.platforms._common import envelope_payload, load_json, load_json_object, rotating_secrets
from oms.platforms.base import AppSecrets, FramedMessage, WebhookRequest
from oms.platforms.kuaishou.signing import decrypt

ORDER_EVENT_PREFIX = "kwaishop_order_"
MAX_DEDUPE_ID_LENGTH = 128


def is_setup_ping(body: bytes) -> bool:
    """True for the clear-text ``{"test": true}`` sent when the push URL is saved."""
    stripped = body.strip()
    if not stripped.startswith(b"{"):
        return False  # ciphertext is Base64, never a JSON object
    try:
        value = load_json(stripped, what="body")
    except SchemaInvalidError:
        return False
    return isinstance(value, dict) and value.get("test") is True


def open_push(request: WebhookRequest, secrets: AppSecrets) -> dict[str, Any]:
    """Decrypt and check a push; returns ``{"plaintext": str, "message": dict}``.

    The current ``message_key`` is tried first, then ``previous_message_key`` during a rotation.

    Raises
    ------
    SignatureInvalidError
        When the body opens with no configured key into a JSON object, or names another app.
    """
    if request.method.upper() != "POST":
        raise SignatureInvalidError("Kuaishou pushes are POST requests", platform="kuaishou")
    failure: SignatureInvalidError | None = None
    for key in rotating_secrets(secrets, "message_key", platform="kuaishou"):
        try:
            plaintext = decrypt(request.body, key)
            message = load_json_object(plaintext, what="decrypted push")
        except SignatureInvalidError as error:
            failure = error
            continue
        except SchemaInvalidError:
            failure = SignatureInvalidError("Kuaishou push does not open to JSON", platform="kuaishou")
            continue
        app_key = secrets.get("app_key")
        named = message.get("appKey")
        if named not in (None, "") and isinstance(app_key, str) and str(named) != app_key:
            raise SignatureInvalidError("Kuaishou push was sealed for another app", platform="kuaishou")
        return {"plaintext": plaintext, "message": message}
    assert failure is not None  # rotating_secrets yields at least the current key
    raise failure


def frame(request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
    """The push as one message: raw = the ciphertext body, plaintext = the decrypted JSON."""
    opened = open_push(request, secrets)
    message: dict[str, Any] = opened["message"]
    event = _text(message.get("event"))
    return [
        FramedMessage(
            dedupe_id=_dedupe_id(message, opened["plaintext"]),
            raw=request.body,
            shop_id=_text(message.get("userId")),
            platform_order_id=_text(message.get("bizId")),
            event_hint=event,
            plaintext=opened["plaintext"],
            is_test=message.get("test") is True,
        )
    ]


def decode(envelope: IntakeEnvelope) -> dict[str, Any]:
    """The decrypted message with ``info`` expanded from its JSON string."""
    message = load_json_object(envelope_payload(envelope), what="Kuaishou push")
    info = message.get("info")
    if isinstance(info, str) and info.strip():
        info = load_json(info, what="info")
    if info is None or info == "":
        info = {}
    if not isinstance(info, dict):
        raise SchemaInvalidError("Kuaishou push info is not a JSON object", field="info")
    return {**message, "info": info}


def is_order_event(message: Mapping[str, Any]) -> bool:
    event = message.get("event")
    return isinstance(event, str) and event.startswith(ORDER_EVENT_PREFIX)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return clean_text(str(value)) or None


def _dedupe_id(message: Mapping[str, Any], plaintext: str) -> str:
    event_id = _text(message.get("eventId"))
    if event_id and len(event_id) <= MAX_DEDUPE_ID_LENGTH:
        return event_id
    return content_hash(plaintext)
