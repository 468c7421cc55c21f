"""Bundles (kits) and channel allocation on top of a SKU's sellable quantity (pure).

A bundle's sellable quantity is by default the minimum over its components of
floor(component sellable / component quantity); selling a bundle reserves its components
(:func:`explode`), so the ledger never holds "bundle stock" that could drift from its parts.

Channel allocation splits one SKU's sellable quantity between channels: each channel gets its
share (percent, floored), less its buffer, capped at its maximum, never below zero. Shares may
add up to more than 100% (every channel sees the whole stock: the ledger still sells each unit
once); less than 100% keeps the rest back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oms.domain.errors import InventoryInvalidError
from oms.domain.inventory import LineDemand


@dataclass(frozen=True, slots=True)
class Bundle:
    sku: str
    #: component SKU → units of it in one bundle
    components: Mapping[str, int]

    def __post_init__(self) -> None:
        if not self.components:
            raise InventoryInvalidError("a bundle needs at least one component", sku=self.sku)
        if any(quantity <= 0 for quantity in self.components.values()):
            raise InventoryInvalidError("component quantities must be positive", sku=self.sku)
        if self.sku in self.components:
            raise InventoryInvalidError("a bundle cannot contain itself", sku=self.sku)


def bundle_sellable(bundle: Bundle, component_sellable: Mapping[str, int]) -> int:
    """How many whole bundles the components' sellable quantities make."""
    return max(
        0,
        min(component_sellable.get(sku, 0) // quantity for sku, quantity in bundle.components.items()),
    )


def explode(line: LineDemand, bundle: Bundle) -> list[LineDemand]:
    """The component lines a bundle line reserves (one per component, ``<line>/<sku>``)."""
    if line.sku != bundle.sku:
        raise InventoryInvalidError("the line is not for this bundle", line=line.reference, bundle=bundle.sku)
    return [
        LineDemand(line.order_id, f"{line.line_id}/{sku}", sku, line.warehouse, line.quantity * quantity)
        for sku, quantity in sorted(bundle.components.items())
    ]


@dataclass(frozen=True, slots=True)
class ChannelRule:
    share_percent: int = 100
    maximum: int | None = None
    buffer: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.share_percent <= 100:
            raise InventoryInvalidError("a share is 0 to 100 percent", share=self.share_percent)
        if self.buffer < 0 or (self.maximum is not None and self.maximum < 0):
            raise InventoryInvalidError("buffer and maximum cannot be negative")


def allocate(sellable: int, rules: Mapping[str, ChannelRule]) -> dict[str, int]:
    """Each channel's quantity to show for one SKU."""
    shown: dict[str, int] = {}
    for channel, rule in rules.items():
        quantity = max(0, sellable) * rule.share_percent // 100 - rule.buffer
        if rule.maximum is not None:
            quantity = min(quantity, rule.maximum)
        shown[channel] = max(0, quantity)
    return shown
