"""The SLA day's fulfilment health report (issue #5 item 6), played inside ``local/sla_chapter.py``.

The warehouse reports per-order stages (``POST /wms/orders/events``, signed with its own secret) in
one batch when it comes back online, then resends one of them late (the earlier time is kept). An
operator asks ``POST /fulfillment/health-report`` (SigV4) for the month, downloads the HTML through
the presigned link, and reads the numbers it embeds.

The oracle is the day's own orders: the report is produced once before the day (as of the day's
end) and once after, with the same ``as_of``, so whatever else the demo left in the month adds the
same to both and the difference is the day's orders alone.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from local.stack import HttpResult, LocalStack
from oms.domain.wms import heartbeat_signature

STAGE_ORDER = ("paid", "approved", "sent_to_wms", "printed", "picked_up", "delivered")


def post_stage_events(
    stack: LocalStack, credentials: Mapping[str, Any], warehouse: str, events: Sequence[Mapping[str, str]]
) -> HttpResult:
    return wms_post(stack, credentials, warehouse, "/wms/orders/events", {"events": list(events)})


def wms_post(
    stack: LocalStack, credentials: Mapping[str, Any], warehouse: str, path: str, document: object
) -> HttpResult:
    """A warehouse's request to a ``/wms/...`` route, signed with its own secret (docs/fulfilment-sla.md)."""
    body = json.dumps(document).encode()
    timestamp = str(int(time.time()))
    secret = credentials["warehouses"][warehouse]["secret"]
    headers = {
        "content-type": "application/json",
        "x-warehouse-id": warehouse,
        "x-timestamp": timestamp,
        "x-signature": heartbeat_signature(secret, timestamp, warehouse, body),
    }
    return stack.request("POST", path, body=body, headers=headers)


def produce(stack: LocalStack, month: str, as_of: datetime) -> HttpResult:
    # The local moto server serialises every call of every function; after the demo's earlier
    # chapters it answers this month-long read more slowly than DynamoDB would (the route's own
    # budget in AWS is the HTTP API's 30 s: template.yaml, FulfilmentReportFunction).
    return stack.request(
        "POST",
        "/fulfillment/health-report",
        query={"month": month, "as_of": as_of.isoformat()},
        sign=True,
        timeout=120.0,
    )


def snapshot(stack: LocalStack, month: str, as_of: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Produce the report, download it through its link: (the route's answer, the embedded numbers).

    Raises ``ValueError`` when the route refuses or the link does not lead to the page.
    """
    produced = produce(stack, month, as_of)
    if produced.status != 200:
        raise ValueError(f"health report: {produced.status} {produced.text[:200]}")
    answer: dict[str, Any] = produced.json()
    return answer, embedded_data(download(answer["url"]))


def download(url: str) -> str:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the link leaves the local stack: {url[:60]}")
    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - http://127.0.0.1 only
        return bytes(reply.read()).decode("utf-8")


def embedded_data(page: str) -> dict[str, Any]:
    """The numbers the report embeds (``<script type="application/json" id="report-data">``)."""
    start = page.index('id="report-data">') + len('id="report-data">')
    data: dict[str, Any] = json.loads(page[start : page.index("</script>", start)])
    return data


def stage_events(order_ids: Mapping[str, str], start: datetime) -> list[dict[str, str]]:
    """What the warehouse did: all four received 5 min into the day; two printed; one picked up."""

    def at(minutes: int) -> str:
        return (start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    first, second = list(order_ids.values())[:2]
    events = [{"order_id": order_id, "stage": "sent_to_wms", "at": at(5)} for order_id in order_ids.values()]
    events += [
        {"order_id": first, "stage": "printed", "at": at(20)},
        {"order_id": second, "stage": "printed", "at": at(30)},
        {"order_id": first, "stage": "picked_up", "at": at(80)},
    ]
    return events


def expected_delta(paid: datetime, start: datetime, as_of: datetime) -> dict[str, Any]:
    """The day's orders alone, worked out by hand from :func:`stage_events` (hours per stage).

    Paid at ``paid``; nobody reports approval, so it passes at payment (0 h) and the wait to the
    warehouse runs from payment. Open waits run to ``as_of``: two orders never printed, one printed
    but never picked up, one picked up but not delivered.
    """
    to_wms = (start + timedelta(minutes=5) - paid).total_seconds() / 3600
    since = {
        minutes: (as_of - start - timedelta(minutes=minutes)).total_seconds() / 3600
        for minutes in (5, 30, 80)
    }
    return {
        "reached": {"paid": 4, "approved": 4, "sent_to_wms": 4, "printed": 2, "picked_up": 1, "delivered": 0},
        "wait_hours": {
            "paid": 0.0,
            "approved": 0.0,
            "sent_to_wms": 4 * to_wms,
            "printed": 15 / 60 + 25 / 60 + 2 * since[5],
            "picked_up": 60 / 60 + since[30],
            "delivered": since[80],
        },
        "promised": 4,
        "on_time": 1,
    }


def check(before: Mapping[str, Any], after: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Mismatches between the report's difference (after − before) and the oracle."""
    mismatches: list[str] = []
    stages_before = {stage["stage"]: stage for stage in before["stages"]}
    stages_after = {stage["stage"]: stage for stage in after["stages"]}
    for stage in STAGE_ORDER:
        reached = stages_after[stage]["reached"] - stages_before[stage]["reached"]
        if reached != expected["reached"][stage]:
            wanted = expected["reached"][stage]
            mismatches.append(f"health report: {reached} orders reached {stage}, expected {wanted}")
        hours = stages_after[stage]["wait_hours"] - stages_before[stage]["wait_hours"]
        wanted_hours = expected["wait_hours"][stage]
        if abs(hours - wanted_hours) > 0.01:
            mismatches.append(
                f"health report: {hours:.2f} h waited toward {stage}, expected {wanted_hours:.2f}"
            )
    for name in ("promised", "on_time"):
        if after[name] - before[name] != expected[name]:
            mismatches.append(
                f"health report: {name} grew by {after[name] - before[name]}, expected {expected[name]}"
            )
    total = sum(stage["wait_hours"] for stage in after["stages"])
    highlighted = [
        stage["stage"] for stage in after["stages"] if total and stage["wait_hours"] / total > 0.15
    ]
    if after["highlighted"] != highlighted:
        mismatches.append(
            f"health report highlights {after['highlighted']}, its own numbers say {highlighted}"
        )
    if before["orders"] == 0 and after["highlighted"] != ["sent_to_wms"]:
        # the day alone: 46 h from payment to the warehouse dwarfs the rest
        mismatches.append(f"health report highlights {after['highlighted']}, expected ['sent_to_wms']")
    return mismatches


class DayReport:
    """The report of the month the day's deadlines fall in, as of the day's end: before and after."""

    def __init__(self, stack: LocalStack, deadline: datetime, start: datetime, day: timedelta) -> None:
        began = time.monotonic()
        self.month = deadline.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        self.start = start
        self.as_of = start + day
        self.baseline = snapshot(stack, self.month, self.as_of)
        self.posted: list[HttpResult] = []
        self.events = 0
        #: Wall-clock seconds this part adds to the chapter (requests only; the day's clock is simulated)
        self.seconds = time.monotonic() - began

    def warehouse_reports(
        self, stack: LocalStack, credentials: Mapping[str, Any], warehouse: str, order_ids: Mapping[str, str]
    ) -> None:
        """The stages since the day began in one batch, then the pickup again, late (kept earlier)."""
        began = time.monotonic()
        events = stage_events(order_ids, self.start)
        self.events = len(events)
        late = {**events[-1], "at": (self.start + timedelta(minutes=100)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.posted = [
            post_stage_events(stack, credentials, warehouse, events),
            post_stage_events(stack, credentials, warehouse, [late]),
        ]
        self.seconds += time.monotonic() - began

    def check(self, chapter: Any, stack: LocalStack, paid: datetime) -> list[str]:
        """Produce the report over the admin API, download it, compare the day's part with the oracle."""
        began = time.monotonic()
        mismatches = []
        batch, resent = self.posted
        if batch.status != 200 or batch.json()["recorded"] != self.events:
            mismatches.append(f"stage events: {batch.status} {batch.text[:200]}")
        if resent.status != 200 or resent.json()["kept_earlier"] != 1:
            mismatches.append(
                f"a late resend must keep the earlier time: {resent.status} {resent.text[:200]}"
            )
        try:
            answer, after = snapshot(stack, self.month, self.as_of)
        except ValueError as error:
            return [*mismatches, str(error)]
        reached = {stage["stage"]: stage["reached"] for stage in after["stages"]}
        chapter.summary["health_report"] = {
            "key": answer["key"],
            "expires_in_seconds": answer["expires_in_seconds"],
            "stages_reached": reached,
            "highlighted": after["highlighted"],
            "on_time_rate": after["on_time_rate"],
            "seconds": round(self.seconds + time.monotonic() - began, 2),
        }
        chapter.lines.append(
            f"  health report {self.month}: stages reached {reached}; highlighted {after['highlighted']}"
        )
        expected = expected_delta(paid, self.start, self.as_of)
        return mismatches + check(self.baseline[1], after, expected)
