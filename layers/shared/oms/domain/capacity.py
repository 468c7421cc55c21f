"""Warehouse capacity, the backlog forecast and overflow routing (pure).

**The model.** A warehouse works at most ``capacity_per_hour`` orders an hour. Its backlog now is
what its last heartbeat says is not yet picked up (``pending_print + printed − picked_up``, never
below the waiting-to-print count). Orders arrive at ``λ`` an hour (the orders routed to it in the
last 60 minutes, :func:`arrival_rate`) and leave at ``μ`` an hour: the rate its heartbeats measured
(picked-up counter deltas, :func:`processing_rate`), never above the configured capacity; without a
measurement, the capacity. The backlog after ``t`` hours is the straight line

    B(t) = max(0, B(0) + (λ − μ)·t)

and the warehouse is **overloaded** when the backlog at the forecast horizon (3 h by default, never
less) would exceed ``backlog_limit_hours`` of work (``capacity × backlog_limit_hours``): orders
beyond it cannot be shipped within the day's promise. An overload episode ends when the forecast
drops to :data:`CLEAR_RATIO` of the limit (hysteresis: a forecast hovering at the limit does not
open and close an episode every minute).

**Routing.** During an episode a share of *new* orders (30 % by default) goes to the backup
warehouse. Which ones is decided by the order id alone (:func:`routing_bucket`, a SHA-256 of the
id mapped onto [0, 1)): a retry, a duplicate or another function deciding the same order agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The forecast looks at least this far ahead (issue #5: overload predicted 3 hours ahead)
MIN_HORIZON_HOURS = 3.0
DEFAULT_SHARE = 0.3
#: How far ahead the forecast names the moment the limit is crossed
OVERLOAD_AT_WITHIN_HOURS = 48.0
#: An episode ends when the forecast backlog falls to this share of the limit
CLEAR_RATIO = 0.8


class WarehouseCapacity(BaseModel):
    """One warehouse's capacity configuration (versioned data; ``PUT /fulfillment/warehouses/{id}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warehouse: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(ge=1)
    capacity_per_hour: float = Field(gt=0, le=1_000_000)
    backup: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    overflow_share: float = Field(default=DEFAULT_SHARE, ge=0, le=1)
    #: Hours of work the backlog may hold before the warehouse counts as overloaded
    backlog_limit_hours: float = Field(default=4.0, gt=0, le=72)
    horizon_hours: float = Field(default=MIN_HORIZON_HOURS, ge=MIN_HORIZON_HOURS, le=24)

    @model_validator(mode="after")
    def _backup_elsewhere(self) -> WarehouseCapacity:
        if self.backup == self.warehouse:
            raise ValueError("a warehouse cannot be its own backup")
        return self

    @property
    def backlog_limit(self) -> float:
        return self.capacity_per_hour * self.backlog_limit_hours


@dataclass(frozen=True, slots=True)
class Forecast:
    """The backlog forecast for one warehouse at ``at``."""

    warehouse: str
    at: datetime
    backlog_now: float
    arrivals_per_hour: float
    processing_per_hour: float
    horizon_hours: float
    backlog_at_horizon: float
    limit: float
    #: When the trend crosses the limit (None: not within :data:`OVERLOAD_AT_WITHIN_HOURS`)
    overload_at: datetime | None

    @property
    def overloaded(self) -> bool:
        return self.backlog_at_horizon > self.limit

    @property
    def cleared(self) -> bool:
        return self.backlog_at_horizon <= self.limit * CLEAR_RATIO

    def reason(self) -> str:
        return (
            f"{self.warehouse} backlog forecast {self.backlog_at_horizon:.0f} in {self.horizon_hours:g} h"
            f" > limit {self.limit:.0f} (now {self.backlog_now:.0f}, arriving {self.arrivals_per_hour:.1f}/h,"
            f" processing {self.processing_per_hour:.1f}/h)"
        )


def backlog_after(
    backlog_now: float, arrivals_per_hour: float, processing_per_hour: float, hours: float
) -> float:
    """B(t) = max(0, B(0) + (λ − μ)·t)."""
    return max(0.0, backlog_now + (arrivals_per_hour - processing_per_hour) * hours)


def forecast(
    config: WarehouseCapacity,
    at: datetime,
    *,
    backlog_now: float,
    arrivals_per_hour: float,
    measured_processing_per_hour: float | None,
) -> Forecast:
    processing = config.capacity_per_hour
    if measured_processing_per_hour is not None:
        processing = min(processing, max(0.0, measured_processing_per_hour))
    backlog_now = max(0.0, backlog_now)
    arrivals = max(0.0, arrivals_per_hour)
    horizon = config.horizon_hours
    limit = config.backlog_limit
    overload_at: datetime | None = None
    if backlog_now > limit:
        overload_at = at
    elif arrivals > processing:
        hours = (limit - backlog_now) / (arrivals - processing)
        if hours <= OVERLOAD_AT_WITHIN_HOURS:
            overload_at = at + timedelta(hours=hours)
    return Forecast(
        warehouse=config.warehouse,
        at=at,
        backlog_now=backlog_now,
        arrivals_per_hour=arrivals,
        processing_per_hour=processing,
        horizon_hours=horizon,
        backlog_at_horizon=backlog_after(backlog_now, arrivals, processing, horizon),
        limit=limit,
        overload_at=overload_at,
    )


def heartbeat_backlog(pending_print: int, printed: int, picked_up: int) -> int:
    """Orders in the warehouse not yet handed to the courier."""
    return pending_print + max(0, printed - picked_up)


def processing_rate(
    picked_up: int, previous_picked_up: int | None, seen: datetime, previous_seen: datetime | None
) -> float | None:
    """Orders picked up per hour between two heartbeats; None without two comparable readings
    (the first heartbeat, the same instant, or a counter that went back: a new day's reset)."""
    if previous_picked_up is None or previous_seen is None or seen <= previous_seen:
        return None
    if picked_up < previous_picked_up:
        return None
    return (picked_up - previous_picked_up) / ((seen - previous_seen).total_seconds() / 3600)


def arrival_hour(moment: datetime) -> str:
    """The UTC hour an arrival is counted in: ``2026-11-24T13``."""
    return moment.strftime("%Y-%m-%dT%H")


def arrival_rate(previous_hour: int, this_hour: int, at: datetime) -> float:
    """Arrivals over the last 60 minutes, the previous hour's count taken as evenly spread."""
    elapsed = (at.minute * 60 + at.second) / 3600
    return max(0, previous_hour) * (1 - elapsed) + max(0, this_hour)


def routing_bucket(order_id: str) -> float:
    """A stable point in [0, 1) for an order id (SHA-256: evenly spread, the same in every process)."""
    digest = hashlib.sha256(order_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def routes_to_backup(order_id: str, share: float) -> bool:
    return routing_bucket(order_id) < share


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Where an order is fulfilled and why (recorded on its SLA record)."""

    warehouse: str
    home_warehouse: str
    decision: str  # "home" (no episode), "rerouted", "kept" (an episode, outside the share)
    reason: str = ""


def decide_route(
    order_id: str, home: str, config: WarehouseCapacity | None, episode_reason: str | None
) -> RoutingDecision:
    """Route a new order: to the backup when its home warehouse is in an overload episode and the
    order's bucket falls in the configured share."""
    if config is None or episode_reason is None or config.backup is None:
        return RoutingDecision(warehouse=home, home_warehouse=home, decision="home")
    bucket = routing_bucket(order_id)
    if bucket < config.overflow_share:
        return RoutingDecision(
            warehouse=config.backup,
            home_warehouse=home,
            decision="rerouted",
            reason=f"overflow to {config.backup} ({config.overflow_share:.0%} share): {episode_reason}",
        )
    return RoutingDecision(
        warehouse=home,
        home_warehouse=home,
        decision="kept",
        reason=f"overflow episode, outside the {config.overflow_share:.0%} share: {episode_reason}",
    )
