"""The interfaces services depend on; adapters implement them, tests may fake them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

# Only annotations name these types: importing the whole domain here would put every
# capability's models on every handler's cold start (docs/benchmarks.md, D150).
if TYPE_CHECKING:
    from oms.domain.alerts import Alert
    from oms.domain.bundles import BundleDefinition
    from oms.domain.customers import CustomerProfile, MergeRecord, ReviewItem, TimelineEntry
    from oms.domain.envelope import IntakeEnvelope
    from oms.domain.formula import FormulaVersion
    from oms.domain.inventory import Bucket, Incoming, LedgerEntry, LineDemand, Reservation, StockLevel
    from oms.domain.inventory_health import InventoryMonth, SyncDifference
    from oms.domain.model import Cohort, FailureRecord, HistoryEntry, Order, Platform
    from oms.domain.order_events import OrderChanged
    from oms.domain.return_chain import Anchor, StoredLink
    from oms.domain.returns import ReturnRecord, Scanner
    from oms.domain.rules import ManagedRule, RuleAudit, RuleChange, RuleSet
    from oms.domain.sellable import Bundle
    from oms.domain.settlement import SettlementEntry
    from oms.domain.state_machine import Decision
    from oms.domain.stock_sync import Listing, SkuSnapshot
    from oms.domain.surge import SurgeVerdict
    from oms.platforms.base import AppSecrets

Clock = Callable[[], datetime]


class OrdersRepository(Protocol):
    def get(self, order_id: str) -> Order | None: ...

    def save(self, decision: Decision) -> bool:
        """Write a decision atomically; False when its event was already recorded (a duplicate).

        Raises ``ConcurrentUpdateError`` when the order changed since it was read.
        """
        ...

    def history(self, order_id: str) -> list[HistoryEntry]: ...

    def entry(self, order_id: str, event_id: str) -> HistoryEntry | None:
        """The history entry one event left on an order, if it was recorded."""
        ...

    def find_by_platform_order_id(self, platform_order_id: str) -> list[str]:
        """Unified ids of every order carrying this platform order number (any platform, shop)."""
        ...


class OrderChangePublisher(Protocol):
    def publish(self, change: OrderChanged) -> None:
        """Publish one stored change to every downstream capability (``StorageError`` if refused)."""
        ...


class IntakeQueue(Protocol):
    def send(self, envelopes: Sequence[IntakeEnvelope]) -> None:
        """Enqueue in one call; raises ``StorageError`` if any message was not accepted."""
        ...


class RawArchive(Protocol):
    def put_batch(self, envelopes: Sequence[IntakeEnvelope]) -> Mapping[str, str]:
        """Archive raw payloads in one object; returns trace id → location (``s3://bucket/key#trace``)."""
        ...

    def get(self, location: str) -> IntakeEnvelope:
        """Read one archived envelope back by its location."""
        ...


class SecretStore(Protocol):
    def app_secrets(self, platform: Platform, app_id: str | None) -> tuple[str, AppSecrets]:
        """The app id and secrets for ``app_id`` (or the only app configured, when None).

        Raises ``CredentialsMissingError`` when there is no such app.
        """
        ...


class OrderFetcher(Protocol):
    def __call__(
        self, platform: Platform, app_id: str | None, shop_id: str, platform_order_id: str, message_key: str
    ) -> dict[str, Any]:
        """The platform's order snapshot for the message ``message_key``.

        A redelivered message gets the snapshot its first attempt saw, so one event id always
        carries one content (see docs/decisions.md).
        """
        ...


class FailureLog(Protocol):
    def record(self, failure: FailureRecord) -> None: ...


# --------------------------------------------------------------------------- issue #9: traces, rules, redrive


class RuleSource(Protocol):
    def current(self) -> RuleSet:
        """The operators' rules in force (possibly a few seconds old).

        Raises ``StorageError`` when they cannot be read and no earlier copy is known.
        """
        ...


class RuleStore(Protocol):
    def ruleset(self) -> RuleSet:
        """The rule set as stored now (revision 0 and no rules before the first change)."""
        ...

    def latest_version(self, rule_id: str) -> ManagedRule | None: ...

    def versions(self, rule_id: str) -> list[ManagedRule]:
        """Every version of a rule, oldest first."""
        ...

    def all_versions(self) -> list[ManagedRule]: ...

    def audit(self, rule_id: str) -> list[RuleAudit]:
        """Every change to a rule, oldest first."""
        ...

    def save(self, change: RuleChange) -> None:
        """Write a change atomically; raises ``RuleConflictError`` if the rule set moved meanwhile."""
        ...


@dataclass(frozen=True, slots=True)
class IndexedFailure:
    """A failure record as a failure index returns it, with its position for paging."""

    record: FailureRecord
    position: dict[str, Any]  # opaque: where to resume after this record
    sort_key: str  # the index order: greater is newer, a message's attempts are adjacent


@dataclass(frozen=True, slots=True)
class FailurePartition:
    """One partition of the failure index: a platform (``None``: unreadable messages), maybe one code."""

    platform: str | None
    code: str | None = None


class FailureIndex(Protocol):
    def newest(
        self,
        partition: FailurePartition,
        *,
        received_from: datetime | None,
        received_to: datetime | None,
        after: dict[str, Any] | None,
    ) -> Iterator[IndexedFailure]:
        """Failure records of the partition, newest message first (a message's attempts together)."""
        ...

    def attempts(self, trace_id: str) -> list[FailureRecord]:
        """Every recorded failed attempt of one message, oldest first."""
        ...

    def latest(self, trace_id: str) -> FailureRecord | None: ...


@dataclass(frozen=True, slots=True)
class RedriveRecord:
    """A message moved from the DLQ back to the intake queue."""

    trace_id: str
    redrive: int
    at: datetime
    by: str
    dlq_message_id: str
    new_message_id: str | None


class RedriveLog(Protocol):
    def record(self, redrive: RedriveRecord) -> None: ...

    def of_trace(self, trace_id: str) -> list[RedriveRecord]: ...


class TraceLookup(Protocol):
    def entry_by_trace(self, trace_id: str) -> HistoryEntry | None:
        """The history entry a message produced (it produces at most one)."""
        ...


@dataclass(frozen=True, slots=True)
class RolloutTally:
    """Events processed on each side of a canary, by what happened to them."""

    changed: dict[Cohort, int] = field(default_factory=dict)  # created or applied
    ignored: dict[Cohort, int] = field(default_factory=dict)  # stale, regression, forbidden


class RolloutIndex(Protocol):
    def tally(self, rule_id: str, version: int, *, received_from: datetime) -> RolloutTally:
        """History entries marked for this canary, of messages received since ``received_from``."""
        ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message received from the dead-letter queue (invisible to others until released)."""

    message_id: str
    receipt_handle: str
    body: str
    group_id: str | None
    attributes: dict[str, str]
    receive_count: int


class DeadLetterQueue(Protocol):
    def receive(self, max_messages: int, *, hold_seconds: int) -> list[DeadLetter]: ...

    def release(self, letters: Sequence[DeadLetter]) -> None:
        """Make messages visible again at once (the ones a redrive did not take)."""
        ...

    def move(self, moves: Sequence[tuple[DeadLetter, int]]) -> dict[str, str | None]:
        """Send each letter to the intake queue and delete it from the DLQ.

        Each letter goes with its redrive number (1 for its first redrive): same message group, a
        deduplication id derived from the DLQ message id and that number, its message attributes
        plus ``redrive_count``. Returns DLQ message id → intake message id, or None where the move
        failed (the message then stays in the DLQ).
        """
        ...


class AlertSink(Protocol):
    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        """Deliver alerts to the people their kind and role route to (see ``oms.domain.alerts``).

        Many alerts in one call may be grouped into one message per recipient; an alert whose
        ``dedupe_key`` was delivered before is dropped.
        """
        ...


# ------------------------------------------------------------------ issue #3: diagnosis, forced changes


class OrderBatchReader(OrdersRepository, Protocol):
    """Reads many orders at once (diagnosis of up to 1,000 orders in one API call)."""

    def get_many(self, order_ids: Iterable[str]) -> dict[str, Order]: ...

    def histories(self, order_ids: Sequence[str]) -> dict[str, list[HistoryEntry]]: ...

    def find_many_by_platform_order_id(self, numbers: Sequence[str]) -> dict[str, list[str]]: ...

    def forced_changes(self, start: datetime, end: datetime) -> list[HistoryEntry]:
        """Operators' forced changes recorded in ``[start, end]``, oldest first."""
        ...


class ReportStore(Protocol):
    def publish_json(self, key: str, document: Mapping[str, Any]) -> str:
        """Store a JSON report under ``key``; returns a presigned GET URL (15 minutes at most)."""
        ...

    def publish_table(
        self, stem: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str
    ) -> dict[str, tuple[str, str]]:
        """Store a table as ``<stem>.csv`` and ``<stem>.xlsx``; returns kind → (key, presigned URL)."""
        ...

    def publish(self, key: str, body: bytes, content_type: str) -> str:
        """Store ``body`` under ``key``; returns a presigned GET URL (15 minutes at most)."""
        ...

    def publish_csv(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        """Store a table as CSV (UTF-8 with BOM, formula cells quoted) under ``key``; returns a URL."""
        ...


# --------------------------------------------------------------------------- issue #6: settlements


class SettlementStore(Protocol):
    def add(self, entry: SettlementEntry) -> bool:
        """Write a new entry (conditional); False when that entry was written before."""
        ...

    def add_unique(self, entry: SettlementEntry) -> bool:
        """Like ``add``; raises ``SettlementEntryConflictError`` when the id holds other values."""
        ...

    def entries(self, channel: Platform, *, through: date) -> Iterator[SettlementEntry]:
        """The channel's entries booked on or before ``through``."""
        ...


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    version_id: str | None
    sha256: str
    size: int
    changed: bool  # False: the same content was already the current version
    modified_at: datetime | None = None


class StatementArchive(Protocol):
    def store(self, key: str, body: bytes, content_type: str) -> StoredFile:
        """Write ``body`` unless it is already the current content of ``key``."""
        ...

    def list(self, prefix: str) -> list[StoredFile]: ...

    def read(self, key: str) -> bytes: ...

    def presign(self, key: str, expires: timedelta) -> str:
        """A URL that downloads ``key`` with a plain GET until ``expires`` from now."""
        ...


# --------------------------------------------------------------------------- returns (issue 8)


class ReturnsRepository(Protocol):
    """Returns and their event chains (oms.domain.return_chain); every write is conditional."""

    def get(self, return_id: str) -> ReturnRecord | None: ...

    def links(self, return_id: str) -> list[StoredLink]: ...

    def create(self, record: ReturnRecord, first: StoredLink, once_key: str) -> str:
        """Store a new return with its first event; returns the id of the return ``once_key`` opened.

        When ``once_key`` opened a return before, nothing is written and that return's id is
        returned. Raises ``ConcurrentUpdateError`` when the return id is taken (draw another).
        """
        ...

    def append(
        self, before: ReturnRecord, after: ReturnRecord, link: StoredLink, once_key: str
    ) -> int | None:
        """Append ``link`` if the head is still ``before``'s and ``once_key`` is new on this return.

        Returns None when appended, or the sequence number ``once_key`` appended before (a
        duplicate: nothing written). Raises ``ConcurrentUpdateError`` when the head moved.
        """
        ...

    def gap_candidates(self, picked_up_before: datetime) -> list[str]:
        """Ids of returns watched by the 72-hour rule whose pickup is older than the bound."""
        ...

    def stop_watching(self, return_id: str) -> None: ...

    def pending_heads(self) -> list[tuple[str, int, str]]:
        """(return id, head seq, head hash) of every return whose head no digest anchors yet."""
        ...

    def set_anchor(self, return_id: str, anchor: Anchor) -> None:
        """Point the return at the digest that anchors it (never back to an older one).

        The return stops pending only if its head is still the anchored one.
        """
        ...

    def anchor(self, return_id: str) -> Anchor | None: ...

    def record_attempt(self, at: datetime, reason: str, route: str, code_prefix: str) -> None:
        """Keep a rejected code (malformed, unknown, forged) as an attempt, with a TTL."""
        ...


class CodeKeys(Protocol):
    def current(self) -> tuple[str, bytes]:
        """The version and key new return codes are signed with."""
        ...

    def key(self, version: str) -> bytes | None: ...


class ScannerDirectory(Protocol):
    def scanner(self, device_id: str) -> Scanner | None: ...


class DigestStore(Protocol):
    def put(self, key: str, document: bytes) -> str:
        """Write a digest once (write-once storage); returns its version id. Raises if it exists."""
        ...

    def get(self, key: str) -> bytes | None: ...


class InventoryLedger(Protocol):
    """Stock levels and reservations (``oms.adapters.inventory_table.DynamoInventoryLedger``)."""

    def tracks(self, sku: str, warehouse: str) -> bool: ...

    def reserve(
        self, channel: str, lines: Sequence[LineDemand], now: datetime, expires_at: datetime
    ) -> bool: ...

    def convert(self, lines: Sequence[LineDemand], now: datetime) -> bool: ...

    def release_order(
        self, order_id: str, now: datetime, *, shipped: bool = False, lines: Sequence[LineDemand] = ()
    ) -> bool: ...

    def sweep_expired(self, now: datetime, limit: int = 200) -> int: ...

    def reservations(self, order_id: str) -> list[Reservation]: ...


class InventoryRecords(InventoryLedger, Protocol):
    """What the operators' inventory routes read and change."""

    def levels(self, sku: str) -> list[StockLevel]: ...

    def ledger(self, sku: str, warehouse: str) -> list[LedgerEntry]: ...

    def buckets(self, sku: str, warehouse: str) -> list[Bucket]: ...

    def receive(self, sku: str, warehouse: str, quantity: int, reference: str) -> bool: ...

    def adjust(self, sku: str, warehouse: str, delta: int, reference: str) -> bool: ...

    def set_planning(
        self,
        sku: str,
        warehouse: str,
        *,
        safety_stock: int | None = None,
        incoming: Sequence[Incoming] | None = None,
    ) -> StockLevel: ...

    def formula_versions(self, scope: str) -> list[FormulaVersion]: ...

    def save_formula(self, scope: str, source: str, actor: str, now: datetime) -> FormulaVersion: ...

    def breaker(self, sku: str) -> dict[str, Any] | None: ...


class SurgeRecords(Protocol):
    """Demand per minute slot and the breaker's state (``DynamoInventoryLedger``)."""

    def levels(self, sku: str) -> list[StockLevel]: ...

    def record_demand(self, sku: str, units: int, at: datetime, event_id: str) -> bool: ...

    def demand(self, sku: str, slots: Sequence[str]) -> dict[str, int]: ...

    def trip_breaker(self, sku: str, verdict: SurgeVerdict, at: datetime) -> bool: ...

    def breaker(self, sku: str) -> dict[str, Any] | None: ...

    def clear_breaker(self, sku: str) -> bool: ...


# --------------------------------------------------------------------------- issue #7: customers


class CustomerStore(Protocol):
    """The Customers table as the services use it (``oms.adapters.customers_table``)."""

    def links(self, links: Sequence[str]) -> dict[str, str]: ...
    def create_customer(self, key: str, links: Sequence[str], at: datetime, order_id: str) -> None: ...
    def add_links(self, key: str, links: Sequence[str], at: datetime, order_id: str) -> None: ...
    def profile(self, key: str) -> CustomerProfile | None: ...
    def add_tags(self, key: str, tags: Mapping[str, str], platform: str) -> None: ...
    def assign_order(self, order_id: str, key: str, at: datetime) -> str: ...
    def order_customer(self, order_id: str) -> str | None: ...
    def add_timeline_entry(self, key: str, entry: TimelineEntry) -> bool: ...
    def timeline(
        self, key: str, *, since: datetime, before: str | None, limit: int
    ) -> list[tuple[str, TimelineEntry]]: ...
    def index_phone_tail(self, tail_hash: str, placed_at: datetime, order_id: str, key: str) -> None: ...
    def phone_tail_orders(self, tail_hash: str, start: datetime, end: datetime) -> list[tuple[str, str]]: ...
    def propose(self, review: ReviewItem) -> bool: ...
    def review(self, pair: str) -> ReviewItem | None: ...
    def open_reviews(self, *, after: str | None, limit: int) -> tuple[list[ReviewItem], str | None]: ...
    def is_kept_apart(self, pair: str) -> bool: ...
    def merge(self, record: MergeRecord, *, decide: ReviewItem | None = None) -> None: ...
    def merge_record(self, survivor: str, merge_id: str) -> MergeRecord | None: ...
    def merges(self, survivor: str) -> list[MergeRecord]: ...
    def split(self, record: MergeRecord, *, by: str, why: str, at: datetime, pair: str) -> None: ...
    def decide(self, review: ReviewItem) -> None: ...


class ConsumerDeadLetters(Protocol):
    """A consumer's DLQ and the source queue its letters go back to (standard SQS queues)."""

    def depth(self) -> int:
        """Messages in the DLQ (visible, in flight and delayed)."""
        ...

    def receive(self, max_messages: int, *, hold_seconds: int) -> list[DeadLetter]: ...

    def release(self, letters: Sequence[DeadLetter]) -> None:
        """Make messages visible again at once (the ones a redrive did not take)."""
        ...

    def move_back(self, letters: Sequence[DeadLetter]) -> dict[str, str | None]:
        """Send each letter to the source queue (body and attributes, ``redrive_count`` + 1), then
        delete it from the DLQ. Returns DLQ message id → new message id, None where the send failed
        (the letter then stays in the DLQ)."""
        ...


# --------------------------------------------------------------------------- inventory health (#4 item 4)


class InventoryHealthSource(Protocol):
    def month(self, start: datetime, end: datetime, as_of: datetime) -> InventoryMonth:
        """Levels, the ledger entries stamped in ``[start, end)``, overdue holds and oversold lines."""
        ...


class DifferenceSource(Protocol):
    def rows(self, start: datetime, end: datetime) -> tuple[list[SyncDifference], list[str]]:
        """The poller's difference rows stamped in ``[start, end)``, and the files that were unreadable."""
        ...


# --------------------------------------------------------------------------- issue #4: channel stock sync


class StockSyncStore(Protocol):
    """Listings and their sync state (``oms.adapters.stock_sync_table.DynamoStockSync``)."""

    def put_listing(self, listing: Listing, actor: str, at: datetime) -> None: ...
    def listed_skus(self) -> list[str]: ...
    def snapshot(self, sku: str) -> SkuSnapshot: ...
    def ledger_since(self, sku: str, warehouse: str, seq: int) -> list[LedgerEntry]: ...
    def reservation_channels(self, references: Sequence[str]) -> dict[str, str]: ...
    def claim(self, listing: Listing, computed_at: str, now: str, lease_until: str) -> bool: ...
    def record_push(
        self,
        listing: Listing,
        computed_at: str,
        *,
        quantity: int,
        pushed_seq: Mapping[str, int],
        recent: Sequence[int],
        at: str,
        unseen: int = 0,
    ) -> bool: ...
    def release(self, listing: Listing, computed_at: str) -> bool: ...
    def record_check(
        self,
        listing: Listing,
        pulled: int | None,
        at: str,
        checked_seq: Mapping[str, int],
        difference: Mapping[str, Any] | None,
    ) -> bool: ...


class ChannelStock(Protocol):
    """The channels' stock APIs (``oms.adapters.channel_stock.ChannelStockGateway``)."""

    def can_pull(self, platform: str) -> bool: ...
    def push(self, listing: Listing, quantity: int, current: int | None) -> None: ...
    def pull(self, listing: Listing) -> int: ...


class ObjectStore(Protocol):
    def publish(self, key: str, body: bytes, content_type: str) -> str: ...


class BundleCatalog(Protocol):
    """Bundle (kit) definitions (``oms.adapters.bundles_table.DynamoBundles``; docs/inventory.md)."""

    def definitions(self, skus: Iterable[str]) -> dict[str, BundleDefinition]: ...
    def part_of(self, sku: str) -> list[str]: ...
    def save(
        self, bundle: Bundle, formula: str | None, revision: int | None, *, actor: str, at: datetime
    ) -> BundleDefinition: ...
