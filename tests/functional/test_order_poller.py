"""order_poller against moto and the platform simulator: Pinduoduo increments, Taobao TMC and
backstop, into the same intake queue the sanitizer consumes; cursors in the Ops table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from local.resources import Deployed
from local.simulator import PlatformSimulator
from local.simulators import pinduoduo as pdd_sim
from local.simulators import taobao as taobao_sim
from oms.platforms.pinduoduo.signing import format_china_time
from tests.functional.conftest import CREDENTIALS, context, queue_depth, receive_all, sanitize
from tests.functional.test_fetching_platforms import get_order

PDD_APP, PDD_SECRETS = next(iter(CREDENTIALS["pinduoduo"].items()))
PDD_MALL = next(iter(PDD_SECRETS["access_tokens"]))
TAOBAO_APP, TAOBAO_SECRETS = next(iter(CREDENTIALS["taobao"].items()))
TAOBAO_SELLER = next(iter(TAOBAO_SECRETS["sessions"]))


def poll(platforms: list[str] | None = None) -> dict[str, Any]:
    from functions.order_poller import app

    event = {"platforms": platforms} if platforms else {}
    result: dict[str, Any] = app.handler(event, context("poller"))
    return result


def pdd_order(order_sn: str, updated: datetime, order_status: int = 1) -> dict[str, Any]:
    return {
        "order_sn": order_sn,
        "order_status": order_status,
        "refund_status": 1,
        "created_time": format_china_time(updated - timedelta(minutes=1)),
        "pay_time": format_china_time(updated - timedelta(seconds=30)),
        "updated_at": format_china_time(updated),
        "pay_amount": 88.8,
        "postage": 0,
        "pay_no": "XP0126020500000000000009",
        "receiver_name": "~AgAAAAE=~0~",
        "receiver_name_mask": "王*",
        "item_list": [
            {"goods_id": 1, "sku_id": 11, "outer_id": "TEA-1", "goods_count": 1, "goods_price": 88.8}
        ],
    }


def taobao_trade(tid: str, modified: datetime, status: str = "WAIT_SELLER_SEND_GOODS") -> dict[str, Any]:
    return {
        "tid": int(tid),
        "tid_str": tid,
        "status": status,
        "created": format_china_time(modified - timedelta(minutes=2)),
        "pay_time": format_china_time(modified - timedelta(minutes=1)),
        "modified": format_china_time(modified),
        "payment": "120.50",
        "post_fee": "0.00",
        "orders": {"order": [{"oid": int(tid) + 1, "num_iid": 600001, "num": 1, "price": "120.50"}]},
    }


def cursor_item(stack: Deployed, platform: str, app_id: str, shop_id: str) -> dict[str, Any] | None:
    table = stack.function_env("OrderPollerFunction")["OPS_TABLE"]
    item: dict[str, Any] | None = (
        boto3.client("dynamodb")
        .get_item(
            TableName=table, Key={"PK": {"S": f"CURSOR#{platform}#{app_id}#{shop_id}"}, "SK": {"S": "CURSOR"}}
        )
        .get("Item")
    )
    return item


def test_pinduoduo_orders_are_pulled_enqueued_and_parsed_once(
    stack: Deployed, simulator: PlatformSimulator
) -> None:
    # GIVEN a paid Pinduoduo order updated ten minutes ago
    now = datetime.now(UTC)
    pdd_sim.put_order(simulator, PDD_MALL, pdd_order("260205-000000000000009", now - timedelta(minutes=10)))
    # WHEN the scheduled poller runs twice (the second window overlaps the first)
    first = poll(["pinduoduo"])
    second = poll(["pinduoduo"])
    # THEN overlapping windows sent it more than once, but the queue holds it once (same dedupe id)
    assert first["enqueued"] >= 1
    assert first["errors"] == 0
    assert second["errors"] == 0
    messages = receive_all(stack)
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert (envelope["platform"], envelope["shop_id"], envelope["query"]) == (
        "pinduoduo",
        PDD_MALL,
        {"source": "poll"},
    )
    assert cursor_item(stack, "pinduoduo", PDD_APP, PDD_MALL) is not None
    # ...and the sanitizer turns it into a paid order in yuan
    assert sanitize(stack, messages) == {"batchItemFailures": []}
    view = get_order(f"pinduoduo:{PDD_MALL}:260205-000000000000009")
    assert view["order"]["status"] == "paid"
    assert view["order"]["paid_amount"] == "88.80"
    assert view["history"][0]["source"] == "poll"


def test_a_throttled_pull_is_reported_and_the_next_run_catches_up(
    stack: Deployed, simulator: PlatformSimulator
) -> None:
    now = datetime.now(UTC)
    pdd_sim.put_order(simulator, PDD_MALL, pdd_order("260205-000000000000010", now - timedelta(minutes=5), 2))
    simulator.fail_next("pinduoduo", code=70031, api="pdd.order.information.get")
    failed = poll(["pinduoduo"])
    assert failed["errors"] == 1
    assert queue_depth(stack, "IntakeQueue") == 0
    recovered = poll(["pinduoduo"])
    assert recovered["errors"] == 0
    assert recovered["enqueued"] >= 1
    messages = receive_all(stack)
    assert {json.loads(m["Body"])["platform_order_id"] for m in messages} >= {"260205-000000000000010"}


def test_taobao_tmc_messages_are_enqueued_then_confirmed_and_the_backstop_adds_no_duplicate(
    stack: Deployed, simulator: PlatformSimulator
) -> None:
    # GIVEN a paid Taobao trade announced on TMC
    now = datetime.now(UTC)
    taobao_sim.put_trade(
        simulator,
        TAOBAO_SELLER,
        taobao_trade("3300000000000099", now - timedelta(minutes=3)),
        topic="taobao_trade_TradeBuyerPay",
    )
    # WHEN the poller runs (TMC first, then the increment backstop over the same minutes)
    report = poll(["taobao"])
    # THEN the message was confirmed and the trade is in the queue once
    assert report["errors"] == 0
    assert report["messages_confirmed"] == 1
    assert taobao_sim.unconfirmed(simulator) == 0
    messages = receive_all(stack)
    assert len(messages) == 1
    assert sanitize(stack, messages) == {"batchItemFailures": []}
    view = get_order(f"taobao:{TAOBAO_SELLER}:3300000000000099")
    assert view["order"]["status"] == "paid"
    assert view["order"]["total_amount"] == "120.50"
