"""A transport that answers a pull client's first call with a hostile reply body (fuzzing what the
Pinduoduo and Taobao clients read from the platform), and every later call with ``final``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from oms.platforms.base import HttpResponse


@dataclass
class HostileTransport:
    body: bytes
    status: int = 200
    final: bytes = b"{}"
    calls: list[str] = field(default_factory=list)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> HttpResponse:
        self.calls.append(url)
        return HttpResponse(status=self.status, body=self.body if len(self.calls) == 1 else self.final)
