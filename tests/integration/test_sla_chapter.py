"""The SLA demo chapter on a stack of its own: its day starts at the stack's clock.

The chapter also produces the month's fulfilment health report through the real path (WMS stage
route, admin route, S3, presigned link); the tests below open that report in headless Chromium,
send the stage route bad requests, and fire the template's monthly schedule.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from local import fulfilment_chapter, sla_chapter
from local.chapters import Chapter
from local.health_report_part import post_stage_events
from local.scheduler import SimulatedClock, targets_from_model
from local.stack import LocalStack
from oms.domain.ids import unified_order_id
from oms.domain.wms import heartbeat_signature
from tests.support.chromium import colour_counts, dump_dom, screenshot

CHINA = ZoneInfo("Asia/Shanghai")
#: Fill colours of the report's stylesheet: a stage, a highlighted stage
STAGE_BLUE, HIGHLIGHT_RED = (0x2F, 0x6F, 0xDE), (0xD6, 0x45, 0x45)


@pytest.fixture(scope="module")
def credentials(stack: LocalStack) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def day(stack: LocalStack, credentials: dict[str, Any]) -> Chapter:
    return sla_chapter.run(stack, credentials)


def test_the_sla_day_meets_its_own_oracle(day: Chapter) -> None:
    assert day.mismatches == []
    assert day.summary["escalations"]["level1_dingtalk_orders"] == 4
    assert day.summary["escalations"]["level2_feishu_tasks"] == 3
    assert day.summary["warehouse_offline_alerts"] == 1
    assert day.summary["warehouse_recoveries"] == 1
    assert day.summary["on_time_rate"] == 0.25
    # the stack holds the day alone: the report is the day's orders
    report = day.summary["health_report"]
    assert report["stages_reached"] == {
        "paid": 4,
        "approved": 4,
        "sent_to_wms": 4,
        "printed": 2,
        "picked_up": 1,
        "delivered": 0,
    }
    assert report["highlighted"] == ["sent_to_wms"]
    assert report["expires_in_seconds"] <= 900


def test_the_report_renders_offline_in_headless_chromium(
    day: Chapter, stack: LocalStack, tmp_path: Path
) -> None:
    # GIVEN the report the chapter produced, as stored in the ReportsBucket
    key = day.summary["health_report"]["key"]
    assert key.startswith("fulfilment/health/")
    assert key.endswith("/report.html")
    body = stack.s3.get_object(Bucket=stack.deployed.names["ReportsBucket"], Key=key)["Body"].read()
    page = tmp_path / "report.html"
    page.write_bytes(body)
    # WHEN Chromium renders it (no network: nothing to fetch) THEN the DOM has every node and band
    dom = dump_dom(page, tmp_path / "profile")
    assert '<svg id="sankey"' in dom
    nodes = dom.count('<rect class="node ')
    # the five stages reached (none delivered yet), and the orders that stopped at sent to WMS,
    # printed and picked up
    assert nodes == 5 + 3
    assert dom.count('<path class="link ') == 4 + 3
    assert dom.count('class="node stage highlighted"') == 1
    # AND the screenshot shows the stage nodes in blue and the highlighted one in red
    pixels = colour_counts(screenshot(page, tmp_path / "profile", width=1000, height=760))
    assert pixels[STAGE_BLUE] > 5 * 16 * 20, "the stage nodes are not visible"
    assert pixels[HIGHLIGHT_RED] > 16 * 20, "the highlighted stage is not visible"


def test_stage_events_are_refused_without_the_warehouse_signature_or_a_valid_body(
    day: Chapter, stack: LocalStack, credentials: dict[str, Any]
) -> None:
    order_id = unified_order_id("douyin", sla_chapter.SHOP, sla_chapter.ORDERS[3])
    event = {"order_id": order_id, "stage": "picked_up", "at": "2026-11-01T00:00:00Z"}
    body = json.dumps({"events": [event]}).encode()
    stamp = str(int(time.time()))
    forged = {
        "x-warehouse-id": sla_chapter.WAREHOUSE,
        "x-timestamp": stamp,
        "x-signature": heartbeat_signature("not-the-secret", stamp, sla_chapter.WAREHOUSE, body),
    }
    refused = stack.request("POST", "/wms/orders/events", body=body, headers=forged)
    assert (refused.status, refused.json()["error"]) == (401, "WAREHOUSE_UNAUTHENTICATED")
    bad = post_stage_events(stack, credentials, sla_chapter.WAREHOUSE, [{**event, "stage": "teleported"}])
    assert (bad.status, bad.json()["error"]) == (400, "STAGE_EVENTS_INVALID")
    # nothing was stored: the order still has no pickup
    item = stack.dynamodb.get_item(
        TableName=stack.deployed.names["OpsTable"],
        Key={"PK": {"S": f"SLA#{order_id}"}, "SK": {"S": "STAGES"}},
    )["Item"]
    assert "picked_up" not in item
    assert "sent_to_wms" in item


def test_the_monthly_schedule_writes_the_month_that_ended(day: Chapter, stack: LocalStack) -> None:
    # GIVEN the chapter's month, and the template's monthly schedule on a clock of its own
    month = day.summary["health_report"]["key"].split("/")[2]
    first = datetime.strptime(f"{month}-01", "%Y-%m-%d").date()
    following = (first + timedelta(days=32)).replace(day=1)
    specs = [spec for spec in stack.model.schedules if spec.function_id == "FulfilmentReportFunction"]
    clock = SimulatedClock(datetime.combine(following, day_time(0, 0), CHINA).astimezone(UTC))
    clock.schedule_all(targets_from_model(specs, stack.functions))
    # WHEN 03:00 China time on the 1st comes
    [firing] = clock.advance_to(datetime.combine(following, day_time(3, 0), CHINA))
    # THEN the month that ended is written, as of the scheduled time
    assert firing.error is None, firing.error
    assert firing.result["month"] == month
    assert firing.result["orders"] == 4
    assert (
        firing.result["as_of"]
        == datetime.combine(following, day_time(3, 0), CHINA).astimezone(UTC).isoformat()
    )
    stored = stack.s3.head_object(Bucket=stack.deployed.names["ReportsBucket"], Key=firing.result["key"])
    assert stored["ContentType"].startswith("text/html")


def test_the_capacity_and_preflight_evening_after_it(
    day: Chapter, stack: LocalStack, credentials: dict[str, Any]
) -> None:
    # (the demo's order: after the SLA day, on the same stack)
    chapter = fulfilment_chapter.run(stack, credentials)
    assert chapter.mismatches == []
    assert 0 < chapter.summary["orders_rerouted"] < len(fulfilment_chapter.ORDERS)
    assert chapter.summary["overload_alerts"] == 1
    assert (chapter.summary["preflight_blocked"], chapter.summary["preflight_released"]) == (1, 1)
