"""``python -m bench`` (``make bench``): run the benchmarks, write bench/results.json, print the tables.

Options: ``--quick`` (a small scenario and few samples, to try the harness), ``--only NAME``
(repeatable; suites a chosen one builds on still run), ``--orders N``, ``--runs N`` (CPU
replays), ``--samples N`` (cold-start processes), ``--serial`` (profiles one after the other
instead of in two processes), ``--write-docs`` (put the tables into docs/benchmarks.md and the
summary into README.md),
``--render`` (print the tables of the saved bench/results.json without measuring) and ``--output
PATH``. ``--only`` replaces those suites' sections of the results file and keeps the others'.
A ``--quick`` run writes out/bench-quick.json, never bench/results.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.harness import (
    QUICK_RESULTS_PATH,
    RESULTS_PATH,
    ROOT,
    BenchContext,
    Options,
    load_average,
    meta,
    render,
    update_docs,
    write_results,
)
from bench.readme import summary, update_readme
from bench.suites import SUITES

#: Suites whose results a later one reads: running the later one runs these first.
DEPENDS_ON = {"cost": ("cold_start", "aws_calls")}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scenario, few samples (not for quoting)")
    parser.add_argument("--only", action="append", choices=[suite.name for suite in SUITES])
    parser.add_argument("--orders", type=int)
    parser.add_argument("--runs", type=int, help="CPU replays per profile")
    parser.add_argument("--samples", type=int, help="fresh processes per cold-start figure")
    parser.add_argument("--serial", action="store_true", help="run the two profiles one after the other")
    parser.add_argument("--write-docs", action="store_true", help="update the tables in docs/benchmarks.md")
    parser.add_argument(
        "--render", action="store_true", help="print the tables of bench/results.json without measuring"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"results file (default {RESULTS_PATH.relative_to(ROOT)}; "
        f"{QUICK_RESULTS_PATH.relative_to(ROOT)} with --quick)",
    )
    return parser.parse_args(argv)


def render_saved(write_docs: bool) -> int:
    """Print (and optionally put into the docs) the tables of the last saved results."""
    results = json.loads(RESULTS_PATH.read_text(encoding="utf-8"))
    context = BenchContext(Options(**results["meta"]["options"]), results=results)
    tables = [
        table
        for suite in SUITES
        if suite.name in results
        for table in suite.tables(results[suite.name], context)
    ]
    text = render(tables)
    print(text)
    if write_docs and not (update_docs(text) and update_readme(summary(results))):
        print("[bench] docs/benchmarks.md or README.md has no results markers", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    options = Options.quick_run() if args.quick else Options()
    overrides = {
        "orders": args.orders,
        "replay_runs": args.runs,
        "cold_start_samples": args.samples,
        "parallel": False if args.serial else None,
    }
    options = dataclasses.replace(options, **{k: v for k, v in overrides.items() if v is not None})
    wanted = set(args.only or [suite.name for suite in SUITES])
    for name in list(wanted):
        wanted.update(DEPENDS_ON.get(name, ()))
    context = BenchContext(options)
    if args.render:
        return render_saved(args.write_docs)
    tables = []
    load_before = load_average()
    started = time.perf_counter()
    for suite in SUITES:
        if suite.name not in wanted:
            continue
        began = time.perf_counter()
        print(f"[bench] {suite.name} ...", file=sys.stderr, flush=True)
        context.results[suite.name] = suite.run(context)
        print(
            f"[bench] {suite.name} done in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True
        )
        tables += suite.tables(context.results[suite.name], context)
    results = {
        "meta": meta(options)
        | {"elapsed_s": time.perf_counter() - started, "load_average_before": load_before},
        **context.results,
    }
    # A quick run is for trying the harness: it never replaces the results the docs quote.
    output = args.output or (QUICK_RESULTS_PATH if options.quick else RESULTS_PATH)
    output.parent.mkdir(parents=True, exist_ok=True)
    if args.only and output.exists():
        # A run of some suites replaces their sections and keeps the others' (and the full run's meta).
        previous = json.loads(output.read_text(encoding="utf-8"))
        suite_runs = previous.get("meta", {}).get("suite_runs", {}) | dict.fromkeys(
            context.results, results["meta"]
        )
        results = previous | context.results | {"meta": previous.get("meta", {}) | {"suite_runs": suite_runs}}
    write_results(results, output)
    text = render(tables)
    print(text)
    print(f"\n[bench] wrote {output} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.write_docs:
        # The tables of this run go to the docs; the README summarises the whole results file.
        if not (update_docs(text) and update_readme(summary(results))):
            print("[bench] docs/benchmarks.md or README.md has no results markers", file=sys.stderr)
            return 1
        print("[bench] updated docs/benchmarks.md and the README summary", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
