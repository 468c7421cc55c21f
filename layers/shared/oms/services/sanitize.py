"""The intake queue consumer: clean → (fetch) → parse → apply, every failure typed and recorded."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from oms.domain.cleaning import DEFAULT_RULES, CleaningRule, clean_payload, clean_text
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import EnvelopeInvalidError, InternalError, OmsError, SchemaInvalidError
from oms.domain.ids import unified_order_id
from oms.domain.model import FailureRecord, Outcome, Platform, RolloutMark, Stage
from oms.domain.rules import RuleSelection
from oms.platforms import get_adapter
from oms.services.orders import apply_event
from oms.services.ports import (
    Clock,
    FailureLog,
    OrderChangePublisher,
    OrderFetcher,
    OrdersRepository,
    RawArchive,
    RuleSource,
)

#: The platform's snapshot is kept with a failure up to this size (an Ops item holds 400 KB).
MAX_FETCHED_CHARS = 32_000
_NO_OPERATOR_RULES = RuleSelection(revision=0, rules=())


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One SQS record, reduced to what the sanitizer needs."""

    message_id: str
    body: str
    receive_count: int = 1
    #: Times the message was moved back from the DLQ (the ``redrive_count`` message attribute).
    redrive: int = 0


@dataclass(frozen=True, slots=True)
class Processed:
    trace_id: str
    platform: Platform
    order_id: str
    outcome: Outcome
    cleaned: bool
    shop_id: str | None = None
    event_time: datetime | None = None
    recorded_at: datetime | None = None
    rollout: RolloutMark | None = None


class MessageFailedError(Exception):
    """Raised for a message that failed; wraps the typed error after it has been recorded."""

    def __init__(
        self,
        error: OmsError,
        *,
        trace_id: str,
        stage: Stage,
        platform: Platform | None,
        shop_id: str | None = None,
        rollout: RolloutMark | None = None,
    ) -> None:
        super().__init__(f"{error.code} at {stage}: {error.message}")
        self.error = error
        self.trace_id = trace_id
        self.stage = stage
        self.platform = platform
        self.shop_id = shop_id
        self.rollout = rollout


@dataclass(slots=True)
class _Progress:
    """What is known about a message so far, for its failure record if it fails."""

    envelope: IntakeEnvelope | None = None
    selection: RuleSelection = _NO_OPERATOR_RULES
    fetched: Mapping[str, Any] | None = None  # serialised only if the message fails


class PayloadSanitizer:
    """Turns intake envelopes into applied order events.

    Parameters
    ----------
    orders, archive, failures:
        The Orders table, the raw-payload archive and the failure log.
    publisher:
        Where every stored change goes (``OrderChanged`` to the downstream capabilities).
    fetch:
        Reads an order from the platform's API when a push carries only ids.
    rules:
        The built-in cleaning rules, applied after the operators' rules.
    rule_source:
        The operators' rules in force (versioned data with canary rollout, cached); None: built-in only.
    """

    def __init__(
        self,
        *,
        orders: OrdersRepository,
        archive: RawArchive,
        failures: FailureLog,
        fetch: OrderFetcher,
        publisher: OrderChangePublisher,
        clock: Clock,
        rules: Iterable[CleaningRule] = DEFAULT_RULES,
        rule_source: RuleSource | None = None,
    ) -> None:
        self._orders = orders
        self._archive = archive
        self._failures = failures
        self._fetch = fetch
        self._publisher = publisher
        self._clock = clock
        self._rules = tuple(rules)
        self._rule_source = rule_source

    def archive(self, messages: Sequence[QueueMessage]) -> Mapping[str, str]:
        """Archive the batch's raw payloads in one object; message id → location."""
        envelopes = {message.message_id: _read_envelope(message) for message in messages}
        readable = [envelope for envelope in envelopes.values() if envelope is not None]
        locations = self._archive.put_batch(readable) if readable else {}
        return {
            message_id: locations[envelope.trace_id]
            for message_id, envelope in envelopes.items()
            if envelope is not None and envelope.trace_id in locations
        }

    def process(self, message: QueueMessage, raw_location: str | None) -> Processed:
        """Process one message; raise :class:`MessageFailedError` (after recording it) on failure."""
        stage = Stage.DECODE
        progress = _Progress()
        try:
            envelope = progress.envelope = _parse_envelope(message)
            adapter = get_adapter(envelope.platform)
            decoded = adapter.decode(envelope)
            stage = Stage.CLEAN
            selection = progress.selection = self._select(envelope)
            rules = (*selection.rules, *self._rules)
            cleaned, applied = clean_payload(decoded, envelope.platform, rules)
            snapshot = None
            if adapter.needs_fetch(cleaned):
                stage = Stage.FETCH
                fetched = self._fetch_snapshot(envelope)
                progress.fetched = fetched
                snapshot, applied_to_snapshot = clean_payload(fetched, envelope.platform, rules)
                applied += applied_to_snapshot
            stage = Stage.PARSE
            try:
                event = adapter.parse(cleaned, snapshot, envelope).model_copy(update={"cleaning": applied})
            except ValidationError as error:
                raise SchemaInvalidError(
                    "the payload does not make a valid order event", errors=_summarise(error)
                ) from error
            stage = Stage.APPLY
            decision = apply_event(
                self._orders,
                event,
                publisher=self._publisher,
                received_at=envelope.received_at,
                clock=self._clock,
                trace_id=envelope.trace_id,
                raw_location=raw_location,
                ruleset_revision=selection.revision or None,
                rollout=selection.rollout,
            )
        except OmsError as error:
            raise self._failed(error, stage, message, progress, raw_location) from error
        except Exception as unexpected:  # a bug must still be recorded, never lost (re-raised typed)
            internal = InternalError(
                f"unexpected {type(unexpected).__name__}", exception=type(unexpected).__name__
            )
            raise self._failed(internal, stage, message, progress, raw_location) from unexpected
        return Processed(
            trace_id=envelope.trace_id,
            platform=envelope.platform,
            order_id=event.order_id,
            outcome=decision.outcome,
            cleaned=bool(applied),
            shop_id=event.shop_id,
            event_time=event.event_time,
            recorded_at=decision.entry.recorded_at,
            rollout=selection.rollout,
        )

    def _select(self, envelope: IntakeEnvelope) -> RuleSelection:
        """The operators' rules for this message's order (all of one order's events get the same)."""
        if self._rule_source is None:
            return _NO_OPERATOR_RULES
        return self._rule_source.current().select(envelope.platform, _order_key(envelope))

    def _fetch_snapshot(self, envelope: IntakeEnvelope) -> dict[str, object]:
        if not envelope.shop_id or not envelope.platform_order_id:
            raise SchemaInvalidError("the push names no shop or order to fetch", dedupe_id=envelope.dedupe_id)
        # Built-in rules only: operators' rules target payload fields, not the ids a push is routed by.
        return self._fetch(
            envelope.platform,
            envelope.app_id,
            clean_text(envelope.shop_id, self._rules),
            clean_text(envelope.platform_order_id, self._rules),
            f"{envelope.platform}:{envelope.app_id}:{envelope.dedupe_id}",
        )

    def _failed(
        self,
        error: OmsError,
        stage: Stage,
        message: QueueMessage,
        progress: _Progress,
        raw_location: str | None,
    ) -> MessageFailedError:
        """Record the failure (trace id, code, stage, order, raw payload) and wrap it for the batch."""
        envelope = progress.envelope
        order_ref = None
        if envelope is not None and envelope.platform_order_id:
            order_ref = f"{envelope.platform}:{envelope.shop_id or '_'}:{envelope.platform_order_id}"
        trace_id = envelope.trace_id if envelope else message.message_id
        self._failures.record(
            FailureRecord(
                trace_id=trace_id,
                platform=envelope.platform if envelope else None,
                stage=stage,
                code=str(error.code),
                message=error.message,
                occurred_at=self._clock(),
                order_ref=order_ref,
                message_id=message.message_id,
                receive_count=message.receive_count,
                raw_location=raw_location,
                details={key: str(value)[:500] for key, value in error.details.items()},
                received_at=envelope.received_at if envelope else None,
                redrive=message.redrive,
                ruleset_revision=progress.selection.revision or None,
                rollout=progress.selection.rollout,
                fetched=_as_text(progress.fetched) if progress.fetched is not None else None,
            )
        )
        return MessageFailedError(
            error,
            trace_id=trace_id,
            stage=stage,
            platform=envelope.platform if envelope else None,
            shop_id=envelope.shop_id if envelope else None,
            rollout=progress.selection.rollout,
        )


def _order_key(envelope: IntakeEnvelope) -> str | None:
    """The unified id of the order a message names, from the ids intake framed (built-in cleaning)."""
    if not envelope.shop_id or not envelope.platform_order_id:
        return None
    return unified_order_id(
        envelope.platform, clean_text(envelope.shop_id), clean_text(envelope.platform_order_id)
    )


def _as_text(snapshot: Mapping[str, Any]) -> str:
    text = json.dumps(snapshot, ensure_ascii=False, separators=(",", ":"), default=str)
    return text[:MAX_FETCHED_CHARS]


def _parse_envelope(message: QueueMessage) -> IntakeEnvelope:
    try:
        return IntakeEnvelope.model_validate_json(message.body)
    except ValidationError as error:
        raise EnvelopeInvalidError(
            "the queue message is not an intake envelope", errors=_summarise(error)
        ) from error


def _read_envelope(message: QueueMessage) -> IntakeEnvelope | None:
    try:
        return _parse_envelope(message)
    except EnvelopeInvalidError:
        return None


def _summarise(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()[:5]
    )
