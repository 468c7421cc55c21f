"""The reconciliation patrol: open orders against their platforms' order APIs, every 15 minutes.

One run (a *patrol*) has two halves, both in ``order_reconciler``:

1. **plan** (the schedule): read the open orders from the status index (one Query per platform and
   open status, so the cost follows open orders, not every order ever taken), record the patrol,
   and send them to the patrol queue in chunks;
2. **work** (the queue): per chunk, fetch each order's truth through its platform's signed client
   (paced per platform), compare (:mod:`oms.domain.reconciliation`) and act: apply, record a
   conflict, or list an action item. The chunk's results and the patrol's counter move in one
   transaction, so a redelivered chunk is counted once; the worker that completes the last chunk
   claims the report (a conditional write), writes it to the reports bucket and raises one grouped
   alert when there were conflicts.

Every change goes through :func:`~oms.services.orders.apply_event` (the state machine, the
conditional write, the order-change publishing). Two overlapping patrols apply nothing twice: a
reconciliation event's id is derived from the platform truth it carries, and the history's
conditional write lets one of them record it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from oms.domain.alerts import Alert, Severity
from oms.domain.errors import OmsError
from oms.domain.model import EventSource, Order, OrderEvent, Outcome, Platform
from oms.domain.reconciliation import Comparison, Verdict, compare, reconciliation_event
from oms.domain.status import TERMINAL_STATUSES
from oms.services.orders import apply_event
from oms.services.ports import AlertSink, Clock, OrderChangePublisher, OrdersRepository, ReportStore

#: Orders per queue message: a chunk is a few seconds of platform calls, far below the timeout.
DEFAULT_CHUNK_SIZE = 25
#: Orders whose status changed this recently are left to the pushes still in flight.
DEFAULT_SETTLE = timedelta(minutes=2)
#: Conflicts listed in the alert itself (the report holds all of them).
ALERT_LINES = 20


@dataclass(frozen=True, slots=True)
class OpenOrderRef:
    order_id: str
    platform: Platform
    shop_id: str
    platform_order_id: str

    def as_dict(self) -> dict[str, str]:
        return {
            "order_id": self.order_id,
            "platform": str(self.platform),
            "shop_id": self.shop_id,
            "platform_order_id": self.platform_order_id,
        }


class OpenOrderIndex(Protocol):
    def open_orders(self, settled_before: datetime) -> Iterator[OpenOrderRef]:
        """Orders in an open status whose status is older than ``settled_before``."""
        ...


class PlatformTruth(Protocol):
    def fetch(self, platform: Platform, shop_id: str, platform_order_id: str) -> OrderEvent:
        """The platform's current order as a canonical event; raises a typed ``OmsError``."""
        ...


class PatrolQueue(Protocol):
    def send(self, messages: Sequence[Mapping[str, Any]]) -> None: ...


@dataclass(frozen=True, slots=True)
class PatrolStart:
    patrol_id: str
    started_at: datetime
    orders: int
    chunks: int


class PatrolLog(Protocol):
    def start(self, patrol: PatrolStart) -> None: ...

    def record_chunk(self, patrol_id: str, chunk: int, result: Mapping[str, Any]) -> bool:
        """Store a chunk's results and count it, atomically; False when it was recorded before."""
        ...

    def claim_report(self, patrol_id: str, now: datetime) -> PatrolStart | None:
        """The patrol, when every chunk is in and nobody claimed its report yet (else None)."""
        ...

    def chunk_results(self, patrol_id: str) -> list[dict[str, Any]]: ...


class Pacer:
    """A token bucket per platform: at most ``rate`` calls a second after a burst of ``burst``.

    Shopify's REST limit is 2 requests/s with a bucket of 40 (docs/platforms/shopify.md); the other
    platforms' app limits are higher, and the defaults stay well under them. Limits are per worker:
    the queue's maximum concurrency multiplies them (template.yaml).
    """

    DEFAULT_LIMITS: Mapping[str, tuple[float, int]] = {
        "shopify": (2.0, 40),
        "default": (20.0, 40),
    }

    def __init__(
        self,
        limits: Mapping[str, tuple[float, int]] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limits = dict(self.DEFAULT_LIMITS) | dict(limits or {})
        self._monotonic = monotonic
        self._sleep = sleep
        self._buckets: dict[str, tuple[float, float]] = {}  # platform -> (tokens, at)
        self._lock = threading.Lock()

    def wait(self, platform: str) -> None:
        rate, burst = self._limits.get(platform, self._limits["default"])
        with self._lock:
            now = self._monotonic()
            tokens, at = self._buckets.get(platform, (float(burst), now))
            tokens = min(float(burst), tokens + max(0.0, now - at) * rate)
            if tokens >= 1:
                delay, self._buckets[platform] = 0.0, (tokens - 1, now)
            else:
                # The call waits for the next token; the bucket is empty when it is taken.
                delay = (1 - tokens) / rate
                self._buckets[platform] = (0.0, now + delay)
        if delay:
            self._sleep(delay)


@dataclass(slots=True)
class ChunkOutcome:
    patrol_id: str
    chunk: int
    counted: bool
    results: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PatrolReport:
    patrol_id: str
    key: str
    document: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.document["counts"])


class PatrolPlanner:
    """The scheduled half: select open orders by the status index, record the patrol, fan out."""

    def __init__(
        self,
        *,
        index: OpenOrderIndex,
        queue: PatrolQueue,
        log: PatrolLog,
        clock: Clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        settle: timedelta = DEFAULT_SETTLE,
    ) -> None:
        self._index = index
        self._queue = queue
        self._log = log
        self._clock = clock
        self._new_id = new_id
        self._chunk_size = chunk_size
        self._settle = settle

    def plan(self) -> PatrolStart:
        now = self._clock()
        refs = interleave_platforms(self._index.open_orders(now - self._settle))
        chunks = [refs[start : start + self._chunk_size] for start in range(0, len(refs), self._chunk_size)]
        patrol = PatrolStart(
            patrol_id=f"{now:%Y%m%dT%H%M%SZ}-{self._new_id()[:8]}",
            started_at=now,
            orders=len(refs),
            chunks=len(chunks),
        )
        # Recorded before any chunk is sent: a chunk never completes a patrol that does not exist.
        self._log.start(patrol)
        self._queue.send(
            [
                {"patrol_id": patrol.patrol_id, "chunk": number, "orders": [ref.as_dict() for ref in chunk]}
                for number, chunk in enumerate(chunks)
            ]
        )
        return patrol


def interleave_platforms(refs: Iterable[OpenOrderRef]) -> list[OpenOrderRef]:
    """Orders taken in turn from each platform, so a chunk's calls spread over several rate limits."""
    by_platform: dict[Platform, list[OpenOrderRef]] = {}
    for ref in refs:
        by_platform.setdefault(ref.platform, []).append(ref)
    queues = list(by_platform.values())
    mixed: list[OpenOrderRef] = []
    for turn in range(max((len(queue) for queue in queues), default=0)):
        mixed += [queue[turn] for queue in queues if turn < len(queue)]
    return mixed


class PatrolWorker:
    """The queue half: reconcile one chunk; the worker completing the last chunk writes the report."""

    def __init__(
        self,
        *,
        orders: OrdersRepository,
        truth: PlatformTruth,
        publisher: OrderChangePublisher,
        log: PatrolLog,
        reports: ReportStore,
        alerts: AlertSink,
        clock: Clock,
        pacer: Pacer | None = None,
    ) -> None:
        self._orders = orders
        self._truth = truth
        self._publisher = publisher
        self._log = log
        self._reports = reports
        self._alerts = alerts
        self._clock = clock
        self._pacer = pacer or Pacer()

    def process(self, message: Mapping[str, Any]) -> ChunkOutcome:
        patrol_id = str(message["patrol_id"])
        chunk = int(message["chunk"])
        refs = [
            OpenOrderRef(
                order_id=str(item["order_id"]),
                platform=Platform(item["platform"]),
                shop_id=str(item["shop_id"]),
                platform_order_id=str(item["platform_order_id"]),
            )
            for item in message["orders"]
        ]
        results = [self.reconcile(ref) for ref in refs]
        counted = self._log.record_chunk(patrol_id, chunk, {"results": results})
        return ChunkOutcome(patrol_id=patrol_id, chunk=chunk, counted=counted, results=results)

    def reconcile(self, ref: OpenOrderRef) -> dict[str, Any]:
        """Compare one order with its platform's truth and act on it; returns the evidence."""
        base: dict[str, Any] = ref.as_dict()
        order = self._orders.get(ref.order_id)
        if order is None or order.status in TERMINAL_STATUSES:
            return base | {"verdict": Verdict.IN_SYNC, "reason": "no longer open"}
        base |= {"local_status": order.status, "local_since": order.status_key.at.isoformat()}
        self._pacer.wait(ref.platform)
        try:
            truth = reconciliation_event(self._truth.fetch(ref.platform, ref.shop_id, ref.platform_order_id))
        except OmsError as error:
            return base | {"verdict": Verdict.UNREACHABLE, "code": str(error.code), "reason": error.message}
        base |= {
            "platform_status": truth.status,
            "platform_raw_status": truth.platform_status,
            "platform_updated_at": truth.event_time.isoformat(),
            "event_id": truth.event_id,
        }
        comparison = compare(order.status, truth.status)
        if comparison is Comparison.SAME and (
            not truth.refund_known or truth.refund_status == order.refund_status
        ):
            return base | {"verdict": Verdict.IN_SYNC}
        if comparison is Comparison.LOCAL_AHEAD and self._set_by_operator(order):
            return base | {
                "verdict": Verdict.ACTION_ITEM,
                "reason": f"{order.status} here (set by an operator); the platform still says {truth.status}",
            }
        decision = apply_event(
            self._orders, truth, publisher=self._publisher, received_at=self._clock(), clock=self._clock
        )
        return base | self._verdict(comparison, decision.outcome, decision.entry.reason)

    @staticmethod
    def _verdict(comparison: Comparison, outcome: Outcome, reason: str | None) -> dict[str, Any]:
        if outcome.changes_order:
            return {"verdict": Verdict.HEALED, "outcome": outcome}
        if outcome is Outcome.DUPLICATE and comparison in (Comparison.SAME, Comparison.PLATFORM_AHEAD):
            return {"verdict": Verdict.ALREADY_HEALED, "outcome": outcome}
        if outcome is Outcome.STALE and comparison is Comparison.SAME:
            return {"verdict": Verdict.IN_SYNC, "outcome": outcome}
        if outcome is Outcome.STALE:
            reason = "the platform's state is older than the order's: not applied"
        elif reason is None:
            reason = f"{comparison}: not applied"
        return {"verdict": Verdict.CONFLICT, "outcome": outcome, "comparison": comparison, "reason": reason}

    def _set_by_operator(self, order: Order) -> bool:
        changes = [entry for entry in self._orders.history(order.order_id) if entry.outcome.changes_order]
        return (
            bool(changes) and max(changes, key=lambda entry: entry.recorded_at).source is EventSource.OPERATOR
        )

    def finish(self, patrol_id: str) -> PatrolReport | None:
        """Write the patrol's report and alert, if every chunk is in and nobody did it yet."""
        now = self._clock()
        patrol = self._log.claim_report(patrol_id, now)
        if patrol is None:
            return None
        results = [result for chunk in self._log.chunk_results(patrol_id) for result in chunk["results"]]
        report = build_report(patrol, results, finished_at=now)
        key = f"patrols/{patrol.started_at:%Y/%m/%d}/{patrol_id}.json"
        self._reports.publish_json(key, report)
        conflicts = report["conflicts"]
        if conflicts:
            self._alerts.raise_alerts([conflict_alert(patrol_id, report, key)])
        return PatrolReport(patrol_id=patrol_id, key=key, document=report)


def build_report(
    patrol: PatrolStart, results: Sequence[Mapping[str, Any]], *, finished_at: datetime
) -> dict[str, Any]:
    """The patrol report (counts, healed orders, conflicts with their evidence, action items)."""
    counts = Counter(str(result["verdict"]) for result in results)

    def of(verdict: Verdict) -> list[dict[str, Any]]:
        return [dict(result) for result in results if result["verdict"] == verdict]

    return {
        "patrol_id": patrol.patrol_id,
        "started_at": patrol.started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "duration_seconds": round((finished_at - patrol.started_at).total_seconds(), 3),
        "orders": patrol.orders,
        "chunks": patrol.chunks,
        "counts": {verdict.value: counts.get(verdict.value, 0) for verdict in Verdict},
        "detected": sum(counts.get(verdict.value, 0) for verdict in _DIFFERENCES),
        "healed": of(Verdict.HEALED),
        "conflicts": of(Verdict.CONFLICT),
        "action_items": of(Verdict.ACTION_ITEM),
        "unreachable": of(Verdict.UNREACHABLE),
    }


_DIFFERENCES = (Verdict.HEALED, Verdict.ALREADY_HEALED, Verdict.CONFLICT, Verdict.ACTION_ITEM)


def conflict_alert(patrol_id: str, report: Mapping[str, Any], key: str) -> Alert:
    conflicts = report["conflicts"]
    lines = tuple(
        f"{item['platform']} {item['platform_order_id']}: here {item.get('local_status')}, "
        f"platform {item.get('platform_status')} ({item.get('reason', '')})"
        for item in conflicts[:ALERT_LINES]
    )
    more = len(conflicts) - len(lines)
    return Alert(
        kind="reconcile.conflicts",
        severity=Severity.WARNING,
        title=f"Order patrol {patrol_id}: {len(conflicts)} order(s) disagree with their platform",
        dedupe_key=f"reconcile.conflicts:{patrol_id}",
        lines=lines + ((f"... and {more} more in the report",) if more > 0 else ()),
        facts={
            "patrol_id": patrol_id,
            "conflicts": len(conflicts),
            "healed": len(report["healed"]),
            "report": key,
        },
    )
