"""The surge breaker: demand on a SKU far beyond normal within minutes (pure; docs/inventory.md).

Demand is counted per SKU in one-minute slots: units of new unpaid reservations and of cart events
an own storefront posts (``POST /inventory/cart-events``). When the demand of the last
``window`` exceeds ``threshold`` × the SKU's sellable quantity, the breaker trips: an alert, and a
protective quantity (``protective_share`` × sellable) for the channels until an operator clears it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from oms.domain.errors import InventoryInvalidError


@dataclass(frozen=True, slots=True)
class SurgeRule:
    window: timedelta = timedelta(minutes=5)
    threshold: float = 0.30
    protective_share: float = 0.5

    def __post_init__(self) -> None:
        if not timedelta(minutes=1) <= self.window <= timedelta(hours=1):
            raise InventoryInvalidError("a surge window is 1 to 60 minutes")
        if not 0 < self.threshold <= 10 or not 0 <= self.protective_share <= 1:
            raise InventoryInvalidError("threshold in (0, 10], protective share in [0, 1]")


def slot(at: datetime) -> str:
    """The one-minute slot ``at`` falls in (UTC, ISO minute: sortable)."""
    return at.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


def window_slots(now: datetime, rule: SurgeRule) -> list[str]:
    """The slots the window ending at ``now`` covers, oldest first (the current one included)."""
    minutes = max(1, math.ceil(rule.window.total_seconds() / 60))
    return [slot(now - timedelta(minutes=back)) for back in range(minutes - 1, -1, -1)]


@dataclass(frozen=True, slots=True)
class SurgeVerdict:
    demand: int
    sellable: int
    tripped: bool
    protective_quantity: int


def judge(demand_by_slot: Mapping[str, int], now: datetime, sellable: int, rule: SurgeRule) -> SurgeVerdict:
    demand = sum(demand_by_slot.get(s, 0) for s in window_slots(now, rule))
    tripped = sellable > 0 and demand > rule.threshold * sellable
    return SurgeVerdict(
        demand=demand,
        sellable=sellable,
        tripped=tripped,
        protective_quantity=math.floor(max(sellable, 0) * rule.protective_share),
    )
