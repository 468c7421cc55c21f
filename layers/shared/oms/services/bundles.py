"""Bundles (kits) for operators and the poller: save a definition, show it, compute its sellable quantity.

``PUT /inventory-bundles/{sku}`` ``{"components": {"SKU-A": 1, "SKU-B": 2}, "formula": "MIN(kits, 50)",
"revision": 1}`` (``formula`` optional; ``revision`` = the one a GET showed, omitted to create).
``GET /inventory/{sku}`` shows a bundle's components, formula, revision and sellable quantity, and
for a component the bundles it is part of. docs/inventory.md "Bundles".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from oms.domain.bundles import BundleDefinition, bundle_quantity, definition_from_request
from oms.domain.formula import DEFAULT_FORMULA, parse, sellable
from oms.domain.inventory import StockLevel
from oms.services.inventory_admin import formula_inputs
from oms.services.ports import BundleCatalog, InventoryRecords


def sku_sellable(records: InventoryRecords, sku: str, levels: list[StockLevel], today: date) -> int:
    """A plain SKU's sellable quantity by its formula in force, summed over its warehouses."""
    versions = records.formula_versions(f"sku:{sku}")
    tree = parse(versions[-1].source if versions else DEFAULT_FORMULA)
    return sum(sellable(tree, formula_inputs(level, today)) for level in levels)


@dataclass(slots=True)
class KitStock:
    """Bundle quantities from the components' stock as it is now; each component is read once.

    The poller makes one per pass, so every bundle sharing a component sees the same reading of it
    and a component's change moves every bundle's target in the pass that sees the change.
    """

    records: InventoryRecords
    today: date
    levels: dict[str, list[StockLevel]] = field(default_factory=dict)
    sellable: dict[str, int] = field(default_factory=dict)

    def quantity(self, definition: BundleDefinition) -> int:
        for sku in definition.bundle.components:
            if sku not in self.levels:
                self.levels[sku] = self.records.levels(sku)
                self.sellable[sku] = sku_sellable(self.records, sku, self.levels[sku], self.today)
        return bundle_quantity(definition, self.levels, self.sellable, self.today)


@dataclass(frozen=True, slots=True)
class BundleAdmin:
    catalog: BundleCatalog
    records: InventoryRecords
    clock: Callable[[], datetime]

    def save(self, sku: str, body: Mapping[str, Any], actor: str) -> dict[str, Any]:
        bundle, formula, revision = definition_from_request(sku, body)
        self.catalog.save(bundle, formula, revision, actor=actor, at=self.clock())
        return self.view(sku)

    def view(self, sku: str) -> dict[str, Any]:
        """``{"bundle": {...} | None, "part_of": [bundle skus]}`` for ``GET /inventory/{sku}``."""
        definition = self.catalog.definitions([sku]).get(sku)
        if definition is None:
            return {"bundle": None, "part_of": self.catalog.part_of(sku)}
        kits = KitStock(self.records, self.clock().date())
        quantity = kits.quantity(definition)
        return {
            "bundle": {
                "components": [
                    {"sku": component, "units": units, "sellable": kits.sellable[component]}
                    for component, units in sorted(definition.bundle.components.items())
                ],
                "formula": definition.formula,
                "revision": definition.revision,
                "sellable": quantity,
            },
            "part_of": [],
        }
