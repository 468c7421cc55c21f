"""Settlement statements: CPU per entry to build, render, validate and write the companions.

A month's statement of one channel is built from its entries, rendered as camt.053, validated
against the official XSD (xmlschema, pure Python: the dominant cost) and written as CSV and XLSX.
This sizes the settlement function's timeout and tells when the on-demand API (30 s at the HTTP
API) is no longer enough for a month (docs/settlements.md).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.harness import BenchContext, Table, fmt
from oms.adapters.statement_files import camt_schema, render_csv, render_xlsx, validate
from oms.domain.camt053 import CamtVersion, render
from oms.domain.model import Platform
from oms.domain.settlement import (
    Direction,
    EntryKind,
    EntryStatus,
    Month,
    SettlementEntry,
    StatementAccount,
    build_statements,
)

MONTH = Month(2026, 10)
STEPS = ("build", "render", "validate", "csv", "xlsx")


def entries(count: int) -> list[SettlementEntry]:
    """``count`` booked entries in October: a sale and its two fees per order, as a channel has them."""
    made = []
    recorded = datetime(2026, 11, 1, tzinfo=UTC)
    for index in range(count):
        kind, direction, amount = (
            (EntryKind.SALE, Direction.CRDT, Decimal("128.00"))
            if index % 3 == 0
            else (
                EntryKind.COMMISSION,
                Direction.DBIT,
                Decimal("6.40") if index % 3 == 1 else Decimal("0.77"),
            )
        )
        on = date(2026, 10, 1) + timedelta(days=index % 31)
        base = f"ORDER#o_{index // 3:08d}#{kind}#{index % 3}"
        made.append(
            SettlementEntry(
                entry_id=f"{base}#BOOK",
                base_id=base,
                channel=Platform.DOUYIN,
                shop_id="100001",
                currency="CNY",
                kind=kind,
                component=str(index % 3),
                direction=direction,
                amount=amount,
                status=EntryStatus.BOOK,
                booking_date=on,
                value_date=on,
                order_id=f"o_{index // 3:08d}",
                platform_order_id=str(6_900_000_000_000_000_000 + index // 3),
                reference=f"PAY{index // 3:016d}",
                label=f"Sale {index // 3}",
                recorded_by="bench",
                recorded_at=recorded,
            )
        )
    return made


def measure(count: int, version: CamtVersion) -> dict[str, float]:
    """Thread CPU seconds of each step for one statement of ``count`` entries."""
    source = entries(count)
    seconds: dict[str, float] = {}

    def timed(step: str, work: Any) -> Any:
        started = time.thread_time()
        result = work()
        seconds[step] = time.thread_time() - started
        return result

    statement = timed(
        "build",
        lambda: next(
            s
            for s in build_statements(MONTH, Platform.DOUYIN, source, account=StatementAccount("100001"))
            if s.status is EntryStatus.BOOK
        ),
    )
    document = timed("render", lambda: render(statement, version))
    timed("validate", lambda: validate(document, version))
    timed("csv", lambda: render_csv(statement))
    timed("xlsx", lambda: render_xlsx(statement))
    seconds["bytes"] = len(document)
    return seconds


class SettlementSuite:
    name = "settlement"

    def run(self, context: BenchContext) -> dict[str, Any]:
        sizes = (300,) if context.options.quick else (1_000, 5_000)
        started = time.thread_time()
        camt_schema(CamtVersion.V08)
        schema_load = time.thread_time() - started
        return {
            "schema_load_s": schema_load,
            "statements": {str(size): measure(size, CamtVersion.V08) for size in sizes},
        }

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]:
        table = Table(
            "Settlement statement (camt.053.001.08): CPU ms per entry, by step",
            ["entries", *STEPS, "total ms / entry", "XML bytes / entry"],
        )
        for size, figures in result["statements"].items():
            count = int(size)
            total = sum(figures[step] for step in STEPS)
            table.rows.append(
                [
                    size,
                    *(fmt(figures[step] * 1000 / count, 3) for step in STEPS),
                    fmt(total * 1000 / count, 2),
                    fmt(figures["bytes"] / count, 0),
                ]
            )
        table.notes.append(
            f"Thread CPU time on this machine; loading the XSD once per container: "
            f"{fmt(result['schema_load_s'] * 1000, 0)} ms. Validation (xmlschema, pure Python) dominates."
        )
        return [table]
