"""Provable returns: open a return with a code, record signed scans on its chain, watch the 72-hour
gap, anchor the chain heads daily, verify a chain and report the evidence.

``docs/returns.md`` describes the flow, the code, the chain and the keys.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oms.domain.alerts import Alert, Severity
from oms.domain.errors import (
    BadRequestError,
    ConcurrentUpdateError,
    OrderNotFoundError,
    ReturnCodeInvalidError,
    ReturnLinesInvalidError,
    ScanInvalidError,
    ScannerNotAllowedError,
    ScannerUnauthenticatedError,
    StorageError,
)
from oms.domain.model import Order
from oms.domain.order_events import OrderChanged
from oms.domain.return_chain import (
    ALGORITHM,
    GENESIS,
    Anchor,
    ChainVerification,
    StoredLink,
    canonical_json,
    digest_root,
    link_hash,
    verify_chain,
)
from oms.domain.returns import (
    RECEIPT_DEADLINE,
    SCAN_ROLES,
    SIGNATURE_WINDOW,
    EventKind,
    Flag,
    ReturnLine,
    ReturnRecord,
    ReturnStatus,
    ScanKind,
    Scanner,
    code_matches,
    gap_rule,
    issue_code,
    mask_name,
    new_return_id,
    parse_code,
    scan_flags,
    scan_signature,
)
from oms.domain.status import OrderStatus, RefundStatus
from oms.observability import count
from oms.services.ports import (
    AlertSink,
    Clock,
    CodeKeys,
    DigestStore,
    OrdersRepository,
    ReturnsRepository,
    ScannerDirectory,
)

logger = Logger(child=True)

#: A refund asked for after goods left the warehouse means the goods come back.
RETURN_REFUNDS = frozenset({RefundStatus.REQUESTED, RefundStatus.REFUNDING})
SHIPPED_STATUSES = frozenset(
    {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}
)
#: Attempts to append against a moving head before giving up (each retry re-reads the head)
APPEND_ATTEMPTS = 12
DIGEST_PREFIX = "returns/digests/"
SCANNER_HEADER = "x-oms-scanner"
TIMESTAMP_HEADER = "x-oms-timestamp"
SIGNATURE_HEADER = "x-oms-signature"


# --------------------------------------------------------------------------- requests


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OpenLine(_Strict):
    line_id: str = Field(min_length=1, max_length=128)
    quantity: int = Field(ge=1, le=100_000)


class OpenRequest(_Strict):
    order_id: str = Field(min_length=1, max_length=200)
    lines: tuple[OpenLine, ...] = Field(min_length=1, max_length=200)
    #: the caller's id for this request: sending it again returns the same return
    request_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=500)


class Gps(_Strict):
    lat: str
    lon: str
    accuracy_m: int | None = Field(default=None, ge=0, le=100_000)

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _decimal_text(cls, value: Any) -> str:
        """Degrees as a decimal string with 6 places (floats have no canonical form in the chain)."""
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("a coordinate is a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation as error:
            raise ValueError("a coordinate is a number") from error
        if not number.is_finite():
            raise ValueError("a coordinate is a finite number")
        return str(number.quantize(Decimal("0.000001")))

    def in_range(self) -> bool:
        return abs(Decimal(self.lat)) <= 90 and abs(Decimal(self.lon)) <= 180


class ScanRequest(_Strict):
    scan_id: str = Field(min_length=1, max_length=128)
    kind: ScanKind
    operator_id: str = Field(min_length=1, max_length=128)
    operator_name: str = Field(default="", max_length=128)
    device_fingerprint: str = Field(min_length=1, max_length=256)
    gps: Gps
    photo_ref: str | None = Field(default=None, max_length=1024)
    device_time: datetime

    @field_validator("device_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("device_time needs a time zone (e.g. Z)")
        return value.astimezone(UTC)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Opened:
    record: ReturnRecord
    created: bool

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, **_record_summary(self.record)}


@dataclass(frozen=True, slots=True)
class ScanRecorded:
    return_id: str
    seq: int
    duplicate: bool
    flags: tuple[str, ...]
    event: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "return_id": self.return_id,
            "seq": self.seq,
            "duplicate": self.duplicate,
            "flags": list(self.flags),
            "event": dict(self.event),
        }


@dataclass(frozen=True, slots=True)
class SweepReport:
    examined: int
    alerts: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class AnchorReport:
    day: str
    digest_key: str
    heads: int
    root: str
    written: bool


class ReturnsService:
    def __init__(
        self,
        *,
        repository: ReturnsRepository,
        orders: OrdersRepository,
        code_keys: CodeKeys,
        scanners: ScannerDirectory,
        digests: DigestStore,
        alerts: AlertSink,
        clock: Clock,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._repository = repository
        self._orders = orders
        self._code_keys = code_keys
        self._scanners = scanners
        self._digests = digests
        self._alerts = alerts
        self._clock = clock
        self._random_bytes = random_bytes

    # ------------------------------------------------------------------ opening

    def open_by_operator(self, body: Mapping[str, Any], actor: str) -> Opened:
        try:
            request = OpenRequest.model_validate(body)
        except ValidationError as error:
            raise BadRequestError("not a return request", errors=_errors(error)) from error
        order = self._orders.get(request.order_id)
        if order is None:
            raise OrderNotFoundError("no such order", order_id=request.order_id)
        lines = _returned_lines(order, request.lines)
        return self._open(
            order,
            lines,
            source="operator",
            opened_by=actor,
            reason=request.reason,
            once_key=f"operator#{request.request_id}",
        )

    def open_from_change(self, change: OrderChanged) -> Opened | None:
        """Open the return an after-sale change implies: a refund asked for after shipment.

        One platform-opened return per order: the first such change opens it, a redelivered or
        later change finds it (``change_id`` duplicates included).
        """
        if change.refund_after not in RETURN_REFUNDS or change.status_after not in SHIPPED_STATUSES:
            return None
        order = change.order
        lines = tuple(
            ReturnLine(line_id=line.line_id, sku_id=line.sku_id, quantity=line.quantity)
            for line in order.lines
            if line.quantity > 0
        )
        if not lines:
            return None
        return self._open(
            order,
            lines,
            source=f"platform:{order.platform}",
            opened_by=change.change_id,
            reason=f"after-sale {change.refund_after}",
            once_key=f"order#{order.order_id}",
        )

    def _open(
        self,
        order: Order,
        lines: tuple[ReturnLine, ...],
        *,
        source: str,
        opened_by: str,
        reason: str,
        once_key: str,
    ) -> Opened:
        now = self._clock()
        version, key = self._code_keys.current()
        for _ in range(3):
            return_id = new_return_id(self._random_bytes(7))
            code = issue_code(key, version, return_id, order.order_id, lines)
            event = {
                "v": 1,
                "seq": 1,
                "return_id": return_id,
                "kind": str(EventKind.OPENED),
                "recorded_at": _iso(now),
                "flags": [],
                "data": {
                    "order_id": order.order_id,
                    "platform": str(order.platform),
                    "shop_id": order.shop_id,
                    "platform_order_id": order.platform_order_id,
                    "lines": [line.model_dump() for line in lines],
                    "source": source,
                    "opened_by": opened_by,
                    "reason": reason,
                },
            }
            first = StoredLink(1, event, link_hash(event, GENESIS), GENESIS)
            record = ReturnRecord(
                return_id=return_id,
                code=code,
                order_id=order.order_id,
                platform=str(order.platform),
                shop_id=order.shop_id,
                platform_order_id=order.platform_order_id,
                lines=lines,
                source=source,
                opened_at=now,
                head_seq=1,
                head_hash=first.hash,
                last_change_at=now,
            )
            try:
                stored_id = self._repository.create(record, first, once_key)
            except ConcurrentUpdateError:
                continue  # the drawn id is taken: draw another
            if stored_id == return_id:
                count("ReturnsOpened", source=source.split(":", maxsplit=1)[0])
                return Opened(record, created=True)
            existing = self._repository.get(stored_id)
            if existing is None:
                raise StorageError("the return this request opened is not readable", return_id=stored_id)
            return Opened(existing, created=False)
        raise StorageError("no free return id after three draws")

    # ------------------------------------------------------------------ scans

    def record_scan(self, code_text: str, path: str, headers: Mapping[str, str], body: bytes) -> ScanRecorded:
        """Authenticate the device, check the code, append the scan (flagged where doubtful)."""
        now = self._clock()
        scanner = self._authenticate(path, headers, body, now)
        try:
            request = ScanRequest.model_validate_json(body)
        except ValidationError as error:
            raise ScanInvalidError("not a scan", errors=_errors(error)) from error
        if not request.gps.in_range():
            raise ScanInvalidError("GPS position out of range", lat=request.gps.lat, lon=request.gps.lon)
        if SCAN_ROLES[request.kind] != scanner.role:
            raise ScannerNotAllowedError(
                f"a {scanner.role} device cannot record a {request.kind}", device=scanner.device_id
            )
        record = self._resolve(code_text, route="scan")
        once_key = f"scan#{scanner.device_id}#{request.scan_id}"
        for _ in range(APPEND_ATTEMPTS):
            recorded_at = self._clock()
            flags = scan_flags(
                request.kind, record.pickups, record.receipts, request.device_time, recorded_at
            )
            event = {
                "v": 1,
                "seq": record.head_seq + 1,
                "return_id": record.return_id,
                "kind": str(request.kind),
                "recorded_at": _iso(recorded_at),
                "flags": [str(flag) for flag in flags],
                "data": {
                    "scan_id": request.scan_id,
                    "device_id": scanner.device_id,
                    "partner": scanner.partner,
                    "role": str(scanner.role),
                    "operator_id": request.operator_id,
                    "operator_name": request.operator_name,
                    "device_fingerprint": request.device_fingerprint,
                    "gps": request.gps.model_dump(exclude_none=True),
                    "photo_ref": request.photo_ref,
                    "device_time": _iso(request.device_time),
                },
            }
            after = _after_scan(record, request.kind, recorded_at, flags)
            try:
                duplicate_of = self._append(record, after, event, once_key)
            except ConcurrentUpdateError:
                refreshed = self._repository.get(record.return_id)
                if refreshed is None:
                    raise StorageError("the return disappeared", return_id=record.return_id) from None
                record = refreshed
                continue
            if duplicate_of is not None:
                return self._duplicate_scan(record.return_id, duplicate_of)
            for flag in flags:
                count("ReturnScanFlagged", flag=str(flag))
            count("ReturnScans", kind=str(request.kind), partner=scanner.partner)
            return ScanRecorded(record.return_id, record.head_seq + 1, False, tuple(map(str, flags)), event)
        raise ConcurrentUpdateError("the return kept changing; scan again", return_id=record.return_id)

    def _duplicate_scan(self, return_id: str, seq: int) -> ScanRecorded:
        link = next((link for link in self._repository.links(return_id) if link.position == seq), None)
        event = dict(link.event) if link and link.event else {}
        return ScanRecorded(return_id, seq, True, tuple(event.get("flags", ())), event)

    def _append(
        self, before: ReturnRecord, after: ReturnRecord, event: dict[str, Any], once_key: str
    ) -> int | None:
        link = StoredLink(before.head_seq + 1, event, link_hash(event, before.head_hash), before.head_hash)
        after = replace(after, head_seq=link.position, head_hash=link.hash)
        return self._repository.append(before, after, link, once_key)

    def _authenticate(self, path: str, headers: Mapping[str, str], body: bytes, now: datetime) -> Scanner:
        lowered = {name.lower(): value for name, value in headers.items()}
        device_id = lowered.get(SCANNER_HEADER, "")
        timestamp = lowered.get(TIMESTAMP_HEADER, "")
        signature = lowered.get(SIGNATURE_HEADER, "")
        scanner = self._scanners.scanner(device_id) if device_id else None
        if scanner is None or not timestamp.isdigit() or not signature:
            count("ScansRejected", reason="unauthenticated")
            raise ScannerUnauthenticatedError("unknown device or missing signature headers")
        sent = datetime.fromtimestamp(int(timestamp), UTC)
        if abs(now - sent) > SIGNATURE_WINDOW:
            count("ScansRejected", reason="stale")
            raise ScannerUnauthenticatedError("the signature is too old or from the future", device=device_id)
        expected = scan_signature(scanner.key, "POST", path, timestamp, body)
        if not hmac.compare_digest(expected, signature.lower()):
            count("ScansRejected", reason="signature")
            raise ScannerUnauthenticatedError("the signature does not match", device=device_id)
        return scanner

    # ------------------------------------------------------------------ codes

    def _resolve(self, code_text: str, *, route: str) -> ReturnRecord:
        """The return a code names, or a logged, counted attempt and ``RETURN_CODE_INVALID``."""
        try:
            parsed = parse_code(code_text)
        except ReturnCodeInvalidError:
            self._reject("malformed", route, code_text)
        record = self._repository.get(parsed.return_id)
        if record is None:
            self._reject("unknown", route, parsed.code)
        key = self._code_keys.key(parsed.key_version)
        if key is None or not code_matches(key, parsed, record.order_id, record.lines):
            self._reject("forged", route, parsed.code)
        return record

    def _reject(self, reason: str, route: str, code_text: str) -> NoReturn:
        prefix = code_text[:6]
        logger.warning(
            "return code rejected", extra={"reason": reason, "route": route, "code_prefix": prefix}
        )
        count("ReturnCodeRejected", reason=reason, route=route)
        self._repository.record_attempt(self._clock(), reason, route, prefix)
        raise ReturnCodeInvalidError("no return has this code")

    def record_for(self, code_text: str, *, route: str) -> ReturnRecord:
        return self._resolve(code_text, route=route)

    # ------------------------------------------------------------------ views

    def customer_view(self, code_text: str) -> dict[str, Any]:
        """The path as the customer may see it: steps, times, partners; names masked, no devices."""
        record = self._resolve(code_text, route="view")
        steps = []
        for link in self._repository.links(record.return_id):
            event = link.event or {}
            data = event.get("data") or {}
            step: dict[str, Any] = {
                "seq": event.get("seq"),
                "kind": event.get("kind"),
                "at": event.get("recorded_at"),
            }
            if event.get("kind") in (EventKind.PICKUP, EventKind.RECEIPT):
                step["partner"] = data.get("partner")
                step["handled_by"] = mask_name(
                    str(data.get("operator_name") or data.get("operator_id") or "")
                )
            if event.get("kind") == EventKind.GAP_DETECTED:
                step["note"] = "the parcel was not received within 72 hours; the merchant is looking into it"
            steps.append(step)
        return {
            "code": record.code,
            "status": str(record.status),
            "platform_order_id": record.platform_order_id,
            "lines": [{"sku_id": line.sku_id, "quantity": line.quantity} for line in record.lines],
            "steps": steps,
        }

    def verify(self, code_text: str) -> tuple[ReturnRecord, ChainVerification]:
        record = self._resolve(code_text, route="verify")
        return record, self._verify(record)

    def _verify(self, record: ReturnRecord) -> ChainVerification:
        links = self._repository.links(record.return_id)
        anchor = self._repository.anchor(record.return_id)
        if anchor is not None:
            anchor = self._confirmed_anchor(record.return_id, anchor)
        return verify_chain(links, record.head_seq, record.head_hash, anchor)

    def _confirmed_anchor(self, return_id: str, pointer: Anchor) -> Anchor:
        """The head as the write-once digest says it, not as the table's pointer says it."""
        document = self._digests.get(pointer.digest_key)
        if document is None:
            return replace(pointer, hash="missing-digest")
        digest = json.loads(document)
        entry = next((head for head in digest.get("heads", []) if head.get("return_id") == return_id), None)
        root_ok = digest_root(digest.get("heads", [])) == digest.get("root")
        if entry is None or not root_ok:
            return replace(pointer, hash="not-in-digest")
        return Anchor(
            int(entry["seq"]), str(entry["hash"]), pointer.digest_key, str(digest["day"]), str(digest["root"])
        )

    def evidence(self, code_text: str) -> dict[str, Any]:
        record = self._resolve(code_text, route="evidence")
        verification = self._verify(record)
        timeline = []
        for link in self._repository.links(record.return_id):
            event = dict(link.event or {})
            data = dict(event.get("data") or {})
            timeline.append(
                {
                    "seq": link.position,
                    "kind": event.get("kind"),
                    "recorded_at": event.get("recorded_at"),
                    "flags": event.get("flags", []),
                    "data": data,
                    "hash": link.hash,
                    "previous_hash": link.previous_hash,
                }
            )
        return {
            "return": _record_summary(record),
            "order": {
                "order_id": record.order_id,
                "platform": record.platform,
                "shop_id": record.shop_id,
                "platform_order_id": record.platform_order_id,
                "lines": [line.model_dump() for line in record.lines],
            },
            "timeline": timeline,
            "photos": [item["data"]["photo_ref"] for item in timeline if item["data"].get("photo_ref")],
            "verification": verification.as_dict(),
            "chain_algorithm": ALGORITHM,
            "generated_at": _iso(self._clock()),
        }

    # ------------------------------------------------------------------ schedules

    def sweep(self, now: datetime) -> SweepReport:
        """Raise the 72-hour gap alert once per return (the chain append is the conditional write)."""
        alerts: list[Alert] = []
        candidates = self._repository.gap_candidates(now - RECEIPT_DEADLINE)
        for return_id in candidates:
            alert = self._gap(return_id, now)
            if alert is not None:
                alerts.append(alert)
        if alerts:
            self._alerts.raise_alerts(alerts)
        return SweepReport(len(candidates), tuple(alerts))

    def _gap(self, return_id: str, now: datetime) -> Alert | None:
        for _ in range(APPEND_ATTEMPTS):
            record = self._repository.get(return_id)
            if record is None or record.pickup_at is None:
                return None
            rule = gap_rule(record.pickup_at, record.receipt_at, now)
            if rule is None or record.gap_alerted:
                self._repository.stop_watching(return_id)
                return None
            waited = (record.receipt_at or now) - record.pickup_at
            event = {
                "v": 1,
                "seq": record.head_seq + 1,
                "return_id": return_id,
                "kind": str(EventKind.GAP_DETECTED),
                "recorded_at": _iso(now),
                "flags": [str(rule)],
                "data": {
                    "rule": str(rule),
                    "pickup_at": _iso(record.pickup_at),
                    "receipt_at": _iso(record.receipt_at) if record.receipt_at else None,
                    "hours_waited": int(waited.total_seconds() // 3600),
                },
            }
            after = replace(record, gap_alerted=True, flags=_merged(record.flags, [rule]), last_change_at=now)
            try:
                duplicate_of = self._append(record, after, event, "gap")
            except ConcurrentUpdateError:
                continue
            if duplicate_of is not None:
                self._repository.stop_watching(return_id)
                return None
            count("ReturnGaps", rule=str(rule))
            return _gap_alert(record, rule, waited)
        return None

    def anchor(self, day: str) -> AnchorReport:
        """Write the digest of every chain head not anchored yet, as ``day``'s (UTC) write-once digest.

        Pending heads are taken whatever day they grew on, so a missed or failed run loses nothing:
        the next one anchors them.
        """
        heads: list[dict[str, Any]] = [
            {"return_id": return_id, "seq": seq, "hash": head_hash}
            for return_id, seq, head_hash in self._repository.pending_heads()
        ]
        heads.sort(key=lambda head: str(head["return_id"]))
        root = digest_root(heads)
        key = f"{DIGEST_PREFIX}{day}.json"
        document = canonical_json(
            {
                "day": day,
                "algorithm": ALGORITHM,
                "generated_at": _iso(self._clock()),
                "heads": heads,
                "root": root,
            }
        )
        existing = self._digests.get(key)
        written = False
        if existing is None:
            try:
                self._digests.put(key, document)
                written = True
            except ConcurrentUpdateError:
                existing = self._digests.get(key)
        if existing is not None:
            # Written before (a retried or overlapping run): the first digest stands.
            digest = json.loads(existing)
            heads, root = digest["heads"], digest["root"]
        for head in heads:
            self._repository.set_anchor(
                str(head["return_id"]), Anchor(int(head["seq"]), str(head["hash"]), key, day, root)
            )
        count("ReturnDigestsWritten", value=1 if written else 0)
        return AnchorReport(day, key, len(heads), root, written)


# --------------------------------------------------------------------------- helpers


def _returned_lines(order: Order, requested: Sequence[OpenLine]) -> tuple[ReturnLine, ...]:
    by_id = {line.line_id: line for line in order.lines}
    wanted: dict[str, int] = {}
    for line in requested:
        wanted[line.line_id] = wanted.get(line.line_id, 0) + line.quantity
    lines = []
    for line_id, quantity in wanted.items():
        ordered = by_id.get(line_id)
        if ordered is None:
            raise ReturnLinesInvalidError("the order has no such line", line_id=line_id)
        if quantity > ordered.quantity:
            raise ReturnLinesInvalidError(
                "more returned than ordered", line_id=line_id, ordered=ordered.quantity, returned=quantity
            )
        lines.append(ReturnLine(line_id=line_id, sku_id=ordered.sku_id, quantity=quantity))
    return tuple(lines)


def _after_scan(record: ReturnRecord, kind: ScanKind, at: datetime, flags: Sequence[Flag]) -> ReturnRecord:
    if kind == ScanKind.PICKUP:
        return replace(
            record,
            pickups=record.pickups + 1,
            pickup_at=record.pickup_at or at,
            status=ReturnStatus.RECEIVED if record.receipts else ReturnStatus.PICKED_UP,
            flags=_merged(record.flags, flags),
            last_change_at=at,
        )
    return replace(
        record,
        receipts=record.receipts + 1,
        receipt_at=record.receipt_at or at,
        status=ReturnStatus.RECEIVED,
        flags=_merged(record.flags, flags),
        last_change_at=at,
    )


def _merged(existing: Sequence[str], new: Sequence[Flag]) -> tuple[str, ...]:
    merged = list(existing)
    merged.extend(str(flag) for flag in new if str(flag) not in merged)
    return tuple(merged)


def _gap_alert(record: ReturnRecord, rule: Flag, waited: timedelta) -> Alert:
    hours = int(waited.total_seconds() // 3600)
    late = rule == Flag.LATE_RECEIPT_72H
    title = (
        f"Return {record.code}: received {hours} h after pickup"
        if late
        else f"Return {record.code}: picked up {hours} h ago, not received"
    )
    return Alert(
        kind="returns.gap",
        severity=Severity.WARNING,
        title=title,
        dedupe_key=f"returns.gap#{record.return_id}",
        lines=(
            f"Order {record.platform_order_id} ({record.platform}, shop {record.shop_id})",
            "Rule: a receipt must follow a pickup within 72 hours.",
            "Evidence: GET /returns/{code}/evidence".replace("{code}", record.code),
        ),
        facts={
            "return_id": record.return_id,
            "order_id": record.order_id,
            "rule": str(rule),
            "hours": hours,
        },
        recipient_role="warehouse_lead",
    )


def _record_summary(record: ReturnRecord) -> dict[str, Any]:
    return {
        "return_id": record.return_id,
        "code": record.code,
        "order_id": record.order_id,
        "status": str(record.status),
        "source": record.source,
        "opened_at": _iso(record.opened_at),
        "pickup_at": _iso(record.pickup_at) if record.pickup_at else None,
        "receipt_at": _iso(record.receipt_at) if record.receipt_at else None,
        "flags": list(record.flags),
        "head": {"seq": record.head_seq, "hash": record.head_hash},
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _errors(error: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(map(str, item["loc"])), "problem": item["msg"]} for item in error.errors()][
        :10
    ]


__all__ = ["AnchorReport", "Opened", "ReturnsService", "ScanRecorded", "SweepReport"]
