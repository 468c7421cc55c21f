"""A transport that answers a pull client's first call with a hostile reply body (fuzzing what the
Pinduoduo and Taobao clients read from the platform), and every later call with ``final``; and the
checks both pulled platforms' fuzz tests make."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from oms.platforms.base import AppSecrets, HttpResponse, PlatformAdapter, WebhookRequest
from tests.fuzz.adapter_suite import check_verify
from tests.fuzz.support import outcome


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


class PulledClient(Protocol):
    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]: ...

    def changed_orders(self, shop_id: str, since: datetime, until: datetime) -> Sequence[Any]: ...


def check_push_refused(
    adapter: PlatformAdapter, secrets: AppSecrets, body: bytes, header: str | None
) -> None:
    """A pulled platform never pushes over HTTP: anything posted to its webhook is refused, typed."""
    headers = {"sign": header} if header is not None else {}
    check_verify(adapter, WebhookRequest(method="POST", headers=headers, query={}, body=body), secrets)


def check_pull_client(
    client: Callable[[HostileTransport], PulledClient],
    body: bytes,
    status: int,
    *,
    shop_id: str,
    order_id: str,
    window: tuple[datetime, datetime],
    end_of_pages: bytes,
) -> None:
    """The order fetch and the change listing read a hostile first reply into data or a typed error."""
    outcome(lambda: client(HostileTransport(body, status)).fetch_order(shop_id, order_id))
    changed = outcome(
        lambda: client(HostileTransport(body, status, final=end_of_pages)).changed_orders(shop_id, *window)
    )
    if isinstance(changed, list):
        assert all(item.updated_at.tzinfo is not None for item in changed)
