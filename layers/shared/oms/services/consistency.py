"""Order state consistency for operators: diagnose many orders at once, force a status (audited).

Both read and write through the Orders repository. A forced change is a
:class:`~oms.domain.state_machine.Decision` stored by the same conditional write as every event
(``OrdersRepository.save``), re-decided on a fresh read when a concurrent event got there first.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oms.domain.correction import force_event_id, force_status
from oms.domain.diagnosis import (
    DEFAULT_STUCK_THRESHOLDS,
    EXPORT_COLUMNS,
    BreakpointGroup,
    OrderDiagnosis,
    diagnose,
    export_rows,
    group_breakpoints,
)
from oms.domain.errors import AdminRequiredError, BadRequestError, ConcurrentUpdateError, ForceRefusedError
from oms.domain.ids import is_unified_order_id, unified_order_id
from oms.domain.model import ForceMode, HistoryEntry, OperatorMark, Platform
from oms.domain.status import OrderStatus
from oms.services.orders import publish_decision, republish_change
from oms.services.ports import Clock, OrderBatchReader, OrderChangePublisher, ReportStore

#: Orders one diagnosis or one bulk correction takes (one API call within API Gateway's 30 s).
MAX_ORDERS_PER_REQUEST = 1_000
#: Optimistic-concurrency retries of one forced change before it is reported as a conflict.
MAX_FORCE_ATTEMPTS = 4
#: Orders corrected at once in a bulk request (each is a read and one transaction).
FORCE_WORKERS = 8
#: Longest period one audit query spans (one index partition per day).
MAX_AUDIT_DAYS = 31


# --------------------------------------------------------------------------- requests

_Parsed = TypeVar("_Parsed", bound=BaseModel)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiagnoseRequest(_Request):
    orders: list[str] = Field(min_length=1, max_length=MAX_ORDERS_PER_REQUEST)
    #: Stuck thresholds in hours per status, replacing the defaults for the statuses given.
    thresholds_hours: dict[OrderStatus, float] = Field(default_factory=dict)
    #: Write the abnormal orders as CSV and XLSX to the reports bucket.
    export: bool = True

    @field_validator("thresholds_hours")
    @classmethod
    def _positive(cls, value: dict[OrderStatus, float]) -> dict[OrderStatus, float]:
        if any(hours <= 0 for hours in value.values()):
            raise ValueError("thresholds are positive numbers of hours")
        return value


class ForceItem(_Request):
    order: str = Field(min_length=1, max_length=256)
    status: OrderStatus | None = None


class ForceRequest(_Request):
    status: OrderStatus | None = None
    mode: ForceMode
    reason: str = Field(min_length=1, max_length=500)
    #: Makes retries safe: the same request id forces each order at most once.
    request_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")


class BulkForceRequest(ForceRequest):
    orders: list[str | ForceItem] = Field(min_length=1, max_length=MAX_ORDERS_PER_REQUEST)


def parse_request(model: type[_Parsed], body: Mapping[str, Any]) -> _Parsed:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise BadRequestError("the request is not valid", problems=problems[:1000]) from error


# --------------------------------------------------------------------------- admin


def require_admin(actor: str, admins: Sequence[str]) -> None:
    """Raise :class:`AdminRequiredError` unless ``actor`` is one of ``admins``.

    An administrator is configured by IAM ARN (user or role); a caller using an assumed role
    (``arn:aws:sts::<account>:assumed-role/<role>/<session>``) matches its role's ARN.
    """
    role = _role_of(actor)
    if actor in admins or (role is not None and role in {_role_name(admin) for admin in admins}):
        return
    raise AdminRequiredError("forced status changes are for administrators only", caller=actor)


_ASSUMED = re.compile(r"^arn:aws[\w-]*:sts::(\d{12}):assumed-role/([^/]+)/")
_ROLE = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/(?:.*/)?([^/]+)$")


def _role_of(actor: str) -> tuple[str, str] | None:
    found = _ASSUMED.match(actor)
    return (found[1], found[2]) if found else None


def _role_name(admin: str) -> tuple[str, str] | None:
    found = _ROLE.match(admin)
    return (found[1], found[2]) if found else None


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True, slots=True)
class Unresolved:
    reference: str
    error: str
    candidates: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "error": self.error, "candidates": list(self.candidates)}


def resolve_references(
    orders: OrderBatchReader, references: Sequence[str]
) -> tuple[dict[str, str], list[Unresolved]]:
    """reference → unified id for unified ids, ``platform:shop:number`` and bare platform numbers."""
    resolved: dict[str, str] = {}
    numbers: list[str] = []
    for raw in dict.fromkeys(references):
        reference = raw.strip()
        parts = reference.split(":", 2)
        if is_unified_order_id(reference):
            resolved[raw] = reference
        elif len(parts) == 3 and parts[0] in Platform.__members__.values() and all(parts):
            resolved[raw] = unified_order_id(*parts)
        elif reference:
            numbers.append(raw)
    unresolved = [Unresolved(raw, "BAD_REQUEST") for raw in dict.fromkeys(references) if not raw.strip()]
    found = orders.find_many_by_platform_order_id([raw.strip() for raw in numbers])
    for raw in numbers:
        candidates = found.get(raw.strip(), [])
        if len(candidates) == 1:
            resolved[raw] = candidates[0]
        elif candidates:
            unresolved.append(Unresolved(raw, "ORDER_AMBIGUOUS", tuple(candidates)))
        else:
            unresolved.append(Unresolved(raw, "ORDER_NOT_FOUND"))
    return resolved, unresolved


# --------------------------------------------------------------------------- diagnosis


@dataclass(frozen=True, slots=True)
class DiagnosisReport:
    diagnosis_id: str
    diagnosed_at: datetime
    results: list[tuple[str, OrderDiagnosis]]
    unresolved: list[Unresolved]
    groups: list[BreakpointGroup]
    exports: dict[str, str] = field(default_factory=dict)
    export_keys: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        abnormal = sum(1 for _, diagnosis in self.results if diagnosis.abnormal)
        return {
            "diagnosis_id": self.diagnosis_id,
            "diagnosed_at": self.diagnosed_at.isoformat(),
            "summary": {
                "requested": len(self.results) + len(self.unresolved),
                "diagnosed": len(self.results),
                "abnormal": abnormal,
                "unresolved": len(self.unresolved),
                "breakpoints": sum(group.count for group in self.groups),
            },
            "groups": [
                {
                    "kind": group.kind,
                    "platform": group.platform,
                    "status_from": group.status_from,
                    "status_to": group.status_to,
                    "count": group.count,
                    "sample_order_ids": list(group.order_ids),
                }
                for group in self.groups
            ],
            "orders": [_diagnosis_dict(reference, diagnosis) for reference, diagnosis in self.results],
            "unresolved": [item.as_dict() for item in self.unresolved],
            "export": {"links": self.exports, "keys": self.export_keys, "expires_in_seconds": 900}
            if self.exports
            else None,
        }


def _diagnosis_dict(reference: str, diagnosis: OrderDiagnosis) -> dict[str, Any]:
    order = diagnosis.order
    platform = diagnosis.platform
    return {
        "reference": reference,
        "order_id": order.order_id,
        "platform": order.platform,
        "shop_id": order.shop_id,
        "platform_order_id": order.platform_order_id,
        "status": order.status,
        "refund_status": order.refund_status,
        "status_since": order.status_key.at.isoformat(),
        "version": order.version,
        "platform_last_known": {
            "status": platform.status,
            "platform_status": platform.platform_status,
            "source": platform.source,
            "event_time": platform.event_time.isoformat(),
            "event_id": platform.event_id,
            "outcome": platform.outcome,
        }
        if platform
        else None,
        "breakpoints": [
            {
                "kind": point.kind,
                "status_from": point.status_from,
                "status_to": point.status_to,
                "detail": point.detail,
                "event_id": point.event_id,
            }
            for point in diagnosis.breakpoints
        ],
        "path": [path_step(entry) for entry in diagnosis.path],
    }


def path_step(entry: HistoryEntry) -> dict[str, Any]:
    """One history entry as the diagnosis shows it (compact: 1,000 orders must fit one reply)."""
    step: dict[str, Any] = {
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "source": entry.source,
        "event_time": entry.event_time.isoformat(),
        "received_at": entry.received_at.isoformat(),
        "recorded_at": entry.recorded_at.isoformat(),
        "outcome": entry.outcome,
        "event_status": entry.event_status,
        "platform_status": entry.platform_status,
        "status_before": entry.status_before,
        "status_after": entry.status_after,
        "reason": entry.reason,
    }
    if entry.operator is not None:
        step["operator"] = entry.operator.model_dump(mode="json", exclude_none=True)
    return {key: value for key, value in step.items() if value is not None}


class OrderDiagnostics:
    """``POST /orders/diagnose``: many orders' paths and breakpoints in one call."""

    def __init__(
        self,
        orders: OrderBatchReader,
        reports: ReportStore,
        *,
        clock: Clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._orders = orders
        self._reports = reports
        self._clock = clock
        self._new_id = new_id

    def diagnose(self, body: Mapping[str, Any]) -> DiagnosisReport:
        request = parse_request(DiagnoseRequest, body)
        now = self._clock()
        thresholds = dict(DEFAULT_STUCK_THRESHOLDS) | {
            status: timedelta(hours=hours) for status, hours in request.thresholds_hours.items()
        }
        resolved, unresolved = resolve_references(self._orders, request.orders)
        order_ids = list(dict.fromkeys(resolved.values()))
        headers = self._orders.get_many(order_ids)
        histories = self._orders.histories([order_id for order_id in order_ids if order_id in headers])
        results: list[tuple[str, OrderDiagnosis]] = []
        for reference, order_id in resolved.items():
            order = headers.get(order_id)
            if order is None:
                unresolved.append(Unresolved(reference, "ORDER_NOT_FOUND"))
                continue
            results.append((reference, diagnose(order, histories[order_id], now=now, thresholds=thresholds)))
        diagnoses = [diagnosis for _, diagnosis in results]
        report = DiagnosisReport(
            diagnosis_id=self._new_id(),
            diagnosed_at=now,
            results=results,
            unresolved=unresolved,
            groups=group_breakpoints(diagnoses),
        )
        rows = export_rows(diagnoses)
        if request.export and rows:
            self._export(report, rows)
        return report

    def _export(self, report: DiagnosisReport, rows: list[tuple[str, ...]]) -> None:
        stem = f"diagnosis/{report.diagnosed_at:%Y/%m/%d}/{report.diagnosis_id}"
        for kind, (key, url) in self._reports.publish_table(
            stem, EXPORT_COLUMNS, rows, title="abnormal orders"
        ).items():
            report.exports[kind] = url
            report.export_keys[kind] = key


# --------------------------------------------------------------------------- forced changes


@dataclass(frozen=True, slots=True)
class ForceOutcome:
    reference: str
    result: str  # forced | already_applied | refused | not_found | ambiguous | conflict
    order_id: str | None = None
    status_before: str | None = None
    status_after: str | None = None
    event_id: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


class ForcedCorrections:
    """``POST /orders/{id}/force-status``, its bulk form, and the audit query."""

    def __init__(
        self,
        orders: OrderBatchReader,
        *,
        publisher: OrderChangePublisher,
        clock: Clock,
        admins: Sequence[str],
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._orders = orders
        self._publisher = publisher
        self._clock = clock
        self._admins = tuple(admins)
        self._new_id = new_id

    def force_one(self, reference: str, body: Mapping[str, Any], *, actor: str) -> ForceOutcome:
        require_admin(actor, self._admins)
        request = parse_request(ForceRequest, body)
        if request.status is None:
            raise BadRequestError("status is required")
        outcome = self._force_all(request, [(reference, request.status)], actor)[0]
        if outcome.result == "not_found":
            from oms.domain.errors import OrderNotFoundError

            raise OrderNotFoundError("no order with this reference", reference=reference)
        if outcome.result in ("refused", "ambiguous"):
            raise ForceRefusedError(outcome.message or outcome.result, reference=reference)
        if outcome.result == "conflict":
            raise ConcurrentUpdateError("the order kept changing; try again", reference=reference)
        return outcome

    def force_many(self, body: Mapping[str, Any], *, actor: str) -> tuple[str, list[ForceOutcome]]:
        require_admin(actor, self._admins)
        request = parse_request(BulkForceRequest, body)
        targets: list[tuple[str, OrderStatus]] = []
        for item in request.orders:
            reference, status = (item, request.status) if isinstance(item, str) else (item.order, item.status)
            status = status or request.status
            if status is None:
                raise BadRequestError("each order needs a status (or give one for all)", reference=reference)
            targets.append((reference, status))
        request_id = request.request_id or self._new_id()
        return request_id, self._force_all(
            request.model_copy(update={"request_id": request_id}), targets, actor
        )

    def audit(self, start: datetime, end: datetime) -> list[HistoryEntry]:
        if end < start:
            raise BadRequestError("from is after to")
        if end - start > timedelta(days=MAX_AUDIT_DAYS):
            raise BadRequestError(f"a query spans at most {MAX_AUDIT_DAYS} days")
        return self._orders.forced_changes(start, end)

    def _force_all(
        self, request: ForceRequest, targets: Sequence[tuple[str, OrderStatus]], actor: str
    ) -> list[ForceOutcome]:
        request_id = request.request_id or self._new_id()
        mark = OperatorMark(actor=actor, mode=request.mode, reason=request.reason, request_id=request_id)
        resolved, unresolved = resolve_references(self._orders, [reference for reference, _ in targets])
        missing = {item.reference: item for item in unresolved}
        # An order named twice (by one reference or two) would race with itself: only its first
        # mention is forced, the others are refused.
        first_mention: dict[str, int] = {}
        for position, (reference, _) in enumerate(targets):
            if reference in resolved:
                first_mention.setdefault(resolved[reference], position)

        def force(position: int, target: tuple[str, OrderStatus]) -> ForceOutcome:
            reference, status = target
            if reference in resolved and first_mention[resolved[reference]] != position:
                return ForceOutcome(
                    reference,
                    "refused",
                    resolved[reference],
                    message="the order appears earlier in this request",
                )
            if reference in missing:
                item = missing[reference]
                result = "ambiguous" if item.error == "ORDER_AMBIGUOUS" else "not_found"
                return ForceOutcome(reference, result, message=", ".join(item.candidates) or None)
            return self._force(reference, resolved[reference], status, mark)

        if len(targets) == 1:
            return [force(0, targets[0])]
        with ThreadPoolExecutor(max_workers=FORCE_WORKERS) as pool:
            return list(pool.map(force, range(len(targets)), targets))

    def _force(self, reference: str, order_id: str, target: OrderStatus, mark: OperatorMark) -> ForceOutcome:
        event_id = force_event_id(mark.request_id or "", order_id)
        for _ in range(MAX_FORCE_ATTEMPTS):
            order = self._orders.get(order_id)
            if order is None:
                return ForceOutcome(reference, "not_found", order_id=order_id)
            if order.last_event_id == event_id:
                # Stored by an earlier attempt of this request, whose publish may have been lost.
                republish_change(self._orders, self._publisher, order_id, event_id)
                return ForceOutcome(
                    reference, "already_applied", order_id, status_after=order.status, event_id=event_id
                )
            try:
                decision = force_status(order, target, mark=mark, event_id=event_id, now=self._clock())
            except ForceRefusedError as error:
                return ForceOutcome(
                    reference, "refused", order_id, order.status, target, message=error.message
                )
            try:
                written = self._orders.save(decision)
            except ConcurrentUpdateError:
                continue  # an event changed the order meanwhile: decide again on what it is now
            if not written:
                republish_change(self._orders, self._publisher, order_id, event_id)
                return ForceOutcome(
                    reference, "already_applied", order_id, status_after=order.status, event_id=event_id
                )
            publish_decision(self._publisher, decision)
            return ForceOutcome(reference, "forced", order_id, order.status, target, event_id)
        return ForceOutcome(reference, "conflict", order_id, message="the order kept changing")
