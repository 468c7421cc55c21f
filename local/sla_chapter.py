"""Demo chapter: a fulfilment day in which a warehouse goes silent and a backlog builds.

On the simulated clock: four Douyin orders were paid 46 hours ago (the default policy promises 48),
the Hangzhou warehouse reports, then falls silent for two hours while the backlog reaches its
deadline; one order ships in time. The escalator (every minute, from the template's schedule) sends
level 1 to the warehouse lead's DingTalk robot, level 2 as Feishu tasks plus a Feishu bot message,
level 3 as a voice call; the WMS watch sends one offline alert to WeCom and one recovery message.

Everything is read back from what the local notification sink accepted (signatures checked) and
from the SLA items, and compared with the oracle below. The clock fires only the escalator during
the day, and only every 5 (then 10) simulated minutes: the minutes between are skipped as if it
were down, which the escalator is built to catch up on (every missed level is sent once at the next
run). Running it every minute of the six simulated hours cost about two minutes of the demo; the
oracle is the same. Overflow routing and the pre-flight sandbox play in the next chapter
(``local/fulfilment_chapter.py``).

The warehouse also reports per-order stages, and the month's fulfilment health report is produced
and checked against the day's own orders (``local/health_report_part.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from local import health_report_part, simulator
from local.chapters import Chapter
from local.scheduler import only_functions
from local.simulator import LineSpec
from local.stack import LocalStack
from oms.domain.ids import unified_order_id

SHOP = "100001"
APP = "7000000000000000001"
WAREHOUSE = "hangzhou"
ORDERS = ("6900000000000777001", "6900000000000777002", "6900000000000777003", "6900000000000777004")
SHIPS_IN_TIME = ORDERS[0]
#: The day's schedule: the escalator (deadlines, silent warehouses). The other per-minute jobs stay
#: paused over the chapter's six simulated hours: they have nothing to do and each run costs a call.
SLA_JOBS = only_functions("SlaEscalatorFunction")
LINES = (LineSpec(sku_id="3500000000001", quantity=1, unit_price=Decimal("99.00"), out_sku_id="TEA-1"),)


def escalate_every(stack: LocalStack, minutes: int, every: int) -> None:
    """Move ``minutes`` on, running the escalator once at the end of each ``every`` minutes."""
    assert stack.clock is not None
    for _ in range(minutes // every):
        stack.clock.advance(timedelta(minutes=every - 1), only=lambda target: False)
        stack.clock.advance(timedelta(minutes=1), only=SLA_JOBS)


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(name="sla_day")
    assert stack.clock is not None
    start = stack.clock.now()
    created = start - timedelta(hours=46)  # paid one minute later: deadline = start + 2 h 1 min
    deadline = created + timedelta(minutes=1) + timedelta(hours=48)
    refs = {number: unified_order_id("douyin", SHOP, number) for number in ORDERS}
    before = len(stack.notifications.sent())

    clock = stack.clock

    def heartbeat() -> int:
        at = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        beat = {"pending_print": 4, "printed": 0, "picked_up": 0, "time": at}
        return health_report_part.wms_post(stack, credentials, WAREHOUSE, "/wms/heartbeat", beat).status

    def push(number: str, status: int, at: Any, msg_id: str, tag: str) -> None:
        order = simulator.douyin_order(
            number, SHOP, status, at, LINES, create_time=created, payment_id=f"PAY{number}"
        )
        stack.simulator.put_order("douyin", SHOP, order)
        app = credentials["douyin"][APP]
        message = simulator.douyin_order_message(order, tag, msg_id)
        headers, body = simulator.douyin_push([message], app["app_key"], app["app_secret"])
        stack.request("POST", "/webhooks/douyin", body=body, headers=headers)

    # the fulfilment health report of the deadline's month as of the day's end, before the day
    report = health_report_part.DayReport(stack, deadline, start, day=timedelta(minutes=370))
    # 08:00 the warehouse reports; four orders paid 46 h ago are waiting
    heartbeat()
    for index, number in enumerate(ORDERS):
        push(number, 105, created + timedelta(minutes=1), f"7200000000000777{index:03d}", "101")
    stack.drain(timeout=60)
    # the warehouse falls silent for two hours; one order ships before its deadline
    escalate_every(stack, 90, every=5)
    push(SHIPS_IN_TIME, 3, stack.clock.now(), "7200000000000777100", "102")
    stack.drain(timeout=60)
    escalate_every(stack, 30, every=5)
    heartbeat()  # back online
    # ... and reports what happened to its orders meanwhile
    report.warehouse_reports(stack, credentials, WAREHOUSE, refs)
    # the backlog passes its deadline, then + 4 h; the warehouse keeps reporting every 10 minutes
    for _ in range(25):
        escalate_every(stack, 10, every=10)
        heartbeat()

    sent = stack.notifications.sent()[before:]

    def mentions(service: str, number: str) -> int:
        return sum(
            f"douyin order {number} " in message.text for message in sent if message.service == service
        )

    tasks = [message for message in sent if message.service == "feishu_task"]
    calls = [message for message in sent if message.service in ("connect_voice", "aliyun_voice")]
    wecom = [message.text.split(":")[0] for message in sent if message.service == "wecom"]
    offline = [text for text in wecom if text == f"Warehouse {WAREHOUSE} offline"]
    recovered = [text for text in wecom if text.startswith(f"Warehouse {WAREHOUSE} back online")]
    level1 = {number: mentions("dingtalk", number) for number in ORDERS}
    level2_tasks = sorted(
        task.body["summary"].split()[5] for task in tasks if task.body["summary"].split()[5] in ORDERS
    )
    records = {number: _sla_item(stack, refs[number]) for number in ORDERS}
    now = clock.now()
    due = [
        number
        for number in ORDERS
        if records[number].get("deadline") and datetime.fromisoformat(records[number]["deadline"]) <= now
    ]
    level3 = sorted(number for number in ORDERS if records[number].get("level_sent") == "3")
    on_time = [
        number
        for number in ORDERS
        if records[number].get("shipped_at") and records[number]["shipped_at"] <= records[number]["deadline"]
    ]
    chapter.summary = {
        "orders": len(ORDERS),
        "deadline": deadline.isoformat(),
        "escalations": {
            "level1_dingtalk_orders": sum(level1.values()),
            "level2_feishu_tasks": len(level2_tasks),
            "level3_orders": len(level3),
            "voice_calls": len(calls),
        },
        "warehouse_offline_alerts": len(offline),
        "warehouse_recoveries": len(recovered),
        "on_time_rate": round(len(on_time) / len(due), 3) if due else None,
        "messages_refused_by_services": len(stack.notifications.refusals),
    }
    chapter.lines = [
        f"SLA day: {len(ORDERS)} orders due {deadline:%H:%M} UTC; {WAREHOUSE} silent for 2 h",
        f"  level 1 (DingTalk): {sum(level1.values())} orders, level 2 (Feishu tasks): {len(level2_tasks)},"
        f" level 3: {len(level3)} orders in {len(calls)} voice call(s)",
        f"  {WAREHOUSE}: {len(offline)} offline alert, {len(recovered)} recovery message (WeCom)",
        f"  on-time rate {chapter.summary['on_time_rate']} (rerouting: the fulfilment_capacity chapter)",
    ]
    expected_level2 = sorted(number for number in ORDERS if number != SHIPS_IN_TIME)
    checks = [
        (level1 == dict.fromkeys(ORDERS, 1), f"level 1 once per order, got {level1}"),
        (level2_tasks == expected_level2, f"level 2 tasks for the unshipped orders, got {level2_tasks}"),
        (len(offline) == 1, f"one offline alert, got {len(offline)}"),
        (len(recovered) == 1, f"one recovery message, got {len(recovered)}"),
        (on_time == [SHIPS_IN_TIME], f"only {SHIPS_IN_TIME} shipped on time, got {on_time}"),
        (
            chapter.summary["on_time_rate"] == 0.25,
            f"on-time rate 0.25, got {chapter.summary['on_time_rate']}",
        ),
        (not stack.notifications.refusals, f"services refused {stack.notifications.refusals}"),
        (level3 == expected_level2, f"level 3 for the unshipped orders, got {level3}"),
        (len(calls) >= 1, "no voice call was placed"),
    ]
    chapter.mismatches = [message for ok, message in checks if not ok]
    chapter.mismatches += report.check(chapter, stack, paid=created + timedelta(minutes=1))
    return chapter


def _sla_item(stack: LocalStack, order_id: str) -> dict[str, str]:
    item = stack.dynamodb.get_item(
        TableName=stack.deployed.names["OpsTable"],
        Key={"PK": {"S": f"SLA#{order_id}"}, "SK": {"S": "DEADLINE"}},
        ConsistentRead=True,
    ).get("Item", {})
    return {name: str(next(iter(value.values()))) for name, value in item.items()}
