"""Bundle (kit) definitions as data, their sellable quantity and their order lines (pure; D160–D164).

A bundle is a SKU made of other SKUs (``{component: units}``); it has no stock of its own. Its
sellable quantity is, by default, how many whole kits the components' sellable quantities make
(:func:`oms.domain.sellable.bundle_sellable`), or the bundle's own formula in the formula
language over :data:`BUNDLE_VARIABLES`:

``kits``
    the default: kits the components' sellable quantities (each by its own formula) make;
``on_hand``, ``available``, ``incoming``, ``incoming_within(days)``
    kits the components' counters make (min over components of floor(component value ÷ units)).

e.g. ``MIN(kits, 50)`` (never show more than 50) or ``FLOOR(available * 0.9)``.

Nesting is refused (a component cannot be a bundle, a bundle cannot be a component: D162): one
level keeps explosion, the all-or-none transaction's size and the sync's arithmetic simple.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from oms.domain.errors import BadRequestError, InventoryInvalidError
from oms.domain.formula import Inputs, parse, sellable
from oms.domain.inventory import LedgerEntry, LineDemand, StockLevel
from oms.domain.sellable import Bundle, bundle_sellable, explode

#: What a bundle's own formula may read.
BUNDLE_VARIABLES = frozenset({"kits", "on_hand", "available", "incoming"})
#: A bundle line explodes into one line per component; an order reserves at most 30 lines in one
#: all-or-none transaction, so one bundle line must always fit with room to spare.
MAX_COMPONENTS = 10
_MAX_UNITS = 10_000


@dataclass(frozen=True, slots=True)
class BundleDefinition:
    """A saved bundle: its components, its own formula (None: the default) and its revision."""

    bundle: Bundle
    formula: str | None = None
    revision: int = 1

    @property
    def sku(self) -> str:
        return self.bundle.sku


def definition_from_request(sku: str, body: Mapping[str, Any]) -> tuple[Bundle, str | None, int | None]:
    """``{"components": {"SKU-A": 1, "SKU-B": 2}, "formula": "MIN(kits, 50)", "revision": 3}``.

    ``revision`` is the revision the operator read (omit it to create): the save is refused with
    CONCURRENT_UPDATE when the stored one differs (latest wins, never blindly: D160).
    """
    raw = body.get("components")
    if not isinstance(raw, dict) or not raw:
        raise BadRequestError("components is an object {component sku: units}", field="components")
    if len(raw) > MAX_COMPONENTS:
        raise InventoryInvalidError(
            f"a bundle has at most {MAX_COMPONENTS} components", sku=sku, components=len(raw)
        )
    components: dict[str, int] = {}
    for component, units in raw.items():
        if not isinstance(component, str) or not component.strip() or len(component) > 128:
            raise BadRequestError("a component is a non-empty SKU", field="components")
        if not isinstance(units, int) or isinstance(units, bool) or units > _MAX_UNITS:
            raise BadRequestError("units are a whole number", field="components", component=component[:60])
        components[component.strip()] = units
    bundle = Bundle(sku, components)  # refuses zero units and a bundle containing itself
    formula = body.get("formula")
    if formula is not None:
        if not isinstance(formula, str) or not formula.strip():
            raise BadRequestError("formula is a non-empty string or absent", field="formula")
        formula = formula.strip()
        parse(formula, BUNDLE_VARIABLES)  # FORMULA_INVALID with the position
    revision = body.get("revision")
    if revision is not None and (not isinstance(revision, int) or isinstance(revision, bool) or revision < 1):
        raise BadRequestError("revision is the positive number a GET showed", field="revision")
    return bundle, formula, revision


def bundle_quantity(
    definition: BundleDefinition,
    component_levels: Mapping[str, Sequence[StockLevel]],
    component_sellable: Mapping[str, int],
    today: date,
) -> int:
    """The bundle's sellable quantity from its components' levels and sellable quantities."""
    kits = bundle_sellable(definition.bundle, component_sellable)
    if definition.formula is None:
        return kits
    units = definition.bundle.components

    def made(value_of: Callable[[StockLevel], int]) -> int:
        return max(
            0,
            min(
                sum(value_of(level) for level in component_levels.get(sku, ())) // per_kit
                for sku, per_kit in units.items()
            ),
        )

    inputs = Inputs(
        values={
            "kits": kits,
            "on_hand": made(lambda level: level.on_hand),
            "available": made(lambda level: level.available),
            "incoming": made(lambda level: level.incoming_total),
        },
        incoming_within=lambda days: made(lambda level: level.incoming_within(float(Decimal(days)), today)),
    )
    return sellable(parse(definition.formula, BUNDLE_VARIABLES), inputs)


def component_lines(
    lines: Sequence[LineDemand],
    bundles: Mapping[str, BundleDefinition],
    held: Sequence[LineDemand] = (),
) -> list[LineDemand]:
    """The lines the ledger moves for an order: each bundle line becomes its component lines.

    ``held`` (the lines the ledger already has reservations for) wins over the definition in
    force: an order reserved before its bundle was redefined converts what it reserved (D163).
    """
    exploded: list[LineDemand] = []
    for line in lines:
        if line.sku not in bundles:
            exploded.append(line)
            continue
        own = [h for h in held if h.line_id == line.line_id or h.line_id.startswith(f"{line.line_id}/")]
        exploded += own or explode(line, bundles[line.sku].bundle)
    return exploded


def sold_in_bundle(entry: LedgerEntry) -> bool:
    """Whether a ledger entry moved a component for a bundle line (``<order>#<line>/<its sku>``).

    Such a sale took the bundle's listing on the channel, not the component's own (D165).
    """
    return entry.reference.endswith(f"/{entry.sku}")
