"""What every platform package provides, and the value types that cross its boundary.

A platform package (``oms.platforms.<name>``) exposes one object satisfying
:class:`PlatformAdapter`. It is pure: the only I/O it does is through the :class:`HttpTransport`
handed to its API client, so the whole package is testable without a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform

#: One app's secrets, as stored in Secrets Manager / local/credentials.json (platform → app id → this).
AppSecrets = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """An HTTP request as webhook_intake sees it (headers lower-cased, body as raw bytes)."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class WebhookReply:
    status: int
    body: str
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class FramedMessage:
    """One message cut out of a verified push, with what the queue needs to route it."""

    dedupe_id: str
    raw: bytes
    shop_id: str | None = None
    platform_order_id: str | None = None
    event_hint: str | None = None
    plaintext: str | None = None
    is_test: bool = False  # acknowledged, never enqueued (e.g. Douyin tag 0)


@dataclass(frozen=True, slots=True)
class FreshnessWindow:
    """How far the time a platform signed into a push may lie from the receiver's clock.

    The window is data, not a check: the platform packages hold no clock, so the intake service
    compares :meth:`PlatformAdapter.signed_at` with its own injected clock.

    Parameters
    ----------
    max_age:
        How long after signing a push is still accepted. It must cover the platform's own retry
        schedule when retries keep the first timestamp; replays inside it are made harmless by
        deduplication, not by this check.
    max_ahead:
        How far in the future a signed time may be: clock skew between the platform and us.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> window = FreshnessWindow(max_age=timedelta(hours=4))
    >>> now = datetime(2026, 2, 5, 12, 0, tzinfo=UTC)
    >>> window.admits(now - timedelta(hours=3), now), window.admits(now - timedelta(hours=5), now)
    (True, False)
    """

    max_age: timedelta
    max_ahead: timedelta = timedelta(minutes=5)

    def admits(self, signed_at: datetime, now: datetime) -> bool:
        """True when ``signed_at`` lies within ``[now - max_age, now + max_ahead]``."""
        return now - self.max_age <= signed_at <= now + self.max_ahead


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpTransport(Protocol):
    """The one way platform clients reach the network (urllib3 in production, fakes in unit tests)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> HttpResponse: ...


class PlatformClient(Protocol):
    """A signed client for one app (and shop) of one platform."""

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The platform's current order snapshot, as its API returns it (raw JSON object)."""
        ...


@runtime_checkable
class PlatformAdapter(Protocol):
    platform: Platform
    #: Largest body accepted (HTTP 413 above it).
    max_body_bytes: int
    #: The production API host; ``PLATFORM_BASE_URLS`` overrides it (the local simulator).
    default_base_url: str

    def app_id(self, request: WebhookRequest) -> str | None:
        """The app id whose secrets verify this request, if the request names one."""
        ...

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """Answer a URL-verification request (e.g. WeChat's GET ``echostr``); None for normal pushes."""
        ...

    #: How far the signed time of a push may be from now; ``None`` when the platform signs none.
    freshness: FreshnessWindow | None

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Raise :class:`~oms.domain.errors.SignatureInvalidError` unless the push is authentic."""
        ...

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """The time the push's signature covers, for a platform that signs one (else ``None``).

        Only meaningful after :meth:`verify`; raises ``SignatureInvalidError`` when the signed
        value is not a time.
        """
        ...

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """Cut a verified push into messages; raise SchemaInvalidError when it cannot be framed."""
        ...

    def acknowledge(self) -> WebhookReply:
        """The reply the platform requires for a push it should not resend."""
        ...

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The message as a JSON object, nested JSON strings expanded (before cleaning)."""
        ...

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """True when the message lacks the order content and the order API must be asked."""
        ...

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event from a cleaned message (and the cleaned API snapshot, if fetched)."""
        ...

    def client(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> PlatformClient:
        """A signed API client for the app these secrets belong to."""
        ...
