"""What an order change does to stock (the inventory_events consumer; docs/inventory.md).

==========================================  ============================================
the order after the change                   the ledger
==========================================  ============================================
pending payment                              reserve every line (all or none), hold per channel
paid, approved, shipped, delivered, …        convert: deduct the hold (or what is available)
cancelled / closed                           release holds; restock paid lines not shipped
refund requested/refunding/refunded, unshipped  release holds; restock paid lines
==========================================  ============================================

Changes arrive at least once and in any order. Each action is idempotent per (order, line,
action) in the ledger itself, and a line's reservation only moves forward, so a redelivered
change is a no-op and a late one (an "unpaid" after "paid", a "paid" after "cancelled") finds the
line already past it and does nothing.

A SKU the ledger has never held (no receipt, count or plan for it in the warehouse) is not
tracked: its lines are left out, so a merchant can switch the ledger on SKU by SKU without an
oversell alert for every order of the others.

A channel that accepted an order the ledger cannot cover (its stock lagged) is a channel-side
oversell: the message succeeds (a retry would not create stock), an ``inventory.oversell`` alert
goes to the operators, and the order keeps no hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from oms.domain.alerts import Alert, Severity
from oms.domain.bundles import component_lines
from oms.domain.errors import InsufficientStockError
from oms.domain.inventory import LineDemand, hold_until
from oms.domain.order_events import OrderChanged
from oms.domain.status import MAIN_PATH, STATUS_RANK, OrderStatus, RefundStatus
from oms.services.inventory_surge import SurgeBreaker
from oms.services.ports import AlertSink, BundleCatalog, InventoryLedger

_SHIPPED_RANK = STATUS_RANK[OrderStatus.PARTIALLY_SHIPPED]
_REFUNDS = frozenset({RefundStatus.REQUESTED, RefundStatus.REFUNDING, RefundStatus.REFUNDED})


class StockEffect(StrEnum):
    RESERVED = "reserved"
    CONVERTED = "converted"
    RELEASED = "released"
    UNCHANGED = "unchanged"  # a duplicate, a late change, or nothing to do
    UNTRACKED = "untracked"  # no line's SKU is kept in the ledger
    OVERSOLD = "oversold"  # the channel sold what the ledger does not have


@dataclass(frozen=True, slots=True)
class InventoryEvents:
    """Turns :class:`OrderChanged` messages into ledger operations.

    Parameters
    ----------
    ledger:
        The stock ledger.
    alerts:
        Where oversell alerts go.
    clock:
        The current time (the composition passes ``utc_now``).
    warehouse:
        The warehouse orders draw on until routing (issue #6) assigns one per order.
    holds:
        Hold time of an unpaid order per channel (platform name); 30 minutes otherwise.
    """

    ledger: InventoryLedger
    alerts: AlertSink
    clock: Callable[[], datetime]
    warehouse: str = "main"
    holds: Mapping[str, timedelta] = field(default_factory=dict)
    #: Counts each new unpaid reservation as demand (the surge breaker); None: not counted
    surge: SurgeBreaker | None = None
    #: Bundle definitions: a bundle line moves its components (D163); None: no bundles
    bundles: BundleCatalog | None = None

    def handle(self, change: OrderChanged) -> StockEffect:
        order = change.order
        lines = [
            LineDemand(
                order.order_id, line.line_id, line.out_sku_id or line.sku_id, self.warehouse, line.quantity
            )
            for line in order.lines
            if line.quantity > 0
        ]
        if not lines:
            return StockEffect.UNCHANGED
        now = self.clock()
        status = order.status
        try:
            # Bundles first: a kit has no level of its own, its components do.
            lines = [
                line
                for line in self._ledger_lines(order.order_id, lines, converting=_converts(change))
                if self.ledger.tracks(line.sku, line.warehouse)
            ]
            if not lines:
                return StockEffect.UNTRACKED
            if status in (OrderStatus.CANCELLED, OrderStatus.CLOSED):
                shipped = (
                    change.status_before in MAIN_PATH and STATUS_RANK[change.status_before] >= _SHIPPED_RANK
                )
                return self._released(order.order_id, now, shipped=shipped, lines=lines)
            if order.refund_status in _REFUNDS and STATUS_RANK[status] < _SHIPPED_RANK:
                return self._released(order.order_id, now, shipped=False, lines=lines)
            if status is OrderStatus.PENDING_PAYMENT:
                # The platform cancels an unpaid order a set time after it was placed, not after
                # the order center heard of it: a late message holds only what is left.
                expires_at = hold_until(order.placed_at or now, str(order.platform), self.holds)
                written = self.ledger.reserve(str(order.platform), lines, now, expires_at)
                if written and self.surge is not None:
                    for line in lines:
                        self.surge.record(line.sku, line.quantity, f"{change.change_id}#{line.line_id}", now)
                return StockEffect.RESERVED if written else StockEffect.UNCHANGED
            written = self.ledger.convert(lines, now)
            return StockEffect.CONVERTED if written else StockEffect.UNCHANGED
        except InsufficientStockError as short:
            self.alerts.raise_alerts([_oversell_alert(change, short)])
            return StockEffect.OVERSOLD

    def _ledger_lines(self, order_id: str, lines: list[LineDemand], *, converting: bool) -> list[LineDemand]:
        """The order's lines with every bundle line exploded into its components' lines.

        One read of the definitions per change (a BatchGetItem of the order's SKUs); a payment
        also reads the order's reservations, but only when it has a bundle line, so that it
        converts what was reserved even if the bundle was redefined in between.
        """
        if self.bundles is None:
            return lines
        bundles = self.bundles.definitions({line.sku for line in lines})
        if not bundles:
            return lines
        held = (
            [
                LineDemand(r.order_id, r.line_id, r.sku, r.warehouse, r.quantity)
                for r in self.ledger.reservations(order_id)
            ]
            if converting
            else []
        )
        return component_lines(lines, bundles, held)

    def _released(
        self, order_id: str, now: datetime, *, shipped: bool, lines: list[LineDemand]
    ) -> StockEffect:
        written = self.ledger.release_order(order_id, now, shipped=shipped, lines=lines)
        return StockEffect.RELEASED if written else StockEffect.UNCHANGED

    def sweep(self, scheduled_time: datetime | None = None) -> int:
        """Expire unpaid holds past their time (the schedule runs this).

        ``scheduled_time`` is the occurrence the scheduler fired for; a late delivery then expires
        only what had expired by that time (never more), and the local stack's simulated clock
        drives the sweep.
        """
        return self.ledger.sweep_expired(scheduled_time or self.clock())


def _converts(change: OrderChanged) -> bool:
    """Whether :meth:`InventoryEvents.handle` converts for this change (not reserve, not release)."""
    order = change.order
    return not (
        order.status in (OrderStatus.CANCELLED, OrderStatus.CLOSED, OrderStatus.PENDING_PAYMENT)
        or (order.refund_status in _REFUNDS and STATUS_RANK[order.status] < _SHIPPED_RANK)
    )


def _oversell_alert(change: OrderChanged, short: InsufficientStockError) -> Alert:
    order = change.order
    items = short.details.get("short") or []
    return Alert(
        kind="inventory.oversell",
        severity=Severity.CRITICAL,
        title=f"{order.platform} sold stock the ledger does not have",
        dedupe_key=f"inventory.oversell#{order.order_id}#{order.status}",
        lines=tuple(
            f"{item.get('sku')} @ {item.get('warehouse')}: wanted {item.get('requested')}, "
            f"available {item.get('available', '?')}"
            for item in items
            if isinstance(item, dict)
        ),
        facts={"order_id": order.order_id, "platform": str(order.platform), "status": str(order.status)},
        recipient_role="inventory_planner",
    )
