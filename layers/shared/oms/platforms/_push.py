"""What the adapters of pushing platforms (Douyin, Xiaohongshu, Kuaishou, Shopify, WooCommerce) share.

Each one verifies and frames its own pushes and parses its own orders; around that they are the same:
the app (or shop) id read from one header or query parameter, no URL-verification handshake unless
the platform has one, no signed time unless the signature covers one, a fixed acknowledgement, a
parse that turns a model constraint into ``SCHEMA_INVALID``, and the signed client built from the
app's secrets. Subclasses set the class attributes and provide ``verify``, ``frame``, ``decode``,
``needs_fetch`` and ``order_event``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, ClassVar

from pydantic import ValidationError

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError
from oms.domain.model import OrderEvent, Platform
from oms.platforms._adapter import BuildsClient
from oms.platforms._common import schema_violation
from oms.platforms.base import (
    AppSecrets,
    FreshnessWindow,
    WebhookReply,
    WebhookRequest,
)


def stripped(value: str | None) -> str | None:
    """``value`` without surrounding blanks; None when nothing is left."""
    return value.strip() if value and value.strip() else None


class PushedPlatformAdapter(BuildsClient, ABC):
    """The shared half of :class:`~oms.platforms.base.PlatformAdapter` for a platform that pushes."""

    platform: ClassVar[Platform]
    #: The platform's name in error messages.
    label: ClassVar[str]
    default_base_url: ClassVar[str]
    #: The body of the HTTP 200 that stops the platform's redelivery.
    acknowledgement: ClassVar[str]
    max_body_bytes: int = 256 * 1024
    #: None when the signature covers no time: replays are deduplicated instead of timed out.
    freshness: FreshnessWindow | None = None
    #: Where the app id is, when it is one header or one query parameter (else override ``app_id``).
    app_id_header: ClassVar[str | None] = None
    app_id_query: ClassVar[str | None] = None

    def app_id(self, request: WebhookRequest) -> str | None:
        """The id secrets are kept under, from ``app_id_header`` or ``app_id_query``."""
        if self.app_id_header is not None:
            return stripped(request.header(self.app_id_header))
        if self.app_id_query is not None:
            return stripped(request.query.get(self.app_id_query))
        return None

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """No URL-verification request: always ``None``."""
        return None

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """Always ``None``: the signature covers no time, so staleness cannot be checked; replays are
        deduplicated instead."""
        return None

    def acknowledge(self) -> WebhookReply:
        return WebhookReply(status=200, body=self.acknowledgement)

    def utf8_payload(self, envelope: IntakeEnvelope) -> str:
        """The pushed body as text (``SchemaInvalidError`` when it is not UTF-8)."""
        try:
            return envelope.payload_text
        except UnicodeDecodeError as exc:
            raise SchemaInvalidError(f"{self.label} webhook body is not UTF-8", field="body") from exc

    def detail(self, snapshot: dict[str, Any] | None, *, field: str) -> dict[str, Any]:
        """The fetched order detail, for a platform whose pushes carry no order (``field`` names it)."""
        if snapshot is None:
            raise SchemaInvalidError(f"a {self.label} event needs the order detail", field=field)
        return snapshot

    @abstractmethod
    def order_event(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The platform's event; model constraints are turned into SCHEMA_INVALID by :meth:`parse`."""

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event (see the subclass's ``order_event``); model constraints → SCHEMA_INVALID."""
        try:
            return self.order_event(message, snapshot, envelope)
        except ValidationError as error:
            raise schema_violation(error, what=f"{self.label} order") from None
