"""One pass of the channel stock sync (the inventory_poller; docs/inventory.md "Channel sync").

Per listed SKU: read its levels, listings, sync states and surge breaker (one query); compute the
sellable quantity by the SKU's formula in force; per listing pull what the channel shows and
compare it with what it should show (in-flight allowance, threshold), then push the channel's
target when it changed or the channel was found to differ, under a conditional claim. All
differences of the pass go into one CSV report on S3 and one grouped alert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from oms.domain.alerts import Alert, Severity
from oms.domain.bundles import BundleDefinition, sold_in_bundle
from oms.domain.errors import OmsError
from oms.domain.inventory import LedgerEntry
from oms.domain.stock_sync import (
    CHANNEL_RESTORE,
    CHANNEL_SALE,
    CauseRule,
    Difference,
    Listing,
    SkuSnapshot,
    SyncState,
    channel_sales,
    expected_quantity,
    judge,
    may_claim,
    needs_push,
    report_csv,
    target_quantity,
    unseen_at_push,
)
from oms.services.bundles import KitStock, sku_sellable
from oms.services.ports import (
    AlertSink,
    BundleCatalog,
    ChannelStock,
    InventoryRecords,
    ObjectStore,
    StockSyncStore,
)

REPORT_PREFIX = "inventory/differences"
#: Differences listed in the alert text (the report has them all).
ALERT_LINES = 10


@dataclass(slots=True)
class SyncRun:
    run_id: str
    skus: int = 0
    pushed: int = 0
    unchanged: int = 0
    #: pushes not made because a newer or concurrent pass held the listing
    yielded: int = 0
    checked: int = 0
    failed: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    report_key: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "skus": self.skus,
            "pushed": self.pushed,
            "unchanged": self.unchanged,
            "yielded": self.yielded,
            "checked": self.checked,
            "failed": self.failed,
            "differences": len(self.differences),
            "report_key": self.report_key,
        }


@dataclass(frozen=True, slots=True)
class _Check:
    """What the pull of one listing found (all None when the channel was not read)."""

    theirs: int | None = None
    ours: int | None = None
    in_flight: int = 0
    difference: Difference | None = None


@dataclass(frozen=True, slots=True)
class StockSync:
    """Parameters
    ----------
    store, channels, records, alerts, reports:
        The sync state, the channels' stock APIs, formulas, the alert sink and the ReportsBucket.
    clock:
        Now (aware, UTC).
    rules:
        Likely-cause rules (``oms/data/stock_causes.json``).
    threshold_percent:
        A difference counts beyond this share of what the channel should show (and ≥ 1 unit).
    settle:
        A channel pulled this soon after a push may still show the old value (its interface lags:
        Pinduoduo about 3.7 s); such a pull is not compared.
    lease:
        How long a claim keeps other passes from pushing the listing (longer than a push takes,
        shorter than a pass interval).
    """

    store: StockSyncStore
    channels: ChannelStock
    records: InventoryRecords
    alerts: AlertSink
    reports: ObjectStore
    clock: Callable[[], datetime]
    rules: Sequence[CauseRule]
    threshold_percent: Decimal = Decimal(2)
    settle: timedelta = timedelta(seconds=10)
    lease: timedelta = timedelta(seconds=25)
    #: Bundle definitions: a listed bundle's target comes from its components (D164); None: none
    bundles: BundleCatalog | None = None

    def run(self, run_id: str) -> SyncRun:
        run = SyncRun(run_id)
        skus = self.store.listed_skus()
        # One read of the listed SKUs' definitions per pass; each component read once per pass.
        bundles = {} if self.bundles is None or not skus else self.bundles.definitions(skus)
        kits = KitStock(self.records, self.clock().date())
        for sku in skus:
            run.skus += 1
            try:
                self._sync_sku(self.store.snapshot(sku), run, bundles.get(sku), kits)
            except OmsError as error:
                run.failed.append(f"{sku}: {error.code}")
        if run.differences:
            self._report(run)
        return run

    # --- one SKU ----------------------------------------------------------------------------

    def _sync_sku(
        self, snapshot: SkuSnapshot, run: SyncRun, bundle: BundleDefinition | None, kits: KitStock
    ) -> None:
        computed = self.clock()
        computed_at = _stamp(computed)
        quantity = (
            kits.quantity(bundle)
            if bundle is not None
            else sku_sellable(self.records, snapshot.sku, snapshot.levels, computed.date())
        )
        protective = None if snapshot.breaker is None else int(snapshot.breaker["protective_quantity"])
        seq_now = {level.warehouse: level.seq for level in snapshot.levels}
        entries, channels = self._movements(snapshot)
        for listing, state, recent in snapshot.listings:
            target = target_quantity(quantity, listing.rule, protective)
            check = self._check(
                listing,
                state=state,
                recent=recent,
                entries=entries,
                channels=channels,
                now=computed,
                run=run,
                compare=bundle is None,
            )
            if needs_push(target, state, heal=check.difference is not None):
                self._push(
                    listing,
                    state=state,
                    recent=recent,
                    target=target,
                    check=check,
                    computed_at=computed_at,
                    seq_now=seq_now,
                    run=run,
                )
            else:
                run.unchanged += 1
            self.store.record_check(
                listing,
                check.theirs,
                computed_at,
                seq_now,
                None if check.difference is None else check.difference.as_dict(),
            )

    def _movements(self, snapshot: SkuSnapshot) -> tuple[list[LedgerEntry], dict[str, str]]:
        """Ledger entries since the oldest point any listing needs, and their reservations' channels."""
        entries: list[LedgerEntry] = []
        for level in snapshot.levels:
            since = min(
                (
                    min(state.pushed_seq.get(level.warehouse, 0), state.checked_seq.get(level.warehouse, 0))
                    for _, state, _ in snapshot.listings
                    if state.last_pushed is not None
                ),
                default=level.seq,
            )
            if since < level.seq:
                entries += self.store.ledger_since(snapshot.sku, level.warehouse, since)
        # A component moved for a bundle line was sold through the bundle's listing: it is not a sale
        # (nor a restore) of the component's own listing on that channel.
        references = [
            e.reference
            for e in entries
            if e.reason in CHANNEL_SALE | CHANNEL_RESTORE and not sold_in_bundle(e)
        ]
        return entries, self.store.reservation_channels(references) if references else {}

    def _check(
        self,
        listing: Listing,
        *,
        state: SyncState,
        recent: Sequence[int],
        entries: Sequence[LedgerEntry],
        channels: dict[str, str],
        now: datetime,
        run: SyncRun,
        compare: bool = True,
    ) -> _Check:
        if state.last_pushed is None or not self.channels.can_pull(listing.platform):
            return _Check()
        try:
            theirs = self.channels.pull(listing)
        except OmsError as error:
            run.failed.append(f"{listing.sku}@{listing.channel}: pull {error.code}")
            return _Check()
        run.checked += 1
        if not compare:
            # A bundle's channel sales reach the ledger as its components' lines, shared with other
            # bundles and the components' own listings: what it should show is not derived (D164).
            return _Check(theirs=theirs)
        if state.pushed_at and datetime.fromisoformat(state.pushed_at) + self.settle > now:
            # The channel may not show the push yet (its interface lags): not compared this time.
            return _Check(theirs=theirs)
        since_push = [e for e in entries if e.seq > state.pushed_seq.get(e.warehouse, 0)]
        since_check = [e for e in entries if e.seq > state.checked_seq.get(e.warehouse, 0)]
        sold = channel_sales(since_push, channels, listing.platform)
        ours = expected_quantity(state.last_pushed, sold, state.unseen_at_push)
        in_flight = max(0, channel_sales(since_check, channels, listing.platform))
        difference = judge(
            at=now,
            listing=listing,
            ours=ours,
            theirs=theirs,
            in_flight=in_flight,
            threshold_percent=self.threshold_percent,
            rules=self.rules,
            earlier_pushes=recent[:-1],
        )
        if difference is not None:
            run.differences.append(difference)
        return _Check(theirs, ours, in_flight, difference)

    def _push(
        self,
        listing: Listing,
        *,
        state: SyncState,
        recent: Sequence[int],
        target: int,
        check: _Check,
        computed_at: str,
        seq_now: dict[str, int],
        run: SyncRun,
    ) -> None:
        now = self.clock()
        lease_until = _stamp(now + self.lease)
        if not may_claim(state, computed_at, _stamp(now)) or not self.store.claim(
            listing, computed_at, _stamp(now), lease_until
        ):
            run.yielded += 1
            return
        try:
            self.channels.push(
                listing, target, check.theirs if check.theirs is not None else state.last_pushed
            )
        except OmsError as error:
            self.store.release(listing, computed_at)
            run.failed.append(f"{listing.sku}@{listing.channel}: push {error.code}")
            return
        self.store.record_push(
            listing,
            computed_at,
            quantity=target,
            pushed_seq=seq_now,
            recent=recent,
            at=_stamp(self.clock()),
            unseen=unseen_at_push(check.ours, check.theirs, check.in_flight),
        )
        run.pushed += 1

    # --- the report -------------------------------------------------------------------------

    def _report(self, run: SyncRun) -> None:
        now = self.clock()
        key = f"{REPORT_PREFIX}/{now:%Y/%m/%d}/{run.run_id}.csv"
        self.reports.publish(key, report_csv(run.differences).encode("utf-8"), "text/csv; charset=utf-8")
        run.report_key = key
        lines = tuple(
            f"{d.sku} on {d.channel}: ours {d.ours}, theirs {d.theirs}"
            f" (in flight {d.in_flight}) — {d.likely_cause}"
            for d in run.differences[:ALERT_LINES]
        )
        more = len(run.differences) - ALERT_LINES
        self.alerts.raise_alerts(
            [
                Alert(
                    kind="inventory.sync_difference",
                    severity=Severity.WARNING,
                    title=f"Channel stock differs for {len(run.differences)} listing(s)",
                    dedupe_key=f"inventory.sync_difference:{run.run_id}",
                    lines=lines + ((f"… and {more} more in the report",) if more > 0 else ()),
                    facts={"run_id": run.run_id, "differences": len(run.differences), "report_key": key},
                )
            ]
        )


def _stamp(moment: datetime) -> str:
    """Fixed-width UTC ISO text: string order is time order."""
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
