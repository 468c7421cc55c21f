"""The README's benchmark summary: the headline figures of bench/results.json, one small table.

``python -m bench --write-docs`` (or ``--render --write-docs``) puts it between the README's
``bench:summary`` markers; the full tables go to docs/benchmarks.md. Nothing here is measured: it
reads the results file, so the README always quotes the last saved run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

README_PATH = Path(__file__).resolve().parents[1] / "README.md"
README_START = "<!-- bench:summary:start -->"
README_END = "<!-- bench:summary:end -->"
PROFILES = ("trickle", "burst")


def _profiles_row(
    label: str, results: Mapping[str, Any], suite: str, figure: Callable[[Mapping[str, Any]], str]
) -> str | None:
    section = results.get(suite)
    if not section:
        return None
    profiles = section.get("profiles", section)
    return f"| {label} | " + " | ".join(figure(profiles[name]) for name in PROFILES) + " |"


def _cold_start_rows(results: Mapping[str, Any]) -> list[str]:
    handlers = (results.get("cold_start") or {}).get("handlers", {})
    return [
        f"| cold start `{name}`: wall / CPU ms (× floor) | "
        f"{figures['handler_s'] * 1000:,.0f} / {figures['handler_cpu_s'] * 1000:,.0f} "
        f"({figures['ratio']:.2f} / {figures['ratio_cpu']:.2f}) | |"
        for name, figures in handlers.items()
    ]


def _patrol_row(results: Mapping[str, Any]) -> list[str]:
    sizes = (results.get("patrol_scaling") or {}).get("sizes", [])
    if not sizes:
        return []
    units = ", ".join(f"{size['total_orders']:,}: {size['read_units']:.0f}" for size in sizes)
    open_orders = sizes[0]["open_orders"]
    return [f"| patrol read units by orders in the table ({open_orders} open) | {units} | |"]


def _hot_sku_row(results: Mapping[str, Any]) -> list[str]:
    configurations = (results.get("hot_sku") or {}).get("configurations", {})
    if not configurations:
        return []
    rates = ", ".join(
        f"{name}: {figures['throughput_moto']['reservations_per_s']:.0f}/s"
        for name, figures in configurations.items()
    )
    oversell = sum(figures["units"]["oversell"] for figures in configurations.values())
    return [f"| hot SKU holds per second on the local moto server (oversell {oversell}) | {rates} | |"]


def summary(results: Mapping[str, Any]) -> str:
    """The README table from a results file's contents."""
    meta = results.get("meta", {})
    rows = [
        "| figure | trickle (≈1,000 orders/day) | burst (flash sale) |",
        "|---|---:|---:|",
        *_cold_start_rows(results),
        _profiles_row(
            "AWS calls per webhook (intake)",
            results,
            "aws_calls",
            lambda p: f"{p['intake']['aws_calls_per_webhook']:.3f}",
        ),
        _profiles_row(
            "DynamoDB round trips per event (sanitizer)",
            results,
            "aws_calls",
            lambda p: f"{p['sanitizer']['dynamodb_round_trips_per_message']:.2f}",
        ),
        _profiles_row(
            "CPU ms per webhook / per event (intake / sanitizer, one core)",
            results,
            "cpu",
            lambda p: (
                f"{p['webhook_intake']['ms_per_event']:.2f} / {p['payload_sanitizer']['ms_per_event']:.2f}"
            ),
        ),
        _profiles_row(
            "AWS cost per 1,000 orders (us-east-1, list prices)",
            results,
            "cost",
            lambda p: f"${p['per_1000_orders_usd']:.3f} = ¥{p['per_1000_orders_cny']:.2f}",
        ),
        _profiles_row(
            "merchant's month, vs a ¥800–900 SaaS ERP",
            results,
            "cost",
            lambda p: (
                f"¥{p['monthly_cny']:.0f} "
                f"({p['share_of_saas'][0] * 100:.0f}–{p['share_of_saas'][1] * 100:.0f} %)"
            ),
        ),
        *_hot_sku_row(results),
        *_patrol_row(results),
    ]
    load = meta.get("load_average_before") or meta.get("load_average")
    note = (
        f"Run of {str(meta.get('run_at', '?'))[:10]} on {meta.get('cpus', '?')} cores"
        + (f" (load average {load[0]:.1f} at the start)" if load else "")
        + "; suites re-run alone are dated in `bench/results.json`. Method, every table and what the "
        "figures say: [docs/benchmarks.md](docs/benchmarks.md)."
    )
    return "\n".join(row for row in rows if row is not None) + "\n\n" + note


def update_readme(text: str, path: Path = README_PATH) -> bool:
    """Put ``text`` between the README's summary markers; False if they are missing."""
    document = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(document):
        return False
    path.write_text(
        pattern.sub(lambda _: f"{README_START}\n{text}\n{README_END}", document), encoding="utf-8"
    )
    return True
