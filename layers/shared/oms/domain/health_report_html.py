"""The monthly fulfilment health report as one self-contained HTML page (pure).

No script, no font, no stylesheet from anywhere: the Sankey is inline SVG drawn here, so the page
renders offline, in a mail client's preview, or years later from the archive. The numbers the page
shows are also embedded as JSON (``<script type="application/json" id="report-data">``, data, not
code) so that a program can read the report back without scraping the tables.
"""

from __future__ import annotations

import json
from html import escape

from oms.domain.fulfilment_health import (
    HIGHLIGHT_SHARE,
    STAGE_LABELS,
    HealthReport,
    LinkBand,
    NodeBox,
    SankeyLayout,
    wait_name,
)

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", sans-serif; margin: 24px;
       color: #1f2933; }
h1 { font-size: 22px; margin-bottom: 4px; }
.muted { color: #616e7c; }
.kpi { display: inline-block; margin: 12px 24px 12px 0; }
.kpi b { display: block; font-size: 26px; }
table { border-collapse: collapse; margin: 12px 0 24px; }
th, td { border-bottom: 1px solid #d9e2ec; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.highlighted td { background: #ffe3e3; font-weight: 600; }
svg .node.stage { fill: #2f6fde; }
svg .node.stage.highlighted { fill: #d64545; }
svg .node.ended { fill: #9aa5b1; }
svg .link.onward { fill: #7ba5f0; fill-opacity: 0.55; }
svg .link.onward.highlighted { fill: #f29b9b; fill-opacity: 0.8; }
svg .link.ended { fill: #cbd2d9; fill-opacity: 0.6; }
svg text { font-size: 12px; fill: #1f2933; }
"""


def render_html(report: HealthReport, *, title: str = "Fulfilment health") -> str:
    rate = "n/a" if report.on_time_rate is None else f"{report.on_time_rate:.1%}"
    highlighted = [wait_name(index) for index, flow in enumerate(report.stages) if flow.highlighted]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)} {escape(report.period)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)} · {escape(report.period)}</h1>",
        f'<p class="muted">Orders whose ship-by deadline falls between {escape(report.start.isoformat())}'
        f" and {escape(report.end.isoformat())}; as of {escape(report.as_of.isoformat())}.</p>",
        f'<div class="kpi">orders<b id="orders">{report.orders}</b></div>',
        f'<div class="kpi">promised (deadline passed)<b id="promised">{report.promised}</b></div>',
        f'<div class="kpi">shipped on time<b id="on-time-rate">{rate}</b></div>',
        "<h2>Where the time goes</h2>",
        (
            '<p class="muted">Band width: orders (what enters a stage leaves it or stops there). Red:'
            f" the wait toward that stage takes over {HIGHLIGHT_SHARE:.0%} of all the time.</p>"
        ),
        _svg(report.layout) if report.layout.nodes else '<p id="no-orders">No orders in this period.</p>',
        (
            '<p id="highlighted">Stages over '
            f"{HIGHLIGHT_SHARE:.0%} of the time: {escape(', '.join(highlighted) or 'none')}</p>"
        ),
        _stage_table(report),
        _warehouse_table(report),
        '<script type="application/json" id="report-data">',
        json.dumps(report_data(report), ensure_ascii=False).replace("</", "<\\/"),
        "</script>",
        "</body></html>",
    ]
    return "\n".join(parts)


def report_data(report: HealthReport) -> dict[str, object]:
    return {
        "period": report.period,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "as_of": report.as_of.isoformat(),
        "orders": report.orders,
        "promised": report.promised,
        "on_time": report.on_time,
        "on_time_rate": report.on_time_rate,
        "highlighted": report.highlighted,
        "stages": [
            {
                "stage": flow.stage,
                "reached": flow.reached,
                "onward": flow.onward,
                "ended": flow.ended,
                "waiting": flow.waiting,
                "wait_hours": flow.wait_hours,
                "share": flow.share,
                "highlighted": flow.highlighted,
            }
            for flow in report.stages
        ],
        "warehouses": [
            {
                "warehouse": row.warehouse,
                "orders": row.orders,
                "promised": row.promised,
                "on_time": row.on_time,
                "late": row.late,
                "overdue": row.overdue,
                "on_time_rate": row.on_time_rate,
                "mean_hours_to_pickup": row.mean_hours_to_pickup,
            }
            for row in report.warehouses
        ],
    }


def _svg(layout: SankeyLayout) -> str:
    body = [_link(link) for link in layout.links] + [_node(node) for node in layout.nodes]
    return (
        f'<svg id="sankey" xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}"'
        f' height="{layout.height:.0f}" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}"'
        ' role="img" aria-label="Sankey diagram of orders through the fulfilment stages">'
        + "".join(body)
        + "</svg>"
    )


def _node(node: NodeBox) -> str:
    classes = f"node {node.kind}" + (" highlighted" if node.highlighted else "")
    label_x = node.x + node.width + 4
    return (
        f'<g><rect class="{classes}" data-key="{escape(node.key)}" data-value="{node.value}"'
        f' x="{node.x:.2f}" y="{node.y:.2f}" width="{node.width:.2f}" height="{max(node.height, 1.0):.2f}">'
        f"<title>{escape(node.label)}: {node.value}</title></rect>"
        f'<text x="{label_x:.2f}" y="{node.y + 12:.2f}">{escape(node.label)} ({node.value})</text></g>'
    )


def _link(link: LinkBand) -> str:
    middle = (link.x0 + link.x1) / 2
    top0, top1 = link.source_y, link.target_y
    bottom0, bottom1 = top0 + link.width, top1 + link.width
    path = (
        f"M{link.x0:.2f},{top0:.2f} C{middle:.2f},{top0:.2f} {middle:.2f},{top1:.2f} {link.x1:.2f},{top1:.2f}"
        f" L{link.x1:.2f},{bottom1:.2f} C{middle:.2f},{bottom1:.2f} {middle:.2f},{bottom0:.2f}"
        f" {link.x0:.2f},{bottom0:.2f} Z"
    )
    classes = f"link {link.kind}" + (" highlighted" if link.highlighted else "")
    return (
        f'<path class="{classes}" data-source="{escape(link.source)}" data-target="{escape(link.target)}"'
        f' data-value="{link.value}" d="{path}"><title>{escape(link.label)}</title></path>'
    )


def _stage_table(report: HealthReport) -> str:
    rows = []
    for index, flow in enumerate(report.stages):
        wait = wait_name(index) if index else "—"
        rows.append(
            f'<tr class="{"highlighted" if flow.highlighted else ""}" data-stage="{flow.stage}">'
            f"<td>{escape(STAGE_LABELS[flow.stage])}</td><td>{flow.reached}</td><td>{flow.ended}</td>"
            f"<td>{escape(wait)}</td><td>{flow.wait_hours:.1f}</td><td>{flow.share:.1%}</td>"
            f"<td>{flow.mean_wait_hours:.1f}</td><td>{flow.waiting}</td></tr>"
        )
    return (
        '<h2>Stages</h2><table id="stages"><thead><tr><th>stage</th><th>orders reached</th>'
        "<th>stopped here</th><th>wait</th><th>hours waited</th><th>share of time</th>"
        "<th>mean hours</th><th>still waiting</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _warehouse_table(report: HealthReport) -> str:
    rows = []
    for row in report.warehouses:
        rate = "n/a" if row.on_time_rate is None else f"{row.on_time_rate:.1%}"
        pickup = "n/a" if row.mean_hours_to_pickup is None else f"{row.mean_hours_to_pickup:.1f}"
        rows.append(
            f'<tr data-warehouse="{escape(row.warehouse)}"><td>{escape(row.warehouse)}</td>'
            f"<td>{row.orders}</td><td>{row.promised}</td><td>{row.on_time}</td><td>{row.late}</td>"
            f"<td>{row.overdue}</td><td>{rate}</td><td>{pickup}</td></tr>"
        )
    return (
        '<h2>Warehouses</h2><table id="warehouses"><thead><tr><th>warehouse</th><th>orders</th>'
        "<th>promised</th><th>on time</th><th>late</th><th>overdue</th><th>on-time rate</th>"
        "<th>mean hours paid → picked up</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
