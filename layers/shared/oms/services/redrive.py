"""``POST /dlq/redrive``: move the DLQ messages matching a filter back to the intake queue.

A replayed message runs under the rules in force when it is processed again (its envelope is
unchanged; the platform snapshot it fetched is reused, then cleaned by today's rules). Nothing
applies twice: the sanitizer's history entry is keyed by the event id (docs/decisions.md D1), so a
message whose event was applied meanwhile (a platform retry, an earlier redrive whose DLQ copy
was not deleted) is recorded as a duplicate and changes nothing.

FIFO: a message is never moved ahead of an earlier message of its own order (message group) that
the filter leaves in the DLQ; it is skipped with that reason, as SQS itself would not hand it out
while the earlier one is held. A wider filter (``order_ref``) moves the order's messages together.
The report lists every message looked at, and why each one that stayed was left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import BadRequestError, OmsError
from oms.domain.model import Platform
from oms.services.ports import Clock, DeadLetter, DeadLetterQueue, FailureIndex, RedriveLog, RedriveRecord
from oms.services.traces import CODE_PATTERN

#: Seconds a received DLQ message stays invisible while a redrive decides about it.
HOLD_SECONDS = 60
#: Stop taking new messages when less than this is left of the invocation (the reply says ``more``).
SAFETY_SECONDS = 3.0
REDRIVE_ATTRIBUTE = "redrive_count"

Action = Literal["redriven", "would_redrive", "skipped", "failed"]


class RedriveFilter(BaseModel):
    """Which DLQ messages to move; every condition given must hold. An empty filter takes all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform | None = None
    error_code: str | None = Field(default=None, pattern=CODE_PATTERN)
    trace_ids: tuple[str, ...] = Field(default=(), max_length=500)
    order_ref: str | None = Field(default=None, max_length=300)
    max_messages: int = Field(default=100, ge=1, le=1000)
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class RedriveResult:
    message_id: str
    trace_id: str
    platform: str | None
    order_ref: str | None
    code: str | None
    action: Action
    reason: str | None = None
    new_message_id: str | None = None
    redrive: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__slots__}


@dataclass(slots=True)
class RedriveReport:
    results: list[RedriveResult] = field(default_factory=list)
    more: bool = False  # stopped early (max_messages or time): call again for the rest

    def count(self, action: Action) -> int:
        return sum(1 for result in self.results if result.action == action)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": len(self.results),
            "redriven": self.count("redriven"),
            "would_redrive": self.count("would_redrive"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "more": self.more,
            "results": [result.as_dict() for result in self.results],
        }


@dataclass(frozen=True, slots=True)
class _Letter:
    letter: DeadLetter
    trace_id: str
    platform: str | None
    order_ref: str | None
    code: str | None


class DlqRedrive:
    """Moves matching DLQ messages back to the intake queue, reporting every message it looked at.

    Parameters
    ----------
    dlq:
        The dead-letter queue (and the intake queue it moves messages to).
    failures:
        The failure index: a message's last error code is read from its latest failure record.
    log:
        Where each redrive is recorded (the trace view shows it).
    clock:
        Now (UTC).
    """

    def __init__(
        self, *, dlq: DeadLetterQueue, failures: FailureIndex, log: RedriveLog, clock: Clock
    ) -> None:
        self._dlq = dlq
        self._failures = failures
        self._log = log
        self._clock = clock

    def redrive(
        self, body: Mapping[str, Any], *, actor: str, seconds_left: Callable[[], float] | None = None
    ) -> RedriveReport:
        """Redrive what ``body`` (a :class:`RedriveFilter`) selects; ``BAD_REQUEST`` if it is invalid."""
        try:
            wanted = RedriveFilter.model_validate(dict(body))
        except ValidationError as error:
            raise BadRequestError(
                "invalid redrive filter",
                errors=[f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()[:5]],
            ) from error
        report = RedriveReport()
        held: list[DeadLetter] = []
        held_groups: set[str | None] = set()
        seen: set[str] = set()
        taken = 0
        try:
            while True:
                if seconds_left is not None and seconds_left() < SAFETY_SECONDS:
                    report.more = True
                    break
                batch = [
                    letter
                    for letter in self._dlq.receive(10, hold_seconds=HOLD_SECONDS)
                    if letter.message_id not in seen
                ]
                if not batch:
                    break
                seen.update(letter.message_id for letter in batch)
                chosen: list[_Letter] = []
                for letter in batch:
                    described = self._describe(letter)
                    reason = _mismatch(described, wanted)
                    if reason is None and letter.group_id in held_groups:
                        reason = "behind a message of the same order that stays in the DLQ"
                    if reason is None and taken >= wanted.max_messages:
                        reason, report.more = "max_messages reached", True
                    if reason is not None:
                        held.append(letter)
                        held_groups.add(letter.group_id)
                        report.results.append(_result(described, "skipped", reason))
                        continue
                    taken += 1
                    if wanted.dry_run:
                        held.append(letter)
                        report.results.append(_result(described, "would_redrive"))
                    else:
                        chosen.append(described)
                if chosen:
                    report.results += self._move(chosen, actor)
        finally:
            if held:
                self._dlq.release(held)
        return report

    def _describe(self, letter: DeadLetter) -> _Letter:
        try:
            envelope: IntakeEnvelope | None = IntakeEnvelope.model_validate_json(letter.body)
        except ValidationError:
            envelope = None
        trace_id = envelope.trace_id if envelope else letter.attributes.get("trace_id") or letter.message_id
        latest = self._failures.latest(trace_id)
        order_ref = None
        if envelope is not None and envelope.platform_order_id:
            order_ref = f"{envelope.platform}:{envelope.shop_id or '_'}:{envelope.platform_order_id}"
        return _Letter(
            letter=letter,
            trace_id=trace_id,
            platform=str(envelope.platform) if envelope else None,
            order_ref=order_ref or (latest.order_ref if latest else None),
            code=latest.code if latest else None,
        )

    def _move(self, chosen: list[_Letter], actor: str) -> list[RedriveResult]:
        moves = [(item.letter, _redrive_number(item.letter)) for item in chosen]
        try:
            moved = self._dlq.move(moves)
        except OmsError as error:
            return [_result(item, "failed", f"{error.code}: {error.message}") for item in chosen]
        results = []
        now = self._clock()
        for item, (letter, number) in zip(chosen, moves, strict=True):
            new_id = moved.get(letter.message_id)
            if new_id is None:
                results.append(_result(item, "failed", "the intake queue refused it; it stays in the DLQ"))
                continue
            self._log.record(
                RedriveRecord(
                    trace_id=item.trace_id,
                    redrive=number,
                    at=now,
                    by=actor,
                    dlq_message_id=letter.message_id,
                    new_message_id=new_id,
                )
            )
            results.append(_result(item, "redriven", new_message_id=new_id, redrive=number))
        return results


def _redrive_number(letter: DeadLetter) -> int:
    try:
        return int(letter.attributes.get(REDRIVE_ATTRIBUTE, "0")) + 1
    except ValueError:
        return 1


def _mismatch(item: _Letter, wanted: RedriveFilter) -> str | None:
    """Why the message does not match, or None when it does."""
    if wanted.platform is not None and item.platform != wanted.platform:
        return f"platform is {item.platform or 'unknown'}"
    if wanted.error_code is not None and item.code != wanted.error_code:
        return f"last error is {item.code or 'unrecorded'}"
    if wanted.trace_ids and item.trace_id not in wanted.trace_ids:
        return "trace id not asked for"
    if wanted.order_ref is not None and item.order_ref != wanted.order_ref:
        return "another order"
    return None


def _result(
    item: _Letter,
    action: Action,
    reason: str | None = None,
    *,
    new_message_id: str | None = None,
    redrive: int | None = None,
) -> RedriveResult:
    return RedriveResult(
        message_id=item.letter.message_id,
        trace_id=item.trace_id,
        platform=item.platform,
        order_ref=item.order_ref,
        code=item.code,
        action=action,
        reason=reason,
        new_message_id=new_message_id,
        redrive=redrive,
    )
