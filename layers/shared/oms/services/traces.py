"""The "traffic monitor": find failed messages in one query, and follow one message through every stage.

``GET /traces`` reads the failure index (Ops GSI1 by platform, GSI2 by platform and code), newest
message first, one row per message (its attempts grouped), with counts by platform and code for the
same filter. ``GET /traces/{trace_id}`` assembles one message's story: intake, archive, each failed
attempt, each redrive, the history entry it produced, the rules applied, and the raw payload (and
the platform's snapshot, when one was fetched) with every character that could hide made visible
(:mod:`oms.domain.inspection`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oms.domain.errors import BadRequestError, OmsError, TraceNotFoundError
from oms.domain.inspection import TextInspection, inspect_bytes, inspect_text
from oms.domain.model import FailureRecord, HistoryEntry, Platform, UtcDatetime
from oms.services.ports import (
    FailureIndex,
    FailurePartition,
    IndexedFailure,
    RawArchive,
    RedriveLog,
    RedriveRecord,
    TraceLookup,
)

#: Failure records read at most to count one filter (the reply says when it stopped short).
MAX_COUNTED = 10_000
UNKNOWN = "unknown"
CODE_PATTERN = r"^[A-Z][A-Z0-9_]{1,63}$"


class TraceFilter(BaseModel):
    """The query of ``GET /traces``; times are when intake received the message (ISO 8601)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    status: Literal["failed"] = "failed"
    platform: Platform | Literal["unknown"] | None = None
    error_code: str | None = Field(default=None, pattern=CODE_PATTERN)
    received_from: UtcDatetime | None = Field(default=None, alias="from")
    received_to: UtcDatetime | None = Field(default=None, alias="to")
    limit: int = Field(default=50, ge=1, le=100)

    @field_validator("received_from", "received_to", mode="before")
    @classmethod
    def _utc_unless_said(cls, value: Any) -> Any:
        # "2026-02-05T12:15:00Z" and "2026-02-05" are what people type; no offset means UTC.
        if isinstance(value, str) and value:
            try:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                return value  # pydantic reports it
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return value

    def digest(self) -> str:
        """Ties a cursor to the filter it was made for."""
        text = self.model_dump_json(exclude={"limit"})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One failed message: its newest attempt, and how many attempts it took."""

    trace_id: str
    platform: str
    order_ref: str | None
    received_at: datetime | None
    attempts: int
    codes: list[str]
    latest: FailureRecord

    def as_dict(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "trace_id": self.trace_id,
            "platform": self.platform,
            "order_ref": self.order_ref,
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "attempts": self.attempts,
            "codes": self.codes,
            "code": latest.code,
            "stage": str(latest.stage),
            "message": latest.message,
            "last_failed_at": latest.occurred_at.isoformat(),
            "redrives": latest.redrive,
            "raw_location": latest.raw_location,
        }


@dataclass(frozen=True, slots=True)
class FailureCount:
    platform: str
    code: str
    messages: int
    attempts: int


@dataclass(frozen=True, slots=True)
class TraceSearchResult:
    traces: list[TraceRow]
    next_cursor: str | None
    counts: list[FailureCount]
    counts_complete: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "traces": [row.as_dict() for row in self.traces],
            "next_cursor": self.next_cursor,
            "counts": [
                {"platform": c.platform, "code": c.code, "messages": c.messages, "attempts": c.attempts}
                for c in self.counts
            ],
            "counts_complete": self.counts_complete,
        }


@dataclass(frozen=True, slots=True)
class TraceView:
    """One message through every stage, and its payloads made visible."""

    trace_id: str
    status: str  # applied, ignored, failed
    platform: str | None
    order_ref: str | None
    order_id: str | None
    stages: list[dict[str, Any]]
    rules_applied: list[dict[str, Any]]
    raw: dict[str, Any] | None
    fetched: dict[str, Any] | None
    suspicious_details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "status": self.status,
            "platform": self.platform,
            "order_ref": self.order_ref,
            "order_id": self.order_id,
            "stages": self.stages,
            "rules_applied": self.rules_applied,
            "raw": self.raw,
            "fetched": self.fetched,
            "suspicious_details": self.suspicious_details,
        }


class TraceQueries:
    """``GET /traces`` and ``GET /traces/{trace_id}``.

    Parameters
    ----------
    failures:
        The failure index (Ops table).
    history:
        Trace id → history entry (Orders table, GSI3).
    redrives:
        Redrives recorded per trace.
    archive:
        The raw-payload archive (S3).
    """

    def __init__(
        self, *, failures: FailureIndex, history: TraceLookup, redrives: RedriveLog, archive: RawArchive
    ) -> None:
        self._failures = failures
        self._history = history
        self._redrives = redrives
        self._archive = archive

    # ------------------------------------------------------------------ search

    def search(self, query: Mapping[str, str]) -> TraceSearchResult:
        """Failed messages for a filter, newest first, ``limit`` per page, and their counts.

        Raises ``BadRequestError`` for an invalid filter or a cursor made for another filter.
        """
        cursor = query.get("cursor")
        try:
            trace_filter = TraceFilter.model_validate({k: v for k, v in query.items() if k != "cursor"})
        except ValidationError as error:
            raise BadRequestError("invalid trace filter", errors=_summarise(error)) from error
        positions = _read_cursor(cursor, trace_filter) if cursor else {}
        partitions = _partitions(trace_filter)
        rows, next_positions = self._page(trace_filter, partitions, positions)
        counts, complete = self._counts(trace_filter, partitions)
        next_cursor = _write_cursor(next_positions, trace_filter) if next_positions else None
        return TraceSearchResult(
            traces=rows, next_cursor=next_cursor, counts=counts, counts_complete=complete
        )

    def _streams(
        self, trace_filter: TraceFilter, partitions: list[FailurePartition], positions: Mapping[str, Any]
    ) -> dict[str, Iterator[IndexedFailure]]:
        streams = {}
        for partition in partitions:
            name = _partition_name(partition)
            position = positions.get(name)
            if position == "done":
                continue
            streams[name] = self._failures.newest(
                partition,
                received_from=trace_filter.received_from,
                received_to=trace_filter.received_to,
                after=position,
            )
        return streams

    def _page(
        self, trace_filter: TraceFilter, partitions: list[FailurePartition], positions: Mapping[str, Any]
    ) -> tuple[list[TraceRow], dict[str, Any] | None]:
        """Merge the partitions newest first; stop at ``limit`` messages, never inside one."""
        streams = self._streams(trace_filter, partitions, positions)
        heads = {name: next(stream, None) for name, stream in streams.items()}
        resume: dict[str, Any] = dict(positions)
        groups: list[list[IndexedFailure]] = []
        group_source: list[str] = []
        while True:
            live = {name: head for name, head in heads.items() if head is not None}
            if not live:
                return [_row(group) for group in groups], None
            name, head = max(live.items(), key=lambda pair: pair[1].sort_key)
            same_message = (
                groups and group_source[-1] == name and groups[-1][-1].record.trace_id == head.record.trace_id
            )
            if not same_message:
                if len(groups) == trace_filter.limit:
                    # More to read: resume each partition after the last record this page holds.
                    for source, exhausted in heads.items():
                        if exhausted is None:
                            resume[source] = "done"
                    return [_row(group) for group in groups], resume
                groups.append([])
                group_source.append(name)
            groups[-1].append(head)
            resume[name] = head.position
            heads[name] = next(streams[name], None)

    def _counts(
        self, trace_filter: TraceFilter, partitions: list[FailurePartition]
    ) -> tuple[list[FailureCount], bool]:
        messages: dict[tuple[str, str], set[str]] = {}
        attempts: dict[tuple[str, str], int] = {}
        read = 0
        for stream in self._streams(trace_filter, partitions, {}).values():
            for indexed in stream:
                read += 1
                if read > MAX_COUNTED:
                    return _count_list(messages, attempts), False
                record = indexed.record
                key = (str(record.platform or UNKNOWN), record.code)
                messages.setdefault(key, set()).add(record.trace_id)
                attempts[key] = attempts.get(key, 0) + 1
        return _count_list(messages, attempts), True

    # ------------------------------------------------------------------ one trace

    def get(self, trace_id: str) -> TraceView:
        """Everything known about one message (``TRACE_NOT_FOUND`` when nothing is)."""
        attempts = self._failures.attempts(trace_id)
        entry = self._history.entry_by_trace(trace_id)
        if not attempts and entry is None:
            raise TraceNotFoundError(
                "no failure and no history entry carries this trace id", trace_id=trace_id
            )
        redrives = self._redrives.of_trace(trace_id)
        latest = attempts[-1] if attempts else None
        location = (entry.raw_location if entry else None) or next(
            (record.raw_location for record in reversed(attempts) if record.raw_location), None
        )
        raw, envelope_facts = self._raw(location)
        stages = _stages(envelope_facts, location, attempts, redrives, entry)
        status = "failed" if entry is None else "applied" if entry.outcome.changes_order else "ignored"
        fetched_text = next((record.fetched for record in reversed(attempts) if record.fetched), None)
        return TraceView(
            trace_id=trace_id,
            status=status,
            platform=envelope_facts.get("platform")
            or (str(latest.platform) if latest and latest.platform else None),
            order_ref=latest.order_ref if latest else envelope_facts.get("order_ref"),
            order_id=entry.order_id if entry else None,
            stages=stages,
            rules_applied=[rule.model_dump(mode="json") for rule in entry.cleaning] if entry else [],
            raw=raw,
            fetched=_inspected(inspect_text(fetched_text)) if fetched_text else None,
            suspicious_details=_suspicious_details(attempts),
        )

    def _raw(self, location: str | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if location is None:
            return None, {}
        try:
            envelope = self._archive.get(location)
        except OmsError as error:
            # The trace is still worth showing without its payload (e.g. the archive write failed).
            return {"location": location, "error": str(error.code), "message": error.message}, {}
        raw: dict[str, Any] = {
            "location": location,
            "encoding": envelope.raw_encoding,
            "headers": envelope.headers,
            "payload": _inspected(inspect_bytes(envelope.raw_bytes())),
        }
        if envelope.plaintext is not None:
            raw["plaintext"] = _inspected(inspect_text(envelope.plaintext))
        facts = {
            "platform": str(envelope.platform),
            "received_at": envelope.received_at,
            "app_id": envelope.app_id,
            "dedupe_id": envelope.dedupe_id,
            "message_group": envelope.message_group,
            "event_hint": envelope.event_hint,
            "order_ref": (
                f"{envelope.platform}:{envelope.shop_id or '_'}:{envelope.platform_order_id}"
                if envelope.platform_order_id
                else None
            ),
        }
        return raw, facts


def _partitions(trace_filter: TraceFilter) -> list[FailurePartition]:
    if trace_filter.platform == UNKNOWN:
        platforms: list[str | None] = [None]
    elif trace_filter.platform is not None:
        platforms = [str(trace_filter.platform)]
    else:
        platforms = [*(str(platform) for platform in Platform), None]
    return [FailurePartition(platform, trace_filter.error_code) for platform in platforms]


def _partition_name(partition: FailurePartition) -> str:
    return partition.platform or UNKNOWN


def _row(group: list[IndexedFailure]) -> TraceRow:
    records = [indexed.record for indexed in group]
    latest = max(records, key=lambda record: record.attempt_key)
    return TraceRow(
        trace_id=latest.trace_id,
        platform=str(latest.platform or UNKNOWN),
        order_ref=latest.order_ref,
        received_at=latest.received_at,
        attempts=len(records),
        codes=sorted({record.code for record in records}),
        latest=latest,
    )


def _count_list(
    messages: dict[tuple[str, str], set[str]], attempts: dict[tuple[str, str], int]
) -> list[FailureCount]:
    return [
        FailureCount(platform=platform, code=code, messages=len(traces), attempts=attempts[(platform, code)])
        for (platform, code), traces in sorted(messages.items(), key=lambda item: (-len(item[1]), item[0]))
    ]


def _write_cursor(positions: Mapping[str, Any], trace_filter: TraceFilter) -> str:
    text = json.dumps({"f": trace_filter.digest(), "p": positions}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _read_cursor(cursor: str, trace_filter: TraceFilter) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as error:
        raise BadRequestError("the cursor is not one this API gave out") from error
    if not isinstance(decoded, dict) or decoded.get("f") != trace_filter.digest():
        raise BadRequestError("the cursor belongs to another filter; start again without it")
    positions = decoded.get("p")
    if not isinstance(positions, dict):
        raise BadRequestError("the cursor is not one this API gave out")
    return positions


def _stages(
    facts: Mapping[str, Any],
    location: str | None,
    attempts: list[FailureRecord],
    redrives: list[RedriveRecord],
    entry: HistoryEntry | None,
) -> list[dict[str, Any]]:
    stages: list[tuple[tuple[str, int], dict[str, Any]]] = []
    received_at = facts.get("received_at") or (attempts[0].received_at if attempts else None)
    if entry is not None and received_at is None:
        received_at = entry.received_at
    if received_at is not None:
        stages.append(
            (
                ("0", 0),
                {
                    "stage": "intake",
                    "at": received_at.isoformat(),
                    **{
                        k: v
                        for k, v in facts.items()
                        if k not in ("received_at", "platform") and v is not None
                    },
                },
            )
        )
    if location:
        stages.append((("0", 1), {"stage": "archive", "location": location}))
    for record in attempts:
        stages.append(
            (
                (record.attempt_key, 1),
                {
                    "stage": "attempt",
                    "at": record.occurred_at.isoformat(),
                    "redrive": record.redrive,
                    "receive_count": record.receive_count,
                    "failed_at_stage": str(record.stage),
                    "code": record.code,
                    "message": record.message,
                    "details": record.details,
                    "ruleset_revision": record.ruleset_revision,
                    "rollout": record.rollout.model_dump(mode="json") if record.rollout else None,
                },
            )
        )
    for redrive in redrives:
        stages.append(
            (
                (f"{redrive.redrive:02d}.0000", 0),
                {
                    "stage": "redrive",
                    "at": redrive.at.isoformat(),
                    "redrive": redrive.redrive,
                    "by": redrive.by,
                    "dlq_message_id": redrive.dlq_message_id,
                    "new_message_id": redrive.new_message_id,
                },
            )
        )
    if entry is not None:
        stages.append(
            (
                ("99.9999", 9),
                {
                    "stage": "applied" if entry.outcome.changes_order else "ignored",
                    "at": entry.recorded_at.isoformat(),
                    "outcome": str(entry.outcome),
                    "order_id": entry.order_id,
                    "event_id": entry.event_id,
                    "status_before": entry.status_before,
                    "status_after": entry.status_after,
                    "reason": entry.reason,
                    "rules_applied": [rule.model_dump(mode="json") for rule in entry.cleaning],
                    "ruleset_revision": entry.ruleset_revision,
                    "rollout": entry.rollout.model_dump(mode="json") if entry.rollout else None,
                },
            )
        )
    return [stage for _, stage in sorted(stages, key=lambda pair: pair[0])]


def _inspected(inspection: TextInspection) -> dict[str, Any]:
    return {"suspicious": inspection.suspicious, **inspection.model_dump(mode="json")}


def _suspicious_details(attempts: list[FailureRecord]) -> dict[str, dict[str, Any]]:
    """The failure details whose values hide something (the incident's payment id, say)."""
    found: dict[str, dict[str, Any]] = {}
    for record in attempts:
        for name, value in record.details.items():
            inspection = inspect_text(value)
            if inspection.suspicious and name not in found:
                found[name] = _inspected(inspection)
    return found


def _summarise(error: ValidationError) -> list[str]:
    return [f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()[:5]]
