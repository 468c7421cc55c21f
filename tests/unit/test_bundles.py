"""Bundle definitions, quantities and component lines (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from oms.domain.bundles import BundleDefinition, bundle_quantity, component_lines, definition_from_request
from oms.domain.errors import BadRequestError, FormulaInvalidError, InventoryInvalidError
from oms.domain.inventory import Incoming, LineDemand, StockLevel
from oms.domain.sellable import Bundle

TODAY = date(2026, 11, 25)
KIT = BundleDefinition(Bundle("KIT", {"A": 2, "B": 1}))
LEVELS = {
    "A": [StockLevel("A", "main", on_hand=9, reserved=1), StockLevel("A", "east", on_hand=4)],
    "B": [StockLevel("B", "main", on_hand=7, incoming=(Incoming(6, date(2026, 11, 27), "PO"),))],
}


def test_the_default_is_the_kits_the_components_sellable_quantities_make():
    assert bundle_quantity(KIT, LEVELS, {"A": 11, "B": 3}, TODAY) == 3
    assert bundle_quantity(KIT, LEVELS, {"A": 1, "B": 3}, TODAY) == 0
    assert bundle_quantity(KIT, {}, {}, TODAY) == 0


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("MIN(kits, 2)", 2),
        ("on_hand", 6),  # A: 13 // 2, B: 7
        ("available - 1", 5),  # A: 12 // 2 = 6, B: 7 → 6 - 1
        ("kits + incoming_within(3)", 3 + 0),  # A has nothing incoming: no whole kit from incoming
        ("FLOOR(kits * 0.5)", 1),
    ],
)
def test_a_custom_formula_reads_kit_counts_of_the_components_counters(formula, expected):
    definition = BundleDefinition(KIT.bundle, formula)
    assert bundle_quantity(definition, LEVELS, {"A": 11, "B": 3}, TODAY) == expected


def test_requests_are_validated_with_stable_codes():
    bundle, formula, revision = definition_from_request("KIT", {"components": {"A": 2}, "revision": 3})
    assert (bundle.components, formula, revision) == ({"A": 2}, None, 3)
    for body, error in [
        ({}, BadRequestError),
        ({"components": {"A": "2"}}, BadRequestError),
        ({"components": {"A": True}}, BadRequestError),
        ({"components": {"A": 1}, "revision": 0}, BadRequestError),
        ({"components": {"A": 0}}, InventoryInvalidError),
        ({"components": {"KIT": 1}}, InventoryInvalidError),
        ({"components": {f"C{n}": 1 for n in range(11)}}, InventoryInvalidError),
        ({"components": {"A": 1}, "formula": "on_hand - locked"}, FormulaInvalidError),
    ]:
        with pytest.raises(error):
            definition_from_request("KIT", body)


def test_bundle_lines_explode_unless_the_ledger_holds_what_they_reserved():
    lines = [LineDemand("o", "1", "KIT", "main", 3), LineDemand("o", "2", "A", "main", 1)]
    assert [(x.line_id, x.sku, x.quantity) for x in component_lines(lines, {"KIT": KIT})] == [
        ("1/A", "A", 6),
        ("1/B", "B", 3),
        ("2", "A", 1),
    ]
    held = [LineDemand("o", "1/A", "A", "main", 3), LineDemand("o", "2", "A", "main", 1)]
    assert [(x.line_id, x.quantity) for x in component_lines(lines, {"KIT": KIT}, held)] == [
        ("1/A", 3),
        ("2", 1),
    ]
