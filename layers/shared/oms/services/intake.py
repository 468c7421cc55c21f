"""Webhook intake: verify first, frame, enqueue in one call, reply as the platform requires.

Nothing but the signature check (and reading the cached secret it needs) happens before the
queue: parsing, cleaning and storage are the sanitizer's job, so a platform always gets its
answer well within its deadline and a malformed but authentic push is kept, not refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    CredentialsMissingError,
    OmsError,
    PayloadTooLargeError,
    SchemaInvalidError,
    SignatureInvalidError,
    UnknownPlatformError,
)
from oms.domain.ids import content_hash
from oms.platforms import get_adapter
from oms.platforms.base import FramedMessage, PlatformAdapter, WebhookReply, WebhookRequest
from oms.services.ports import Clock, IntakeQueue, SecretStore

#: SQS caps MessageGroupId at 128 characters.
_GROUP_LIMIT = 128
UNKNOWN_PART = "_"
_DROPPED_HEADER_PREFIXES = (
    "x-amzn-",
    "x-amz-",
    "x-forwarded-",
    "forwarded",
    "x-real-ip",
    "via",
    "host",
    "cookie",
    "authorization",
)

_ERROR_STATUS: dict[type[OmsError], int] = {
    UnknownPlatformError: 404,
    PayloadTooLargeError: 413,
    SignatureInvalidError: 401,
    CredentialsMissingError: 401,
}


@dataclass(frozen=True, slots=True)
class IntakeResult:
    reply: WebhookReply
    enqueued: int = 0
    error_code: str | None = None


class WebhookIntake:
    """Receives platform pushes (``POST|GET /webhooks/{platform}``).

    Parameters
    ----------
    secrets:
        Where each platform app's secrets are read (and cached).
    queue:
        The FIFO intake queue; exactly one call per accepted push.
    clock, new_trace_id:
        Injected so tests are deterministic.
    """

    def __init__(
        self, *, secrets: SecretStore, queue: IntakeQueue, clock: Clock, new_trace_id: Callable[[], str]
    ) -> None:
        self._secrets = secrets
        self._queue = queue
        self._clock = clock
        self._new_trace_id = new_trace_id

    def receive(self, platform: str, request: WebhookRequest) -> IntakeResult:
        try:
            return self._receive(platform, request)
        except tuple(_ERROR_STATUS) as error:
            return IntakeResult(reply=error_reply(error), error_code=str(error.code))

    def _receive(self, platform: str, request: WebhookRequest) -> IntakeResult:
        adapter = get_adapter(platform)
        if len(request.body) > adapter.max_body_bytes:
            raise PayloadTooLargeError(
                "body exceeds the platform limit", limit=adapter.max_body_bytes, size=len(request.body)
            )
        try:
            app_id, secrets = self._secrets.app_secrets(adapter.platform, adapter.app_id(request))
        except CredentialsMissingError as error:
            # An app we hold no secret for cannot be verified: to the caller it is a bad signature.
            raise SignatureInvalidError(
                "no credentials for this app", app_id=adapter.app_id(request)
            ) from error
        handshake = adapter.handshake(request, secrets)
        if handshake is not None:
            return IntakeResult(reply=handshake)
        adapter.verify(request, secrets)

        try:
            messages = [message for message in adapter.frame(request, secrets) if not message.is_test]
        except SchemaInvalidError:
            # Authentic but unframeable: keep it whole; the sanitizer fails it with its code.
            messages = [FramedMessage(dedupe_id=content_hash(request.body), raw=request.body)]
        if messages:
            self._queue.send(self._envelopes(adapter, app_id, request, messages))
        return IntakeResult(reply=adapter.acknowledge(), enqueued=len(messages))

    def _envelopes(
        self, adapter: PlatformAdapter, app_id: str, request: WebhookRequest, messages: list[FramedMessage]
    ) -> list[IntakeEnvelope]:
        received_at = self._clock()
        envelopes = []
        for index, message in enumerate(messages):
            raw, encoding = IntakeEnvelope.encode_raw(message.raw)
            envelopes.append(
                IntakeEnvelope(
                    trace_id=self._new_trace_id(),
                    platform=adapter.platform,
                    app_id=app_id,
                    received_at=received_at,
                    dedupe_id=message.dedupe_id[:128],
                    message_group=message_group(adapter.platform, message.shop_id, message.platform_order_id),
                    shop_id=message.shop_id,
                    platform_order_id=message.platform_order_id,
                    event_hint=message.event_hint,
                    headers=kept_headers(request.headers),
                    query=dict(request.query),
                    raw=raw,
                    raw_encoding=encoding,
                    plaintext=message.plaintext,
                    part=index,
                    parts=len(messages),
                )
            )
        return envelopes


def message_group(platform: str, shop_id: str | None, platform_order_id: str | None) -> str:
    """``platform:shop:order``, so one order's events are delivered in order.

    Ids too long for SQS are replaced by a digest of themselves (still one group per order).
    """
    group = f"{platform}:{shop_id or UNKNOWN_PART}:{platform_order_id or UNKNOWN_PART}"
    if len(group) <= _GROUP_LIMIT:
        return group
    return f"{platform}:{hashlib.sha256(group.encode()).hexdigest()}"


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth keeping with the payload: the platform's, not the network's or credentials."""
    return {name: value for name, value in headers.items() if not name.startswith(_DROPPED_HEADER_PREFIXES)}


def deduplication_id(envelope: IntakeEnvelope) -> str:
    """The SQS deduplication id: a digest of the platform's own message id (any length, any charset)."""
    return hashlib.sha256(f"{envelope.platform}|{envelope.app_id}|{envelope.dedupe_id}".encode()).hexdigest()


def error_reply(error: OmsError) -> WebhookReply:
    status = _ERROR_STATUS.get(type(error), 400)
    return WebhookReply(status=status, body=json.dumps({"error": str(error.code)}))
