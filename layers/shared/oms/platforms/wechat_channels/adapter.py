"""The WeChat Channels shop (微信小店) adapter: encrypted JSON pushes, order/get snapshots.

Push protocol (shops must use encrypted JSON mode):

- URL check: ``GET ?signature=&timestamp=&nonce=&echostr=``; ``signature`` is
  :func:`~oms.platforms.wechat_channels.crypto.url_signature`; reply ``echostr`` as text.
- Message: ``POST ?msg_signature=&timestamp=&nonce=&encrypt_type=aes`` with the JSON body
  ``{"ToUserName": "gh_…", "Encrypt": "…"}``; ``msg_signature`` covers the ciphertext, which opens
  to the event JSON followed by the app id. Reply ``success`` within 5 s, or WeChat retries (up
  to 10 times over about 3.6 h), each time with fresh random bytes, so the ciphertext of a retry
  differs and dedupe works on the decrypted content.

The push URL may carry ``?app_id=wx…`` so that one deployment can serve several apps; without it
the secret store uses the only app configured. One app's secrets::

    {"app_id": "wx…", "token": "…", "encoding_aes_key": "<43 chars>", "app_secret": "…"}

The ``timestamp`` query parameter is covered by ``msg_signature``, so a push can be refused as
stale. This package holds no clock: it exposes the signed time (:meth:`WechatChannelsAdapter.signed_at`)
and the default window (:data:`FRESHNESS`), and the intake service compares them with its clock.
The window is 4 hours back and 5 minutes ahead: WeChat retries an unanswered push up to 10 times
over about 3.6 hours, and whether a retry is re-signed with a new timestamp is not stated on an
official page, so the window covers the whole retry schedule (plus margin) rather than risk
refusing a genuine late retry. A replay inside the window has no effect: it decrypts to the same
(Event, order id, CreateTime) and so to the same dedupe id. ``docs/security.md`` has the reasoning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from oms.domain.cleaning import clean_text
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError, SignatureInvalidError
from oms.domain.ids import content_hash
from oms.domain.model import OrderEvent, Platform
from oms.platforms._common import (
    constant_time_equals,
    envelope_payload,
    load_json,
    load_json_object,
    rotating_secrets,
    secret,
)
from oms.platforms.base import (
    AppSecrets,
    FramedMessage,
    FreshnessWindow,
    HttpTransport,
    WebhookReply,
    WebhookRequest,
)
from oms.platforms.wechat_channels import crypto
from oms.platforms.wechat_channels.client import DEFAULT_BASE_URL, WechatChannelsClient
from oms.platforms.wechat_channels.parsing import is_order_event, message_order_id, parse_snapshot

MAX_BODY_BYTES = 64 * 1024
#: Default freshness of a push's signed ``timestamp`` (see the module docstring for the reasoning).
FRESHNESS = FreshnessWindow(max_age=timedelta(hours=4), max_ahead=timedelta(minutes=5))
_URL_CHECK_PARAMS = ("signature", "timestamp", "nonce", "echostr")
_MESSAGE_PARAMS = ("msg_signature", "timestamp", "nonce")


def _secret(secrets: AppSecrets, key: str) -> str:
    return secret(secrets, key, platform="wechat_channels")


class WechatChannelsAdapter:
    """:class:`~oms.platforms.base.PlatformAdapter` for WeChat Channels shops."""

    platform = Platform.WECHAT_CHANNELS
    max_body_bytes = MAX_BODY_BYTES
    default_base_url = DEFAULT_BASE_URL
    freshness: FreshnessWindow | None = FRESHNESS

    def app_id(self, request: WebhookRequest) -> str | None:
        """The ``app_id`` query parameter merchants add to the push URL, if any."""
        return request.query.get("app_id") or None

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """Answer WeChat's URL check (a GET with ``echostr``); None for a POST push.

        Raises
        ------
        SignatureInvalidError
            A GET without the four parameters, or with a signature that does not match the token.
        """
        if request.method.upper() != "GET":
            return None
        signature, timestamp, nonce, echostr = (request.query.get(name) for name in _URL_CHECK_PARAMS)
        if not (signature and timestamp and nonce and echostr):
            raise SignatureInvalidError(
                "URL check lacks signature, timestamp, nonce or echostr", platform="wechat_channels"
            )
        expected = crypto.url_signature(_secret(secrets, "token"), timestamp, nonce)
        if not constant_time_equals(expected, signature.lower()):
            raise SignatureInvalidError("URL check signature mismatch", platform="wechat_channels")
        return WebhookReply(status=200, body=echostr, content_type="text/plain")

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Check ``msg_signature`` over the ciphertext, then that it opens for this app."""
        self._open(request, secrets)

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """The ``timestamp`` query parameter (Unix seconds, covered by ``msg_signature``) in UTC.

        Raises
        ------
        SignatureInvalidError
            When the timestamp is missing or not a Unix time: a signed value that is no time
            cannot be shown to be fresh.
        """
        value = (request.query.get("timestamp") or "").strip()
        if not (value.isascii() and value.isdigit()):
            raise SignatureInvalidError(
                "push timestamp is not a Unix time", platform="wechat_channels", reason="bad_timestamp"
            )
        try:
            return datetime.fromtimestamp(int(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise SignatureInvalidError(
                "push timestamp is out of range", platform="wechat_channels", reason="bad_timestamp"
            ) from None

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """One message per push: raw = the body as received, plaintext = the decrypted JSON.

        The dedupe id hashes (Event, order id, CreateTime): a retry is re-encrypted with new
        random bytes, so the raw body differs, but these three do not. Pushes that are not order
        or after-sale events (product, coupon, settlement-account events) are acknowledged and
        not enqueued.
        """
        plaintext = self._open(request, secrets)
        message = load_json_object(plaintext, what="decrypted push")
        event = str(message.get("Event") or message.get("MsgType") or "")
        try:
            pushed_order_id = message_order_id(message)
        except SchemaInvalidError:
            # Framing only routes: a malformed order id still travels, and parse() reports it
            # with the raw payload kept, instead of WeChat retrying a push we can never take.
            pushed_order_id = None
        # Cleaned like the sanitizer will clean it, so a retry carrying a stray invisible or
        # full-width character lands in the same message group and dedupes; raw stays exact.
        order_id = clean_text(pushed_order_id) if pushed_order_id is not None else None
        return [
            FramedMessage(
                dedupe_id=content_hash(event, order_id or "", str(message.get("CreateTime", ""))),
                raw=request.body,
                shop_id=_secret(secrets, "app_id"),
                platform_order_id=order_id,
                event_hint=event or None,
                plaintext=plaintext,
                # is_test means "acknowledge, never enqueue": exactly what a non-order event needs.
                is_test=not is_order_event(message),
            )
        ]

    def acknowledge(self) -> WebhookReply:
        return WebhookReply(status=200, body="success", content_type="text/plain")

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The decrypted push as a JSON object (WeChat nests no JSON strings)."""
        return load_json_object(envelope_payload(envelope), what="WeChat push")

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """Always, for order and after-sale events: their pushes carry only ids."""
        return is_order_event(message)

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from the ``order`` snapshot (see :mod:`.parsing` for the mapping)."""
        if snapshot is None:
            raise SchemaInvalidError(
                "a WeChat Channels event needs the order/get snapshot", platform="wechat_channels"
            )
        return parse_snapshot(message, snapshot, envelope)

    def client(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> WechatChannelsClient:
        return WechatChannelsClient(
            _secret(secrets, "app_id"),
            _secret(secrets, "app_secret"),
            transport,
            clock=clock,
            base_url=base_url,
        )

    def _open(self, request: WebhookRequest, secrets: Mapping[str, Any]) -> str:
        """Authenticate an encrypted push and return its plaintext.

        During a rotation (``previous_token`` / ``previous_encoding_aes_key`` configured) a push
        sealed with the old pair is opened with it; every token is compared in constant time.
        """
        if request.method.upper() != "POST":
            raise SignatureInvalidError("WeChat pushes are POST requests", platform="wechat_channels")
        signature, timestamp, nonce = (request.query.get(name) for name in _MESSAGE_PARAMS)
        if not (signature and timestamp and nonce):
            raise SignatureInvalidError(
                "push lacks msg_signature, timestamp or nonce", platform="wechat_channels"
            )
        encrypted = _encrypted_field(request.body)
        app_id = _secret(secrets, "app_id")
        tokens = rotating_secrets(secrets, "token", platform="wechat_channels")
        keys = rotating_secrets(secrets, "encoding_aes_key", platform="wechat_channels")
        signed = [
            constant_time_equals(crypto.msg_signature(token, timestamp, nonce, encrypted), signature.lower())
            for token in tokens
        ]
        if not any(signed):
            raise SignatureInvalidError("msg_signature mismatch", platform="wechat_channels")
        failure: SignatureInvalidError | None = None
        for key in keys:
            try:
                return crypto.decrypt(encrypted, key, app_id)
            except SignatureInvalidError as error:
                failure = error
        assert failure is not None  # keys holds at least the current key
        raise failure


def _encrypted_field(body: bytes) -> str:
    """The ``Encrypt`` value of a push body; without one the push cannot be authenticated."""
    try:
        envelope = load_json(body, what="push body")
    except SchemaInvalidError as exc:
        # Also a body nested too deeply to decode: without the Encrypt field nothing is signed.
        raise SignatureInvalidError("push body is not JSON", platform="wechat_channels") from exc
    encrypted = envelope.get("Encrypt") if isinstance(envelope, dict) else None
    if not isinstance(encrypted, str) or not encrypted:
        raise SignatureInvalidError(
            "push is not in encrypted JSON mode (no Encrypt field)", platform="wechat_channels"
        )
    return encrypted


ADAPTER = WechatChannelsAdapter()
