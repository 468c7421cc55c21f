"""The intake queue message: what webhook_intake hands to payload_sanitizer.

It carries the raw payload exactly as received, so nothing depends on the archive being written
before the message is processed, and a message in the DLQ holds everything needed to replay it.
"""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oms.domain.model import Platform, UtcDatetime

ENVELOPE_VERSION: Literal[1] = 1


class IntakeEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    v: Literal[1] = ENVELOPE_VERSION
    trace_id: str = Field(min_length=1)
    platform: Platform
    app_id: str | None = None
    received_at: UtcDatetime
    dedupe_id: str = Field(min_length=1, max_length=128)
    message_group: str = Field(min_length=1, max_length=128)
    shop_id: str | None = None
    platform_order_id: str | None = None
    event_hint: str | None = None  # the platform's tag / topic / event name, when framing found one
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    raw: str  # this message's bytes as received: UTF-8 text, or base64 (see raw_encoding)
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    plaintext: str | None = None  # the decrypted message, for platforms that encrypt pushes
    part: int = Field(default=0, ge=0)  # index of this message inside a multi-message push
    parts: int = Field(default=1, ge=1)

    @classmethod
    def encode_raw(cls, raw: bytes) -> tuple[str, Literal["utf-8", "base64"]]:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii"), "base64"

    def raw_bytes(self) -> bytes:
        return base64.b64decode(self.raw) if self.raw_encoding == "base64" else self.raw.encode("utf-8")

    @property
    def payload_text(self) -> str:
        """The text the platform adapter decodes: the plaintext when the push was encrypted."""
        if self.plaintext is not None:
            return self.plaintext
        return self.raw_bytes().decode("utf-8", errors="strict")
