"""A fake HTTP transport for platform client unit tests: records requests, answers from a queue."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from oms.platforms.base import HttpResponse, HttpTransport


class RecordingTransport(HttpTransport):
    """Records each request and answers with the queued responses, in order.

    Examples
    --------
    >>> transport = RecordingTransport(json_response({"ok": True}))
    >>> transport.request("GET", "https://example.invalid/x").status
    200
    >>> transport.requests[0]["url"]
    'https://example.invalid/x'
    """

    def __init__(self, *responses: HttpResponse) -> None:
        self.responses = list(responses)
        self.requests: list[dict[str, Any]] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> HttpResponse:
        self.requests.append({"method": method, "url": url, "headers": dict(headers or {}), "body": body})
        if not self.responses:
            raise AssertionError(f"unexpected request: {method} {url}")
        return self.responses.pop(0)


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> HttpResponse:
    """An HTTP response whose body is ``payload`` as UTF-8 JSON."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return HttpResponse(status=status, body=body, headers=dict(headers or {}))
