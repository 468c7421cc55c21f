"""The poller pulls every channel it pushes to: Xiaohongshu, Kuaishou, WooCommerce, Pinduoduo and
Taobao through their signed read calls on the platform simulator (Pinduoduo with its 3.7 s lag on
the simulated clock). Pushes lost on Pinduoduo and Taobao are found by the next pass, reported
(S3 + one alert) and healed."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from local.scheduler import Firing
from local.simulators import kuaishou
from local.simulators import stock as channel
from local.stack import LocalStack
from oms import composition
from tests.integration.helpers import RecordingSink

SKU = "PULL-1"
XHS_SELLER = "5f0c00000000000000000001"
KS_SELLER, KS_ITEM, KS_SKU = "7000000001", "22000000301", "23000000301"
WOO_SITE = "demo-woo-1.example"
PDD_MALL, PDD_GOODS, PDD_SKU = "100001", "6301", "73011"
TB_SELLER, TB_ITEM, TB_SKU = "2200000001", "630001", "730001"
LISTINGS: tuple[dict[str, str], ...] = (
    {"platform": "xiaohongshu", "shop_id": XHS_SELLER, "channel_sku_id": "xhs-pull-1"},
    {"platform": "kuaishou", "shop_id": KS_SELLER, "channel_sku_id": KS_SKU, "product_id": KS_ITEM},
    {"platform": "woocommerce", "shop_id": WOO_SITE, "channel_sku_id": "5301", "product_id": "5300"},
    {"platform": "pinduoduo", "shop_id": PDD_MALL, "channel_sku_id": PDD_SKU, "product_id": PDD_GOODS},
    {"platform": "taobao", "shop_id": TB_SELLER, "channel_sku_id": TB_SKU, "product_id": TB_ITEM},
)


def put(stack: LocalStack, path: str, body: dict[str, object]) -> tuple[int, Any]:
    result = stack.request(
        "PUT", path, body=json.dumps(body), headers={"content-type": "application/json"}, sign=True
    )
    return result.status, json.loads(result.body)


def shows(stack: LocalStack) -> dict[str, int | None]:
    return {
        listing["platform"]: channel.stock(
            stack.simulator, listing["platform"], listing["shop_id"], listing["channel_sku_id"]
        )
        for listing in LISTINGS
    }


def passes(firings: list[Firing]) -> list[dict[str, Any]]:
    runs = [f for f in firings if f.function_id == "InventoryPollerFunction"]
    assert all(f.error is None for f in runs), [f.error for f in runs]
    return [dict(f.result) for f in runs]  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def listed(stack: LocalStack) -> LocalStack:
    """PULL-1 with 40 units on the five channels; Kuaishou's seller already shows 6 (it takes changes)."""
    stack.simulator.clock = stack.clock  # channel lag runs on the simulated timeline
    kuaishou.set_stock(stack.simulator, KS_SELLER, KS_SKU, 6, item_id=KS_ITEM)
    assert put(stack, f"/inventory/{SKU}", {"reference": "PO-P1", "receipt": 40})[0] == 200
    for listing in LISTINGS:
        status, body = put(stack, f"/inventory/{SKU}/listings", listing)
        assert status == 200, body
    return stack


def test_every_channel_is_pulled_and_lost_pushes_are_reported_and_healed(
    listed: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, sim = listed.clock, listed.simulator
    recorded, built = RecordingSink(), composition.stock_sync
    monkeypatch.setattr(composition, "stock_sync", lambda: replace(built(), alerts=recorded))
    # WHEN the minute's pass runs THEN every channel is set (Kuaishou by a change from the 6 it showed)
    (first,) = passes(clock.advance(timedelta(seconds=60)))
    assert (first["pushed"], first["failed"]) == (5, [])
    # AND the second pass 30 s later reads all five back (Pinduoduo's lag is over) and finds nothing
    (second,) = passes(clock.advance(timedelta(seconds=30)))
    assert (second["checked"], second["differences"], second["pushed"], second["failed"]) == (5, 0, 0, [])
    assert set(shows(listed).values()) == {40}
    # GIVEN 10 more units, and the pushes to Pinduoduo and Taobao will be lost
    channel.lose_next_push(sim, "pinduoduo", PDD_MALL, PDD_SKU)
    channel.lose_next_push(sim, "taobao", TB_SELLER, TB_SKU)
    assert put(listed, f"/inventory/{SKU}", {"reference": "PO-P2", "receipt": 10})[0] == 200
    (third,) = passes(clock.advance(timedelta(seconds=30)))
    assert third["pushed"] == 5
    assert shows(listed) == {
        "xiaohongshu": 50,
        "kuaishou": 50,
        "woocommerce": 50,
        "pinduoduo": 40,
        "taobao": 40,
    }
    # WHEN the next pass pulls THEN both lost pushes are in one report and one alert
    (found,) = passes(clock.advance(timedelta(seconds=30)))
    assert (found["checked"], found["differences"], found["pushed"], found["failed"]) == (5, 2, 2, [])
    bucket = listed.deployed.names["ReportsBucket"]
    text = listed.s3.get_object(Bucket=bucket, Key=found["report_key"])["Body"].read().decode("utf-8")
    rows = {row["channel"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {f"pinduoduo:{PDD_MALL}", f"taobao:{TB_SELLER}"}
    for row in rows.values():
        assert (row["ours"], row["theirs"], row["delta"]) == ("50", "40", "-10")
        assert "push was lost" in row["likely_cause"]
    (alert,) = recorded.alerts
    assert (alert.kind, alert.facts["differences"]) == ("inventory.sync_difference", 2)
    # AND the re-set heals them: Taobao at once, Pinduoduo once its 3.7 s lag has passed
    assert channel.stock(sim, "taobao", TB_SELLER, TB_SKU) == 50
    (healed,) = passes(clock.advance(timedelta(seconds=30)))
    assert (healed["checked"], healed["differences"], healed["pushed"]) == (5, 0, 0)
    assert set(shows(listed).values()) == {50}
    view = json.loads(listed.admin_get(f"/inventory/{SKU}").body)
    states = {c["channel"]: c for c in view["channels"]}
    assert states[f"pinduoduo:{PDD_MALL}"]["last_pulled"] == 50
    assert states[f"taobao:{TB_SELLER}"]["last_difference"]["delta"] == -10


def test_the_demo_chapter_meets_its_own_oracle(listed: LocalStack) -> None:
    from local.channel_pulls_chapter import run

    credentials = json.loads(listed.credentials_file.read_text(encoding="utf-8"))
    chapter = run(listed, credentials)
    assert chapter.mismatches == []
    assert chapter.summary["lost_pushes_found"] == ["pinduoduo", "taobao"]
