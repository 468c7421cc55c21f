"""The fuzz properties every push or pull adapter shares, as plain functions the per-platform test
modules call from their own ``@given`` tests (so each module keeps its own strategies, found
examples and pytest ids).

Each function asserts what :func:`tests.fuzz.support.outcome` asserts (only typed errors with
stable codes, bounded memory; the time bound is the hypothesis deadline) plus the invariants of
the step it fuzzes.
"""

from __future__ import annotations

from typing import Any

from oms.domain.cleaning import clean_payload
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import OmsError
from oms.domain.model import OrderEvent
from oms.platforms.base import AppSecrets, PlatformAdapter, WebhookRequest
from tests.fuzz.support import envelope, outcome


def check_verify(adapter: PlatformAdapter, request: WebhookRequest, secrets: AppSecrets) -> None:
    """Everything intake calls before the signature is known good: typed errors only."""
    outcome(lambda: adapter.app_id(request))
    outcome(lambda: adapter.handshake(request, secrets))
    outcome(lambda: adapter.verify(request, secrets))
    outcome(lambda: adapter.signed_at(request))


def check_frame(adapter: PlatformAdapter, request: WebhookRequest, secrets: AppSecrets) -> None:
    """A request whose signature is good frames into bounded messages, or raises a typed error."""
    framed = outcome(lambda: adapter.frame(request, secrets))
    if isinstance(framed, list):
        for message in framed:
            assert 1 <= len(message.dedupe_id) <= 128
            assert message.raw
            if message.platform_order_id is not None:
                assert isinstance(message.platform_order_id, str)


def check_decode(adapter: PlatformAdapter, target: IntakeEnvelope, platform: str) -> None:
    """Decoding a stored envelope, and the cleaning walk over what it yields: typed errors only."""
    decoded = outcome(lambda: adapter.decode(target))
    if isinstance(decoded, dict):
        outcome(lambda: adapter.needs_fetch(decoded))
        clean_payload(decoded, platform)


def check_parse(
    adapter: PlatformAdapter,
    message: Any,
    snapshot: Any,
    *,
    platform: str,
    clean: bool,
    shop_id: str | None,
    order_id: str,
) -> OrderEvent | OmsError | None:
    """Parsing a (mutated) message with a (mutated) snapshot: an ``OrderEvent`` or a typed error."""
    if clean:
        message, _ = clean_payload(message, platform)
        snapshot, _ = clean_payload(snapshot, platform)
    if not isinstance(message, dict):
        return None
    target = envelope(adapter.platform, b"{}", shop_id=shop_id, platform_order_id=order_id)
    outcome(lambda: adapter.needs_fetch(message))
    event = outcome(lambda: adapter.parse(message, snapshot if isinstance(snapshot, dict) else None, target))
    assert isinstance(event, OrderEvent | OmsError)
    return event
