"""Patrol scaling (issue #11 item 6): what planning one reconciliation patrol reads, by table size.

The Orders table (the template's, moto in-process) is filled to each total with a fixed number of
open orders (``OPEN``, status ``paid``, old enough to have settled) and the rest ``completed``;
every order is its header, one line and its platform-number map item, written with
``BatchWriteItem`` from the repository's own item builders. Then ``composition.patrol_planner()``
plans a patrol (GSI1 Queries, the patrol record, the chunk messages to SQS) ``RUNS`` times.

Read units are those of the planner's Query pages on GSI1, from the size of each returned entry
as GSI1 projects it (``INCLUDE``: keys + seven attributes, ``bench.dynamodb_units.index_entry``),
eventually consistent (index reads always are), summed per page and rounded once. The Scan
column is what reading the whole table once would cost, from the stored items' sizes: the
alternative the status index avoids. Plan time is moto's and the planner's CPU, for comparison
between table sizes only.
"""

from __future__ import annotations

import inspect
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.dynamodb_units import TableSchema, index_entry, item_size, read_units
from bench.harness import BenchContext, Table, fmt

OPEN = 200
TOTALS = (1_000, 10_000, 100_000)
QUICK_TOTALS = (1_000, 3_000)
RUNS = 5
BATCH = 25


class _QueryCounter:
    """Counts the planner's Query pages and prices what they return as GSI1 projects it."""

    def __init__(self, client: Any, schema: TableSchema) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        self.read_units = 0.0
        self._gsi1 = next(index for index in schema.indexes if index.name == "GSI1")
        self._schema = schema
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def reset(self) -> None:
        self.calls.clear()
        self.items, self.read_units = 0, 0.0

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "Query":
            entries = [index_entry(self._schema, self._gsi1, item) for item in parsed.get("Items", [])]
            self.items += len(entries)
            self.read_units += read_units(sum(item_size(entry) for entry in entries))


@contextmanager
def _index_partitions() -> Iterator[None]:
    """While active, moto answers a GSI Query from the items of the asked index partition only.

    moto lists and sorts *every* item of the table for each index Query (local/moto_server.py's
    ``PartitionQueries`` does the same for the table's own key): planning at 3,000 orders took
    25 s, O(table) per Query, where DynamoDB reads one index partition. The items handed to moto
    are exactly those its own hash-key filter keeps, unsorted (moto sorts the results itself).
    """
    from moto.dynamodb.models.table import Table

    original = Table.query
    signature = inspect.signature(original)

    def query(table: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(table, *args, **kwargs).arguments
        conditions = bound.get("hash_key_conditions")
        if not bound.get("index_name") or not conditions:
            return original(table, *args, **kwargs)
        ((name, value),) = conditions
        partition = [
            item
            for items in table.items.values()
            for item in items.values()
            if (found := item.attrs.get(name)) is not None and found == value
        ]
        table.all_items = lambda: partition
        try:
            return original(table, *args, **kwargs)
        finally:
            del table.all_items

    Table.query = query  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Table.query = original  # type: ignore[method-assign]


def _orders(first: int, count: int, open_until: int, settled: datetime) -> list[Any]:
    from oms.domain.ids import unified_order_id
    from oms.domain.model import EventKey, Order, OrderLine, Platform
    from oms.domain.status import STATUS_RANK, OrderStatus, RefundStatus

    orders = []
    for n in range(first, first + count):
        status = OrderStatus.PAID if n < open_until else OrderStatus.COMPLETED
        number = f"69{n:016d}"
        at = settled - timedelta(minutes=n % 10_000)
        orders.append(
            Order(
                order_id=unified_order_id(Platform.DOUYIN, "100001", number),
                platform=Platform.DOUYIN,
                shop_id="100001",
                platform_order_id=number,
                status=status,
                refund_status=RefundStatus.NONE,
                platform_status=str(status),
                status_key=EventKey(at=at, rank=STATUS_RANK[status]),
                refund_key=EventKey(at=at, rank=0),
                version=2,
                total_amount=Decimal("128.00"),
                paid_amount=Decimal("128.00"),
                placed_at=at - timedelta(hours=1),
                paid_at=at - timedelta(minutes=50),
                lines=(OrderLine(line_id="1", sku_id="s-1", out_sku_id="TEA-1", quantity=1),),
                last_event_id=f"bench-{n}",
                created_at=at - timedelta(hours=1),
                updated_at=at,
            )
        )
    return orders


def _seed(dynamodb: Any, table: str, orders: list[Any]) -> int:
    """Write the orders' items in batches of 25; returns their stored bytes (for the Scan column)."""
    from oms.adapters.orders_table import header_item, line_item, map_item, to_attributes

    items = [
        to_attributes(item)
        for order in orders
        for item in (header_item(order), *(line_item(order, line) for line in order.lines), map_item(order))
    ]
    for start in range(0, len(items), BATCH):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH]]}
        while request:
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return sum(item_size(item) for item in items)


def measure(totals: tuple[int, ...], runs: int = RUNS) -> dict[str, Any]:
    from moto import mock_aws

    from local.resources import deploy
    from local.template import AppModel
    from oms import composition
    from oms.config import settings

    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        os.environ.setdefault(name, value)
    rows = []
    with mock_aws(), _index_partitions():
        model = AppModel.load()
        deployed = deploy(model, credentials_file="local/credentials.json")
        env: dict[str, str] = {}
        for function_id in model.functions:
            env |= deployed.function_env(function_id)
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        composition.reset()
        try:
            planner = composition.patrol_planner()
            table = settings().orders_table
            dynamodb = composition.orders_repository()._dynamodb
            schema = TableSchema.from_description(dynamodb.describe_table(TableName=table)["Table"])
            counter = _QueryCounter(planner._index._dynamodb, schema)  # type: ignore[attr-defined]
            settled = datetime.now(UTC) - timedelta(days=1)
            seeded, stored = 0, 0
            for total in totals:
                began = time.perf_counter()
                stored += _seed(dynamodb, table, _orders(seeded, total - seeded, OPEN, settled))
                seed_s, seeded = time.perf_counter() - began, total
                counter.reset()
                first = planner.plan()
                queries, items, units = counter.calls["Query"], counter.items, counter.read_units
                assert first.orders == OPEN, f"the patrol found {first.orders} open orders, not {OPEN}"
                timings = []
                for _ in range(runs):
                    began = time.perf_counter()
                    planner.plan()
                    timings.append((time.perf_counter() - began) * 1000)
                rows.append(
                    {
                        "total_orders": total,
                        "open_orders": first.orders,
                        "chunks": first.chunks,
                        "queries": queries,
                        "index_entries_read": items,
                        "read_units": units,
                        "scan_read_units": read_units(stored),
                        "plan_ms_median_moto": statistics.median(timings),
                        "seed_s": seed_s,
                    }
                )
        finally:
            composition.reset()
            for name, previous in saved.items():
                if previous is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = previous
    return {"open_orders": OPEN, "runs": runs, "sizes": rows}


class PatrolScalingSuite:
    name = "patrol_scaling"

    def run(self, context: BenchContext) -> dict[str, Any]:
        return measure(QUICK_TOTALS if context.options.quick else TOTALS)

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]:
        table = Table(
            f"Patrol scaling: planning one reconciliation patrol, {result['open_orders']} orders open",
            [
                "orders in the table",
                "GSI1 Queries",
                "index entries read",
                "read units (GSI1)",
                "a full Scan instead (read units)",
                f"plan, moto in-process (ms, median of {result['runs']})",
            ],
        )
        for row in result["sizes"]:
            table.rows.append(
                [
                    f"{row['total_orders']:,}",
                    str(row["queries"]),
                    str(row["index_entries_read"]),
                    fmt(row["read_units"], 1),
                    fmt(row["scan_read_units"], 0),
                    fmt(row["plan_ms_median_moto"], 0),
                ]
            )
        table.notes += [
            "One Query per platform and open status on GSI1 (most of them empty, each still half a unit); "
            "entries priced as GSI1 projects them, eventually consistent. Orders are Douyin orders: header, "
            "one line, the number map item.",
            "Plan time includes the patrol record and the chunk messages to SQS; it is moto's time, not "
            "DynamoDB's.",
        ]
        return [table]
