"""Demo chapter: the channel stock sync finds a lost push and a return not synced, and heals both.

1. Three SKUs are received and listed: on Douyin, on Shopify (60% share, buffer 2) and on WeChat
   Channels; the minute's pass pushes every listing, and its second pass 30 s later pushes nothing
   (nothing changed);
2. a Douyin buyer orders (the channel deducts, the order reaches the ledger through a signed
   push); one more Douyin order is still in flight when the next pass compares;
3. a receipt raises one SKU's stock but the push to Shopify is lost, and WeChat shows 3 fewer than
   it should (a return the order center received never reached the channel);
4. the next pass reports both differences (one CSV on S3, one alert) and re-sets the channels;
   the pass after finds nothing;
5. a gift set (2 TEA + 1 CUP) is defined as a bundle and listed on Douyin: the next pass pushes the
   sets the components make; a buyer takes 2 sets, their components are held, and the next pass
   pushes the lower quantity without taking the set's sale for a sale of TEA's or CUP's own listings.

The oracle: the right pushes and no more, no difference while orders are in flight, exactly the
two differences with their likely causes in the report at the agreed key and columns, every
channel showing its target at the end; the set's quantity from its components before and after its
sale, the components' holds, and no difference after it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from local import simulator
from local.chapters import Chapter
from local.simulators import stock as channel

if TYPE_CHECKING:
    from local.stack import LocalStack

DOUYIN_SHOP = "100001"
SHOPIFY_SHOP = "demo-shop-1.myshopify.com"
SHOPIFY_LOCATION = "905684977"
WECHAT_APP = "wx00000000000test1"
#: sku → (units received, Douyin sku id, Shopify inventory item id, WeChat sku id)
SKUS = {
    "SYNC-TEA": (120, "1755000000201", "808950201", "1380000201"),
    "SYNC-CUP": (40, "1755000000202", "808950202", "1380000202"),
    "SYNC-POT": (15, "1755000000203", "808950203", "1380000203"),
}
PRODUCT = "3600000000200"
#: the gift set: a bundle of 2 TEA + 1 CUP, listed on Douyin only
GIFT_SET, GIFT_SET_DOUYIN = "SYNC-SET", "1755000000204"
REPORT_COLUMNS = "at,sku,channel,ours,theirs,in_flight,delta,likely_cause"


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(name="inventory_sync")
    clock = stack.clock
    if clock is None:
        chapter.mismatches.append("the stack has no simulated clock")
        return chapter
    stack.simulator.clock = clock  # channel lag runs on the simulated timeline
    ours = {ids[index] for ids in SKUS.values() for index in (1, 2, 3)}

    def our_pushes() -> int:
        return sum(1 for push in channel.pushes(stack.simulator) if push[2] in ours)

    def expect(what: str, got: object, want: object) -> None:
        if got != want:
            chapter.mismatches.append(f"{what}: {got!r}, expected {want!r}")

    def put(path: str, body: dict[str, object]) -> int:
        result = stack.request(
            "PUT", path, body=json.dumps(body), headers={"content-type": "application/json"}, sign=True
        )
        return result.status

    def passes(seconds: int) -> list[dict[str, Any]]:
        firings = [
            f for f in clock.advance(timedelta(seconds=seconds)) if f.function_id == "InventoryPollerFunction"
        ]
        for firing in firings:
            if firing.error:
                chapter.mismatches.append(f"a sync pass failed: {firing.error.splitlines()[-1]}")
        return [dict(f.result) for f in firings if isinstance(f.result, dict)]

    def shows(sku: str) -> tuple[int | None, int | None, int | None]:
        _, douyin, shopify, wechat = SKUS[sku]
        return (
            channel.stock(stack.simulator, "douyin", DOUYIN_SHOP, douyin),
            channel.stock(stack.simulator, "shopify", SHOPIFY_SHOP, shopify),
            channel.stock(stack.simulator, "wechat_channels", WECHAT_APP, wechat),
        )

    # 1. receive and list; a pass at the minute and its second pass 30 s later
    for sku, (units, douyin, shopify, wechat) in SKUS.items():
        expect(f"receipt {sku}", put(f"/inventory/{sku}", {"reference": f"PO-{sku}", "receipt": units}), 200)
        listings: tuple[dict[str, object], ...] = (
            {"platform": "douyin", "shop_id": DOUYIN_SHOP, "channel_sku_id": douyin, "product_id": PRODUCT},
            {
                "platform": "shopify",
                "shop_id": SHOPIFY_SHOP,
                "channel_sku_id": shopify,
                "location_id": SHOPIFY_LOCATION,
                "share_percent": 60,
                "buffer": 2,
            },
            {
                "platform": "wechat_channels",
                "shop_id": WECHAT_APP,
                "channel_sku_id": wechat,
                "product_id": PRODUCT,
            },
        )
        for listing in listings:
            expect(f"listing {sku} on {listing['platform']}", put(f"/inventory/{sku}/listings", listing), 200)
    # The minute's schedule is anchored where the clock started: advance to its next firing.
    next_pass = min(when for when, name in clock.upcoming(200) if name == "FirstPass")
    first = passes(int((next_pass - clock.now()).total_seconds()) + 1)
    pushed_first = our_pushes()
    first += passes(30)
    expect("pushes of the first pass, then of its second pass", (pushed_first, our_pushes()), (9, 9))
    expect("SYNC-TEA on the channels", shows("SYNC-TEA"), (120, 70, 120))

    # 2. buyers: 4 TEA on Douyin (seen by the ledger), then 1 more still in flight
    _douyin_order(stack, credentials, "6900000000000020001", "SYNC-TEA", 4)
    if not stack.drain(timeout=120):
        chapter.mismatches.append("the order queues did not drain")
    channel.sell(stack.simulator, "douyin", DOUYIN_SHOP, SKUS["SYNC-TEA"][1], 1)
    (after_orders,) = passes(30)
    expect("differences while an order is in flight", after_orders["differences"], 0)

    # 3. a receipt whose Shopify push is lost, and a return never synced to WeChat
    channel.lose_next_push(stack.simulator, "shopify", SHOPIFY_SHOP, SKUS["SYNC-POT"][2])
    expect("receipt SYNC-POT", put("/inventory/SYNC-POT", {"reference": "PO-SYNC-POT-2", "receipt": 10}), 200)
    (lost,) = passes(30)
    expect("differences before the channels drift", lost["differences"], 0)
    wechat_pot = channel.stock(stack.simulator, "wechat_channels", WECHAT_APP, SKUS["SYNC-POT"][3]) or 0
    channel.set_stock(stack.simulator, "wechat_channels", WECHAT_APP, SKUS["SYNC-POT"][3], wechat_pot - 3)

    # 4. detected, reported, healed
    (found,) = passes(30)
    expect("differences found", found["differences"], 2)
    rows = _report(stack, str(found.get("report_key")), chapter)
    causes = {row["channel"].split(":")[0]: row["likely_cause"] for row in rows}
    expect("Shopify's cause", "push was lost" in causes.get("shopify", ""), True)
    expect("WeChat's cause", causes.get("wechat_channels"), "channel deducted 3 more: a return not synced")
    (healed,) = passes(30)
    expect("differences after healing", (healed["differences"], healed["pushed"]), (0, 0))
    expect("SYNC-POT on the channels", shows("SYNC-POT"), (25, 13, 25))

    chapter.summary = {
        "skus": len(SKUS),
        "listings": 3 * len(SKUS),
        "passes": len(first) + 4,
        "pushes": our_pushes(),
        "differences_reported": found["differences"],
        "report_key": found.get("report_key"),
        "likely_causes": causes,
        # 5. a gift set: a bundle of the components above, listed on Douyin
        "gift_set": _gift_set(stack, credentials, expect=expect, put=put, passes=passes, shows=shows),
    }
    chapter.lines = [
        f"stock sync: {len(SKUS)} SKUs on Douyin, Shopify and WeChat Channels, synced twice a minute",
        f"  pushes: {chapter.summary['pushes']} (only changes: an idle pass pushes none)",
        "  an order in flight on Douyin: allowed for, no difference",
        f"  lost Shopify push + a return not synced on WeChat: {found['differences']} differences in "
        f"{found.get('report_key')}, one alert, both channels re-set; the next pass finds none",
        f"  gift set (2 TEA + 1 CUP) on Douyin: {chapter.summary['gift_set']['shown_before_sale']} sets,"
        f" 2 sold → {chapter.summary['gift_set']['shown_after_2_sold']} pushed, "
        "components held, no false difference on TEA/CUP listings",
    ]
    return chapter


def _gift_set(
    stack: LocalStack,
    credentials: Mapping[str, Any],
    *,
    expect: Callable[[str, object, object], None],
    put: Callable[[str, dict[str, object]], int],
    passes: Callable[[int], list[dict[str, Any]]],
    shows: Callable[[str], tuple[int | None, int | None, int | None]],
) -> dict[str, Any]:
    """Step 5: the set's quantity follows its components, before and after 2 sets are sold."""
    expect(
        "bundle SYNC-SET",
        put(f"/inventory-bundles/{GIFT_SET}", {"components": {"SYNC-TEA": 2, "SYNC-CUP": 1}}),
        200,
    )
    set_listing: dict[str, object] = {
        "platform": "douyin",
        "shop_id": DOUYIN_SHOP,
        "channel_sku_id": GIFT_SET_DOUYIN,
        "product_id": PRODUCT,
    }
    expect("listing SYNC-SET on douyin", put(f"/inventory/{GIFT_SET}/listings", set_listing), 200)
    passes(30)
    # TEA: 120 on hand, 4 held → 116 sellable → 58 sets; CUP: 40 → 40 sets
    sets_before = channel.stock(stack.simulator, "douyin", DOUYIN_SHOP, GIFT_SET_DOUYIN)
    expect("SYNC-SET on Douyin", sets_before, 40)
    _douyin_order(stack, credentials, "6900000000000020002", GIFT_SET, 2, channel_sku=GIFT_SET_DOUYIN)
    expect("the order queues drained", stack.drain(timeout=120), True)
    (after_set,) = passes(30)
    sets_after = channel.stock(stack.simulator, "douyin", DOUYIN_SHOP, GIFT_SET_DOUYIN)
    expect("SYNC-SET on Douyin after 2 sets sold", sets_after, 38)
    expect("differences after a set sold", after_set["differences"], 0)
    cup = json.loads(stack.admin_get("/inventory/SYNC-CUP").body)
    expect("SYNC-CUP held for the sets", cup["warehouses"][0]["reserved"], 2)
    expect("SYNC-CUP on the channels", shows("SYNC-CUP"), (38, 20, 38))
    return {"sku": GIFT_SET, "shown_before_sale": sets_before, "shown_after_2_sold": sets_after}


def _douyin_order(
    stack: LocalStack,
    credentials: Mapping[str, Any],
    order_id: str,
    sku: str,
    units: int,
    *,
    channel_sku: str | None = None,
) -> None:
    """A Douyin buyer orders: the channel deducts, and the signed push reaches the order center."""
    channel_sku = channel_sku or SKUS[sku][1]
    channel.sell(stack.simulator, "douyin", DOUYIN_SHOP, channel_sku, units)
    line = simulator.LineSpec(sku_id=channel_sku, quantity=units, unit_price=Decimal("36.00"), out_sku_id=sku)
    now = stack.clock.now() if stack.clock is not None else datetime.now(UTC)
    order = simulator.douyin_order(order_id, DOUYIN_SHOP, 1, now, (line,), create_time=now)
    stack.simulator.put_order("douyin", DOUYIN_SHOP, order)
    app = next(iter(credentials["douyin"].values()))
    message = simulator.douyin_order_message(order, "100", f"msg-{order_id}")
    headers, body = simulator.douyin_push([message], app["app_key"], app["app_secret"])
    stack.request("POST", "/webhooks/douyin", body=body, headers=headers)


def _report(stack: LocalStack, key: str, chapter: Chapter) -> list[dict[str, str]]:
    bucket = stack.deployed.names["ReportsBucket"]
    try:
        text = stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except Exception as error:
        chapter.mismatches.append(f"no difference report at {key}: {error}")
        return []
    if text.splitlines()[0] != REPORT_COLUMNS:
        chapter.mismatches.append(f"report columns: {text.splitlines()[0]}")
    if not key.startswith("inventory/differences/"):
        chapter.mismatches.append(f"report key: {key}")
    return list(csv.DictReader(io.StringIO(text)))
