"""``POST /dlq/consumers/redrive``: move a consumer's dead letters back to its source queue.

Every consumer of ``OrderChanged`` (settlement, inventory, customers, SLA, returns…) and the
reconciler's chunk queue has a DLQ. When a consumer's bug or an outage is fixed, its letters go
back to the queue they came from, which is what SQS's "redrive to source" does; the operator may
narrow it to one order, one platform or named changes, and look first (``dry_run``).

Nothing applies twice: consumers are idempotent on ``change_id`` (at-least-once is their
contract), so a letter redriven while a platform retry already brought the same change, or sent
twice by a redrive that crashed between send and delete, changes nothing the second time.
Standard queues have no order to keep, so unlike the intake DLQ's redrive (``oms.services.redrive``)
no letter is held back for an earlier one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oms.domain.errors import BadRequestError
from oms.domain.model import Platform
from oms.services.ports import ConsumerDeadLetters, DeadLetter

#: Seconds a received letter stays invisible while the redrive decides about it.
HOLD_SECONDS = 60
#: Stop taking new letters when less than this is left of the invocation (the reply says ``more``).
SAFETY_SECONDS = 3.0

Action = Literal["redriven", "would_redrive", "skipped", "failed"]


class ConsumerRedriveFilter(BaseModel):
    """Which letters of which DLQ to move; every condition given must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue: str = Field(min_length=1, max_length=80)
    order_id: str | None = Field(default=None, max_length=300)
    platform: Platform | None = None
    change_ids: tuple[str, ...] = Field(default=(), max_length=500)
    max_messages: int = Field(default=100, ge=1, le=1000)
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class LetterSummary:
    """What a letter is about, read from its body (an ``OrderChanged``, or anything else)."""

    order_id: str | None = None
    platform: str | None = None
    change_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumerRedriveResult:
    message_id: str
    order_id: str | None
    change_id: str | None
    action: Action
    reason: str | None = None
    new_message_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__slots__}


@dataclass(slots=True)
class ConsumerRedriveReport:
    queue: str
    dry_run: bool
    results: list[ConsumerRedriveResult] = field(default_factory=list)
    more: bool = False  # stopped early (max_messages or time): call again for the rest

    def count(self, action: Action) -> int:
        return sum(1 for result in self.results if result.action == action)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "dry_run": self.dry_run,
            "scanned": len(self.results),
            "redriven": self.count("redriven"),
            "would_redrive": self.count("would_redrive"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "more": self.more,
            "results": [result.as_dict() for result in self.results],
        }


def summarise(body: str) -> LetterSummary:
    """Order, platform and change of an ``OrderChanged`` body; empty for any other message."""
    try:
        message = json.loads(body)
        order, entry = message["order"], message["entry"]
        order_id = str(order["order_id"])
        version = entry.get("version_after")
        return LetterSummary(
            order_id=order_id,
            platform=str(order.get("platform")) if order.get("platform") else None,
            change_id=f"{order_id}#v{version}" if version is not None else None,
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return LetterSummary()


def _mismatch(wanted: ConsumerRedriveFilter, summary: LetterSummary) -> str | None:
    """Why the letter is not selected, or None when every condition holds."""
    narrowed = wanted.order_id or wanted.platform or wanted.change_ids
    if narrowed and summary.order_id is None:
        return "not an OrderChanged: only an unfiltered redrive moves it"
    if wanted.order_id and summary.order_id != wanted.order_id:
        return "another order"
    if wanted.platform and summary.platform != str(wanted.platform):
        return "another platform"
    if wanted.change_ids and summary.change_id not in wanted.change_ids:
        return "another change"
    return None


class ConsumerDlqRedrive:
    """Redrives the consumers' DLQs (by the DLQ's logical name in the template) to their sources.

    Parameters
    ----------
    queues:
        DLQ logical name → its letters and source queue.
    """

    def __init__(self, queues: Mapping[str, ConsumerDeadLetters]) -> None:
        self._queues = dict(queues)

    def depths(self) -> dict[str, int]:
        """Every consumer DLQ with the number of letters in it."""
        return {name: queue.depth() for name, queue in sorted(self._queues.items())}

    def redrive(
        self, body: Mapping[str, Any], *, seconds_left: Callable[[], float] | None = None
    ) -> ConsumerRedriveReport:
        """Redrive what ``body`` (a :class:`ConsumerRedriveFilter`) selects; ``BAD_REQUEST`` if invalid."""
        try:
            wanted = ConsumerRedriveFilter.model_validate(dict(body))
        except ValidationError as error:
            raise BadRequestError(
                "invalid redrive filter",
                errors=[f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()[:5]],
            ) from error
        queue = self._queues.get(wanted.queue)
        if queue is None:
            raise BadRequestError("unknown consumer DLQ", queue=wanted.queue[:80], known=sorted(self._queues))
        report = ConsumerRedriveReport(queue=wanted.queue, dry_run=wanted.dry_run)
        held: list[DeadLetter] = []
        seen: set[str] = set()
        taken = 0
        try:
            while True:
                if taken >= wanted.max_messages or (
                    seconds_left is not None and seconds_left() < SAFETY_SECONDS
                ):
                    report.more = queue.depth() > len(held)
                    break
                batch = [
                    letter
                    for letter in queue.receive(wanted.max_messages - taken, hold_seconds=HOLD_SECONDS)
                    if letter.message_id not in seen
                ]
                if not batch:
                    break
                chosen: list[tuple[DeadLetter, LetterSummary]] = []
                for letter in batch:
                    seen.add(letter.message_id)
                    summary = summarise(letter.body)
                    reason = _mismatch(wanted, summary)
                    if reason is not None:
                        held.append(letter)
                        report.results.append(_result(letter, summary, "skipped", reason=reason))
                    elif wanted.dry_run:
                        held.append(letter)
                        taken += 1
                        report.results.append(_result(letter, summary, "would_redrive"))
                    else:
                        taken += 1
                        chosen.append((letter, summary))
                if chosen:
                    moved = queue.move_back([letter for letter, _ in chosen])
                    for letter, summary in chosen:
                        new_id = moved.get(letter.message_id)
                        if new_id is None:
                            held.append(letter)
                            report.results.append(
                                _result(letter, summary, "failed", reason="the source queue refused it")
                            )
                        else:
                            report.results.append(_result(letter, summary, "redriven", new_message_id=new_id))
        finally:
            if held:
                queue.release(held)
        return report


def _result(
    letter: DeadLetter,
    summary: LetterSummary,
    action: Action,
    *,
    reason: str | None = None,
    new_message_id: str | None = None,
) -> ConsumerRedriveResult:
    return ConsumerRedriveResult(
        message_id=letter.message_id,
        order_id=summary.order_id,
        change_id=summary.change_id,
        action=action,
        reason=reason,
        new_message_id=new_message_id,
    )
