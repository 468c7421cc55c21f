"""WMS heartbeats: authenticate and store them, watch for silent warehouses, alert once per outage.

``receive`` checks the warehouse's signature (its own secret, ``oms.domain.wms``), stores the
heartbeat if it is newer than the last one, and when it ends an outage raises one ``wms.recovered``
alert. ``check`` (on the escalator's schedule) moves every warehouse silent for longer than 15
minutes plus the grace period offline with a conditional write and raises one ``wms.offline``
alert per outage: the outage is named by the last heartbeat before it, so the dedupe key is
stable however often the watch runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from oms.domain.alerts import Alert, Severity
from oms.domain.errors import AlertDeliveryError, HeartbeatInvalidError, WarehouseUnauthenticatedError
from oms.domain.wms import DEFAULT_GRACE, SIGNATURE_TOLERANCE, Heartbeat, heartbeat_signature, is_offline
from oms.services.ports import AlertSink, Clock

logger = Logger(child=True)


class WarehouseStates(Protocol):
    def record(self, warehouse_id: str, heartbeat: Heartbeat, received_at: datetime) -> Any: ...

    def all(self) -> list[Any]: ...

    def mark_offline(self, state: Any, now: datetime) -> bool: ...

    def mark_alerted(self, warehouse_id: str, outage_since: datetime) -> None: ...


class WarehouseHeartbeats:
    def __init__(
        self,
        states: WarehouseStates,
        secrets: Callable[[], Mapping[str, Any]],
        alerts: AlertSink,
        clock: Clock,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        self._states = states
        self._secrets = secrets
        self._alerts = alerts
        self._clock = clock
        self._grace = grace

    def receive(self, warehouse_id: str, timestamp: str, signature: str, body: bytes) -> dict[str, Any]:
        now = self.authenticate(warehouse_id, timestamp, signature, body)
        try:
            heartbeat = Heartbeat.model_validate_json(body)
        except ValidationError as error:
            fields = sorted({".".join(map(str, item["loc"])) or item["type"] for item in error.errors()})
            raise HeartbeatInvalidError("the heartbeat is not valid", fields=fields) from None
        recorded = self._states.record(warehouse_id, heartbeat, now)
        if recorded.recovered_from is not None:
            try:
                self._alerts.raise_alerts([recovery_alert(warehouse_id, recorded.recovered_from, heartbeat)])
            except AlertDeliveryError:
                # The heartbeat is stored; the recovery stays on the log floor (the WMS must not retry).
                logger.warning("recovery message not delivered", extra={"warehouse": warehouse_id})
        return {
            "warehouse": warehouse_id,
            "stale": recorded.stale,
            "recovered": recorded.recovered_from is not None,
        }

    def authenticate(self, warehouse_id: str, timestamp: str, signature: str, body: bytes) -> datetime:
        """Check a warehouse's signed request (every ``/wms/...`` route); returns the time now.

        :class:`WarehouseUnauthenticatedError` for an unknown warehouse, a wrong signature or a
        timestamp outside the tolerance.
        """
        warehouse = self._secrets().get(warehouse_id)
        if not isinstance(warehouse, Mapping) or not warehouse.get("secret"):
            raise WarehouseUnauthenticatedError("unknown warehouse", warehouse=warehouse_id[:64])
        expected = heartbeat_signature(str(warehouse["secret"]), timestamp, warehouse_id, body)
        if not hmac.compare_digest(expected, signature.lower()):
            raise WarehouseUnauthenticatedError("signature mismatch", warehouse=warehouse_id)
        now = self._clock()
        try:
            signed_at = datetime.fromtimestamp(int(timestamp), UTC)
        except (ValueError, OverflowError, OSError) as error:
            raise WarehouseUnauthenticatedError("unreadable timestamp", warehouse=warehouse_id) from error
        if abs(now - signed_at) > SIGNATURE_TOLERANCE:
            raise WarehouseUnauthenticatedError("timestamp outside the tolerance", warehouse=warehouse_id)
        return now

    def check(self, now: datetime) -> list[str]:
        """Move silent warehouses offline (one alert per outage); the ids of every offline warehouse."""
        pending: dict[str, tuple[Alert, datetime]] = {}
        offline = []
        for state in self._states.all():
            if not state.online:
                offline.append(state.warehouse_id)
                if not state.alerted and state.outage_since is not None:
                    # Its alert was not delivered yet (a failed run): raise it again, same key.
                    pending[state.warehouse_id] = (offline_alert(state, now), state.outage_since)
                continue
            if is_offline(state.last_seen, now, self._grace) and self._states.mark_offline(state, now):
                offline.append(state.warehouse_id)
                pending[state.warehouse_id] = (offline_alert(state, now), state.last_seen)
        if pending:
            undelivered: set[str] = set()
            try:
                self._alerts.raise_alerts([alert for alert, _ in pending.values()])
            except AlertDeliveryError as error:
                undelivered = set(error.details.get("undelivered", ()))
            for warehouse_id, (alert, outage_since) in pending.items():
                if alert.dedupe_key not in undelivered:
                    self._states.mark_alerted(warehouse_id, outage_since)
        return offline


def offline_alert(state: Any, now: datetime) -> Alert:
    """Keyed by the last heartbeat before the outage: the same outage always has the same key."""
    since = state.outage_since or state.last_seen
    silent = int((now - state.last_seen).total_seconds() // 60)
    return Alert(
        kind="wms.offline",
        severity=Severity.CRITICAL,
        title=f"Warehouse {state.warehouse_id} offline: no heartbeat for {silent} min",
        dedupe_key=f"wms:{state.warehouse_id}:offline:{since.isoformat()}",
        lines=(
            f"last heartbeat {state.last_seen.isoformat()}, {state.pending_print} waiting to print",
            "orders routed to it are flagged in SLA escalations until it reports again",
        ),
        facts={"warehouse": state.warehouse_id, "last_seen": state.last_seen.isoformat()},
        recipient_role="warehouse_lead",
    )


def recovery_alert(warehouse_id: str, outage_since: datetime, heartbeat: Heartbeat) -> Alert:
    return Alert(
        kind="wms.recovered",
        severity=Severity.INFO,
        title=f"Warehouse {warehouse_id} back online",
        dedupe_key=f"wms:{warehouse_id}:recovered:{outage_since.isoformat()}",
        lines=(
            f"silent since {outage_since.isoformat()}, reported at {heartbeat.time.isoformat()}",
            f"pending print {heartbeat.pending_print}, printed {heartbeat.printed},"
            f" picked up {heartbeat.picked_up}",
        ),
        facts={"warehouse": warehouse_id, "outage_since": outage_since.isoformat()},
        recipient_role="warehouse_lead",
    )
