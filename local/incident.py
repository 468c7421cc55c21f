"""The 2026-02-05 incident on the local stack, handled the way docs/operations.md tells an operator to.

Douyin's iOS SDK starts appending a URL-encoded zero-width space (``%E2%80%8B``) to payment ids;
the payment parser refuses them (``PAY_PARSE_ERR``) and every such order lands in the DLQ. Then,
step by step, over HTTP only (signed webhooks as the platform, SigV4 admin calls as the operator):

1. ``incident``  Douyin pushes orders whose payment ids carry the sequence: all of them fail.
2. ``search``    one ``GET /traces?status=failed&platform=douyin&error_code=PAY_PARSE_ERR`` finds them.
3. ``trace``     ``GET /traces/{id}`` shows ``%E2%80%8B`` flagged as an encoded ``U+200B`` (E2 80 8B).
4. ``rule``      ``POST /cleaning-rules``: percent-decode then strip invisible characters, 10% canary.
5. ``canary``    more orders arrive: the canary's orders are applied, the baseline's still fail
                 (order numbers are picked by the rule's own hash, so both sides are present).
6. ``rollout``   ``GET /cleaning-rules/{id}/rollout`` compares the two sides.
7. ``promote``   ``PATCH /cleaning-rules/{id}`` to every order.
8. ``redrive``   ``POST /dlq/redrive`` with the same filter; the queue drains.
9. ``replayed``  every incident order is read back: applied exactly once, none lost.

:func:`run` returns the counts of every step and the mismatches found (empty when all held).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from local import simulator
from local.stack import HttpResult, LocalStack
from oms.domain.ids import unified_order_id
from oms.domain.rules import canary_bucket

RULE_ID = "douyin-payment-id-encoded-zwsp"
CANARY_PERCENT = 10
PLATFORM = "douyin"
APP_KEY = "7000000000000000001"
SHOP = "100002"
ENCODED_ZWSP = "%E2%80%8B"
SEARCH = {"status": "failed", "platform": PLATFORM, "error_code": "PAY_PARSE_ERR", "limit": "100"}
LINES = (
    simulator.LineSpec(sku_id="3500000009001", quantity=1, unit_price=Decimal("89.00"), out_sku_id="TEA-9"),
)
#: The incident's orders happen on the day of the incident (UTC+8 evening).
INCIDENT_START = datetime(2026, 2, 5, 12, 15, tzinfo=UTC)


@dataclass
class IncidentReport:
    steps: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def step(self, name: str, **counts: Any) -> dict[str, Any]:
        entry = {"step": name, **counts}
        self.steps.append(entry)
        return entry

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            self.mismatches.append(message)


def order_numbers(count: int, *, start: int, cohort: str | None = None) -> list[str]:
    """Deterministic Douyin order numbers; ``cohort`` keeps only those the rule's hash puts there."""
    numbers: list[str] = []
    candidate = start
    while len(numbers) < count:
        number = f"6950{candidate:015d}"
        candidate += 1
        if cohort is not None:
            in_canary = canary_bucket(RULE_ID, unified_order_id(PLATFORM, SHOP, number)) < CANARY_PERCENT
            if in_canary != (cohort == "canary"):
                continue
        numbers.append(number)
    return numbers


def payment_id(number: str) -> str:
    return f"PAY{number[-10:]}{ENCODED_ZWSP}"


def push_orders(
    stack: LocalStack, credentials: Mapping[str, Any], numbers: Sequence[str], at: datetime
) -> int:
    """Put each order (paid, bad payment id) on the simulated platform and push it signed; accepted count."""
    app = credentials["douyin"][APP_KEY]
    accepted = 0
    for offset, number in enumerate(numbers):
        when = at + timedelta(seconds=offset)
        order = simulator.douyin_order(
            number,
            SHOP,
            105,
            when,
            LINES,
            payment_id=payment_id(number),
            create_time=when - timedelta(minutes=1),
        )
        stack.simulator.put_order(PLATFORM, SHOP, order)
        message = simulator.douyin_order_message(order, "101", f"incident-{number}")
        headers, body = simulator.douyin_push([message], app["app_key"], app["app_secret"])
        reply = stack.request("POST", "/webhooks/douyin", body=body, headers=headers)
        accepted += int(reply.status == 200)
    return accepted


def admin(stack: LocalStack, method: str, path: str, body: Any = None, **query: str) -> HttpResult:
    payload = json.dumps(body).encode() if body is not None else b""
    headers = {"content-type": "application/json"} if body is not None else {}
    return stack.request(method, path, body=payload, headers=headers, query=query or None, sign=True)


def applied(stack: LocalStack, number: str) -> dict[str, Any] | None:
    reply = stack.admin_get(f"/orders/{PLATFORM}:{SHOP}:{number}")
    return dict(reply.json()) if reply.status == 200 else None


def run(
    stack: LocalStack,
    credentials: Mapping[str, Any],
    *,
    incident_orders: int = 20,
    canary_orders: int = 3,
    baseline_orders: int = 9,
    rules_cache_s: float = 1.0,
    drain_timeout_s: float = 90.0,
) -> IncidentReport:
    """Play the incident through ``stack`` (module docstring); every count is read back, not assumed."""
    play = _Incident(
        stack,
        credentials,
        first=order_numbers(incident_orders, start=1),
        canary=order_numbers(canary_orders, start=1_000, cohort="canary"),
        baseline=order_numbers(baseline_orders, start=1_000, cohort="baseline"),
        rules_cache_s=rules_cache_s,
        drain_timeout_s=drain_timeout_s,
    )
    play.incident()
    play.search_and_trace()
    play.canary_rollout()
    play.promote_and_redrive()
    play.replayed()
    return play.report


@dataclass
class _Incident:
    stack: LocalStack
    credentials: Mapping[str, Any]
    first: list[str]
    canary: list[str]
    baseline: list[str]
    rules_cache_s: float
    drain_timeout_s: float
    report: IncidentReport = field(default_factory=IncidentReport)

    def drain(self, when: str) -> None:
        self.report.expect(self.stack.drain(timeout=self.drain_timeout_s), f"the queue did not drain {when}")

    def incident(self) -> None:
        dlq_before = self.stack.queue_depth("IntakeDLQ")
        accepted = push_orders(self.stack, self.credentials, self.first, INCIDENT_START)
        self.drain("after the incident")
        in_dlq = self.stack.queue_depth("IntakeDLQ") - dlq_before
        self.report.step(
            "incident",
            pushed=len(self.first),
            accepted=accepted,
            applied=_count_applied(self.stack, self.first),
            dlq=in_dlq,
        )
        self.report.expect(
            in_dlq == len(self.first), f"{in_dlq} incident messages in the DLQ, not {len(self.first)}"
        )

    def search_and_trace(self) -> None:
        reply = admin(self.stack, "GET", "/traces", **SEARCH)
        found = reply.json() if reply.status == 200 else {"traces": [], "counts": []}
        refs = {row["order_ref"]: row["trace_id"] for row in found["traces"]}
        missing = [number for number in self.first if _ref(number) not in refs]
        self.report.step(
            "search",
            calls=1,
            status=reply.status,
            traces=len(found["traces"]),
            counts=found["counts"],
            incident_orders_found=len(self.first) - len(missing),
        )
        self.report.expect(not missing, f"GET /traces missed {len(missing)} incident orders")

        trace_id = refs.get(_ref(self.first[0]), "")
        trace = admin(self.stack, "GET", f"/traces/{trace_id}").json() if trace_id else {}
        shown = (trace.get("suspicious_details", {}).get("value"), trace.get("fetched"))
        flagged = [item for inspection in shown if inspection for item in inspection["encoded"]]
        self.report.step(
            "trace",
            trace_id=trace_id,
            attempts=sum(1 for stage in trace.get("stages", []) if stage["stage"] == "attempt"),
            flagged=[
                f"{item['text']} = {item['decodes_to']} {item['name']} (UTF-8 {item['utf8']})"
                for item in flagged[:1]
            ],
        )
        self.report.expect(
            any(item["text"] == ENCODED_ZWSP and item["utf8"] == "E2 80 8B" for item in flagged),
            "the trace view does not flag %E2%80%8B with its bytes E2 80 8B",
        )

    def canary_rollout(self) -> None:
        rule = {
            "rule_id": RULE_ID,
            "platform": PLATFORM,
            "fields": ["channel_payment_no"],
            "operation": "percent_decode_strip_invisible",
            "percentage": CANARY_PERCENT,
            "examples": [{"input": f"PAY1{ENCODED_ZWSP}", "output": "PAY1"}],
            "reason": "payment ids end in a URL-encoded zero-width space (new Douyin iOS SDK)",
        }
        reply = admin(self.stack, "POST", "/cleaning-rules", body=rule)
        version = reply.json().get("rule", {}).get("version") if reply.status == 201 else None
        self.report.step("rule", status=reply.status, version=version, percentage=CANARY_PERCENT)
        self.report.expect(
            reply.status == 201, f"POST /cleaning-rules answered {reply.status}: {reply.text[:200]}"
        )
        time.sleep(self.rules_cache_s + 0.2)  # every sanitizer has read the new rule set

        dlq_before = self.stack.queue_depth("IntakeDLQ")
        push_orders(
            self.stack, self.credentials, self.canary + self.baseline, INCIDENT_START + timedelta(hours=2)
        )
        self.drain("during the canary")
        canary_applied = _count_applied(self.stack, self.canary)
        baseline_applied = _count_applied(self.stack, self.baseline)
        baseline_failed = self.stack.queue_depth("IntakeDLQ") - dlq_before
        self.report.step(
            "canary",
            canary_orders=len(self.canary),
            canary_applied=canary_applied,
            baseline_orders=len(self.baseline),
            baseline_applied=baseline_applied,
            baseline_in_dlq=baseline_failed,
        )
        self.report.expect(
            canary_applied == len(self.canary), f"{canary_applied}/{len(self.canary)} canary applied"
        )
        self.report.expect(
            baseline_applied == 0 and baseline_failed == len(self.baseline),
            "the baseline orders did not fail",
        )

        cohorts = admin(self.stack, "GET", f"/cleaning-rules/{RULE_ID}/rollout").json().get("cohorts", {})
        self.report.step(
            "rollout",
            **{
                side: {k: v for k, v in counts.items() if k != "failed_by_code"}
                for side, counts in cohorts.items()
            },
        )
        canary_side, baseline_side = cohorts.get("canary", {}), cohorts.get("baseline", {})
        self.report.expect(
            (canary_side.get("applied"), canary_side.get("failed")) == (len(self.canary), 0),
            f"the rollout view's canary side is {canary_side}",
        )
        self.report.expect(
            baseline_side.get("failed") == len(self.baseline),
            f"the rollout view's baseline side is {baseline_side}",
        )

    def promote_and_redrive(self) -> None:
        reply = admin(
            self.stack, "PATCH", f"/cleaning-rules/{RULE_ID}", body={"status": "full", "reason": "clean"}
        )
        percentage = reply.json().get("rule", {}).get("percentage") if reply.status == 200 else None
        self.report.step("promote", status=reply.status, percentage=percentage)
        self.report.expect(
            reply.status == 200, f"PATCH /cleaning-rules answered {reply.status}: {reply.text[:200]}"
        )
        time.sleep(self.rules_cache_s + 0.2)

        dlq_before = self.stack.queue_depth("IntakeDLQ")
        reply = admin(
            self.stack, "POST", "/dlq/redrive", body={"platform": PLATFORM, "error_code": "PAY_PARSE_ERR"}
        )
        moved = reply.json() if reply.status == 200 else {}
        self.drain("after the redrive")
        self.report.step(
            "redrive",
            status=reply.status,
            dlq_before=dlq_before,
            redriven=moved.get("redriven"),
            skipped=moved.get("skipped"),
            failed=moved.get("failed"),
            dlq_after=self.stack.queue_depth("IntakeDLQ"),
        )
        self.report.expect(
            reply.status == 200 and moved.get("failed") == 0, "the redrive did not move everything"
        )

    def replayed(self) -> None:
        everyone = self.first + self.canary + self.baseline
        views = {number: applied(self.stack, number) for number in everyone}
        lost = [number for number, view in views.items() if view is None]
        twice = [
            number
            for number, view in views.items()
            if view is not None and (view["order"]["version"] != 1 or len(view["history"]) != 1)
        ]
        clean = [
            number
            for number, view in views.items()
            if view is not None
            and view["order"]["payment_id"] == payment_id(number).removesuffix(ENCODED_ZWSP)
        ]
        self.report.step(
            "replayed",
            orders=len(everyone),
            applied_once=len(everyone) - len(lost) - len(twice),
            lost=len(lost),
            applied_more_than_once=len(twice),
            payment_ids_clean=len(clean),
            dlq=self.stack.queue_depth("IntakeDLQ"),
        )
        self.report.expect(not lost, f"lost orders: {lost[:5]}")
        self.report.expect(not twice, f"orders changed more than once: {twice[:5]}")
        self.report.expect(len(clean) == len(everyone), "some payment ids were not cleaned")


def _ref(number: str) -> str:
    return f"{PLATFORM}:{SHOP}:{number}"


def _count_applied(stack: LocalStack, numbers: Sequence[str]) -> int:
    return sum(1 for number in numbers if applied(stack, number) is not None)


def describe(step: Mapping[str, Any]) -> str:
    """One line per step for the terminal."""
    name = step["step"]
    if name == "rollout":
        sides = [
            f"{side}: " + ", ".join(f"{key} {value}" for key, value in counts.items())
            for side, counts in step.items()
            if side != "step"
        ]
        return f"  {name:<9} " + " | ".join(sides)
    counts = ", ".join(
        f"{key} {value}" for key, value in step.items() if key not in ("step", "counts", "flagged")
    )
    if name == "search":
        counts += "; counts " + ", ".join(
            f"{c['platform']}/{c['code']}: {c['messages']} messages, {c['attempts']} attempts"
            for c in step["counts"]
        )
    if name == "trace" and step.get("flagged"):
        counts += "; flagged " + "; ".join(step["flagged"])
    return f"  {name:<9} {counts}"
