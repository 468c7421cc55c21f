"""Demo chapter: the poller reads back the five channels beyond Douyin, Shopify and WeChat Channels.

1. One SKU is received and listed on Xiaohongshu, Kuaishou (whose seller already shows 8: it takes
   only changes, so the first push reads the channel first), WooCommerce, Pinduoduo (3.7 s stock
   lag) and Taobao; a pass sets all five, the next reads all five back over their signed read
   calls and finds nothing;
2. a receipt raises the stock, but the pushes to Pinduoduo and Taobao are lost (the APIs answer
   success and keep nothing);
3. the next pass finds both (one CSV row each, "a push was lost") and re-sets them; the pass after
   reads the new total on all five, Pinduoduo's once its lag is over.

The oracle reads back as an operator would: ``GET /inventory/{sku}`` (each channel's last pulled
quantity) and the difference report on S3, filtered to this chapter's SKU.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from local.chapters import Chapter
from local.simulators import kuaishou
from local.simulators import stock as channel

if TYPE_CHECKING:
    from local.stack import LocalStack

SKU = "PULL-DEMO"
KS_SELLER, KS_ITEM, KS_SKU = "7000000001", "22000000401", "23000000401"
#: the five listings: platform → (shop, channel SKU id, product id)
LISTINGS: Mapping[str, tuple[str, str, str | None]] = {
    "xiaohongshu": ("5f0c00000000000000000001", "xhs-pull-demo", None),
    "kuaishou": (KS_SELLER, KS_SKU, KS_ITEM),
    "woocommerce": ("demo-woo-1.example", "5401", "5400"),
    "pinduoduo": ("100001", "74011", "6401"),
    "taobao": ("2200000001", "740001", "640001"),
}
LOST = ("pinduoduo", "taobao")


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(name="channel_pulls")
    clock = stack.clock
    if clock is None:
        chapter.mismatches.append("the stack has no simulated clock")
        return chapter
    stack.simulator.clock = clock  # channel lag runs on the simulated timeline

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

    def pulled() -> dict[str, int | None]:
        view = json.loads(stack.admin_get(f"/inventory/{SKU}").body)
        return {c["channel"].split(":")[0]: c.get("last_pulled") for c in view.get("channels", [])}

    # 1. receive, list, set and read back
    kuaishou.set_stock(stack.simulator, KS_SELLER, KS_SKU, 8, item_id=KS_ITEM)
    expect("receipt", put(f"/inventory/{SKU}", {"reference": f"PO-{SKU}", "receipt": 60}), 200)
    for platform, (shop, sku_id, product_id) in LISTINGS.items():
        listing: dict[str, object] = {"platform": platform, "shop_id": shop, "channel_sku_id": sku_id}
        if product_id is not None:
            listing["product_id"] = product_id
        expect(f"listing on {platform}", put(f"/inventory/{SKU}/listings", listing), 200)
    next_pass = min(when for when, name in clock.upcoming(200) if name == "FirstPass")
    passes(int((next_pass - clock.now()).total_seconds()) + 1)
    passes(30)
    expect("what the five channels show after the first passes", pulled(), dict.fromkeys(LISTINGS, 60))

    # 2. a receipt whose pushes to Pinduoduo and Taobao are lost
    for platform in LOST:
        shop, sku_id, _ = LISTINGS[platform]
        channel.lose_next_push(stack.simulator, platform, shop, sku_id)
    expect("second receipt", put(f"/inventory/{SKU}", {"reference": f"PO-{SKU}-2", "receipt": 15}), 200)
    passes(30)

    # 3. found, reported, healed
    (found,) = passes(30)
    rows = [row for row in _report(stack, str(found.get("report_key")), chapter) if row["sku"] == SKU]
    found_on = sorted(row["channel"].split(":")[0] for row in rows)
    expect("channels with a difference", found_on, sorted(LOST))
    for row in rows:
        expect(f"{row['channel']} ours/theirs", (row["ours"], row["theirs"]), ("75", "60"))
        expect(f"{row['channel']} cause", "push was lost" in row["likely_cause"], True)
    passes(30)
    expect("what the five channels show after healing", pulled(), dict.fromkeys(LISTINGS, 75))

    chapter.summary = {
        "sku": SKU,
        "channels_pulled": sorted(LISTINGS),
        "lost_pushes_found": found_on,
        "report_key": found.get("report_key"),
    }
    chapter.lines = [
        "channel pulls: Xiaohongshu, Kuaishou, WooCommerce, Pinduoduo and Taobao read back over "
        "their signed stock calls",
        f"  pushes lost on {' and '.join(LOST)}: found by the next pass in {found.get('report_key')}, "
        "re-set, and read back healed (Pinduoduo after its 3.7 s lag)",
    ]
    return chapter


def _report(stack: LocalStack, key: str, chapter: Chapter) -> list[dict[str, str]]:
    bucket = stack.deployed.names["ReportsBucket"]
    try:
        text = stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except Exception as error:
        chapter.mismatches.append(f"no difference report at {key}: {error}")
        return []
    return list(csv.DictReader(io.StringIO(text)))
