"""The customer timeline's cost: a customer with 100 orders, read as ``GET /customers/timeline`` reads it.

The customer is two merged customers (60 + 40 orders, each order placed then shipped: 200 timeline
entries over 80 days), so the page merges two partitions. Against moto in-process (the template's
tables), counting every DynamoDB request the service makes by operation, the items those requests
return and the read units they would cost on DynamoDB (eventually consistent Query pages, strongly
consistent GetItem: ``bench.dynamodb_units``). The wall time is moto's plus the service's CPU, not
DynamoDB latency: it is reported for comparison between runs only.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.dynamodb_units import item_size, read_units
from bench.harness import BenchContext, Table, fmt

ORDERS = (60, 40)
PAGE = 50
RUNS = 15


class _Counter:
    """Counts DynamoDB requests, returned items and read units, from botocore's events."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        self.read_units = 0.0
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def reset(self) -> None:
        self.calls.clear()
        self.items = 0
        self.read_units = 0.0

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "Query":
            items = parsed.get("Items", [])
            self.items += len(items)
            self.read_units += read_units(sum(item_size(item) for item in items))
        elif model.name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0
            self.read_units += read_units(item_size(parsed.get("Item")), consistent=True)


def _seed(now: datetime) -> tuple[str, list[str]]:
    """Store 100 orders of one (merged) customer through the consumer service; the ref to ask with."""
    from oms import composition
    from oms.domain.model import BuyerRef, OrderEvent, OrderLine, Platform
    from oms.domain.order_events import OrderChanged
    from oms.domain.state_machine import decide
    from oms.domain.status import OrderStatus

    identity, desk = composition.customer_identity(), composition.customer_desk()
    repository = composition.orders_repository()
    keys = []
    for account, count in enumerate(ORDERS):
        for index in range(count):
            placed = now - timedelta(days=80) + timedelta(hours=19 * index + account)
            for step, status in enumerate((OrderStatus.PAID, OrderStatus.SHIPPED)):
                event = OrderEvent(
                    event_id=f"bench-{account}-{index}-{step}",
                    platform=Platform.DOUYIN,
                    shop_id="100001",
                    platform_order_id=f"69{account}{index:016d}",
                    event_type="bench",
                    event_time=placed + timedelta(hours=step * 20),
                    status=status,
                    platform_status=str(status),
                    total_amount=Decimal("128.00"),
                    placed_at=placed,
                    lines=(OrderLine(line_id="1", sku_id="s-1", out_sku_id="TEA-1", quantity=1),),
                    buyer=BuyerRef(open_id=f"bench-open-{account}"),
                    tags={"room_id": "7301"},
                )
                decision = decide(
                    repository.get(event.order_id), event, received_at=event.event_time, now=now
                )
                assert decision.after is not None
                assert repository.save(decision)
                keys.append(
                    identity.consume(OrderChanged(order=decision.after, entry=decision.entry)).customer_key
                )
    first, second = dict.fromkeys(keys)
    desk.merge({"customer": second, "into": first, "note": "bench"}, actor="bench")
    return "690" + f"{0:016d}", [first, second]


def measure(runs: int = RUNS) -> dict[str, Any]:
    from moto import mock_aws

    from local.resources import deploy
    from local.template import AppModel
    from oms import composition

    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        os.environ.setdefault(name, value)
    with mock_aws():
        model = AppModel.load()
        deployed = deploy(model, credentials_file="local/credentials.json")
        env: dict[str, str] = {}
        for function_id in model.functions:
            env |= deployed.function_env(function_id)
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        composition.reset()
        try:
            ref, _ = _seed(datetime.now(UTC))
            desk = composition.customer_desk()
            counter = _Counter(composition.customer_store()._dynamodb)  # the one shared client

            def first_page() -> Any:
                return desk.timeline(ref, limit=PAGE)

            counter.reset()
            page = first_page()
            first = {
                "calls": dict(counter.calls),
                "items_read": counter.items,
                "read_units": counter.read_units,
                "entries": len(page.entries),
            }
            counter.reset()
            pages, entries = 0, 0
            cursor: str | None = None
            while True:
                walked = desk.timeline(ref, limit=PAGE, cursor=cursor)
                pages, entries, cursor = pages + 1, entries + len(walked.entries), walked.next_cursor
                if cursor is None:
                    break
            walk = {
                "calls": dict(counter.calls),
                "items_read": counter.items,
                "read_units": counter.read_units,
                "pages": pages,
                "entries": entries,
            }
            timings = []
            for _ in range(runs):
                began = time.perf_counter()
                first_page()
                timings.append((time.perf_counter() - began) * 1000)
        finally:
            composition.reset()
            for name, previous in saved.items():
                if previous is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = previous
    return {
        "orders": sum(ORDERS),
        "merged_customers": len(ORDERS),
        "page_size": PAGE,
        "first_page": first,
        "all_pages": walk,
        "first_page_ms_median_moto": statistics.median(timings),
    }


class CustomerTimelineSuite:
    name = "customer_timeline"

    def run(self, context: BenchContext) -> dict[str, Any]:
        return measure()

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]:
        rows: list[Sequence[str]] = []
        for label, key in (("first page", "first_page"), ("every page (90 days)", "all_pages")):
            figures = result[key]
            calls = ", ".join(f"{name} {count}" for name, count in sorted(figures["calls"].items()))
            rows.append([label, calls, str(figures["items_read"]), fmt(figures["read_units"], 1)])
        return [
            Table(
                title=f"Customer timeline: {result['orders']} orders, "
                f"{result['merged_customers']} merged customers, pages of {result['page_size']}",
                header=["read", "DynamoDB requests", "items read", "read units"],
                rows=rows,
                notes=[
                    "One Query per merged customer per page (Limit = page + 2), plus GetItems to resolve the "
                    "reference and the merged customers' profiles; no Scan.",
                    "First page against moto in-process: "
                    f"{fmt(result['first_page_ms_median_moto'], 1)} ms median "
                    "(moto and service CPU, not DynamoDB latency).",
                ],
            )
        ]
