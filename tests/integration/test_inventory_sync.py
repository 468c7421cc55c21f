"""The channel stock sync through the real path: the simulated clock fires inventory_poller's
schedule, the poller plans its own second pass 30 s later (a one-shot Scheduler schedule on moto),
pushes over signed HTTP to the platform simulator, pulls back, and reports differences to S3.
Orders reach the ledger through signed webhooks → sanitizer → topic → inventory_events."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from local import simulator as sim
from local.scheduler import Firing
from local.simulators import stock as channel
from local.stack import LocalStack
from oms import composition
from tests.integration.helpers import DOUYIN_APP, DOUYIN_SHOP, SHOPIFY_SHOP, WECHAT_APP, RecordingSink

SKU = "SYNC-1"
DOUYIN_SKU, DOUYIN_PRODUCT = "1755000000101", "3600000000101"
SHOPIFY_ITEM, SHOPIFY_LOCATION = "808950101", "905684977"
WECHAT_SKU, WECHAT_PRODUCT = "1380000101", "10000000101"


def put(stack: LocalStack, path: str, body: dict[str, object]) -> tuple[int, Any]:
    result = stack.request(
        "PUT", path, body=json.dumps(body), headers={"content-type": "application/json"}, sign=True
    )
    return result.status, json.loads(result.body)


def shows(stack: LocalStack) -> tuple[int | None, int | None, int | None]:
    return (
        channel.stock(stack.simulator, "douyin", DOUYIN_SHOP, DOUYIN_SKU),
        channel.stock(stack.simulator, "shopify", SHOPIFY_SHOP, SHOPIFY_ITEM),
        channel.stock(stack.simulator, "wechat_channels", WECHAT_APP, WECHAT_SKU),
    )


def poller_passes(firings: list[Firing]) -> list[dict[str, Any]]:
    passes = [f for f in firings if f.function_id == "InventoryPollerFunction"]
    assert all(f.error is None for f in passes), [f.error for f in passes]
    return [dict(f.result) for f in passes]  # type: ignore[call-overload]


def douyin_buys(stack: LocalStack, order_id: str, quantity: int) -> None:
    """A buyer orders on Douyin: the channel deducts, and its push reaches the order center."""
    assert channel.sell(stack.simulator, "douyin", DOUYIN_SHOP, DOUYIN_SKU, quantity)
    douyin_order_arrives(stack, order_id, quantity, sku=SKU, channel_sku=DOUYIN_SKU)


def douyin_order_arrives(
    stack: LocalStack, order_id: str, quantity: int, *, sku: str, channel_sku: str
) -> None:
    """Douyin pushes an unpaid order for ``quantity`` of ``sku`` to the order center (signed webhook)."""
    line = sim.LineSpec(sku_id=channel_sku, quantity=quantity, unit_price=Decimal("10.00"), out_sku_id=sku)
    now = stack.clock.now()
    order = sim.douyin_order(order_id, DOUYIN_SHOP, 1, now, (line,), create_time=now)
    stack.simulator.put_order("douyin", DOUYIN_SHOP, order)
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    app = credentials["douyin"][DOUYIN_APP]
    message = sim.douyin_order_message(order, "100", f"msg-{order_id}")
    headers, body = sim.douyin_push([message], app["app_key"], app["app_secret"])
    assert stack.request("POST", "/webhooks/douyin", body=body, headers=headers).status == 200


@pytest.fixture(scope="module")
def synced(stack: LocalStack) -> LocalStack:
    """SYNC-1 with 100 units, listed on Douyin, Shopify (half the stock) and WeChat Channels."""
    stack.simulator.clock = stack.clock  # channel lag runs on the simulated timeline
    assert put(stack, f"/inventory/{SKU}", {"reference": "PO-S1", "receipt": 100})[0] == 200
    for listing in (
        {
            "platform": "douyin",
            "shop_id": DOUYIN_SHOP,
            "channel_sku_id": DOUYIN_SKU,
            "product_id": DOUYIN_PRODUCT,
        },
        {
            "platform": "shopify",
            "shop_id": SHOPIFY_SHOP,
            "channel_sku_id": SHOPIFY_ITEM,
            "location_id": SHOPIFY_LOCATION,
            "share_percent": 50,
        },
        {
            "platform": "wechat_channels",
            "shop_id": WECHAT_APP,
            "channel_sku_id": WECHAT_SKU,
            "product_id": WECHAT_PRODUCT,
        },
    ):
        status, body = put(stack, f"/inventory/{SKU}/listings", listing)
        assert status == 200, body
    return stack


def test_a_listing_needs_the_channel_ids(stack: LocalStack) -> None:
    status, body = put(
        stack,
        "/inventory/SYNC-X/listings",
        {"platform": "shopify", "shop_id": SHOPIFY_SHOP, "channel_sku_id": "1"},
    )
    assert (status, body["error"]) == (400, "BAD_REQUEST")
    assert body["details"] == {"field": "location_id"}


def test_passes_push_only_what_changed_and_allow_for_orders_in_flight(synced: LocalStack) -> None:
    clock, before = synced.clock, len(channel.pushes(synced.simulator))
    # WHEN the minute's schedule fires THEN every channel gets its share, and a second pass is planned
    first = poller_passes(clock.advance(timedelta(seconds=60)))
    assert [p["pushed"] for p in first] == [3]
    assert shows(synced) == (100, 50, 100)
    # WHEN 30 s pass THEN the second pass runs (no sleeping function) and pushes nothing: nothing changed
    second_firings = clock.advance(timedelta(seconds=30))
    second = poller_passes(second_firings)
    assert [(p["run_id"].endswith("-2"), p["pushed"], p["unchanged"], p["checked"]) for p in second] == [
        (True, 0, 3, 3)
    ]
    (fired,) = [f for f in second_firings if f.function_id == "InventoryPollerFunction"]
    assert fired.schedule.startswith("inventory-second-pass-")
    assert len(channel.pushes(synced.simulator)) == before + 3
    # WHEN a Douyin buyer takes 3 (the ledger sees it) and another takes 2 still in flight
    douyin_buys(synced, "6900000000000009101", 3)
    assert synced.drain(timeout=60)
    assert channel.sell(synced.simulator, "douyin", DOUYIN_SHOP, DOUYIN_SKU, 2)
    # THEN the next pass finds no difference (2 fewer on Douyin is within what is in flight)
    third = poller_passes(clock.advance(timedelta(seconds=30)))
    assert [(p["differences"], p["pushed"]) for p in third] == [(0, 3)]
    assert shows(synced) == (97, 48, 97)
    # WHEN the in-flight order reaches the ledger (the channel deducted it before the push re-set it)
    douyin_buys(synced, "6900000000000009102", 2)
    assert synced.drain(timeout=60)
    fourth = poller_passes(clock.advance(timedelta(seconds=30)))
    # THEN its units are not counted twice: no difference, and the channels follow the ledger
    assert [(p["differences"], p["pushed"]) for p in fourth] == [(0, 3)]
    assert shows(synced) == (95, 47, 95)
    view = json.loads(synced.admin_get(f"/inventory/{SKU}").body)
    states = {c["channel"]: c for c in view["channels"]}
    assert states[f"douyin:{DOUYIN_SHOP}"]["last_pushed"] == 95
    assert states[f"shopify:{SHOPIFY_SHOP}"]["last_pulled"] == 48
    assert states[f"shopify:{SHOPIFY_SHOP}"]["allocation"]["share_percent"] == 50


def test_a_lost_push_and_an_unsynced_return_are_reported_once_and_healed(
    synced: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, s3 = synced.clock, synced.s3
    recorded, built = RecordingSink(), composition.stock_sync
    monkeypatch.setattr(composition, "stock_sync", lambda: replace(built(), alerts=recorded))
    bucket = synced.deployed.names["ReportsBucket"]
    # GIVEN 10 more units received, and the push to Shopify will be lost
    channel.lose_next_push(synced.simulator, "shopify", SHOPIFY_SHOP, SHOPIFY_ITEM)
    assert put(synced, f"/inventory/{SKU}", {"reference": "PO-S2", "receipt": 10})[0] == 200
    pushed = poller_passes(clock.advance(timedelta(seconds=30)))
    assert [p["pushed"] for p in pushed] == [3]
    assert shows(synced) == (105, 47, 105)  # Shopify never got 52
    # AND Douyin deducted 3 the ledger knows nothing of
    channel.set_stock(synced.simulator, "douyin", DOUYIN_SHOP, DOUYIN_SKU, 102)
    # WHEN the next pass compares
    (found,) = poller_passes(clock.advance(timedelta(seconds=30)))
    # THEN both differences are in one report at the agreed key and columns
    assert found["differences"] == 2
    key = found["report_key"]
    day = clock.now()
    assert key == f"inventory/differences/{day:%Y/%m/%d}/{found['run_id']}.csv"
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == "at,sku,channel,ours,theirs,in_flight,delta,likely_cause"
    by_channel = {row["channel"]: row for row in rows}
    shopify = by_channel[f"shopify:{SHOPIFY_SHOP}"]
    assert (shopify["ours"], shopify["theirs"], shopify["delta"]) == ("52", "47", "-5")
    assert "push was lost" in shopify["likely_cause"]
    douyin = by_channel[f"douyin:{DOUYIN_SHOP}"]
    assert (douyin["ours"], douyin["theirs"], douyin["in_flight"], douyin["delta"]) == (
        "105",
        "102",
        "0",
        "-3",
    )
    assert douyin["likely_cause"] == "channel deducted 3 more: a return not synced"
    # AND one grouped alert for the run
    (alert,) = recorded.alerts
    assert (alert.kind, alert.facts["report_key"], len(alert.lines)) == ("inventory.sync_difference", key, 2)
    # AND the channels were re-set: the pass after finds nothing and pushes nothing
    assert shows(synced) == (105, 52, 105)
    (after,) = poller_passes(clock.advance(timedelta(seconds=30)))
    assert (after["differences"], after["pushed"]) == (0, 0)
    view = json.loads(synced.admin_get(f"/inventory/{SKU}").body)
    states = {c["channel"]: c for c in view["channels"]}
    assert states[f"douyin:{DOUYIN_SHOP}"]["last_difference"]["delta"] == -3


def test_the_demo_chapter_meets_its_own_oracle(synced: LocalStack) -> None:
    from local.inventory_sync_chapter import run

    credentials = json.loads(synced.credentials_file.read_text(encoding="utf-8"))
    chapter = run(synced, credentials)
    assert chapter.mismatches == []
    assert chapter.summary["differences_reported"] == 2


KIT, KIT_DOUYIN_SKU, C1_DOUYIN_SKU = "SYNC-KIT", "1755000000301", "1755000000303"


def test_a_bundle_listing_follows_its_components_in_the_same_pass(synced: LocalStack) -> None:
    clock = synced.clock
    assert put(synced, "/inventory/SYNC-C1", {"reference": "PO-K1", "receipt": 20})[0] == 200
    assert put(synced, "/inventory/SYNC-C2", {"reference": "PO-K2", "receipt": 9})[0] == 200
    # GIVEN a kit of 2 × C1 + 1 × C2, defined through the admin API, listed on Douyin
    status, body = put(synced, f"/inventory-bundles/{KIT}", {"components": {"SYNC-C1": 2, "SYNC-C2": 1}})
    assert (status, body["bundle"]["sellable"], body["bundle"]["revision"]) == (200, 9, 1)
    # (nesting and a save over an unknown revision are refused with their codes)
    nested = put(synced, "/inventory-bundles/SYNC-C1", {"components": {"SYNC-C2": 1}})
    assert (nested[0], nested[1]["error"]) == (400, "INVENTORY_INVALID")
    stale = put(synced, f"/inventory-bundles/{KIT}", {"components": {"SYNC-C1": 1}})
    assert (stale[0], stale[1]["error"]) == (409, "BUNDLE_CONFLICT")
    listing = {
        "platform": "douyin",
        "shop_id": DOUYIN_SHOP,
        "channel_sku_id": KIT_DOUYIN_SKU,
        "product_id": "1",
    }
    assert put(synced, f"/inventory/{KIT}/listings", listing)[0] == 200
    # (and component C1 is also sold on its own on Douyin)
    c1_listing = {**listing, "channel_sku_id": C1_DOUYIN_SKU}
    assert put(synced, "/inventory/SYNC-C1/listings", c1_listing)[0] == 200
    passes = poller_passes(clock.advance(timedelta(seconds=60)))  # a minute holds a pass, alone or not
    assert not [f for p in passes for f in p["failed"] if KIT in f]
    assert channel.stock(synced.simulator, "douyin", DOUYIN_SHOP, KIT_DOUYIN_SKU) == 9
    # WHEN a buyer orders 4 of component C2 on its own
    douyin_order_arrives(synced, "6900000000000009301", 4, sku="SYNC-C2", channel_sku="1755000000302")
    assert synced.drain(timeout=60)
    # THEN the next pass pushes the lower kit quantity (C2 makes 5 kits now)
    poller_passes(clock.advance(timedelta(seconds=30)))
    assert channel.stock(synced.simulator, "douyin", DOUYIN_SHOP, KIT_DOUYIN_SKU) == 5
    # WHEN a buyer orders a kit on Douyin THEN its components are held, and the channel follows
    assert channel.sell(synced.simulator, "douyin", DOUYIN_SHOP, KIT_DOUYIN_SKU, 1)
    douyin_order_arrives(synced, "6900000000000009302", 1, sku=KIT, channel_sku=KIT_DOUYIN_SKU)
    assert synced.drain(timeout=60)
    poller_passes(clock.advance(timedelta(seconds=30)))
    assert channel.stock(synced.simulator, "douyin", DOUYIN_SHOP, KIT_DOUYIN_SKU) == 4
    view = json.loads(synced.admin_get(f"/inventory/{KIT}").body)
    assert view["bundle"]["sellable"] == 4
    assert [c["last_pushed"] for c in view["channels"]] == [4]
    component = json.loads(synced.admin_get("/inventory/SYNC-C1").body)
    assert (component["part_of"], component["warehouses"][0]["reserved"]) == ([KIT], 2)
    # AND the kit sold on Douyin is not taken for a sale of C1's own Douyin listing (no difference)
    assert [(c["last_pushed"], c["last_difference"]) for c in component["channels"]] == [(18, None)]
    assert channel.stock(synced.simulator, "douyin", DOUYIN_SHOP, C1_DOUYIN_SKU) == 18
