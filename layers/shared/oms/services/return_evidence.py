"""The evidence report as one self-contained HTML page (no scripts, no external resources).

Every value from the chain is HTML-escaped: operator names, photo references and reasons come from
devices and people, and the page is opened by staff and arbitrators in a browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;width:100%;margin:1rem 0}"
    "th,td{border:1px solid #ccc;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}"
    "th{background:#f3f3f3}.ok{color:#1a7f37}.bad{color:#b42318;font-weight:bold}"
    "code{font-size:.8rem;word-break:break-all}"
)


def _text(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def render_html(evidence: Mapping[str, Any]) -> str:
    summary = evidence["return"]
    order = evidence["order"]
    verification = evidence["verification"]
    anchor = verification["anchor"]
    broken = verification["broken"]
    verdict = (
        '<p class="ok">Chain intact: every event recomputes to the recorded head.</p>'
        if verification["intact"]
        else f'<p class="bad">Chain broken at event {_text(broken["seq"])}: {_text(broken["problem"])}'
        f" ({_text(broken['detail'])}).</p>"
    )
    anchor_class = "bad" if anchor["status"] == "mismatch" else "ok"
    anchor_line = (
        f'<p class="{anchor_class}">Anchor: {_text(anchor["status"])}'
        + (
            f" - digest <code>{_text(anchor.get('digest_key'))}</code> of {_text(anchor.get('day'))},"
            f" root <code>{_text(anchor.get('root'))}</code>, event {_text(anchor.get('seq'))}"
            f" hash <code>{_text(anchor.get('hash'))}</code>"
            if "digest_key" in anchor
            else ""
        )
        + "</p>"
    )
    rows = []
    for event in evidence["timeline"]:
        data = event["data"]
        gps = data.get("gps") or {}
        rows.append(
            "<tr>"
            f"<td>{_text(event['seq'])}</td><td>{_text(event['kind'])}</td><td>{_text(event['recorded_at'])}</td>"
            f"<td>{_text(data.get('device_time'))}</td>"
            f"<td>{_text(data.get('operator_id'))} {_text(data.get('operator_name'))}</td>"
            f"<td>{_text(data.get('partner'))} {_text(data.get('device_id'))}</td>"
            f"<td><code>{_text(data.get('device_fingerprint'))}</code></td>"
            f"<td>{_text(gps.get('lat'))} {_text(gps.get('lon'))}</td>"
            f"<td>{_text(data.get('photo_ref'))}</td>"
            f"<td>{_text(', '.join(event.get('flags') or []))}</td>"
            f"<td><code>{_text(event['hash'])}</code></td>"
            "</tr>"
        )
    lines = "".join(
        f"<li>{_text(line['sku_id'])} (line {_text(line['line_id'])}) x {_text(line['quantity'])}</li>"
        for line in order["lines"]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Return {_text(summary['code'])} - evidence</title><style>{_STYLE}</style></head><body>"
        f"<h1>Return {_text(summary['code'])}</h1>"
        f"<p>Order {_text(order['platform_order_id'])} on {_text(order['platform'])}"
        f" (shop {_text(order['shop_id'])},"
        f" unified id {_text(order['order_id'])}); status {_text(summary['status'])};"
        f" opened {_text(summary['opened_at'])} by {_text(summary['source'])}.</p>"
        f"<ul>{lines}</ul>"
        f"<h2>Verification</h2>{verdict}{anchor_line}"
        f"<p>Chain algorithm: <code>{_text(evidence['chain_algorithm'])}</code>; head"
        f" {_text(summary['head']['seq'])} <code>{_text(summary['head']['hash'])}</code></p>"
        "<h2>Timeline</h2><table><thead><tr><th>#</th><th>Event</th><th>Recorded (server)</th>"
        "<th>Device time</th><th>Operator</th><th>Partner / device</th><th>Device fingerprint</th>"
        "<th>GPS</th><th>Photo</th><th>Flags</th><th>Hash</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<p>Generated {_text(evidence['generated_at'])}.</p></body></html>"
    )
