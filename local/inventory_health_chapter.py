"""The month's inventory health report, after the flash sale (docs/inventory-health.md).

What is real: the poller's difference file for the flash-sale SKU is written to the ReportsBucket
where ``inventory_poller`` writes them; the report is asked for over the signed admin route
``POST /inventory/health-reports`` (the InventoryHealth function on the local stack), and both
files are downloaded with a plain GET through their presigned links.

The oracle is computed from the records the flash sale left, independently of the report: the
channel-side oversells are the flash-sale order lines that hold a released record but never a
``reserve`` ledger entry; the expired holds are the ledger's ``expire`` entries; the stockout is
the time between the entry that took the last unit and the next one that gave a unit back. The
flash-sale SKU must rank first with oversell, stockout and reservation-leak reasons carrying
exactly those numbers.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from local.chapters import Chapter
from local.flash_sale_chapter import BUYERS, SKU, WAREHOUSE
from local.stack import LocalStack
from oms.adapters.inventory_table import DynamoInventoryLedger
from oms.domain.inventory import LedgerEntry, Reason


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(name="inventory_health")
    assert stack.clock is not None
    now = stack.clock.now()
    ledger = DynamoInventoryLedger(stack.deployed.names["InventoryTable"], stack.client("dynamodb"))
    entries = ledger.ledger(SKU, WAREHOUSE)
    stamps = _stamps(stack, entries)
    expected = {
        "oversold_lines": _oversold(stack, entries),
        "expired_holds": sum(1 for e in entries if e.reason is Reason.EXPIRE),
        "stockout_hours": _stockout_hours(entries, stamps),
        "sync_units": 4,
    }

    # The poller found Pinduoduo showing 4 more than the ledger (its 3.7 s lag, a cancelled oversell).
    bucket = stack.deployed.names["ReportsBucket"]
    difference = (
        "at,sku,channel,ours,theirs,in_flight,delta,likely_cause\r\n"
        f"{(now - timedelta(minutes=1)).isoformat()},{SKU},pinduoduo,60,64,0,-4,"
        "channel shows 4 more: stock push lagging\r\n"
    )
    stack.s3.put_object(
        Bucket=bucket, Key=f"inventory/differences/{now:%Y/%m/%d}/demo-run.csv", Body=difference.encode()
    )

    body = json.dumps({"as_of": now.isoformat()})
    reply = stack.request(
        "POST",
        "/inventory/health-reports",
        body=body,
        headers={"content-type": "application/json"},
        sign=True,
        # One Scan of the Inventory table (D110): moto serves it far slower than DynamoDB does.
        timeout=120,
    )
    if reply.status != 200:
        chapter.mismatches.append(f"report refused: {reply.status} {reply.body[:200]!r}")
        return chapter
    report = json.loads(reply.body)
    rows = _download_csv(report["links"]["csv"], chapter)
    page = _download(report["links"]["html"], chapter).decode("utf-8")
    top = rows[0] if rows else {}

    chapter.summary = {
        "month": report["month"],
        "keys": report["keys"],
        "top": report["skus"][:3],
        "flash_sale_sku": {k: top.get(k) for k in ("rank", "score", *expected)},
        "oracle": expected,
    }
    chapter.lines = [
        f"inventory health {report['month']}: {len(rows)} risky SKU(s);"
        f" HTML and CSV at {report['keys']['html']}",
        *(f"  #{s['rank']} {s['sku']} ({s['score']}): {', '.join(s['reasons'])}" for s in report["skus"][:3]),
    ]

    if top.get("sku") != SKU:
        chapter.mismatches.append(f"the flash-sale SKU is not ranked first: {top.get('sku')!r}")
    reasons = top.get("reasons", "")
    for phrase in ("accepted by a channel the ledger could not cover", "nothing available", "expired unpaid"):
        if phrase not in reasons:
            chapter.mismatches.append(f"the flash-sale SKU's reasons lack {phrase!r}: {reasons!r}")
    for name in ("oversold_lines", "expired_holds", "sync_units"):
        if top.get(name) != str(expected[name]):
            chapter.mismatches.append(f"{name}: report {top.get(name)!r}, oracle {expected[name]}")
    reported_hours = float(top.get("stockout_hours") or 0)
    if abs(reported_hours - float(str(expected["stockout_hours"]))) > 0.01 or reported_hours <= 0:
        chapter.mismatches.append(
            f"stockout hours: report {reported_hours}, oracle {expected['stockout_hours']}"
        )
    if SKU not in page or "<script" in page or "http" in page.split("<body>", 1)[-1]:
        chapter.mismatches.append("the HTML page is not the self-contained report of the flash-sale SKU")
    return chapter


def _oversold(stack: LocalStack, entries: list[LedgerEntry]) -> int:
    """Flash-sale lines with a reservation record (released) but no reserve entry in the ledger."""
    reserved = {e.reference for e in entries if e.reason is Reason.RESERVE}
    db = stack.client("dynamodb")
    table = stack.deployed.names["InventoryTable"]
    keys = [{"PK": {"S": f"ORDER#FS{n:05d}"}, "SK": {"S": "RESV#1"}} for n in range(BUYERS)]
    refused = 0
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        while pending:
            page = db.batch_get_item(RequestItems=pending)
            for item in page["Responses"].get(table, []):
                reference = f"{item['order_id']['S']}#{item['line_id']['S']}"
                if item["state"]["S"] == "released" and reference not in reserved:
                    refused += 1
            pending = page.get("UnprocessedKeys") or {}
    return refused


def _stamps(stack: LocalStack, entries: list[LedgerEntry]) -> list[datetime]:
    """When each ledger entry was written (its ``at``), in the entries' order."""
    db = stack.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": stack.deployed.names["InventoryTable"],
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"LEDGER#{SKU}#{WAREHOUSE}"}},
        "ProjectionExpression": "seq, #at",
        "ExpressionAttributeNames": {"#at": "at"},
        "ConsistentRead": True,
    }
    stamps: dict[int, datetime] = {}
    while True:
        page = db.query(**kwargs)
        for item in page["Items"]:
            stamps[int(item["seq"]["N"])] = datetime.fromisoformat(item["at"]["S"])
        if "LastEvaluatedKey" not in page:
            return [stamps[entry.seq] for entry in entries]
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _stockout_hours(entries: list[LedgerEntry], stamps: list[datetime]) -> str:
    """From the entry that took the last unit to the next one that gave one back (ledger order)."""
    ordered = sorted(zip(stamps, entries, strict=True), key=lambda pair: pair[1].seq)
    # A stamp never runs backwards along the ledger (the receipt is stamped by the wall clock, the
    # sale by the simulated one): each entry happened no earlier than the one before it.
    for n in range(1, len(ordered)):
        if ordered[n][0] < ordered[n - 1][0]:
            ordered[n] = (ordered[n - 1][0], ordered[n][1])
    out = next(n for n, (_, e) in enumerate(ordered) if e.on_hand_after - e.reserved_after == 0)
    back = next(n for n, (_, e) in enumerate(ordered) if n > out and e.on_hand_after - e.reserved_after > 0)
    return f"{(ordered[back][0] - ordered[out][0]).total_seconds() / 3600:.2f}"


def _download(url: str, chapter: Chapter) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - a presigned http link to moto
            return bytes(reply.read())
    except OSError as error:
        chapter.mismatches.append(f"download failed: {error}")
        return b""


def _download_csv(url: str, chapter: Chapter) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_download(url, chapter).decode("utf-8-sig"))))
