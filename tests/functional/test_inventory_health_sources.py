"""What the health report reads, through the real adapters on moto: the Inventory table and S3 files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oms.adapters.inventory_health import DynamoInventoryHealthSource, S3DifferenceFiles
from oms.adapters.inventory_table import DynamoInventoryLedger
from oms.domain.errors import InsufficientStockError
from oms.domain.inventory import LineDemand, Reason
from oms.domain.settlement import Month
from tests.support.inventory import create_inventory_table

MONTH = Month(2026, 11)
START, END = MONTH.starts_at, MONTH.next().starts_at
SALE = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("dynamodb"), boto3.client("s3")


def test_the_table_gives_the_months_entries_overdue_holds_and_oversold_lines_once(aws: tuple[Any, Any]):
    db, _ = aws
    table = create_inventory_table(db, "inventory")
    ledger = DynamoInventoryLedger(table, db)
    ledger.receive("TEA", "main", 2, "po-1")
    hold = timedelta(minutes=30)
    ledger.reserve("douyin", [LineDemand("O1", "1", "TEA", "main", 2)], SALE, SALE + hold)
    # a refused line, delivered twice and refused again when paid: one oversold line
    refused = [LineDemand("O2", "1", "TEA", "main", 1)]
    for _ in range(2):
        with pytest.raises(InsufficientStockError):
            ledger.reserve("pinduoduo", refused, SALE, SALE + hold)
    with pytest.raises(InsufficientStockError):
        ledger.convert(refused, SALE + timedelta(minutes=1))
    # a hot SKU's bucket hold left past its expiry (nobody swept)
    ledger.receive("HOT", "main", 3, "po-2")
    ledger.allocate_buckets("HOT", "main", 2, "hot-1")
    ledger.reserve_from_buckets(LineDemand("O3", "1", "HOT", "main", 1), 2, "douyin", SALE + hold, now=SALE)

    month = DynamoInventoryHealthSource(table, db).month(START, END, SALE + timedelta(hours=1))

    assert sorted((level.sku, level.available) for level in month.levels) == [("HOT", 0), ("TEA", 0)]
    # receipts are stamped by the wall clock (not this month of 2026); the reserve by the sale's time
    reserve = [(at, e) for at, e in month.entries if e.reason is Reason.RESERVE]
    assert [(at, e.reference) for at, e in reserve] == [(SALE, "O1#1")]
    assert month.oversold_lines == {"TEA": 1}
    assert month.overdue_holds == {"TEA": 1, "HOT": 1}  # both held 30 minutes past their expiry
    assert DynamoInventoryHealthSource(table, db).month(START, END, SALE).overdue_holds == {}


def test_difference_files_are_read_for_the_months_utc_days_and_bad_ones_named(aws: tuple[Any, Any]):
    _, s3 = aws
    s3.create_bucket(Bucket="reports")
    header = "at,sku,channel,ours,theirs,in_flight,delta,likely_cause\r\n"
    prefix = "inventory/differences/2026"
    files = {
        # 2026-11-01 00:30 China time is still October 31 in UTC: listed under 2026/10
        f"{prefix}/10/31/r1.csv": f"{header}2026-10-31T16:30:00+00:00,TEA,douyin,5,3,0,2,x\r\n",
        f"{prefix}/10/30/r0.csv": f"{header}2026-10-30T10:00:00+00:00,TEA,douyin,5,3,0,2,x\r\n",
        f"{prefix}/11/20/r2.csv": f"{header}2026-11-20T10:00:00+00:00,TEA,shopify,5,9,1,-4,y\r\n",
        "inventory/differences/2026/11/21/bad.csv": "sku,delta\r\nTEA,1\r\n",
        "inventory/differences/2026/11/21/notes.txt": "not a csv",
    }
    for key, body in files.items():
        s3.put_object(Bucket="reports", Key=key, Body=body.encode("utf-8"))

    rows, unreadable = S3DifferenceFiles("reports", s3).rows(START, END)

    assert sorted((row.channel, row.delta) for row in rows) == [("douyin", 2), ("shopify", -4)]
    assert unreadable == ["inventory/differences/2026/11/21/bad.csv"]
