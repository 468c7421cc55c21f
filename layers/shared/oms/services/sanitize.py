"""The intake queue consumer: clean → (fetch) → parse → apply, every failure typed and recorded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from oms.domain.cleaning import DEFAULT_RULES, CleaningRule, clean_payload, clean_text
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import EnvelopeInvalidError, InternalError, OmsError, SchemaInvalidError
from oms.domain.model import FailureRecord, Outcome, Platform, Stage
from oms.platforms import get_adapter
from oms.services.orders import apply_event
from oms.services.ports import Clock, FailureLog, OrderFetcher, OrdersRepository, RawArchive


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One SQS record, reduced to what the sanitizer needs."""

    message_id: str
    body: str
    receive_count: int = 1


@dataclass(frozen=True, slots=True)
class Processed:
    trace_id: str
    platform: Platform
    order_id: str
    outcome: Outcome
    cleaned: bool


class MessageFailedError(Exception):
    """Raised for a message that failed; wraps the typed error after it has been recorded."""

    def __init__(self, error: OmsError, *, trace_id: str, stage: Stage, platform: Platform | None) -> None:
        super().__init__(f"{error.code} at {stage}: {error.message}")
        self.error = error
        self.trace_id = trace_id
        self.stage = stage
        self.platform = platform


class PayloadSanitizer:
    """Turns intake envelopes into applied order events.

    Parameters
    ----------
    orders, archive, failures:
        The Orders table, the raw-payload archive and the failure log.
    fetch:
        Reads an order from the platform's API when a push carries only ids.
    rules:
        The cleaning rule set (versioned data).
    """

    def __init__(
        self,
        *,
        orders: OrdersRepository,
        archive: RawArchive,
        failures: FailureLog,
        fetch: OrderFetcher,
        clock: Clock,
        rules: Iterable[CleaningRule] = DEFAULT_RULES,
    ) -> None:
        self._orders = orders
        self._archive = archive
        self._failures = failures
        self._fetch = fetch
        self._clock = clock
        self._rules = tuple(rules)

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
        envelope: IntakeEnvelope | None = None
        try:
            envelope = _parse_envelope(message)
            adapter = get_adapter(envelope.platform)
            decoded = adapter.decode(envelope)
            stage = Stage.CLEAN
            cleaned, applied = clean_payload(decoded, envelope.platform, self._rules)
            snapshot = None
            if adapter.needs_fetch(cleaned):
                stage = Stage.FETCH
                snapshot, applied_to_snapshot = clean_payload(
                    self._fetch_snapshot(envelope), envelope.platform, self._rules
                )
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
                received_at=envelope.received_at,
                clock=self._clock,
                trace_id=envelope.trace_id,
                raw_location=raw_location,
            )
        except OmsError as error:
            raise self._failed(error, stage, message, envelope, raw_location) from error
        except Exception as unexpected:  # a bug must still be recorded, never lost (re-raised typed)
            internal = InternalError(
                f"unexpected {type(unexpected).__name__}", exception=type(unexpected).__name__
            )
            raise self._failed(internal, stage, message, envelope, raw_location) from unexpected
        return Processed(
            trace_id=envelope.trace_id,
            platform=envelope.platform,
            order_id=event.order_id,
            outcome=decision.outcome,
            cleaned=bool(applied),
        )

    def _fetch_snapshot(self, envelope: IntakeEnvelope) -> dict[str, object]:
        if not envelope.shop_id or not envelope.platform_order_id:
            raise SchemaInvalidError("the push names no shop or order to fetch", dedupe_id=envelope.dedupe_id)
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
        envelope: IntakeEnvelope | None,
        raw_location: str | None,
    ) -> MessageFailedError:
        """Record the failure (trace id, code, stage, order, raw payload) and wrap it for the batch."""
        order_ref = None
        if envelope is not None and envelope.platform_order_id:
            order_ref = f"{envelope.platform}:{envelope.shop_id or '_'}:{envelope.platform_order_id}"
        self._failures.record(
            FailureRecord(
                trace_id=envelope.trace_id if envelope else message.message_id,
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
            )
        )
        return MessageFailedError(
            error,
            trace_id=envelope.trace_id if envelope else message.message_id,
            stage=stage,
            platform=envelope.platform if envelope else None,
        )


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
