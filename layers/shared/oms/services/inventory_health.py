"""The monthly inventory health report: the 10 riskiest SKUs as HTML and CSV on S3 (docs/inventory-health.md).

Facts come from the Inventory table (levels, the period's ledger entries, holds, oversell
incidents) and the poller's difference files; :mod:`oms.domain.inventory_health` scores and ranks
them. The files go to ``inventory/health/<YYYY>-<MM>/report.html|.csv`` in the ReportsBucket (a
rerun replaces them) and the answer carries presigned links (15 minutes).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oms.domain.errors import BadRequestError
from oms.domain.inventory_health import (
    TOP,
    HealthWeights,
    RankedSku,
    SkuFacts,
    month_facts,
    rank,
)
from oms.domain.settlement import STATEMENT_TZ, Month
from oms.services.ports import DifferenceSource, InventoryHealthSource, ReportStore

HTML_TYPE = "text/html; charset=utf-8"
COLUMNS = (
    "rank",
    "sku",
    "score",
    "stockout_hours",
    "oversold_lines",
    "sync_differences",
    "sync_units",
    "cover_days",
    "units_sold",
    "available",
    "expired_holds",
    "overdue_holds",
    "reasons",
    "suggestions",
)


def report_key(month: Month, kind: str) -> str:
    return f"inventory/health/{month.year:04d}-{month.month:02d}/report.{kind}"


@dataclass(frozen=True, slots=True)
class InventoryHealthReports:
    """Builds and publishes the month's report.

    Parameters
    ----------
    inventory:
        The Inventory table's view of a period.
    differences:
        The poller's difference files.
    reports:
        Where the files go (presigned links back).
    weights:
        The score's weights (``oms/data/inventory_health_weights.json`` by default).
    clock:
        The current time: a month still running is reported up to now.
    """

    inventory: InventoryHealthSource
    differences: DifferenceSource
    reports: ReportStore
    weights: HealthWeights
    clock: Callable[[], datetime]

    def produce(self, month: Month, *, as_of: datetime | None = None) -> dict[str, Any]:
        """The report of ``month`` up to its end, or up to ``as_of`` (default: now) while it runs."""
        now = as_of or self.clock()
        start, month_end = month.starts_at, month.next().starts_at
        label = f"{month.year:04d}-{month.month:02d}"
        if start >= now:
            raise BadRequestError("the month has not started yet", month=label)
        end = min(month_end, now)
        table = self.inventory.month(start, end, now)
        rows, unreadable = self.differences.rows(start, end)
        ranked = rank(month_facts(table, rows, start, end), self.weights, TOP)
        html_body = render_html(label, start, end, ranked, unreadable).encode("utf-8")
        links = {
            "html": self.reports.publish(report_key(month, "html"), html_body, HTML_TYPE),
            "csv": self.reports.publish_csv(report_key(month, "csv"), COLUMNS, [_csv_row(i) for i in ranked]),
        }
        return {
            "month": label,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "complete": end == month_end,
            "keys": {kind: report_key(month, kind) for kind in links},
            "links": links,
            "skus": [_summary(item) for item in ranked],
            "unreadable_difference_files": unreadable,
        }


def _cover(facts: SkuFacts) -> str:
    cover = facts.cover_days
    return "" if cover is None else f"{cover:.1f}"


def _csv_row(item: RankedSku) -> list[str]:
    facts = item.facts
    return [
        str(item.rank),
        facts.sku,
        f"{item.score:.1f}",
        f"{facts.stockout_seconds / 3600:.2f}",
        str(facts.oversells),
        str(facts.sync_differences),
        str(facts.sync_units),
        _cover(facts),
        str(facts.deducted),
        str(facts.available),
        str(facts.expired_holds),
        str(facts.overdue_holds),
        " | ".join(f.reason for f in item.findings),
        " | ".join(f.suggestion for f in item.findings),
    ]


def _summary(item: RankedSku) -> dict[str, Any]:
    return {
        "rank": item.rank,
        "sku": item.facts.sku,
        "score": round(item.score, 1),
        "reasons": [f.kind for f in item.findings],
    }


_STYLE = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.4em .6em;vertical-align:top;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;white-space:nowrap}
.kind{display:inline-block;font-size:.8em;padding:0 .4em;border-radius:3px;background:#fde2e2;color:#8a1c1c}
.note{color:#666;font-size:.9em}ul{margin:0;padding-left:1.2em}
"""


def render_html(
    label: str, start: datetime, end: datetime, ranked: Sequence[RankedSku], unreadable: Sequence[str]
) -> str:
    """A self-contained page (inline CSS, no scripts, no external links); every value escaped."""
    e = html.escape
    rows = []
    for item in ranked:
        facts = item.facts
        reasons = "".join(
            f'<li><span class="kind">{e(f.kind)}</span> {e(f.reason)}<br>→ {e(f.suggestion)}</li>'
            for f in item.findings
        )
        rows.append(
            "<tr>"
            f'<td class="n">{item.rank}</td><td>{e(facts.sku)}</td><td class="n">{item.score:.1f}</td>'
            f'<td class="n">{facts.stockout_seconds / 3600:.1f}</td><td class="n">{facts.oversells}</td>'
            f'<td class="n">{facts.sync_differences}</td><td class="n">{e(_cover(facts) or "–")}</td>'
            f'<td class="n">{facts.expired_holds} / {facts.overdue_holds}</td><td><ul>{reasons}</ul></td>'
            "</tr>"
        )
    body = (
        "".join(rows)
        if rows
        else '<tr><td colspan="9">No SKU shows a risk this month: no stockout, oversell, sync difference, '
        "short cover or reservation leak.</td></tr>"
    )
    skipped = (
        '<p class="note">Difference files that could not be read (not counted): '
        + ", ".join(e(key) for key in unreadable)
        + "</p>"
        if unreadable
        else ""
    )
    local = STATEMENT_TZ
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Inventory health {e(label)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Inventory health — {e(label)}: the {TOP} riskiest SKUs</h1>"
        f'<p class="note">{e(start.astimezone(local).strftime("%Y-%m-%d %H:%M"))} to '
        f"{e(end.astimezone(local).strftime('%Y-%m-%d %H:%M'))} (China time). Risk points add up "
        "stockout hours, oversold order lines, channel stock differences, reservation leaks and "
        "short cover at this month's sales velocity.</p>"
        "<table><thead><tr><th>#</th><th>SKU</th><th>Risk</th><th>Hours out of stock</th>"
        "<th>Oversold lines</th><th>Sync differences</th><th>Cover (days)</th>"
        "<th>Holds expired / overdue</th><th>Why, and what to do</th></tr></thead>"
        f"<tbody>{body}</tbody></table>{skipped}</body></html>"
    )
