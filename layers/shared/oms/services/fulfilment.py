"""Capacity forecast and overflow routing, the pre-flight sandbox, and the SLA operator actions.

:class:`OverflowPlanner` runs with the escalator (every minute): per configured warehouse it
forecasts the backlog (``oms.domain.capacity``) and opens an overflow episode when overload is
forecast at the horizon (one alert per episode, keyed by when it opened; an undelivered one is
raised again next run), or closes it when the forecast clears. :class:`OverflowRouter` is asked by
the SLA deadlines for each *new* order: during an episode, the configured share goes to the backup.

:class:`PreflightScreen` dry-runs high-risk orders before release (``oms.domain.preflight``) and
holds the blocked ones; :meth:`PreflightScreen.recheck` releases those that now pass.

:class:`SlaOperations` is the operators' side: publish a policy version (and move the open
deadlines it affects), mark an order handled, read an order's SLA record, write configuration.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from oms.domain.alerts import Alert, Severity
from oms.domain.capacity import (
    Forecast,
    RoutingDecision,
    WarehouseCapacity,
    arrival_rate,
    decide_route,
    forecast,
    heartbeat_backlog,
    processing_rate,
)
from oms.domain.errors import (
    AlertDeliveryError,
    BadRequestError,
    FulfilmentConfigInvalidError,
    SlaDeadlineClosedError,
    SlaDeadlineNotFoundError,
    SlaPolicyConflictError,
    SlaPolicyInvalidError,
)
from oms.domain.model import Order
from oms.domain.preflight import PreflightConfig, PreflightFacts, PreflightResult, dry_run, risk_reasons
from oms.domain.sla import LEVEL_OFFSETS, SlaFacts, SlaPolicySet, SlaRecord, days_between
from oms.services.ports import AlertSink, Clock

logger = Logger(child=True)


class CapacityConfigs(Protocol):
    def capacities(self) -> list[WarehouseCapacity]: ...

    def capacity(self, warehouse: str) -> WarehouseCapacity | None: ...

    def preflight(self) -> PreflightConfig | None: ...

    def put_capacity(self, config: WarehouseCapacity, now: datetime) -> None: ...

    def put_preflight(self, config: PreflightConfig, now: datetime) -> None: ...


class OverflowStates(Protocol):
    def all(self) -> Mapping[str, Any]: ...

    def get(self, warehouse: str) -> Any: ...

    def open(self, warehouse: str, since: datetime, reason: str, forecast: dict[str, Any]) -> bool: ...

    def refresh(self, warehouse: str, since: datetime, reason: str, forecast: dict[str, Any]) -> bool: ...

    def mark_alerted(self, warehouse: str, since: datetime) -> None: ...

    def close(self, warehouse: str, since: datetime, now: datetime, forecast: dict[str, Any]) -> bool: ...


class ArrivalCounts(Protocol):
    def last_two_hours(self, warehouse: str, at: datetime) -> tuple[int, int]: ...


class HeartbeatStates(Protocol):
    def all(self) -> list[Any]: ...


def forecast_json(result: Forecast) -> dict[str, Any]:
    return {
        "at": result.at.isoformat(),
        "backlog_now": round(result.backlog_now, 2),
        "arrivals_per_hour": round(result.arrivals_per_hour, 2),
        "processing_per_hour": round(result.processing_per_hour, 2),
        "horizon_hours": result.horizon_hours,
        "backlog_at_horizon": round(result.backlog_at_horizon, 2),
        "limit": round(result.limit, 2),
        "overload_at": result.overload_at.isoformat() if result.overload_at else None,
        "overloaded": result.overloaded,
    }


class OverflowPlanner:
    def __init__(
        self,
        configs: CapacityConfigs,
        episodes: OverflowStates,
        heartbeats: HeartbeatStates,
        arrivals: ArrivalCounts,
        alerts: AlertSink,
    ) -> None:
        self._configs = configs
        self._episodes = episodes
        self._heartbeats = heartbeats
        self._arrivals = arrivals
        self._alerts = alerts

    def run(self, now: datetime) -> dict[str, str]:
        """Forecast every configured warehouse; warehouse → "opened", "active", "cleared" or "normal"."""
        configs = self._configs.capacities()
        if not configs:
            return {}
        states = {state.warehouse_id: state for state in self._heartbeats.all()}
        episodes = self._episodes.all()
        outcome: dict[str, str] = {}
        pending: list[tuple[str, datetime, Alert]] = []
        for config in configs:
            result = self.forecast(config, states.get(config.warehouse), now)
            episode = episodes.get(config.warehouse)
            active = episode is not None and episode.active and episode.since is not None
            snapshot = forecast_json(result)
            if not active and result.overloaded:
                if self._episodes.open(config.warehouse, now, result.reason(), snapshot):
                    pending.append((config.warehouse, now, overflow_alert(config, result, now)))
                    outcome[config.warehouse] = "opened"
                continue
            if active and episode is not None and episode.since is not None:
                if result.cleared:
                    self._episodes.close(config.warehouse, episode.since, now, snapshot)
                    outcome[config.warehouse] = "cleared"
                    continue
                self._episodes.refresh(config.warehouse, episode.since, result.reason(), snapshot)
                outcome[config.warehouse] = "active"
                if not episode.alerted:  # a previous run's alert was not delivered: same key again
                    pending.append(
                        (config.warehouse, episode.since, overflow_alert(config, result, episode.since))
                    )
                continue
            outcome[config.warehouse] = "normal"
        if pending:
            undelivered: set[str] = set()
            try:
                self._alerts.raise_alerts([alert for _, _, alert in pending])
            except AlertDeliveryError as error:
                undelivered = set(error.details.get("undelivered", ()))
            for warehouse, since, alert in pending:
                if alert.dedupe_key not in undelivered:
                    self._episodes.mark_alerted(warehouse, since)
        return outcome

    def forecast(self, config: WarehouseCapacity, state: Any, now: datetime) -> Forecast:
        previous_hour, this_hour = self._arrivals.last_two_hours(config.warehouse, now)
        backlog = 0
        measured = None
        if state is not None:
            backlog = heartbeat_backlog(state.pending_print, state.printed, state.picked_up)
            measured = processing_rate(
                state.picked_up, state.previous_picked_up, state.last_seen, state.previous_seen
            )
        return forecast(
            config,
            now,
            backlog_now=backlog,
            arrivals_per_hour=arrival_rate(previous_hour, this_hour, now),
            measured_processing_per_hour=measured,
        )


def overflow_alert(config: WarehouseCapacity, result: Forecast, since: datetime) -> Alert:
    ahead = ""
    if result.overload_at is not None:
        minutes = max(0, int((result.overload_at - result.at).total_seconds() // 60))
        ahead = f", limit reached in {minutes // 60}h{minutes % 60:02d}m"
    backup = (
        f"{config.overflow_share:.0%} of new orders go to {config.backup} until the forecast clears"
        if config.backup
        else "no backup warehouse is configured: nothing is rerouted"
    )
    return Alert(
        kind="fulfilment.overflow",
        severity=Severity.CRITICAL,
        title=f"Warehouse {config.warehouse} overload forecast{ahead}",
        dedupe_key=f"overflow:{config.warehouse}:{since.isoformat()}",
        lines=(result.reason(), backup),
        facts={
            "warehouse": config.warehouse,
            "backup": config.backup or "",
            "share": config.overflow_share,
            "backlog_at_horizon": round(result.backlog_at_horizon, 1),
            "limit": round(result.limit, 1),
        },
        recipient_role="logistics_owner",
    )


class OverflowRouter:
    """Where a new order is fulfilled: its home warehouse, or the backup during an overflow episode."""

    def __init__(self, configs: CapacityConfigs, episodes: OverflowStates) -> None:
        self._configs = configs
        self._episodes = episodes

    def route(self, order_id: str, home: str) -> RoutingDecision:
        config = self._configs.capacity(home)
        if config is None or config.backup is None:
            return decide_route(order_id, home, None, None)
        episode = self._episodes.get(home)
        reason = episode.reason if episode is not None and episode.active else None
        return decide_route(order_id, home, config, reason)


class PreflightStore(Protocol):
    def record(self, result: PreflightResult) -> bool: ...

    def release(self, result: PreflightResult, now: datetime, config_version: int) -> bool: ...

    def still_blocked(
        self, result: PreflightResult, reasons: list[dict[str, str]], now: datetime
    ) -> None: ...

    def get(self, order_id: str) -> PreflightResult | None: ...

    def blocked(self, limit: int = 500) -> list[PreflightResult]: ...


class PreflightScreen:
    def __init__(
        self,
        configs: CapacityConfigs,
        results: PreflightStore,
        on_hand: Callable[[str, str], int],
        clock: Clock,
    ) -> None:
        self._configs = configs
        self._results = results
        self._on_hand = on_hand
        self._clock = clock

    def screen(self, order: Order, warehouse: str) -> str:
        """Dry-run a high-risk order about to be released; "skipped" (not configured or not high
        risk), "passed", "blocked" or "stale" (a newer version was screened)."""
        config = self._configs.preflight()
        if config is None:
            return "skipped"
        facts = PreflightFacts.of(order, warehouse, config)
        risk = risk_reasons(facts, config.risk)
        if not risk:
            return "skipped"
        reasons = [reason.as_json() for reason in self._dry_run(facts, config)]
        now = self._clock()
        result = PreflightResult(
            order_id=order.order_id,
            order_version=order.version,
            state="blocked" if reasons else "passed",
            warehouse=warehouse,
            reasons=reasons,
            risk=risk,
            facts=_facts_json(facts),
            checked_at=now,
            config_version=config.version,
        )
        if not self._results.record(result):
            return "stale"
        return result.state

    def close(self, order: Order, reason: str) -> None:
        """A shipped or cancelled order leaves the held list (a newer order version closes it)."""
        previous = self._results.get(order.order_id)
        if previous is None or previous.state != "blocked":
            return
        self._results.record(
            replace(
                previous,
                order_version=order.version,
                state="closed",
                reasons=[{"code": "", "detail": reason}],
            )
        )

    def blocked(self) -> list[dict[str, Any]]:
        return [result.as_json() for result in self._results.blocked()]

    def recheck(self) -> dict[str, Any]:
        """Re-run every held order against the current configuration; release those that pass."""
        config = self._configs.preflight()
        released: list[str] = []
        still: list[str] = []
        for held in self._results.blocked():
            if config is None:
                break
            facts = _facts_from(held.facts)
            reasons = [reason.as_json() for reason in self._dry_run(facts, config)]
            now = self._clock()
            if not reasons:
                if self._results.release(held, now, config.version):
                    released.append(held.order_id)
            else:
                self._results.still_blocked(held, reasons, now)
                still.append(held.order_id)
        return {"released": released, "still_blocked": still}

    def _dry_run(self, facts: PreflightFacts, config: PreflightConfig) -> list[Any]:
        skus = sorted({sku for sku, _ in facts.lines})
        on_hand = {sku: self._on_hand(sku, facts.warehouse) for sku in skus}
        return dry_run(facts, config, on_hand)


def _facts_json(facts: PreflightFacts) -> dict[str, Any]:
    data = asdict(facts)
    data["amount"] = str(facts.amount) if facts.amount is not None else None
    data["lines"] = [list(line) for line in facts.lines]
    data["missing_address"] = list(facts.missing_address)
    return data


def _facts_from(data: Mapping[str, Any]) -> PreflightFacts:
    return PreflightFacts(
        order_id=str(data["order_id"]),
        warehouse=str(data["warehouse"]),
        carrier=str(data["carrier"]),
        amount=Decimal(str(data["amount"])) if data.get("amount") is not None else None,
        sku_class=str(data.get("sku_class", "")),
        presale=bool(data.get("presale")),
        custom_made=bool(data.get("custom_made")),
        missing_address=tuple(data.get("missing_address", ())),
        lines=tuple((str(sku), int(quantity)) for sku, quantity in data.get("lines", ())),
    )


class SlaRecords(Protocol):
    def get(self, order_id: str) -> SlaRecord | None: ...

    def mark_handled(self, order_id: str, reason: str, now: datetime) -> bool: ...

    def open_by_deadline(self, days: list[str]) -> list[SlaRecord]: ...

    def redeadline(self, record: SlaRecord, deadline: datetime, policy_version: int) -> bool: ...


class PolicyVersions(Protocol):
    def current(self) -> SlaPolicySet | None: ...

    def version(self, number: int) -> SlaPolicySet | None: ...

    def publish(self, policies: SlaPolicySet, now: datetime) -> None: ...


#: Open deadlines are looked for from this long before now (level 3 closes them at + 4 h; a
#: stalled escalator may leave older ones open)
RECOMPUTE_LOOKBACK = timedelta(days=2)


class SlaOperations:
    def __init__(
        self,
        *,
        records: SlaRecords,
        policies: PolicyVersions,
        configs: CapacityConfigs,
        preflight: PreflightStore,
        episodes: OverflowStates,
        clock: Clock,
        default_policies: SlaPolicySet,
    ) -> None:
        self._episodes = episodes
        self._records = records
        self._policies = policies
        self._configs = configs
        self._preflight = preflight
        self._clock = clock
        self._default = default_policies

    # ----------------------------------------------------------------- policies

    def publish_policies(self, body: bytes | str) -> dict[str, Any]:
        """Publish version n + 1 (n: the current one), then move every open deadline it affects.

        Publishing the same document again resumes an interrupted recompute (idempotent)."""
        try:
            policies = SlaPolicySet.model_validate_json(body)
        except ValidationError as error:
            raise SlaPolicyInvalidError(
                "the SLA policy set is not valid", problems=_problems(error)
            ) from None
        current = self._policies.current() or self._default
        now = self._clock()
        if policies.version == current.version:
            stored = self._policies.version(policies.version)
            if stored != policies:
                raise SlaPolicyConflictError("this policy version exists already", version=policies.version)
            status = "unchanged"
        elif policies.version != current.version + 1:
            raise SlaPolicyConflictError(
                f"the next version is {current.version + 1}", version=policies.version
            )
        else:
            self._policies.publish(policies, now)
            status = "published"
        moved, unchanged, skipped = self._recompute(current, policies, now)
        return {
            "version": policies.version,
            "status": status,
            "recomputed": {"moved": moved, "unchanged": unchanged, "skipped": skipped},
        }

    def _recompute(
        self, previous: SlaPolicySet, policies: SlaPolicySet, now: datetime
    ) -> tuple[int, int, int]:
        """Every open deadline from ``RECOMPUTE_LOOKBACK`` ago to the furthest either version can
        promise, plus the fixed ship-by days of both versions' rules."""
        longest = max(
            [rule.hours for rule in previous.rules + policies.rules if rule.hours is not None] + [0.0]
        )
        days = set(days_between(now - RECOMPUTE_LOOKBACK, now + timedelta(hours=longest) + timedelta(days=1)))
        for rule in previous.rules + policies.rules:
            if rule.ship_by is not None:
                days.add((rule.ship_by + timedelta(days=1)).isoformat())
                days.add(rule.ship_by.isoformat())
        moved = unchanged = skipped = 0
        for record in self._records.open_by_deadline(sorted(days)):
            if record.policy_version >= policies.version:
                unchanged += 1
                continue
            facts = SlaFacts(
                order_id=record.order_id,
                channel=record.channel,
                warehouse=record.warehouse,
                sku_class=record.sku_class,
                paid_at=record.paid_at,
                presale_ship_by=record.presale_ship_by,
            )
            deadline = policies.deadline(facts)
            if self._records.redeadline(record, deadline, policies.version):
                moved += deadline != record.deadline
                unchanged += deadline == record.deadline
            else:
                skipped += 1  # changed meanwhile: its own change recomputes it with the current policy
        return moved, unchanged, skipped

    # ----------------------------------------------------------------- orders

    def handled(self, order_id: str, body: bytes | str) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            raise BadRequestError("the body is a JSON object") from error
        reason = data.get("reason", "handled") if isinstance(data, dict) else None
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            raise BadRequestError("reason is a text of at most 200 characters")
        record = self._records.get(order_id)
        if record is None:
            raise SlaDeadlineNotFoundError("no SLA deadline for that order", order_id=order_id[:80])
        if not self._records.mark_handled(order_id, f"handled: {reason.strip()}", self._clock()):
            raise SlaDeadlineClosedError("the deadline is closed already", order_id=order_id)
        return {"order_id": order_id, "handled": True, "levels_sent": record.level_sent}

    def order(self, order_id: str) -> dict[str, Any]:
        record = self._records.get(order_id)
        if record is None:
            raise SlaDeadlineNotFoundError("no SLA deadline for that order", order_id=order_id[:80])
        preflight = self._preflight.get(order_id)
        return {
            "order_id": record.order_id,
            "channel": record.channel,
            "warehouse": record.warehouse,
            "home_warehouse": record.home_warehouse or record.warehouse,
            "routing": {"decision": record.routing or "home", "reason": record.routing_reason},
            "sku_class": record.sku_class,
            "paid_at": record.paid_at.isoformat(),
            "deadline": record.deadline.isoformat(),
            "policy_version": record.policy_version,
            "level_sent": record.level_sent,
            "next_level_at": _next_level_at(record),
            "closed_reason": record.closed_reason or None,
            "shipped_at": record.shipped_at.isoformat() if record.shipped_at else None,
            "preflight": preflight.as_json() if preflight is not None else None,
        }

    # ----------------------------------------------------------------- configuration

    def put_capacity(self, warehouse: str, body: bytes | str) -> dict[str, Any]:
        data = _json_object(body)
        data.setdefault("warehouse", warehouse)
        if data["warehouse"] != warehouse:
            raise FulfilmentConfigInvalidError("the body names another warehouse", warehouse=warehouse[:64])
        try:
            config = WarehouseCapacity.model_validate(data)
        except ValidationError as error:
            raise FulfilmentConfigInvalidError(
                "the capacity is not valid", problems=_problems(error)
            ) from None
        self._configs.put_capacity(config, self._clock())
        return config.model_dump(mode="json")

    def warehouses(self) -> list[dict[str, Any]]:
        """Each configured warehouse with its overflow state and latest forecast."""
        episodes = self._episodes.all()
        rows = []
        for config in self._configs.capacities():
            episode = episodes.get(config.warehouse)
            rows.append(
                config.model_dump(mode="json")
                | {
                    "overflow": {
                        "active": bool(episode and episode.active),
                        "since": episode.since.isoformat() if episode and episode.since else None,
                        "reason": episode.reason if episode else "",
                        "forecast": episode.forecast if episode else None,
                    }
                }
            )
        return rows

    def put_preflight(self, body: bytes | str) -> dict[str, Any]:
        try:
            config = PreflightConfig.model_validate(_json_object(body))
        except ValidationError as error:
            raise FulfilmentConfigInvalidError(
                "the pre-flight configuration is not valid", problems=_problems(error)
            ) from None
        self._configs.put_preflight(config, self._clock())
        return config.model_dump(mode="json")


def _next_level_at(record: SlaRecord) -> str | None:
    following = record.level_sent + 1
    if not record.open or following not in LEVEL_OFFSETS:
        return None
    return (record.deadline + LEVEL_OFFSETS[following]).astimezone(UTC).isoformat()


def _json_object(body: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise FulfilmentConfigInvalidError("the body is a JSON object")
    return data


def _problems(error: ValidationError) -> list[str]:
    return sorted({".".join(map(str, item["loc"])) + ": " + item["msg"] for item in error.errors()})[:20]
