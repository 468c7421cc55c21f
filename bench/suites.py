"""The benchmarks ``python -m bench`` runs, in order (items 1–4 of issue #11).

Each suite's ``run`` returns what goes into ``bench/results.json`` under its name; ``tables``
renders it. Items 2 and 3 share two recorded runs of the scenario (:func:`profiles`):

- ``trickle``: the merchant of the cost model, about 1,000 orders a day. FIFO event source
  mappings take no batching window, so a queue that receives a message every few seconds hands
  the sanitizer batches of one;
- ``burst``: a flash sale, the queue full: batches of ten.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench import cold_start
from bench.cost import Prices, cost_report
from bench.customer_timeline import CustomerTimelineSuite
from bench.harness import BenchContext, Options, Suite, Table, fmt, usd
from bench.hot_sku import HotSkuSuite
from bench.patrol_scaling import PatrolScalingSuite
from bench.pipeline import INTAKE, SANITIZER, TEMPLATE, profile_replay, record, replay
from bench.settlement import SettlementSuite
from bench.usage import summarize, usage_of
from bench.workload import build_workload
from local.template import AppModel

PROFILES = {"trickle": 1, "burst": 10}


#: Held while a profile's CPU is timed, so the two profiles never time their replays at once.
_REPLAY_LOCK: Any = None


def _hold_replay_lock(lock: Any) -> None:
    global _REPLAY_LOCK  # noqa: PLW0603 - set once per worker process, by the pool's initializer
    _REPLAY_LOCK = lock


def run_profile(name: str, batch_size: int, options: Options) -> dict[str, Any]:
    """Record the scenario against moto with one batch size, then replay it for CPU; summarise both.

    Recording and replay happen in the same process on purpose: the replay must run the very code
    that was recorded (a recording replayed against changed code diverges, and says so).
    """
    recording = record(build_workload(options.orders, seed=options.seed), batch_size=batch_size, profile=name)
    lock = _REPLAY_LOCK or contextlib.nullcontext()
    with lock:
        summary = summarize(recording, replay(recording, runs=options.replay_runs))
        summary["cpu"]["self_time_by_origin"] = profile_replay(recording)
    return summary


def profiles(context: BenchContext) -> dict[str, dict[str, Any]]:
    """Both profiles' summaries, computed once.

    The two recordings (moto-bound, untimed) run at once in two processes unless ``parallel`` is
    off; their CPU replays take turns, so the timed code does not share the machine with the
    benchmark's own other work.
    """

    def compute() -> dict[str, dict[str, Any]]:
        options = context.options
        if not options.parallel:
            return {name: run_profile(name, size, options) for name, size in PROFILES.items()}
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=len(PROFILES),
            mp_context=spawn,
            initializer=_hold_replay_lock,
            initargs=(spawn.Lock(),),
        ) as pool:
            futures = {name: pool.submit(run_profile, name, size, options) for name, size in PROFILES.items()}
            return {name: future.result() for name, future in futures.items()}

    result: dict[str, dict[str, Any]] = context.memo("profiles", compute)
    return result


# ----------------------------------------------------------------------------- item 1


class ColdStartSuite:
    name = "cold_start"

    def run(self, context: BenchContext) -> dict[str, Any]:
        return cold_start.measure(samples=context.options.cold_start_samples)

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]:
        main = Table(
            f"Cold start: import + first composition build, median of {result['samples']} fresh processes",
            [
                "handler",
                "handler wall / CPU (ms)",
                "floor: import boto3 + its clients, wall / CPU (ms)",
                "ratio wall (aim ≤ 1.5)",
                "ratio CPU",
            ],
        )
        detail = Table(
            "Cold start: where the handler's time goes beyond the floor",
            [
                "handler",
                "imports (ms)",
                "composition build (ms)",
                "floor's clients, one session (ms)",
                "same clients, one session each (ms)",
                "heaviest imports beyond the floor (self ms, -X importtime)",
            ],
        )
        order = [target.name for target in cold_start.TARGETS]
        handlers = sorted(
            result["handlers"].items(), key=lambda entry: order.index(entry[0]) if entry[0] in order else 99
        )
        for name, figures in handlers:
            main.rows.append(
                [
                    f"`{name}`",
                    f"{fmt(figures['handler_s'] * 1000, 0)} / {fmt(figures['handler_cpu_s'] * 1000, 0)}",
                    f"{fmt(figures['floor_s'] * 1000, 0)} / {fmt(figures['floor_cpu_s'] * 1000, 0)} "
                    f"({', '.join(figures['clients'])})",
                    fmt(figures["ratio"], 2),
                    fmt(figures["ratio_cpu"], 2),
                ]
            )
            packages = dict(
                sorted(figures["imports_beyond_floor"]["packages_ms"].items(), key=lambda e: -e[1])
            )
            detail.rows.append(
                [
                    f"`{name}`",
                    fmt(figures["handler_import_s"] * 1000, 0),
                    fmt(figures["handler_build_s"] * 1000, 0),
                    fmt(figures["floor_clients_s"] * 1000, 0),
                    fmt(figures["session_per_client_clients_s"] * 1000, 0),
                    ", ".join(f"{package} {fmt(ms, 0)}" for package, ms in list(packages.items())[:5]),
                ]
            )
        main.notes.append(
            "Timed inside each process with perf_counter (interpreter start-up excluded), bytecode caches "
            "warm, Lambda-like environment (AWS_LAMBDA_FUNCTION_NAME and LAMBDA_TASK_ROOT set, so "
            "Powertools and the X-Ray SDK trace as with Tracing: Active). The floor builds its clients "
            "from one boto3 session. Wall time stretches with the machine's load; CPU time much less."
        )
        return [main, detail]


# ----------------------------------------------------------------------------- items 2, 3


def _profile_header(runs: dict[str, dict[str, Any]]) -> list[str]:
    return ["per event (5 lifecycle events per order, 5% resent)"] + [
        f"{name} (batch ≤ {summary['batch_size']}, mean {fmt(summary['mean_batch'], 1)})"
        for name, summary in runs.items()
    ]


class AwsCallsSuite:
    name = "aws_calls"

    def run(self, context: BenchContext) -> dict[str, Any]:
        return {name: {k: v for k, v in s.items() if k != "cpu"} for name, s in profiles(context).items()}

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]:
        runs = result
        table = Table(
            "AWS calls, items and bytes per event, counted with botocore hooks against moto",
            _profile_header(runs),
        )

        def row(label: str, value: Any) -> None:
            table.rows.append([label] + [value(summary) for summary in runs.values()])

        row(
            "AWS calls per webhook (intake; budget 1)", lambda s: fmt(s["intake"]["aws_calls_per_webhook"], 3)
        )
        for call in sorted({c for s in runs.values() for c in s["intake"]["calls_per_webhook"]}):
            row(f"  {call}", lambda s, c=call: fmt(s["intake"]["calls_per_webhook"].get(c, 0.0), 3))
        row("AWS calls per event (sanitizer)", lambda s: fmt(s["sanitizer"]["aws_calls_per_message"], 2))
        for call in sorted({c for s in runs.values() for c in s["sanitizer"]["calls_per_message"]}):
            row(f"  {call}", lambda s, c=call: fmt(s["sanitizer"]["calls_per_message"].get(c, 0.0), 3))
        row(
            "DynamoDB round trips per event (budget ≤ 2 on average)",
            lambda s: fmt(s["sanitizer"]["dynamodb_round_trips_per_message"], 2),
        )
        row(
            "DynamoDB round trips per applied event (created or changed an order)",
            lambda s: fmt(s["sanitizer"]["dynamodb_round_trips_per_applied_event"], 2),
        )
        row(
            "platform order-API calls per event",
            lambda s: fmt(s["sanitizer"]["platform_calls_per_message"], 2),
        )
        tables_written = {
            t
            for s in runs.values()
            for t, figures in s["sanitizer"]["dynamodb_per_message"].items()
            if any(value >= 0.005 for value in figures.values())  # a table read once a run shows as 0.00
        }
        for table_name in sorted(tables_written):

            def figures(s: dict[str, Any], t: str = table_name) -> dict[str, float]:
                values: dict[str, float] = s["sanitizer"]["dynamodb_per_message"].get(t, {})
                return values

            row(
                f"{table_name}: items + index entries written",
                lambda s, f=figures: (
                    f"{fmt(f(s).get('items_written', 0), 2)} + {fmt(f(s).get('index_entries_written', 0), 2)}"
                ),
            )
            row(
                f"{table_name}: item bytes written", lambda s, f=figures: fmt(f(s).get("bytes_written", 0), 0)
            )
            row(
                f"{table_name}: write units (table + indexes)",
                lambda s, f=figures: (
                    f"{fmt(f(s).get('write_units', 0), 2)} + {fmt(f(s).get('index_write_units', 0), 2)}"
                ),
            )
            row(f"{table_name}: read units", lambda s, f=figures: fmt(f(s).get("read_units", 0), 2))
            kinds = sorted(
                {
                    k
                    for s in runs.values()
                    for k in s["sanitizer"]["item_types_per_message"]
                    if k.startswith(table_name + ":")
                }
            )
            for kind in kinds:

                def kind_figures(s: dict[str, Any], k: str = kind) -> dict[str, float]:
                    values: dict[str, float] = s["sanitizer"]["item_types_per_message"].get(k, {})
                    return values

                row(
                    f"  `{kind.split(':', 1)[1]}` items: writes, bytes each, units (table + indexes)",
                    lambda s, f=kind_figures: (
                        f"{fmt(f(s).get('writes', 0), 2)}, {fmt(f(s).get('bytes_per_write', 0), 0)} B, "
                        f"{fmt(f(s).get('units', 0), 2)} + {fmt(f(s).get('index_units', 0), 2)}"
                    ),
                )
        row("S3 object bytes per PUT (gzip)", lambda s: fmt(s["sanitizer"]["s3_bytes_per_put"], 0))
        row("SQS payload bytes per message", lambda s: fmt(s["intake"]["sqs_payload_bytes_per_message"], 0))
        row(
            "log bytes per invocation (intake / sanitizer)",
            lambda s: (
                f"{fmt(s['intake']['log_bytes_per_invocation'], 0)} / "
                f"{fmt(s['sanitizer']['log_bytes_per_invocation'], 0)}"
            ),
        )
        row(
            "stored KB per order (Orders table + indexes)",
            lambda s: fmt(s["stored_bytes_per_order"].get("OrdersTable", 0) / 1024, 2),
        )
        row("EMF metric series published", lambda s: str(s["custom_metric_series"]))
        row(
            "sanity: rejected webhooks / failed events / orders not completed",
            lambda s: (
                f"{s['sanity']['rejected_webhooks']} / {s['sanity']['failed_messages']} / "
                f"{s['sanity']['orders_not_completed']}"
            ),
        )
        first = next(iter(runs.values()))
        table.notes.append(
            f"{first['orders']} orders, {first['webhooks']} webhooks, {first['messages']} events; outcomes "
            + ", ".join(f"{k} {v}" for k, v in sorted(first["sanity"]["outcomes"].items()))
            + ". Counts are exact for the scenario (the same seed gives the same counts). Write units follow "
            "DynamoDB's size rules (transactional writes 2 per KB, index propagation 1 per KB); moto's "
            "ConsumedCapacity is not used."
        )
        return [table]


class CpuSuite:
    name = "cpu"

    def run(self, context: BenchContext) -> dict[str, Any]:
        return {name: summary["cpu"] for name, summary in profiles(context).items()}

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]:
        table = Table(
            "CPU per event, AWS and platform I/O stubbed (botocore Stubber + recorded platform replies)",
            ["figure", *result],
        )

        def row(label: str, function: str, key: str, digits: int = 2) -> None:
            table.rows.append([label] + [fmt(cpu[function][key], digits) for cpu in result.values()])

        def span(label: str, function: str) -> None:
            cells = []
            for cpu in result.values():
                low, high = cpu[function]["ms_per_event_range"]
                cells.append(f"{fmt(low, 3)}–{fmt(high, 3)}")
            table.rows.append([label, *cells])

        row("intake: CPU ms per webhook (median of runs)", INTAKE, "ms_per_event", 3)
        span("intake: per-run range (ms per webhook)", INTAKE)
        row("sanitizer: CPU ms per event (median of runs)", SANITIZER, "ms_per_event", 3)
        span("sanitizer: per-run range (ms per event)", SANITIZER)
        row("sanitizer: CPU ms per invocation (median of runs)", SANITIZER, "ms_per_invocation", 3)
        row("sanitizer: invocation p90 (ms)", SANITIZER, "invocation_p90_ms", 3)
        for function in (INTAKE, SANITIZER):
            table.rows.append(
                [f"`{function}`: where its CPU goes (cProfile self time)"]
                + [
                    ", ".join(
                        f"{origin} {fmt(share * 100, 0)} %"
                        for origin, share in sorted(
                            cpu["self_time_by_origin"][function].items(), key=lambda e: -e[1]
                        )[:6]
                    )
                    for cpu in result.values()
                ]
            )
        runs = next(iter(result.values()))[INTAKE]["runs"]
        table.notes.append(
            f"thread CPU time on this machine (one full core), median over {runs} replays after a warm-up; "
            "includes Powertools, pydantic and botocore's request serialisation, not response parsing. "
            "Lambda at 512 MB gets about 512/1769 of a vCPU: the cost model scales by that. The origin "
            "shares come from one more replay under cProfile, whose overhead inflates call-heavy code."
        )
        return [table]


# ----------------------------------------------------------------------------- item 4


class CostSuite:
    name = "cost"

    def run(self, context: BenchContext) -> dict[str, Any]:
        from oms.config import Settings

        prices = Prices.load()
        model = AppModel.load(TEMPLATE)
        init = {
            name: figures["handler_s"]
            for name, figures in context.results.get("cold_start", {}).get("handlers", {}).items()
        }
        defaults = Settings.from_env({})
        # The deployed functions' settings: the template's value where it sets one, else the default.
        sanitizer_env = model.functions["PayloadSanitizerFunction"].environment

        def setting(name: str, default: int) -> int:
            value = sanitizer_env.get(name)
            return int(value) if isinstance(value, str | int) and str(value).isdigit() else default

        reports = {}
        for name, summary in profiles(context).items():
            usage = usage_of(
                summary,
                model,
                init_seconds=init,
                secrets_max_age_seconds=setting("SECRETS_MAX_AGE_SECONDS", defaults.secrets_max_age_seconds),
                rules_cache_seconds=setting(
                    "RULES_CACHE_SECONDS", getattr(defaults, "rules_cache_seconds", 0)
                ),
                days=int(prices.assumptions["days_per_month"]),
            )
            reports[name] = cost_report(usage, prices).as_dict()
        return {"profiles": reports, "exchange_rate_cny_per_usd": prices.cny_per_usd}

    def tables(self, result: dict[str, Any], context: BenchContext) -> list[Table]:
        reports = result["profiles"]
        names = list(reports)
        rate = result["exchange_rate_cny_per_usd"]
        table = Table(
            "Cost per 1,000 orders at AWS list prices (us-east-1, arm64)",
            ["line", *names, f"basis ({names[0]})"],
        )
        marks = {"fixed": " *", "storage": " †"}
        for index, line in enumerate(reports[names[0]]["lines"]):
            cells = [usd(reports[name]["lines"][index]["usd_per_1000_orders"]) for name in names]
            table.rows.append([line["name"] + marks.get(line["kind"], ""), *cells, line["basis"]])
        for kind, label in (
            ("variable", "subtotal: per-order lines"),
            ("fixed", "subtotal: fixed monthly lines *"),
        ):
            subtotal = [
                usd(
                    sum(
                        line["usd_per_1000_orders"] for line in reports[name]["lines"] if line["kind"] == kind
                    )
                )
                for name in names
            ]
            table.rows.append([label, *subtotal, ""])
        totals = [f"**{usd(reports[name]['per_1000_orders_usd'])}**" for name in names]
        table.rows.append(["**total per 1,000 orders**", *totals, ""])
        in_cny = [f"¥{fmt(reports[name]['per_1000_orders_cny'], 3)}" for name in names]
        table.rows.append(["total per 1,000 orders (CNY)", *in_cny, f"at {rate} CNY/USD"])
        months = [
            f"{usd(reports[name]['monthly_usd'])} = ¥{fmt(reports[name]['monthly_cny'], 2)}" for name in names
        ]
        table.rows.append(["merchant's month (1,000 orders/day, 12 months kept)", *months, ""])
        shares = []
        for name in names:
            low, high = reports[name]["share_of_saas"]
            shares.append(f"{fmt(low * 100, 1)}–{fmt(high * 100, 1)} %")
        table.rows.append(["vs SaaS ERP ¥800–900/month", *shares, "this bill as a share of the SaaS fee"])
        table.notes += [
            "* fixed monthly cost shared by the merchant's 30,000 orders a month; † storage for one month "
            "(the monthly bill keeps 12 months of orders).",
            "List prices without free tiers; sources and dates in bench/prices.json, with every assumption "
            "(round-trip latencies, cold starts a day, idle polling) written down there.",
        ]
        durations = Table(
            "Modelled Lambda durations (512 MB) used above",
            ["function", *(f"{name}: CPU + I/O = billed ms" for name in names)],
        )
        for function in reports[names[0]]["durations_ms"]:
            cells = []
            for name in names:
                figures = reports[name]["durations_ms"][function]
                cells.append(f"{fmt(figures['cpu'], 1)} + {fmt(figures['io'], 1)} = {figures['billed']}")
            durations.rows.append([f"`{function}`", *cells])
        durations.notes.append(
            "CPU = measured CPU per invocation × 1769/512 (Lambda's vCPU share at 512 MB); I/O = counted "
            "AWS and platform round trips × the assumed latencies in bench/prices.json."
        )
        return [table, durations]


SUITES: list[Suite] = [
    ColdStartSuite(),
    AwsCallsSuite(),
    CpuSuite(),
    CostSuite(),
    SettlementSuite(),
    CustomerTimelineSuite(),
    HotSkuSuite(),
    PatrolScalingSuite(),
]
