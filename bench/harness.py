"""What every benchmark module plugs into: options, shared results, tables, results.json, the docs.

A benchmark is a :class:`Suite`: it ``run``s (reading earlier suites' results from the
:class:`BenchContext` when it builds on them) and renders its result as :class:`Table` objects.
``python -m bench`` runs :data:`bench.suites.SUITES` in order; a new benchmark (hot SKU, patrol
scaling, timeline query...) is one more module with a suite appended to that list.
"""

from __future__ import annotations

import json
import platform
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
RESULTS_PATH = ROOT / "bench" / "results.json"
#: Where ``--quick`` writes (out/ is not versioned).
QUICK_RESULTS_PATH = ROOT / "out" / "bench-quick.json"
DOCS_PATH = ROOT / "docs" / "benchmarks.md"
DOCS_START = "<!-- bench:results:start -->"
DOCS_END = "<!-- bench:results:end -->"


@dataclass(frozen=True)
class Options:
    """How much to measure. ``quick`` is for trying the harness, not for quoting."""

    orders: int = 200
    replay_runs: int = 5
    cold_start_samples: int = 11
    seed: int = 20261124
    parallel: bool = True
    quick: bool = False

    @classmethod
    def quick_run(cls) -> Options:
        return cls(orders=30, replay_runs=2, cold_start_samples=3, quick=True)


@dataclass
class Table:
    """A titled table: a header row and rows of already formatted cells, plus notes under it."""

    title: str
    header: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |"]
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.header))) + "|")
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class BenchContext:
    options: Options
    results: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a value several suites share (e.g. the recorded runs) once."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


class Suite(Protocol):
    name: str

    def run(self, context: BenchContext) -> dict[str, Any]: ...

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]: ...


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt(value: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals and thousands separators."""
    return f"{value:,.{digits}f}"


def usd(value: float) -> str:
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.5f}"
    return f"${value:,.4f}"


def meta(options: Options) -> dict[str, Any]:
    return {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": _cpu_count(),
        "options": options.__dict__,
        # Other work on the machine stretches wall times (not CPU times): the load says how much.
        "load_average": load_average(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages (empty where the platform has none)."""
    import os

    return [round(value, 2) for value in os.getloadavg()] if hasattr(os, "getloadavg") else []


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def write_results(results: dict[str, Any], path: Path = RESULTS_PATH) -> None:
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


def render(tables: Sequence[Table]) -> str:
    return "\n\n".join(table.markdown() for table in tables)


def update_docs(text: str, path: Path = DOCS_PATH) -> bool:
    """Put ``text`` between the results markers of docs/benchmarks.md; False if they are missing."""
    if not path.exists():
        return False
    document = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(DOCS_START) + r".*?" + re.escape(DOCS_END), re.DOTALL)
    if not pattern.search(document):
        return False
    replaced = pattern.sub(lambda _: f"{DOCS_START}\n{text}\n{DOCS_END}", document)
    path.write_text(replaced, encoding="utf-8")
    return True
