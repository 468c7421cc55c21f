"""A scanning device as the local stack's clients play it: a courier's handset or a warehouse PDA.

It signs each scan with its own key from ``local/credentials.json`` (section ``scanners``, which
the local stack deploys into the ``<stack>/returns/scanners`` secret), exactly as a device in the
field does (docs/returns.md, "Scan authentication").
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.stack import HttpResult, LocalStack
from oms.domain.returns import scan_signature


@dataclass(frozen=True)
class Device:
    device_id: str
    key: str
    fingerprint: str

    @classmethod
    def from_credentials(cls, stack: LocalStack, device_id: str) -> Device:
        scanners = json.loads(stack.credentials_file.read_text(encoding="utf-8"))["scanners"]
        return cls(device_id, scanners[device_id]["key"], f"sha256:{device_id}-hw-0001")

    def scan(
        self,
        stack: LocalStack,
        code: str,
        body: Mapping[str, Any],
        *,
        key: str | None = None,
        timestamp: int | None = None,
    ) -> HttpResult:
        """POST ``body`` to ``/returns/{code}/scans`` signed with this device's key (or ``key``)."""
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        sent = str(int(time.time()) if timestamp is None else timestamp)
        path = f"/returns/{code}/scans"
        signature = scan_signature((key or self.key).encode("utf-8"), "POST", path, sent, payload)
        return stack.request(
            "POST",
            path,
            body=payload,
            headers={
                "content-type": "application/json",
                "x-oms-scanner": self.device_id,
                "x-oms-timestamp": sent,
                "x-oms-signature": signature,
            },
        )


def scan_body(  # noqa: PLR0917 - the fields of one scan, in the order a device reads them
    scan_id: str,
    kind: str,
    operator_id: str,
    operator_name: str,
    fingerprint: str,
    device_time: str,
    *,
    lat: str = "30.274085",
    lon: str = "120.155070",
    photo_ref: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scan_id": scan_id,
        "kind": kind,
        "operator_id": operator_id,
        "operator_name": operator_name,
        "device_fingerprint": fingerprint,
        "gps": {"lat": lat, "lon": lon, "accuracy_m": 8},
        "device_time": device_time,
    }
    if photo_ref:
        body["photo_ref"] = photo_ref
    return body
