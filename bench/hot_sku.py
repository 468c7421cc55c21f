"""Hot SKU (issue #11 item 5): reservations per second on one SKU, and the write units per item.

Two paths of ``oms.adapters.inventory_table.DynamoInventoryLedger``:

- ``transactional`` (no buckets): ``reserve`` = one ``TransactWriteItems`` (level + ledger entry +
  reservation + operation record), optimistic on the level's ``seq``;
- ``buckets×N``: the stock handed to N bucket items by ``allocate_buckets``, then
  ``reserve_from_buckets`` = one ``TransactWriteItems`` per hold: the bucket's counter and the
  line's own hold item (D111; before, the hold was a map entry inside the bucket item, whose size
  and write units grew with every hold).

Each configuration runs twice, on a fresh table each time:

1. **throughput**: more buyers than units (each wants one), ``THREADS`` at a time, against the
   locked moto server (both paths are transactions now, which dynalite does not have);
   reservations per second = successful holds / wall time. Both servers run on this 2-core
   machine, moto in the benchmark's own process: the figure compares the paths, it is not
   DynamoDB's latency;
2. **units**: the same traffic one buyer at a time on moto, through
   :class:`bench.recorder.AwsRecorder` (units from item sizes before and after each write, failed
   conditions included), summed per item key. The hottest item's units per reservation times an
   arrival rate is the write rate that item would take on DynamoDB, against the 1,000 WCU/s one
   partition accepts. The arrival rates are modelled: this machine cannot offer 5,000/s.

After every run the ledger's invariants are checked (level = replayed ledger, reservations and
bucket holds add up to what the level says is reserved, nothing below zero); a run that sold
more than its stock raises, and ``oversell`` (0) is what the results carry.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from bench.dynamodb_units import Item, WriteCost, item_size
from bench.harness import BenchContext, Table, fmt
from bench.recorder import AwsRecorder, FunctionCalls
from local.moto_server import MotoServer
from local.template import AppModel
from oms.adapters.inventory_table import DynamoInventoryLedger
from oms.domain.errors import InsufficientStockError
from oms.domain.inventory import LineDemand, ReservationState, replay

SKU, WAREHOUSE = "HOT", "WH1"
NOW = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
THREADS = 8
#: Bucket counts compared with the transactional path (0 = no buckets).
BUCKETS = (0, 1, 10)
ARRIVALS = (100, 1_000, 5_000)
PARTITION_WCU = 1_000


@dataclass
class _PerItemCalls(FunctionCalls):
    """The recorder's per-function totals, plus the table write units each item key took."""

    units_by_item: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add_item_write(self, table: str, item: Item | None, cost: WriteCost) -> None:
        super().add_item_write(table, item, cost)
        key = f"{(item or {}).get('PK', {}).get('S')}|{(item or {}).get('SK', {}).get('S')}"
        self.units_by_item[key] += cost.table_units


def _client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - a local server's dummy key
        config=Config(max_pool_connections=THREADS * 2, retries={"mode": "standard"}),
    )


def _create_table(db: Any, name: str, *, indexes: bool) -> str:
    table = AppModel.load().tables["InventoryTable"]
    spec: dict[str, Any] = {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
    }
    if indexes:
        spec["GlobalSecondaryIndexes"] = table["GlobalSecondaryIndexes"]
    else:
        spec["AttributeDefinitions"] = [
            a for a in spec["AttributeDefinitions"] if a["AttributeName"] in ("PK", "SK")
        ]
    db.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **spec)
    db.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    return name


class _Run:
    """One configuration on one fresh table: stock in, buyers out, invariants checked."""

    def __init__(self, endpoint: str, table: str, buckets: int, stock: int) -> None:
        self.endpoint, self.table, self.buckets, self.stock = endpoint, table, buckets, stock
        self.admin = DynamoInventoryLedger(table, _client(endpoint))
        self.admin.receive(SKU, WAREHOUSE, stock, "po-1")
        if buckets:
            self.admin.allocate_buckets(SKU, WAREHOUSE, buckets, "hot-1")

    def buy(self, ledger: DynamoInventoryLedger, n: int) -> bool:
        line = LineDemand(f"B{n}", "1", SKU, WAREHOUSE, 1)
        try:
            if self.buckets:
                ledger.reserve_from_buckets(line, self.buckets, "douyin", NOW + timedelta(minutes=30))
            else:
                ledger.reserve("douyin", [line], NOW, NOW + timedelta(minutes=30))
        except InsufficientStockError:
            return False
        return True

    def check(self, sold: int, buyers: int) -> int:
        """The ledger's invariants after the run; returns the oversell (raises if any)."""
        level = self.admin.level(SKU, WAREHOUSE)
        assert replay(self.admin.ledger(SKU, WAREHOUSE)) == (level.on_hand, level.reserved)
        assert level.available >= 0
        assert level.reserved <= level.on_hand
        level_reserved, on_hand = level.reserved, level.on_hand
        if self.buckets:
            buckets = self.admin.buckets(SKU, WAREHOUSE)
            assert all(b.available >= 0 and b.allocated == b.available + b.held for b in buckets)
            holders = Counter(reference for bucket in buckets for reference in bucket.holds)
            assert set(holders.values()) <= {1}, "a buyer holds twice"
            held = sum(bucket.held for bucket in buckets)
            assert sum(bucket.allocated for bucket in buckets) == level_reserved
        else:
            reservations = [r for n in range(buyers) for r in self.admin.reservations(f"B{n}")]
            assert all(r.state is ReservationState.HELD for r in reservations)
            held = sum(r.quantity for r in reservations)
            assert held == level_reserved
        assert held == sold
        oversell = max(0, held - on_hand)
        if oversell:
            raise AssertionError(f"oversold {oversell} units of {on_hand}")
        return oversell


def _throughput(endpoint: str, name: str, buckets: int, stock: int) -> dict[str, Any]:
    db = _client(endpoint)
    table = _create_table(db, name, indexes=True)
    run = _Run(endpoint, table, buckets, stock)
    buyers = stock * 3 // 2  # demand beyond the stock: the run ends in a sell-out
    ledgers = [DynamoInventoryLedger(table, _client(endpoint)) for _ in range(THREADS)]
    lock = threading.Lock()
    latencies: list[float] = []

    def buy(n: int) -> bool:
        began = time.perf_counter()
        bought = run.buy(ledgers[n % THREADS], n)
        with lock:
            latencies.append(time.perf_counter() - began)
        return bought

    began = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(buy, range(buyers)))
    wall = time.perf_counter() - began
    sold = sum(outcomes)
    return {
        "stock": stock,
        "buyers": buyers,
        "sold": sold,
        "wall_s": wall,
        "reservations_per_s": sold / wall,
        "attempts_per_s": buyers / wall,
        "latency_ms_median": statistics.median(latencies) * 1000,
        "optimistic_retries": sum(ledger.conflicts for ledger in ledgers),
        "oversell": run.check(sold, buyers),
    }


def _units(endpoint: str, name: str, buckets: int, stock: int) -> dict[str, Any]:
    """The same traffic one buyer at a time, its writes priced per item by the recorder."""
    db = _client(endpoint)
    table = _create_table(db, name, indexes=True)
    run = _Run(endpoint, table, buckets, stock)
    recorder = AwsRecorder(_client(endpoint))
    recorder.by_function = defaultdict(_PerItemCalls)
    client = _client(endpoint)
    recorder.instrument(client)
    ledger = DynamoInventoryLedger(table, client)
    sold = sum(run.buy(ledger, n) for n in range(stock))
    usage = recorder.by_function["unattributed"]
    assert isinstance(usage, _PerItemCalls)
    hottest, hottest_units = max(usage.units_by_item.items(), key=lambda entry: entry[1])
    capacity = usage.capacity
    stored = db.get_item(TableName=table, Key=_key_of(hottest), ConsistentRead=True).get("Item")
    return {
        "stock": stock,
        "sold": sold,
        "hottest_item": hottest,
        "hottest_item_units_per_reservation": hottest_units / sold,
        "hottest_item_bytes_at_end": item_size(stored),
        "write_units_per_reservation": capacity.write_units.get(table, 0.0) / sold,
        "index_write_units_per_reservation": capacity.index_write_units.get(table, 0.0) / sold,
        "items_written": len(usage.units_by_item),
        "oversell": run.check(sold, stock),
    }


def _key_of(text: str) -> dict[str, Any]:
    pk, sk = text.split("|", 1)
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def measure(stock: int) -> dict[str, Any]:
    configurations: dict[str, Any] = {}
    with MotoServer() as moto:
        for buckets in BUCKETS:
            label = f"buckets×{buckets}" if buckets else "transactional (no buckets)"
            figures: dict[str, Any] = {
                "buckets": buckets,
                "throughput_moto": _throughput(moto.url, f"tp-moto-{buckets}", buckets, stock),
                "units": _units(moto.url, f"units-{buckets}", buckets, stock),
            }
            per_reservation = figures["units"]["hottest_item_units_per_reservation"]
            figures["hottest_item_wcu_per_s"] = {str(rate): rate * per_reservation for rate in ARRIVALS}
            configurations[label] = figures
    return {
        "stock": stock,
        "threads": THREADS,
        "arrivals_per_s": list(ARRIVALS),
        "partition_wcu_per_s": PARTITION_WCU,
        "configurations": configurations,
    }


class HotSkuSuite:
    name = "hot_sku"

    def run(self, context: BenchContext) -> dict[str, Any]:
        return measure(stock=60 if context.options.quick else 300)

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]:
        throughput = Table(
            f"Hot SKU: reservations per second on one SKU ({result['stock']} units, 1.5× as many buyers, "
            f"{result['threads']} threads)",
            [
                "path",
                "moto server: holds/s (median ms each, optimistic retries)",
                "sold / stock",
                "oversell",
            ],
        )
        units = Table(
            "Hot SKU: write units on the hottest item (modelled arrival rates × measured units each)",
            [
                "path",
                "hottest item",
                "its WCU per reservation (its size after the run)",
                *(f"its WCU/s at {rate:,}/s" for rate in result["arrivals_per_s"]),
                "table + index WCU per reservation",
            ],
        )
        limit = result["partition_wcu_per_s"]
        for label, figures in result["configurations"].items():
            moto = figures["throughput_moto"]
            throughput.rows.append(
                [
                    label,
                    f"{fmt(moto['reservations_per_s'], 0)} ({fmt(moto['latency_ms_median'], 1)}, "
                    f"{moto['optimistic_retries']})",
                    f"{moto['sold']} / {moto['stock']}",
                    str(moto["oversell"] + figures["units"]["oversell"]),
                ]
            )
            cells = []
            for rate in result["arrivals_per_s"]:
                wcu = figures["hottest_item_wcu_per_s"][str(rate)]
                cells.append(f"{fmt(wcu, 0)}{' ✗' if wcu > limit else ''}")
            unit = figures["units"]
            units.rows.append(
                [
                    label,
                    f"`{unit['hottest_item'].replace('|', ' / ')}`",  # a bare | would split the cell
                    f"{fmt(unit['hottest_item_units_per_reservation'], 2)} "
                    f"({fmt(unit['hottest_item_bytes_at_end'] / 1024, 1)} KB)",
                    *cells,
                    f"{fmt(unit['write_units_per_reservation'], 2)} + "
                    f"{fmt(unit['index_write_units_per_reservation'], 2)}",
                ]
            )
        throughput.notes.append(
            "Wall time of the whole sell-out on this 2-core machine; the locked moto server serves one "
            "request at a time in the benchmark's own process, so these compare the paths, not DynamoDB. "
            "Invariants (level = replayed ledger, holds = reserved, no buyer twice) checked after every run."
        )
        units.notes.append(
            f"✗ = above the {limit:,} WCU/s one DynamoDB partition (one item) accepts. Units from item "
            "sizes before/after each write (transactional writes 2 per KB, failed conditions included), "
            "measured one buyer at a time on moto; the arrival rates are modelled, not offered."
        )
        return [throughput, units]
