"""Many buyers, the last units of one SKU, a real server: never more than the stock, all of it sold.

Both paths run on the **locked moto server** over HTTP (dynalite has no transactions, and since
D111 a bucket hold is a transaction too):

- the hot-SKU bucket path: the bucket's counter (``available >= q``) and the line's own hold item
  (``attribute_not_exists``) in one ``TransactWriteItems``; also, concurrent attempts of one line
  hold it once across buckets;
- the transactional ledger path (level + ledger entry + reservation + operation record in one
  ``TransactWriteItems``).
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.moto_server import MotoServer
from oms.adapters.inventory_table import DynamoInventoryLedger
from oms.domain.errors import InsufficientStockError
from oms.domain.inventory import LineDemand, ReservationState, bucket_order, replay
from tests.support.inventory import create_inventory_table

ROOT = Path(__file__).resolve().parents[2]
DYNALITE = ROOT / "node_modules" / "dynalite" / "cli.js"
NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
THREADS = 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=THREADS * 2, retries={"mode": "standard"}),
    )


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with MotoServer() as moto:
        yield moto.url


@pytest.mark.parametrize("buckets", [1, 4], ids=["one-bucket", "four-buckets"])
def test_concurrent_bucket_holds_never_exceed_the_stock_on_moto_server(moto_endpoint: str, buckets: int):
    # GIVEN 21 units received and shared over the buckets (ledgered), and 3x as many buyers, 16 at a time
    db = _client(moto_endpoint)
    table = create_inventory_table(db, f"inventory-buckets-{buckets}")
    admin = DynamoInventoryLedger(table, db)
    admin.receive("HOT", "WH1", 21, "po-1")
    admin.allocate_buckets("HOT", "WH1", buckets, "hot-1")
    stock, buyers = 21, 21 * 3
    ledgers = [DynamoInventoryLedger(table, _client(moto_endpoint)) for _ in range(THREADS)]

    def buy(n: int) -> int | None:
        line = LineDemand(f"B{n}", "1", "HOT", "WH1", 1)
        try:
            return ledgers[n % THREADS].reserve_from_buckets(
                line, buckets, "douyin", NOW + timedelta(minutes=30)
            )
        except InsufficientStockError:
            return None

    # WHEN they all reserve at once (each hold: the bucket's counter + the line's hold item, one transaction)
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(buy, range(buyers)))

    # THEN exactly the stock was sold: no more (no oversell), no less (no false sell-out)
    sold = [bucket for bucket in outcomes if bucket is not None]
    assert len(sold) == stock
    held_buckets = admin.buckets("HOT", "WH1")
    assert all(bucket.available == 0 for bucket in held_buckets)
    assert sum(bucket.held for bucket in held_buckets) == stock
    assert all(bucket.allocated == bucket.available + bucket.held for bucket in held_buckets)
    holders = Counter(reference for bucket in held_buckets for reference in bucket.holds)
    assert len(holders) == stock
    assert set(holders.values()) == {1}
    level = admin.level("HOT", "WH1")
    assert (level.on_hand, level.reserved) == (21, 21) == replay(admin.ledger("HOT", "WH1"))
    # and a retried buyer finds its hold instead of taking a second one
    first = next(n for n, bucket in enumerate(outcomes) if bucket is not None)
    again = ledgers[0].reserve_from_buckets(
        LineDemand(f"B{first}", "1", "HOT", "WH1", 1), buckets, "douyin", NOW + timedelta(minutes=30)
    )
    assert again == outcomes[first]


def test_concurrent_attempts_of_one_line_hold_once_across_buckets(moto_endpoint: str):
    # GIVEN 4 buckets, the line's own start bucket already empty (so attempts fall over)
    db = _client(moto_endpoint)
    table = create_inventory_table(db, "inventory-same-line")
    admin = DynamoInventoryLedger(table, db)
    admin.receive("HOT", "WH1", 40, "po-1")
    admin.allocate_buckets("HOT", "WH1", 4, "hot-1")
    line = LineDemand("SAME", "1", "HOT", "WH1", 2)
    start = bucket_order(line.reference, 4)[0]
    admin.return_bucket_units("HOT", "WH1", start, 10, "drain-start")
    ledgers = [DynamoInventoryLedger(table, _client(moto_endpoint)) for _ in range(THREADS)]

    # WHEN 16 deliveries of the same line reserve at the same moment
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(
            pool.map(
                lambda n: ledgers[n].reserve_from_buckets(line, 4, "douyin", NOW + timedelta(minutes=30)),
                range(THREADS),
            )
        )

    # THEN every one answers the same bucket, and the line holds 2 units once
    assert len(set(outcomes)) == 1
    assert outcomes[0] != start
    print(f"conflicts: {sum(ledger.conflicts for ledger in ledgers)}")
    buckets = admin.buckets("HOT", "WH1")
    assert sum(bucket.held for bucket in buckets) == 2
    assert sum(bucket.available for bucket in buckets) == 30 - 2
    assert [b.index for b in buckets if b.holds] == [outcomes[0]]


def test_concurrent_transactional_reservations_never_exceed_the_stock_on_moto_server(moto_endpoint: str):
    # GIVEN 40 units received through the ledger, and 100 buyers of 1 unit and 10 of 3 units
    db = _client(moto_endpoint)
    table = create_inventory_table(db, "inventory-transactional")
    DynamoInventoryLedger(table, db).receive("LAST", "WH1", 40, "po-1")
    ledgers = [DynamoInventoryLedger(table, _client(moto_endpoint)) for _ in range(THREADS)]
    wants = [1] * 100 + [3] * 10
    lock = threading.Lock()
    taken: list[int] = []

    def buy(n: int) -> None:
        line = LineDemand(f"T{n}", "1", "LAST", "WH1", wants[n])
        try:
            ledgers[n % THREADS].reserve("shopify", [line], NOW, NOW + timedelta(minutes=30))
        except InsufficientStockError:
            return
        with lock:
            taken.append(wants[n])

    # WHEN they all reserve at once
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(buy, range(len(wants))))

    # THEN never more than the stock, and demand (130) > stock (40) sold it all
    reader = DynamoInventoryLedger(table, db)
    level = reader.level("LAST", "WH1")
    assert sum(taken) == level.reserved == 40
    assert level.on_hand == 40
    assert level.available == 0
    assert replay(reader.ledger("LAST", "WH1")) == (40, 40)
    held = [r for n in range(len(wants)) for r in reader.reservations(f"T{n}")]
    assert all(r.state is ReservationState.HELD for r in held)
    assert sum(r.quantity for r in held) == 40
    print(f"optimistic retries: {sum(ledger.conflicts for ledger in ledgers)}")
