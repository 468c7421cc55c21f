"""The operators' inventory routes: read a SKU's stock, post receipts/adjustments/incoming, save formulas.

``PUT /inventory/{sku}`` bodies (``reference`` makes a retry harmless; ``reason`` is required
for an adjustment)::

    {"warehouse": "main", "reference": "PO-1001", "receipt": 120}
    {"warehouse": "main", "reference": "COUNT-7", "adjustment": -3, "reason": "damaged in storage"}
    {"warehouse": "main", "incoming": [{"quantity": 200, "expected": "2026-12-03", "reference": "PO-1002"}],
     "safety_stock": 10}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from oms.domain.errors import BadRequestError, InventoryInvalidError
from oms.domain.formula import DEFAULT_FORMULA, FormulaVersion, Inputs, parse, sellable
from oms.domain.inventory import Incoming, StockLevel
from oms.services.ports import InventoryRecords, StockSyncStore

if TYPE_CHECKING:
    from oms.services.bundles import BundleAdmin

#: How many of the newest ledger entries a GET shows per warehouse.
LEDGER_TAIL = 20
_MAX_QUANTITY = 10_000_000


def formula_inputs(level: StockLevel, today: date) -> Inputs:
    """A level's values as a formula sees them (``locked`` = units held by reservations and buckets)."""
    return Inputs(
        values={
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "available": level.available,
            "incoming": level.incoming_total,
            "safety_stock": level.safety_stock,
            "locked": level.reserved,
            "in_flight": 0,
        },
        incoming_within=lambda days: level.incoming_within(float(Decimal(days)), today),
    )


@dataclass(frozen=True, slots=True)
class InventoryAdmin:
    records: InventoryRecords
    clock: Callable[[], datetime]
    #: listings and their channel sync state (shown per channel); None: not shown
    sync: StockSyncStore | None = None
    #: a bundle's components and sellable quantity, a component's bundles; None: not shown
    bundles: BundleAdmin | None = None

    def view(self, sku: str) -> dict[str, Any]:
        formula = self.formula(f"sku:{sku}")
        tree = parse(formula.source)
        today = self.clock().date()
        warehouses = []
        for level in self.records.levels(sku):
            entries = self.records.ledger(sku, level.warehouse)[-LEDGER_TAIL:]
            warehouses.append(
                {
                    "warehouse": level.warehouse,
                    "on_hand": level.on_hand,
                    "reserved": level.reserved,
                    "available": level.available,
                    "safety_stock": level.safety_stock,
                    "incoming": [
                        {"quantity": x.quantity, "expected": x.expected.isoformat(), "reference": x.reference}
                        for x in level.incoming
                    ],
                    "sellable": sellable(tree, formula_inputs(level, today)),
                    "ledger_seq": level.seq,
                    "recent_ledger": [
                        {
                            "seq": e.seq,
                            "reason": str(e.reason),
                            "reference": e.reference,
                            "on_hand": [e.on_hand_before, e.on_hand_after],
                            "reserved": [e.reserved_before, e.reserved_after],
                        }
                        for e in entries
                    ],
                    "buckets": [
                        {
                            "bucket": b.index,
                            "allocated": b.allocated,
                            "available": b.available,
                            "held": b.held,
                        }
                        for b in self.records.buckets(sku, level.warehouse)
                    ],
                }
            )
        breaker = self.records.breaker(sku)
        channels = None if self.sync is None else channel_states(self.sync, sku)
        return {
            **({} if channels is None else {"channels": channels}),
            **({} if self.bundles is None else self.bundles.view(sku)),
            "sku": sku,
            "formula": {"scope": formula.scope, "version": formula.version, "source": formula.source},
            "warehouses": warehouses,
            "surge_breaker": None
            if breaker is None
            else {
                "tripped_at": breaker["tripped_at"],
                "demand": int(breaker["demand"]),
                "sellable": int(breaker["sellable"]),
                "protective_quantity": int(breaker["protective_quantity"]),
            },
        }

    def change(self, sku: str, body: Mapping[str, Any], actor: str) -> dict[str, Any]:
        warehouse = _text(body, "warehouse", default="main")
        applied: list[str] = []
        if "receipt" in body or "adjustment" in body:
            reference = _text(body, "reference")
            if "receipt" in body:
                written = self.records.receive(
                    sku, warehouse, _quantity(body, "receipt"), f"receipt#{reference}"
                )
                applied.append("receipt" if written else "receipt (already applied)")
            if "adjustment" in body:
                reason = _text(body, "reason")
                delta = _quantity(body, "adjustment", signed=True)
                written = self.records.adjust(sku, warehouse, delta, f"adjustment#{reference}#{reason[:80]}")
                applied.append("adjustment" if written else "adjustment (already applied)")
        if "incoming" in body or "safety_stock" in body:
            incoming = _incoming(body["incoming"]) if "incoming" in body else None
            safety = _quantity(body, "safety_stock", zero=True) if "safety_stock" in body else None
            self.records.set_planning(sku, warehouse, safety_stock=safety, incoming=incoming)
            applied.append("planning")
        if not applied:
            raise BadRequestError("nothing to change: give receipt, adjustment, incoming or safety_stock")
        return {"applied": applied, "by": actor, **self.view(sku)}

    def formula(self, scope: str) -> FormulaVersion:
        versions = self.records.formula_versions(scope)
        return versions[-1] if versions else FormulaVersion(scope=scope, version=0, source=DEFAULT_FORMULA)

    def save_formula(self, scope: str, body: Mapping[str, Any], actor: str) -> dict[str, Any]:
        if not scope.startswith(("sku:", "category:", "channel:")):
            raise BadRequestError(
                "a formula scope is sku:<id>, category:<id> or channel:<name>", scope=scope[:60]
            )
        saved = self.records.save_formula(scope, _text(body, "formula"), actor, self.clock())
        return {"scope": saved.scope, "version": saved.version, "source": saved.source}


def _text(body: Mapping[str, Any], name: str, *, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{name} is required (a non-empty string)", field=name)
    return value.strip()


def _quantity(body: Mapping[str, Any], name: str, *, signed: bool = False, zero: bool = False) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > _MAX_QUANTITY:
        raise BadRequestError(f"{name} must be a whole number", field=name)
    if (not signed and value < 0) or (not signed and not zero and value == 0):
        raise BadRequestError(f"{name} must be positive", field=name)
    return value


def _incoming(raw: Any) -> list[Incoming]:
    if not isinstance(raw, list):
        raise BadRequestError("incoming is a list of {quantity, expected, reference}", field="incoming")
    items = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise BadRequestError("incoming is a list of objects", field="incoming")
        try:
            expected = date.fromisoformat(str(entry.get("expected")))
        except ValueError as error:
            raise BadRequestError("incoming.expected is a date (YYYY-MM-DD)", field="incoming") from error
        quantity = _quantity(entry, "quantity")
        items.append(Incoming(quantity, expected, str(entry.get("reference") or "")))
    if len(items) > 100:
        raise InventoryInvalidError("at most 100 incoming entries per SKU and warehouse")
    return items


def channel_states(sync: StockSyncStore, sku: str) -> list[dict[str, Any]]:
    """Each listing of the SKU with what the poller last pushed, pulled and found different."""
    return [
        {
            "channel": listing.channel,
            "channel_sku_id": listing.channel_sku_id,
            "product_id": listing.product_id,
            "location_id": listing.location_id,
            "allocation": {
                "share_percent": listing.rule.share_percent,
                "buffer": listing.rule.buffer,
                "maximum": listing.rule.maximum,
            },
            "last_pushed": state.last_pushed,
            "pushed_at": state.pushed_at or None,
            "last_pulled": state.last_pulled,
            "pulled_at": state.pulled_at or None,
            "last_difference": None
            if state.last_difference is None
            else {
                name: int(value) if isinstance(value, Decimal) else value
                for name, value in state.last_difference.items()
            },
        }
        for listing, state, _ in sync.snapshot(sku).listings
    ]
