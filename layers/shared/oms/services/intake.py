"""Webhook intake: verify first, frame, enqueue in one call, reply as the platform requires.

Nothing but the signature check (and reading the cached secret it needs) happens before the
queue: parsing, cleaning and storage are the sanitizer's job, so a platform always gets its
answer well within its deadline and a malformed but authentic push is kept, not refused.

Where a platform signs a timestamp (WeChat), an authentic push whose signed time lies outside the
platform's freshness window is refused like a forged one: the platform packages hold no clock, so
this service compares the signed time with its injected clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    CredentialsMissingError,
    ErrorCode,
    OmsError,
    PayloadTooLargeError,
    SignatureInvalidError,
)
from oms.domain.ids import content_hash
from oms.platforms import get_adapter
from oms.platforms.base import (
    FramedMessage,
    FreshnessWindow,
    PlatformAdapter,
    WebhookReply,
    WebhookRequest,
)
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

#: SQS takes 256 KiB per message (1 MiB since 2025, but not in every region and not in moto).
MAX_MESSAGE_BYTES = 256 * 1024

_CLIENT_ERRORS: dict[ErrorCode, int] = {
    ErrorCode.UNKNOWN_PLATFORM: 404,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.SIGNATURE_INVALID: 401,
    ErrorCode.SCHEMA_INVALID: 400,
}


@dataclass(frozen=True, slots=True)
class IntakeResult:
    reply: WebhookReply
    enqueued: int = 0
    error_code: str | None = None
    #: The messages enqueued (their trace ids go into the handler's log line and metrics).
    envelopes: tuple[IntakeEnvelope, ...] = ()


class WebhookIntake:
    """Receives platform pushes (``POST|GET /webhooks/{platform}``).

    Parameters
    ----------
    secrets:
        Where each platform app's secrets are read (and cached).
    queue:
        The FIFO intake queue; exactly one call per accepted push.
    clock, new_trace_id:
        Injected so tests are deterministic; the clock also judges signed timestamps.
    freshness:
        Per-platform overrides (``{"wechat_channels": FreshnessWindow(...)}``) of the window each
        adapter declares in ``adapter.freshness``; a platform absent here keeps its default.
    """

    def __init__(
        self,
        *,
        secrets: SecretStore,
        queue: IntakeQueue,
        clock: Clock,
        new_trace_id: Callable[[], str],
        freshness: Mapping[str, FreshnessWindow] | None = None,
    ) -> None:
        self._secrets = secrets
        self._queue = queue
        self._clock = clock
        self._new_trace_id = new_trace_id
        self._freshness = dict(freshness or {})

    def receive(self, platform: str, request: WebhookRequest) -> IntakeResult:
        """Verify and enqueue one push; every outcome is a reply (never an exception)."""
        try:
            return self._receive(platform, request)
        except OmsError as error:
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
        received_at = self._clock()
        self._require_fresh(adapter, request, received_at)

        try:
            messages = [message for message in adapter.frame(request, secrets) if not message.is_test]
        except Exception:  # noqa: BLE001 - an authentic push is kept even when framing it fails
            # Authentic but unframeable: keep it whole; the sanitizer fails it with its code.
            messages = [FramedMessage(dedupe_id=content_hash(request.body), raw=request.body)]
        envelopes: list[IntakeEnvelope] = []
        if messages:
            envelopes = self._envelopes(adapter, app_id, request, messages, received_at)
            largest = max(len(envelope.model_dump_json(exclude_none=True).encode()) for envelope in envelopes)
            if largest > MAX_MESSAGE_BYTES:
                raise PayloadTooLargeError(
                    "push too large for the queue", size=largest, limit=MAX_MESSAGE_BYTES
                )
            self._queue.send(envelopes)
        return IntakeResult(reply=adapter.acknowledge(), enqueued=len(messages), envelopes=tuple(envelopes))

    def freshness_window(self, adapter: PlatformAdapter) -> FreshnessWindow | None:
        """The window this intake applies to ``adapter``'s signed timestamps (None: not checked)."""
        # An adapter that declares no window (its platform signs no time) is never judged by time.
        declared: FreshnessWindow | None = getattr(adapter, "freshness", None)
        return self._freshness.get(str(adapter.platform), declared)

    def _require_fresh(self, adapter: PlatformAdapter, request: WebhookRequest, now: datetime) -> None:
        window = self.freshness_window(adapter)
        if window is None:
            return
        signed_at = adapter.signed_at(request)
        if signed_at is None:
            raise SignatureInvalidError(
                "push carries no signed timestamp", platform=str(adapter.platform), reason="no_timestamp"
            )
        if not window.admits(signed_at, now):
            # A captured push replayed later, or a clock far off: either way, not taken.
            raise SignatureInvalidError(
                "signed timestamp is outside the freshness window",
                platform=str(adapter.platform),
                reason="stale",
                age_seconds=int((now - signed_at).total_seconds()),
            )

    def _envelopes(
        self,
        adapter: PlatformAdapter,
        app_id: str,
        request: WebhookRequest,
        messages: list[FramedMessage],
        received_at: datetime,
    ) -> list[IntakeEnvelope]:
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
    """The caller sees the code of its own mistakes; our own trouble is a bare 503 it should retry.

    Configuration problems (a half-filled secret) are not described to an unauthenticated caller.
    """
    status = _CLIENT_ERRORS.get(error.code)
    if status is None:
        return WebhookReply(status=503, body=json.dumps({"error": str(ErrorCode.UNAVAILABLE)}))
    return WebhookReply(status=status, body=json.dumps({"error": str(error.code)}))
