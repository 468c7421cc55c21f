"""The README's benchmark summary is rendered from a results file and replaces only its markers."""

from __future__ import annotations

import json
from pathlib import Path

from bench.readme import README_END, README_START, summary, update_readme

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results.json"


def test_the_summary_quotes_the_saved_results() -> None:
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    text = summary(results)
    intake = results["cold_start"]["handlers"]["webhook_intake"]
    assert f"({intake['ratio']:.2f} / {intake['ratio_cpu']:.2f})" in text
    trickle = results["cost"]["profiles"]["trickle"]
    assert f"${trickle['per_1000_orders_usd']:.3f}" in text
    assert text.count("\n|") >= 6  # header, rule and at least one row per suite


def test_a_results_file_without_some_suites_leaves_their_rows_out() -> None:
    text = summary({"meta": {"run_at": "2026-11-25T00:00:00+00:00", "cpus": 2, "load_average": [3.0, 2, 1]}})
    assert "cold start" not in text
    assert "load average 3.0" in text


def test_only_the_text_between_the_markers_changes(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{README_START}\nold\n{README_END}\n\nrest\n", encoding="utf-8")
    assert update_readme("new table", readme)
    expected = f"# Title\n\n{README_START}\nnew table\n{README_END}\n\nrest\n"
    assert readme.read_text(encoding="utf-8") == expected
    unmarked = tmp_path / "OTHER.md"
    unmarked.write_text("no markers\n", encoding="utf-8")
    assert not update_readme("x", unmarked)
    assert unmarked.read_text(encoding="utf-8") == "no markers\n"
