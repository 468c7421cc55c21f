"""WMS heartbeats (pure): the signed report each warehouse posts, and when a warehouse is offline.

Each warehouse posts ``POST /wms/heartbeat`` every few minutes with its queue counts. The request is
signed with the warehouse's own secret (``docs/fulfilment-sla.md``)::

    X-Warehouse-Id: <warehouse id>
    X-Timestamp:    <unix seconds>
    X-Signature:    hex(HMAC-SHA256(secret, timestamp + "\\n" + warehouse id + "\\n" + raw body))

so one leaked warehouse secret cannot speak for another, and a captured request is refused after
:data:`SIGNATURE_TOLERANCE`. A warehouse whose last heartbeat is older than :data:`OFFLINE_AFTER`
plus the grace period is offline.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from oms.domain.model import UtcDatetime

OFFLINE_AFTER = timedelta(minutes=15)
DEFAULT_GRACE = timedelta(minutes=5)
SIGNATURE_TOLERANCE = timedelta(minutes=5)


class Heartbeat(BaseModel):
    """The body of a heartbeat: the WMS's own counts and its clock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pending_print: int = Field(ge=0, le=10_000_000)
    printed: int = Field(ge=0, le=10_000_000)
    picked_up: int = Field(ge=0, le=10_000_000)
    time: UtcDatetime


def heartbeat_signature(secret: str, timestamp: str, warehouse_id: str, body: bytes) -> str:
    message = f"{timestamp}\n{warehouse_id}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def is_offline(last_seen: datetime, now: datetime, grace: timedelta = DEFAULT_GRACE) -> bool:
    return now - last_seen > OFFLINE_AFTER + grace
