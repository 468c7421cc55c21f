"""The HTTP transport platform clients use: urllib3 (already in the Lambda runtime with botocore)."""

from __future__ import annotations

from collections.abc import Mapping

import urllib3

from oms.domain.errors import PlatformApiError
from oms.platforms.base import HttpResponse


class Urllib3Transport:
    def __init__(self, pool: urllib3.PoolManager | None = None) -> None:
        self._pool = pool or urllib3.PoolManager(retries=False)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> HttpResponse:
        try:
            response = self._pool.request(
                method, url, headers=dict(headers or {}), body=body, timeout=timeout, redirect=False
            )
        except urllib3.exceptions.HTTPError as error:
            raise PlatformApiError(f"{method} {_host(url)} failed: {type(error).__name__}") from error
        return HttpResponse(status=response.status, body=response.data, headers=dict(response.headers))


def _host(url: str) -> str:
    return urllib3.util.parse_url(url).host or "?"
