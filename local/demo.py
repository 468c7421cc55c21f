"""``make demo``: replay a day of nine platforms through the local stack and check the outcome.

It starts the whole local stack (:class:`local.stack.LocalStack`, API on 127.0.0.1:3000 or the
next free port), replays ``events/scenarios/demo.json`` over HTTP exactly as the platforms would
(each step: the platform's order changes in the simulator, then the platform pushes a signed
webhook; duplicates, late pushes and poison messages included; for Pinduoduo and Taobao, which
do not push, the replay's ``poll`` actions move the simulated clock so the OrderPoller schedule
fires and pulls them), waits for the queue to drain,
then reads everything back the way an operator would (signed ``GET /orders/{id}``, the Ops
table's failure records, the dead-letter queue) and compares it with the scenario's oracle.

Output: a summary on the terminal, ``out/demo-summary.json``, and the functions' own log
(Powertools JSON logs, EMF metrics) in ``out/demo-functions.log``. The exit status is 0 only
when every order ended in its expected status, no order was lost, and every failure was an
expected one with its expected code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local import chapters, incident, scenario_platforms
from local import scenario as scenarios
from local.api_gateway import DEFAULT_API_PORT
from local.stack import ROOT, LocalStack

OUT_DIR = ROOT / "out"
SUMMARY_PATH = OUT_DIR / "demo-summary.json"
FUNCTION_LOG_PATH = OUT_DIR / "demo-functions.log"
DRAIN_TIMEOUT_S = 120.0
#: Seconds the sanitizer keeps the cleaning rules during the demo (the incident changes them twice).
INCIDENT_RULES_CACHE_S = 1
CLEANING_RULE = "strip-invisible"
#: History outcomes that changed an order; the others were recorded and ignored.
CHANGES = ("created", "applied")
PLATFORM_OF_FACTORY = {
    "douyin_order": scenarios.DOUYIN,
    "shopify_order": scenarios.SHOPIFY,
    "wechat_order": scenarios.WECHAT,
    **{factory: platform for factory, (platform, _) in scenario_platforms.FACTORIES.items()},
}
#: How far each ``poll`` action moves the simulated clock: one OrderPoller period (rate(2 minutes)).
POLL_ADVANCE = timedelta(minutes=2)


@dataclass
class ReplayStats:
    sent: int = 0
    duplicates_sent: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_platform: Counter[str] = field(default_factory=Counter)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    truth_updates: int = 0
    polls: int = 0
    polled_enqueued: int = 0
    poll_errors: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(count for status, count in self.by_status.items() if 200 <= status < 300)


def replay(stack: LocalStack, scenario: Mapping[str, Any], credentials: Mapping[str, Any]) -> ReplayStats:
    """Play the scenario's actions in order: truth changes on the simulator, pushes over HTTP."""
    stats = ReplayStats()
    truths: dict[str, dict[str, Any]] = {}
    pull_times = scenario_platforms.PullTimes()
    steps = scenario["steps"]
    for action in scenario["replay"]:
        kind, step_id = action[0], action[1]
        if kind == "poll":
            poll(stack, stats)
            continue
        step = steps[step_id]
        if step["push"]["builder"] == "pull":
            # The poller pulls with the wall clock: the platform changes this order "just now".
            update, create = pull_times.next(step_id.split("/")[0], datetime.now(UTC))
            rebased = scenario_platforms.rebase_pulled(step["truth"]["args"], update, create)
            truths[step_id] = scenarios.build_truth({**step, "truth": {**step["truth"], "args": rebased}})
        elif step_id not in truths:
            truths[step_id] = scenarios.build_truth(step)
        truth = truths[step_id]
        if kind == "truth":
            stats.truth_updates += 1
            if scenario_platforms.put_truth(stack.simulator, step, truth):
                continue
            platform = PLATFORM_OF_FACTORY[step["truth"]["factory"]]
            args = step["truth"]["args"]
            shop_id = args.get("shop_id") or args.get("shop_domain") or args.get("app_id")
            stack.simulator.put_order(platform, str(shop_id), truth)
            continue
        push = scenarios.build_push(step, truth, credentials, sent_at=datetime.now(UTC))
        reply = stack.request(push.method, push.path, body=push.body, headers=push.headers, query=push.query)
        stats.sent += 1
        stats.duplicates_sent += int("duplicate" in action[2:])
        stats.by_status[reply.status] += 1
        stats.by_platform[push.path.rsplit("/", 1)[-1]] += 1
        if not 200 <= reply.status < 300:
            stats.rejected.append({"step": step_id, "status": reply.status, "body": reply.text[:200]})
    return stats


def poll(stack: LocalStack, stats: ReplayStats) -> None:
    """Move the simulated clock by one poller period: the OrderPoller schedule fires and pulls."""
    assert stack.clock is not None, "the local stack is not started"
    for firing in stack.clock.advance(POLL_ADVANCE):
        if firing.function_id != "OrderPollerFunction":
            continue
        stats.polls += 1
        if firing.error:
            stats.poll_errors.append(firing.error[-300:])
        elif isinstance(firing.result, Mapping):
            stats.polled_enqueued += int(firing.result.get("enqueued", 0))
            if firing.result.get("errors"):
                stats.poll_errors.append(f"poll reported {firing.result['errors']} errors")


def read_failures(stack: LocalStack) -> list[dict[str, Any]]:
    """Every failure record in the Ops table (``PK = TRACE#…``, ``SK = FAILURE#…``), one per attempt."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    table = stack.deployed.names["OpsTable"]
    records: list[dict[str, Any]] = []
    paginator = stack.dynamodb.get_paginator("scan")
    for page in paginator.paginate(
        TableName=table,
        FilterExpression="begins_with(PK, :trace) AND begins_with(SK, :failure)",
        ExpressionAttributeValues={":trace": {"S": "TRACE#"}, ":failure": {"S": "FAILURE#"}},
    ):
        for item in page.get("Items", []):
            records.append({name: deserializer.deserialize(value) for name, value in item.items()})
    return records


@dataclass
class OrderFindings:
    by_status: dict[str, Counter[str]] = field(default_factory=dict)
    by_refund: dict[str, Counter[str]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    cleaned_orders: int = 0


def check_orders(stack: LocalStack, oracle: Mapping[str, Any], mismatches: list[str]) -> OrderFindings:
    """GET every order of the oracle (signed, as an operator): status, refund, history, cleaning."""
    found = OrderFindings()
    for order_ref, expected in oracle["orders"].items():
        reply = stack.admin_get(f"/orders/{order_ref}")
        platform = expected["platform"]
        if reply.status != 200:
            mismatches.append(f"lost order {order_ref} ({expected['key']}): GET answered {reply.status}")
            found.by_status.setdefault(platform, Counter())["<missing>"] += 1
            continue
        view = reply.json()
        order, history = view["order"], view["history"]
        found.by_status.setdefault(platform, Counter())[order["status"]] += 1
        found.by_refund.setdefault(platform, Counter())[order["refund_status"]] += 1
        found.outcomes.update(entry["outcome"] for entry in history)
        wanted = expected["expected"]
        if (order["status"], order["refund_status"]) != (wanted["status"], wanted["refund_status"]):
            mismatches.append(
                f"{order_ref} ({expected['key']}): status {order['status']}/{order['refund_status']}, "
                f"expected {wanted['status']}/{wanted['refund_status']}"
            )
        rules = {rule["name"] for entry in history for rule in entry.get("cleaning", [])}
        found.cleaned_orders += int(CLEANING_RULE in rules)
        if expected["cleaning_expected"] and CLEANING_RULE not in rules:
            mismatches.append(f"{order_ref} ({expected['key']}): no {CLEANING_RULE} in its history")
    return found


def check_failures(
    stack: LocalStack, oracle: Mapping[str, Any], mismatches: list[str]
) -> dict[str, dict[str, int]]:
    """Every failure must be an expected poison message with its code; every poison must fail."""
    failures = read_failures(stack)
    by_trace: dict[str, dict[str, Any]] = {}
    for record in failures:
        by_trace.setdefault(str(record["trace_id"]), record)
    poison_refs = {poison["order_ref"]: poison for poison in oracle["poison"]}
    seen_poison: set[str] = set()
    for record in by_trace.values():
        reference = str(record.get("order_ref") or "")
        expected = poison_refs.get(reference)
        if expected is None:
            mismatches.append(
                f"unexpected failure {record['code']} at {record.get('stage')} for {reference or '?'}: "
                f"{record.get('message')}"
            )
        elif expected["code"] != record["code"]:
            mismatches.append(f"{reference}: failed with {record['code']}, expected {expected['code']}")
        else:
            seen_poison.add(reference)
    for reference, poison in poison_refs.items():
        if reference not in seen_poison:
            mismatches.append(f"poison {poison['step']} ({poison['code']}) left no failure record")
        if stack.admin_get(f"/orders/{reference}").status != 404:
            mismatches.append(f"poison {poison['step']} created an order")
    messages = Counter(str(record["code"]) for record in by_trace.values())
    attempts = Counter(str(record["code"]) for record in failures)
    return {code: {"messages": messages[code], "attempts": attempts[code]} for code in sorted(messages)}


def check(
    stack: LocalStack, scenario: Mapping[str, Any], replayed: ReplayStats
) -> tuple[dict[str, Any], list[str]]:
    """Read the outcome back as an operator would, and compare it with the oracle."""
    oracle = scenario["oracle"]
    mismatches: list[str] = []
    orders = check_orders(stack, oracle, mismatches)
    failures = check_failures(stack, oracle, mismatches)
    dlq_depth = stack.queue_depth("IntakeDLQ")
    if dlq_depth != len(oracle["poison"]):
        mismatches.append(
            f"DLQ holds {dlq_depth} messages, expected {len(oracle['poison'])} (one per poison)"
        )
    if replayed.poll_errors:
        mismatches.append(f"{len(replayed.poll_errors)} polls failed; first: {replayed.poll_errors[0]}")
    if replayed.rejected:
        mismatches.append(f"{len(replayed.rejected)} pushes were refused: {replayed.rejected[:3]}")
    errors = stack.poller_errors()
    if errors:
        mismatches.append(f"the SQS poller hit {len(errors)} errors; first: {errors[0][-300:]}")

    consumer = stack.pollers[0].stats
    summary = {
        "webhooks": {
            "sent": replayed.sent,
            "accepted": replayed.accepted,
            "rejected": len(replayed.rejected),
            "duplicates_sent": replayed.duplicates_sent,
            "by_platform": dict(sorted(replayed.by_platform.items())),
        },
        "polls": {
            "runs": replayed.polls,
            "enqueued": replayed.polled_enqueued,
            "errors": len(replayed.poll_errors),
        },
        "queue": {
            # the queue drained, so every message enqueued was consumed: the consumer counted them
            "messages_enqueued": len(consumer.message_ids),
            "deliveries": consumer.records,
            "redeliveries": consumer.records - len(consumer.message_ids),  # retries of failed ones
            "batches": consumer.batches,
            # moto forgets a deduplication id once its message is deleted (SQS keeps it 5 minutes)
            "dropped_by_fifo_deduplication": replayed.accepted
            + replayed.polled_enqueued
            - len(consumer.message_ids),
        },
        "orders_by_status": {
            name: dict(sorted(counts.items())) for name, counts in sorted(orders.by_status.items())
        },
        "orders_by_refund_status": {
            name: dict(sorted(counts.items())) for name, counts in sorted(orders.by_refund.items())
        },
        "history_outcomes": dict(sorted(orders.outcomes.items())),
        "cleaned_orders": orders.cleaned_orders,
        "failures": failures,
        "dlq_depth": dlq_depth,
    }
    return summary, mismatches


def print_summary(summary: Mapping[str, Any], mismatches: Sequence[str]) -> None:
    webhooks, queue = summary["webhooks"], summary["queue"]
    print()
    print(
        f"Webhooks: {webhooks['sent']} sent ({webhooks['duplicates_sent']} resent duplicates), "
        f"{webhooks['accepted']} accepted, {webhooks['rejected']} refused"
    )
    polls = summary.get("polls", {})
    if polls.get("runs"):
        print(
            f"Polls:    {polls['runs']} OrderPoller runs (Pinduoduo, Taobao) enqueued {polls['enqueued']} "
            f"order versions, {polls['errors']} failed"
        )
    print(
        f"Queue:    {queue['messages_enqueued']} messages enqueued, consumed in {queue['batches']} batches, "
        f"{queue['redeliveries']} redeliveries, "
        f"{queue['dropped_by_fifo_deduplication']} dropped by FIFO deduplication"
    )
    print("Orders by canonical status:")
    for platform, counts in summary["orders_by_status"].items():
        refunds = summary["orders_by_refund_status"].get(platform, {})
        refund_text = ", ".join(f"{status} {count}" for status, count in refunds.items() if status != "none")
        text = ", ".join(f"{status} {count}" for status, count in counts.items())
        print(f"  {platform:<16} {text}" + (f"  | refunds: {refund_text}" if refund_text else ""))
    outcomes = summary["history_outcomes"]
    applied = outcomes.get("created", 0) + outcomes.get("applied", 0)
    ignored = sum(count for outcome, count in outcomes.items() if outcome not in CHANGES)
    print(
        f"Events:   {applied} applied ({outcomes.get('created', 0)} created), {ignored} ignored "
        f"({', '.join(f'{name} {count}' for name, count in outcomes.items() if name not in CHANGES)})"
    )
    print(f"Cleaning: {summary['cleaned_orders']} orders had a zero-width space removed ({CLEANING_RULE})")
    failures = ", ".join(
        f"{code} {counts['messages']} ({counts['attempts']} attempts)"
        for code, counts in summary["failures"].items()
    )
    print(f"Failures: {failures or 'none'}; DLQ depth {summary['dlq_depth']}")
    if "incident" in summary:
        print("Incident 2026-02-05 (PAY_PARSE_ERR, %E2%80%8B in Douyin payment ids), step by step:")
        for step in summary["incident"]["steps"]:
            print(incident.describe(step))
    for name, chapter in summary.get("chapters", {}).items():
        print(f"{name}:")
        for line in chapter["lines"]:
            print(f"  {line}")
    if mismatches:
        print(f"\nMISMATCHES ({len(mismatches)}):")
        for mismatch in mismatches[:40]:
            print(f"  - {mismatch}")
        if len(mismatches) > 40:
            print(f"  ... and {len(mismatches) - 40} more (see {SUMMARY_PATH})")
    else:
        print("\nOK: every order matches the oracle; every failure is an expected poison message.")


def timings_line(timings: Mapping[str, Any]) -> str:
    """Where the demo's time went, phase by phase (wall seconds; CPU seconds of the process)."""
    phases = ", ".join(
        f"{name} {timings[name]:.1f}s" for name in ("stack_start", "replay", "drain", "check", "incident")
    )
    chapter_times = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings["chapters"].items())
    total = f"total {timings['total']:.1f}s, CPU {timings['cpu']:.1f}s"
    return f"Time:     {phases}; chapters: {chapter_times}; {total}"


def run(
    scenario_path: Path, *, port: int, summary_path: Path = SUMMARY_PATH, log_path: Path = FUNCTION_LOG_PATH
) -> int:
    """Run the demo; returns the process exit status (0 when everything matches the oracle)."""
    started = time.monotonic()
    scenario = scenarios.load(scenario_path)
    credentials_file = ROOT / "local" / "credentials.json"
    credentials = json.loads(credentials_file.read_text(encoding="utf-8"))
    facts = scenario["summary"]
    shown_path = scenario_path.relative_to(ROOT) if scenario_path.is_relative_to(ROOT) else scenario_path
    print(
        f"Scenario {shown_path}: "
        f"{facts['orders']} orders, {facts['poison_messages']} poison messages, {facts['pushes']} pushes"
    )
    with LocalStack(
        api_port=port,
        fallback_port=True,
        credentials_file=credentials_file,
        function_log=log_path,
        # The incident's rule changes reach the sanitizer within a second (30 s when deployed).
        extra_env={"RULES_CACHE_SECONDS": str(INCIDENT_RULES_CACHE_S)},
    ) as stack:
        stack_ready = time.monotonic()
        print(
            f"Local stack up in {stack_ready - started:.1f}s: "
            f"API {stack.api_url}, AWS (moto) {stack.moto_url}"
        )
        if stack.api_port_note:
            print(f"Note: {stack.api_port_note}")
        print(f"Functions' logs: {log_path}")
        replayed = replay(stack, scenario, credentials)
        replay_done = time.monotonic()
        print(f"Replayed {replayed.sent} pushes in {replay_done - stack_ready:.1f}s; draining the queue...")
        drained = stack.drain(timeout=DRAIN_TIMEOUT_S)
        drain_done = time.monotonic()
        summary, mismatches = check(stack, scenario, replayed)
        if not drained:
            mismatches.insert(0, f"the intake queue did not drain within {DRAIN_TIMEOUT_S:.0f}s")
        check_done = time.monotonic()
        print("Replaying the 2026-02-05 incident (docs/operations.md runbook)...")
        handled = incident.run(stack, credentials, rules_cache_s=INCIDENT_RULES_CACHE_S)
        summary["incident"] = {"steps": handled.steps, "mismatches": handled.mismatches}
        mismatches += [f"incident: {mismatch}" for mismatch in handled.mismatches]
        incident_done = time.monotonic()
        summary["chapters"] = {}
        chapter_timings: dict[str, float] = {}
        for play in chapters.runners():
            chapter_started = time.monotonic()
            chapter = play(stack, credentials)
            chapter_timings[chapter.name] = round(time.monotonic() - chapter_started, 2)
            print(f"Chapter {chapter.name}: {chapter_timings[chapter.name]:.1f}s")
            summary["chapters"][chapter.name] = {**chapter.summary, "lines": chapter.lines}
            mismatches += [f"{chapter.name}: {mismatch}" for mismatch in chapter.mismatches]
        finished = time.monotonic()
        summary = {
            "scenario": {"path": str(scenario_path), "seed": scenario["seed"], **facts},
            "api_url": stack.api_url,
            "api_port_note": stack.api_port_note or None,
            **summary,
            "timings_s": {
                "stack_start": round(stack_ready - started, 2),
                "replay": round(replay_done - stack_ready, 2),
                "drain": round(drain_done - replay_done, 2),
                "check": round(check_done - drain_done, 2),
                "incident": round(incident_done - check_done, 2),
                "chapters": chapter_timings,
                "total": round(finished - started, 2),
                # CPU of this process (the stack, the functions and the demo share it): wall time
                # depends on what else the machine runs, CPU much less.
                "cpu": round(sum(os.times()[:2]), 2),
            },
            "mismatches": mismatches,
            "ok": not mismatches,
        }
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_summary(summary, mismatches)
    print(timings_line(summary["timings_s"]))
    print(f"\nTotal {summary['timings_s']['total']:.1f}s; summary written to {summary_path}")
    return 0 if not mismatches else 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay the demo scenario through the local stack.")
    parser.add_argument("--scenario", type=Path, default=scenarios.DEFAULT_PATH)
    parser.add_argument(
        "--port", type=int, default=DEFAULT_API_PORT, help="API port (next free one if taken)"
    )
    parser.add_argument("--summary", type=Path, default=SUMMARY_PATH)
    parser.add_argument("--log", type=Path, default=FUNCTION_LOG_PATH)
    args = parser.parse_args(argv)
    sys.exit(run(args.scenario.resolve(), port=args.port, summary_path=args.summary, log_path=args.log))


if __name__ == "__main__":
    main()
