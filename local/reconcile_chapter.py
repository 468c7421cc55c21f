"""Demo chapter: 863 lost pushes, one patrol heals them (issue #3).

1. 863 new paid orders arrive through the normal push path (Douyin pushes of 50 messages each,
   WeChat Channels pushes one by one), and the queue drains;
2. the platforms ship every one of them, and every shipment push is lost: the simulator's truth
   changes, nothing is pushed;
3. the simulated clock moves 15 minutes: the patrol's schedule fires, its chunks go through the
   patrol queue, and the queue drains;
4. the patrol's report is read from the reports bucket, and each order over the admin API.

The oracle: all 863 detected and healed (now ``shipped``, healed by a ``reconcile`` event), no
conflict among them, the report's counts adding up to the orders the patrol selected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from local import simulator
from local.chapters import Chapter
from local.scheduler import only_functions

if TYPE_CHECKING:
    from local.stack import LocalStack

#: The patrol's schedule: the other schedules stay paused for its 15-minute jump.
PATROL = only_functions("OrderReconcilerFunction")
LOST = 863
DOUYIN_SHARE = 432
DOUYIN_APP = "7000000000000000001"
DOUYIN_SHOP = "100001"
WECHAT_APP = "wx00000000000test1"
PUSH_BATCH = 50
LINES = (
    simulator.LineSpec(sku_id="3500000000863", quantity=1, unit_price=Decimal("59.00"), out_sku_id="TEA-863"),
)


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(name="reconciliation")
    paid_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    shipped_at = paid_at + timedelta(hours=1)
    douyin = [f"69863{index:014d}" for index in range(DOUYIN_SHARE)]
    wechat = [f"37863{index:014d}" for index in range(LOST - DOUYIN_SHARE)]

    started = time.monotonic()
    _push_douyin_paid(stack, credentials, douyin, paid_at)
    _push_wechat_paid(stack, credentials, wechat, paid_at)
    if not stack.drain(timeout=300):
        chapter.mismatches.append("the intake queue did not drain after the paid pushes")
        return chapter
    created_s = time.monotonic() - started

    # Every shipment push is lost: only the platforms know.
    for number in douyin:
        stack.simulator.put_order(
            "douyin",
            DOUYIN_SHOP,
            simulator.douyin_order(number, DOUYIN_SHOP, 3, shipped_at, LINES, create_time=paid_at),
        )
    for number in wechat:
        stack.simulator.put_order(
            "wechat_channels",
            WECHAT_APP,
            simulator.wechat_order(number, WECHAT_APP, 30, shipped_at, LINES, create_time=paid_at),
        )

    if stack.clock is None:
        raise RuntimeError("the stack is not running")
    patrol_started = time.monotonic()
    firings = [
        firing
        for firing in stack.clock.advance(timedelta(minutes=15), only=PATROL)
        if "Reconciler" in firing.function_id
    ]
    drained = stack.drain(timeout=600)
    patrol_s = time.monotonic() - patrol_started
    if len(firings) != 1 or firings[0].error or not drained:
        chapter.mismatches.append(
            f"the patrol did not run cleanly: {[f.error for f in firings]} drained={drained}"
        )
        return chapter
    patrol_id = str(firings[0].result["patrol_id"])  # type: ignore[index]
    report = _report(stack, patrol_id)
    if report is None:
        chapter.mismatches.append(f"no report for patrol {patrol_id} under patrols/")
        return chapter

    lost = {("douyin", number) for number in douyin} | {("wechat_channels", number) for number in wechat}
    healed = {(item["platform"], item["platform_order_id"]) for item in report["healed"]}
    conflicted = {(item["platform"], item["platform_order_id"]) for item in report["conflicts"]}
    if missing := lost - healed:
        chapter.mismatches.append(f"{len(missing)} lost pushes not healed, e.g. {sorted(missing)[:3]}")
    if conflicted & lost:
        chapter.mismatches.append(f"{len(conflicted & lost)} of the lost pushes were reported as conflicts")
    if sum(report["counts"].values()) != report["orders"]:
        chapter.mismatches.append(
            f"report counts {report['counts']} do not add up to {report['orders']} orders"
        )
    chapter.mismatches += _read_back(stack, douyin[:5] + wechat[:5])

    chapter.summary = {
        "lost_pushes": LOST,
        "patrol_id": patrol_id,
        "open_orders_patrolled": report["orders"],
        "detected": report["detected"],
        "healed": report["counts"]["healed"],
        "conflicts": report["counts"]["conflict"],
        "action_items": report["counts"]["action_item"],
        "in_sync": report["counts"]["in_sync"],
        "patrol_seconds": round(patrol_s, 2),
        "patrol_report_duration_seconds": report["duration_seconds"],
        "orders_created_seconds": round(created_s, 2),
    }
    chapter.lines = [
        f"{LOST} shipment pushes lost (Douyin {len(douyin)}, WeChat Channels {len(wechat)}); a patrol later:",
        f"  patrolled {report['orders']} open orders: detected {report['detected']}, "
        f"healed {report['counts']['healed']}, conflicts {report['counts']['conflict']}, "
        f"action items {report['counts']['action_item']}",
        f"  patrol took {patrol_s:.1f} s (report: {report['duration_seconds']:.1f} s from plan to report)",
    ]
    return chapter


def _push_douyin_paid(
    stack: LocalStack, credentials: Mapping[str, Any], numbers: list[str], at: datetime
) -> None:
    app = credentials["douyin"][DOUYIN_APP]
    for start in range(0, len(numbers), PUSH_BATCH):
        messages = []
        for number in numbers[start : start + PUSH_BATCH]:
            order = simulator.douyin_order(number, DOUYIN_SHOP, 105, at, LINES, create_time=at)
            stack.simulator.put_order("douyin", DOUYIN_SHOP, order)
            messages.append(simulator.douyin_order_message(order, "101", f"7863{number[-12:]}"))
        headers, body = simulator.douyin_push(messages, app["app_key"], app["app_secret"])
        reply = stack.request("POST", "/webhooks/douyin", body=body, headers=headers)
        if reply.status != 200:
            raise RuntimeError(f"the Douyin push was refused: {reply.status} {reply.text[:200]}")


def _push_wechat_paid(
    stack: LocalStack, credentials: Mapping[str, Any], numbers: list[str], at: datetime
) -> None:
    app = credentials["wechat_channels"][WECHAT_APP]
    for number in numbers:
        order = simulator.wechat_order(number, WECHAT_APP, 20, at, LINES, create_time=at)
        stack.simulator.put_order("wechat_channels", WECHAT_APP, order)
        message = simulator.wechat_event("channels_ec_order_pay", number, at)
        query, body = simulator.wechat_push(
            message, app, int(datetime.now(UTC).timestamp()), f"n{number[-9:]}"
        )
        reply = stack.request(
            "POST",
            "/webhooks/wechat_channels",
            body=body,
            headers={"content-type": "application/json"},
            query=query,
        )
        if reply.status != 200:
            raise RuntimeError(f"the WeChat push was refused: {reply.status} {reply.text[:200]}")


def _report(stack: LocalStack, patrol_id: str) -> dict[str, Any] | None:
    bucket = stack.deployed.names["ReportsBucket"]
    listing = stack.s3.list_objects_v2(Bucket=bucket, Prefix="patrols/").get("Contents", [])
    keys = [item["Key"] for item in listing if item["Key"].endswith(f"/{patrol_id}.json")]
    if not keys:
        return None
    return dict(json.loads(stack.s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()))


def _read_back(stack: LocalStack, numbers: list[str]) -> list[str]:
    """Read a sample back over the admin API, as an operator would."""
    problems: list[str] = []
    for number in numbers:
        view = stack.admin_get(f"/orders/{number}").json()
        sources = [entry["source"] for entry in view.get("history", [])]
        if view.get("order", {}).get("status") != "shipped" or sources[-1:] != ["reconcile"]:
            problems.append(f"{number}: {view.get('order', {}).get('status')} via {sources}")
    return problems
