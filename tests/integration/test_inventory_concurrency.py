"""Many buyers, the last units of one SKU, real servers: never more than the stock, all of it sold.

- the hot-SKU bucket path (one conditional ``UpdateItem`` per hold) on **dynalite**, a DynamoDB
  server on Node whose conditional writes are atomic under concurrent requests;
- the transactional ledger path (level + ledger entry + reservation + operation record in one
  ``TransactWriteItems``) on the **locked moto server** (dynalite has no transactions).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
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
from oms.adapters.inventory_table import DynamoInventoryLedger, bucket_key
from oms.adapters.orders_table import to_attributes
from oms.domain.errors import InsufficientStockError
from oms.domain.inventory import LineDemand, ReservationState, replay
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
def dynalite() -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "node is not installed: the dynalite concurrency test needs it (make install runs npm ci)"
        )
    if not DYNALITE.exists():
        pytest.fail("node_modules/dynalite is missing: run `make install` (it runs npm ci)")
    port = _free_port()
    process = subprocess.Popen(
        [node, str(DYNALITE), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("dynalite did not start")
            time.sleep(0.05)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


def _seed_buckets(db: Any, table: str, sku: str, shares: list[int]) -> None:
    # dynalite has no transactions, so the (ledgered) allocation is seeded as its result.
    for index, units in enumerate(shares):
        db.put_item(
            TableName=table,
            Item=to_attributes(
                bucket_key(sku, "WH1", index)
                | {
                    "sku": sku,
                    "warehouse": "WH1",
                    "bucket_index": index,
                    "allocated": units,
                    "available": units,
                }
            )
            | {"holds": {"M": {}}},
        )


@pytest.mark.parametrize("shares", [[37], [10, 9, 9, 9]], ids=["one-bucket", "four-buckets"])
def test_concurrent_bucket_holds_never_exceed_the_stock_on_dynalite(dynalite: str, shares: list[int]):
    # GIVEN 37 units of one SKU and 3x as many buyers as units, 16 at a time
    db = _client(dynalite)
    table = create_inventory_table(db, f"inventory-{len(shares)}", indexes=False)
    _seed_buckets(db, table, "HOT", shares)
    stock, buyers = sum(shares), sum(shares) * 3
    ledgers = [DynamoInventoryLedger(table, _client(dynalite)) for _ in range(THREADS)]

    def buy(n: int) -> int | None:
        line = LineDemand(f"B{n}", "1", "HOT", "WH1", 1)
        try:
            return ledgers[n % THREADS].reserve_from_buckets(
                line, len(shares), "douyin", NOW + timedelta(minutes=30)
            )
        except InsufficientStockError:
            return None

    # WHEN they all reserve at once
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(buy, range(buyers)))

    # THEN exactly the stock was sold: no more (no oversell), no less (no false sell-out)
    sold = [bucket for bucket in outcomes if bucket is not None]
    assert len(sold) == stock
    buckets = DynamoInventoryLedger(table, db).buckets("HOT", "WH1")
    assert all(bucket.available == 0 for bucket in buckets)
    assert sum(bucket.held for bucket in buckets) == stock
    assert all(bucket.allocated == bucket.available + bucket.held for bucket in buckets)
    holders = Counter(reference for bucket in buckets for reference in bucket.holds)
    assert len(holders) == stock
    assert set(holders.values()) == {1}
    # and a retried buyer finds its hold instead of taking a second one
    first = next(n for n, bucket in enumerate(outcomes) if bucket is not None)
    again = ledgers[0].reserve_from_buckets(
        LineDemand(f"B{first}", "1", "HOT", "WH1", 1), len(shares), "douyin", NOW + timedelta(minutes=30)
    )
    assert again == outcomes[first]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with MotoServer() as moto:
        yield moto.url


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
