"""Item 4: AWS list-price cost per 1,000 orders, from counted requests, bytes and measured CPU.

The model is a pure function of a :class:`Usage` (what one replay of the scenario consumed) and
:class:`Prices` (``bench/prices.json``: list prices with their sources, and the assumptions the
model needs, each written down there). Nothing here is measured; :mod:`bench.pipeline` measures.

Handler durations are modelled rather than timed against moto: the measured CPU time of the
project's own code (AWS I/O stubbed out) is scaled to the function's vCPU share (Lambda gives
one vCPU at 1,769 MB, proportionally less below), then each counted AWS or platform round trip
adds its assumed latency.

Examples
--------
>>> prices = Prices.load()
>>> report = cost_report(example_usage(), prices)
>>> round(report.per_1000_orders_usd, 2) > 0
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_PATH = Path(__file__).with_name("prices.json")
GB = 1024**3


@dataclass(frozen=True)
class Prices:
    """``bench/prices.json``: unit prices in USD, the exchange rate, the SaaS reference, assumptions."""

    unit_prices: Mapping[str, float]
    sources: Mapping[str, str]
    cny_per_usd: float
    saas_cny_per_month: tuple[float, float]
    saas_orders_per_day: int
    assumptions: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path | str = PRICES_PATH) -> Prices:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prices:
        prices = data["prices"]
        return cls(
            unit_prices={name: float(entry["usd"]) / float(entry["per"]) for name, entry in prices.items()},
            sources={name: str(entry["source"]) for name, entry in prices.items()},
            cny_per_usd=float(data["exchange_rate"]["cny_per_usd"]),
            saas_cny_per_month=(
                float(data["saas_erp"]["cny_per_month_low"]),
                float(data["saas_erp"]["cny_per_month_high"]),
            ),
            saas_orders_per_day=int(data["saas_erp"]["orders_per_day"]),
            assumptions=dict(data["assumptions"]),
        )

    def __getitem__(self, name: str) -> float:
        """USD per one unit (per request, per GB-second, per GB-month...)."""
        return self.unit_prices[name]


@dataclass(frozen=True)
class FunctionUsage:
    """One Lambda function over the scenario."""

    invocations: int
    memory_mb: int
    #: Median CPU seconds of the project's own code per invocation (AWS and platform I/O stubbed).
    cpu_seconds_per_invocation: float
    #: AWS calls over the scenario by ``"service:Operation"`` (``"dynamodb:GetItem"``...).
    calls: Mapping[str, int]
    #: Platform order-API round trips over the scenario.
    platform_calls: int = 0
    #: What the function printed (Powertools logs and EMF metrics): lines and UTF-8 bytes.
    log_events: int = 0
    log_bytes: int = 0
    #: Median INIT seconds (import + first composition build) measured in a fresh process.
    init_seconds: float = 0.0
    #: Distinct platforms whose secrets the function reads (for the Secrets Manager cache refreshes).
    platforms_with_secrets: int = 0


@dataclass(frozen=True)
class Usage:
    """What one run of the scenario consumed; everything else is derived per order from it."""

    orders: int
    webhooks: int
    intake: FunctionUsage
    sanitizer: FunctionUsage
    #: Billed SQS requests over the scenario (64 KB chunks): sends, the poller's receives, deletes.
    sqs_requests: int
    dynamodb_read_units: float
    dynamodb_write_units: float
    s3_put_requests: int
    s3_bytes: int
    #: Bytes the scenario's orders occupy in DynamoDB at the end (tables and indexes, with overhead).
    dynamodb_stored_bytes: int
    #: Bytes one API Gateway access-log line takes for a webhook.
    access_log_bytes_per_request: int
    #: Distinct EMF metric series (namespace, name, dimension values) the handlers published.
    custom_metrics: int
    secrets: int
    alarms: int
    raw_archive_retention_days: int
    log_retention_days: int
    secrets_max_age_seconds: int
    #: Bytes of one invocation's START/END/REPORT (and X-Ray) platform log lines.
    platform_log_bytes_per_invocation: int = 330
    platform_log_events_per_invocation: int = 3
    #: Scheduled invocations a month, all schedules of the template together.
    scheduled_runs_per_month: float = 0.0
    scheduled_jobs: int = 0
    scheduled_memory_mb: int = 512
    #: Seconds between two reads of the cleaning rules in one sanitizer container.
    rules_cache_seconds: int = 0
    #: SNS Publish requests (order changes to the downstream capabilities; 64 KB chunks).
    sns_publish_requests: int = 0


@dataclass(frozen=True)
class CostLine:
    name: str
    usd_per_1000_orders: float
    basis: str
    kind: str = "variable"  # variable | fixed (monthly, shared by the month's orders) | storage


@dataclass(frozen=True)
class FunctionDuration:
    cpu_ms: float
    io_ms: float
    billed_ms: int

    @property
    def total_ms(self) -> float:
        return self.cpu_ms + self.io_ms


@dataclass
class CostReport:
    lines: list[CostLine]
    durations: dict[str, FunctionDuration]
    orders_per_day: int
    days_per_month: int
    cny_per_usd: float
    saas_cny_per_month: tuple[float, float]
    history_months: int
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def per_1000_orders_usd(self) -> float:
        return sum(line.usd_per_1000_orders for line in self.lines)

    @property
    def thousands_per_month(self) -> float:
        return self.orders_per_day * self.days_per_month / 1000

    @property
    def monthly_usd(self) -> float:
        """The merchant's month: variable and fixed lines, plus storage for the kept history."""
        variable_and_fixed = sum(line.usd_per_1000_orders for line in self.lines if line.kind != "storage")
        storage = sum(line.usd_per_1000_orders for line in self.lines if line.kind == "storage")
        # A storage line is one month of keeping 1,000 orders; the month keeps `history_months` of them.
        return (variable_and_fixed + storage * self.history_months) * self.thousands_per_month

    @property
    def monthly_cny(self) -> float:
        return self.monthly_usd * self.cny_per_usd

    @property
    def saas_share(self) -> tuple[float, float]:
        """This bill as a fraction of the SaaS ERP's monthly fee (against its high and low end)."""
        low, high = self.saas_cny_per_month
        return self.monthly_cny / high, self.monthly_cny / low

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_1000_orders_usd": self.per_1000_orders_usd,
            "per_1000_orders_cny": self.per_1000_orders_usd * self.cny_per_usd,
            "monthly_usd": self.monthly_usd,
            "monthly_cny": self.monthly_cny,
            "saas_cny_per_month": list(self.saas_cny_per_month),
            "share_of_saas": list(self.saas_share),
            "orders_per_day": self.orders_per_day,
            "history_months": self.history_months,
            "cny_per_usd": self.cny_per_usd,
            "lines": [
                {
                    "name": line.name,
                    "usd_per_1000_orders": line.usd_per_1000_orders,
                    "kind": line.kind,
                    "basis": line.basis,
                }
                for line in self.lines
            ],
            "durations_ms": {
                name: {"cpu": d.cpu_ms, "io": d.io_ms, "billed": d.billed_ms}
                for name, d in self.durations.items()
            },
            **self.extra,
        }


def _service(call: str) -> str:
    return call.split(":", 1)[0]


def function_duration(function: FunctionUsage, prices: Prices) -> FunctionDuration:
    """Mean billed duration of one invocation: scaled CPU plus counted round trips."""
    assumptions = prices.assumptions
    vcpu_share = min(1.0, function.memory_mb / float(assumptions["lambda_vcpu_memory_mb"]))
    cpu_ms = function.cpu_seconds_per_invocation * 1000 / vcpu_share
    latency: Mapping[str, float] = assumptions["round_trip_ms"]
    invocations = max(1, function.invocations)
    io_ms = sum(latency[_service(call)] * count for call, count in function.calls.items()) / invocations
    io_ms += latency["platform_api"] * function.platform_calls / invocations
    return FunctionDuration(cpu_ms=cpu_ms, io_ms=io_ms, billed_ms=math.ceil(cpu_ms + io_ms))


@dataclass
class _Ledger:
    """Collects cost lines, scaling scenario totals and monthly figures to 1,000 orders."""

    per_1000: float  # scenario totals x this = per 1,000 orders
    thousands_per_month: float
    lines: list[CostLine] = field(default_factory=list)

    def variable(self, name: str, usd_per_scenario: float, basis: str) -> None:
        self.lines.append(CostLine(name, usd_per_scenario * self.per_1000, basis))

    def fixed(self, name: str, usd_per_month: float, basis: str) -> None:
        self.lines.append(CostLine(name, usd_per_month / self.thousands_per_month, basis, kind="fixed"))


def _functions(usage: Usage) -> dict[str, FunctionUsage]:
    return {"webhook_intake": usage.intake, "payload_sanitizer": usage.sanitizer}


def _request_lines(
    ledger: _Ledger, usage: Usage, prices: Prices, durations: Mapping[str, FunctionDuration]
) -> float:
    """Requests, compute and storage the events themselves cause; returns the GB-seconds."""
    per_1000, days = ledger.per_1000, int(prices.assumptions["days_per_month"])
    functions = _functions(usage)
    ledger.variable(
        "API Gateway HTTP API",
        usage.webhooks * prices["apigateway_http_request"],
        f"{usage.webhooks * per_1000:.0f} webhook requests",
    )
    invocations = usage.intake.invocations + usage.sanitizer.invocations
    ledger.variable(
        "Lambda requests",
        invocations * prices["lambda_request"],
        f"{usage.intake.invocations * per_1000:.0f} intake + {usage.sanitizer.invocations * per_1000:.0f} "
        "sanitizer invocations",
    )
    gb_seconds = sum(
        function.invocations * durations[name].billed_ms / 1000 * function.memory_mb / 1024
        for name, function in functions.items()
    )
    ledger.variable(
        "Lambda duration (arm64)",
        gb_seconds * prices["lambda_gb_second_arm64"],
        ", ".join(
            f"{name}: {durations[name].billed_ms} ms x {f.memory_mb} MB" for name, f in functions.items()
        ),
    )
    ledger.variable(
        "SQS FIFO requests",
        usage.sqs_requests * prices["sqs_fifo_request"],
        f"{usage.sqs_requests * per_1000:.0f} requests (sends, poller receives, deletes; 64 KB chunks)",
    )
    ledger.variable(
        "DynamoDB writes (on-demand)",
        usage.dynamodb_write_units * prices["dynamodb_write_request_unit"],
        f"{usage.dynamodb_write_units * per_1000:.0f} write units, tables and indexes",
    )
    ledger.variable(
        "DynamoDB reads (on-demand)",
        usage.dynamodb_read_units * prices["dynamodb_read_request_unit"],
        f"{usage.dynamodb_read_units * per_1000:.0f} read units",
    )
    ledger.variable(
        "SNS publishes (order changes)",
        usage.sns_publish_requests * prices["sns_publish_request"],
        f"{usage.sns_publish_requests * per_1000:.0f} publishes (one per stored change; SQS delivery free)",
    )
    ledger.variable(
        "S3 PUT (raw archive)",
        usage.s3_put_requests * prices["s3_put_request"],
        f"{usage.s3_put_requests * per_1000:.0f} objects",
    )
    # Archive objects are a few KB: S3 lifecycle rules do not transition objects under 128 KB, so
    # they stay in Standard until they expire.
    ledger.variable(
        "S3 storage (raw archive, whole retention)",
        usage.s3_bytes / GB * prices["s3_standard_gb_month"] * usage.raw_archive_retention_days / days,
        f"{usage.s3_bytes * per_1000 / 1024**2:.1f} MB for {usage.raw_archive_retention_days} days",
    )
    traces = invocations * float(prices.assumptions["xray_sampled_share"])
    ledger.variable(
        "X-Ray traces (Tracing: Active)",
        traces * prices["xray_trace_recorded"],
        f"{traces * per_1000:.0f} traces",
    )
    return gb_seconds


def _log_lines(ledger: _Ledger, usage: Usage, prices: Prices) -> int:
    """CloudWatch Logs ingestion and storage; returns the scenario's log bytes."""
    overhead = int(prices.assumptions["log_event_overhead_bytes"])
    days = int(prices.assumptions["days_per_month"])
    log_bytes = 0
    for function in _functions(usage).values():
        log_bytes += function.log_bytes + function.log_events * overhead
        log_bytes += function.invocations * (
            usage.platform_log_bytes_per_invocation + usage.platform_log_events_per_invocation * overhead
        )
    log_bytes += usage.webhooks * (usage.access_log_bytes_per_request + overhead)
    ledger.variable(
        "CloudWatch Logs ingestion",
        log_bytes / GB * prices["cloudwatch_logs_ingest_gb"],
        f"{log_bytes * ledger.per_1000 / 1024**2:.1f} MB (handlers, Lambda platform lines, API access log)",
    )
    ledger.variable(
        "CloudWatch Logs storage",
        log_bytes / GB * prices["cloudwatch_logs_storage_gb_month"] * usage.log_retention_days / days,
        f"{usage.log_retention_days} days retention, uncompressed (upper bound)",
    )
    return log_bytes


def _fixed_lines(ledger: _Ledger, usage: Usage, prices: Prices) -> None:
    """What the month costs whatever the number of orders."""
    a = prices.assumptions
    days = int(a["days_per_month"])
    functions = _functions(usage)
    ledger.fixed(
        "CloudWatch custom metrics (EMF)",
        usage.custom_metrics
        * float(a["custom_metrics_month_share"])
        * prices["cloudwatch_custom_metric_month"],
        f"{usage.custom_metrics} metric series published",
    )
    ledger.fixed(
        "Secrets Manager secrets",
        usage.secrets * prices["secrets_manager_secret_month"],
        f"{usage.secrets} secrets in template.yaml",
    )
    containers = int(a["warm_containers_per_function"])
    refreshes = sum(f.platforms_with_secrets for f in functions.values()) * containers * 86400 * days
    ledger.fixed(
        "Secrets Manager API calls",
        refreshes / usage.secrets_max_age_seconds * prices["secrets_manager_api_call"],
        f"cache refreshes every {usage.secrets_max_age_seconds} s per platform and container",
    )
    ledger.fixed(
        "CloudWatch alarms", usage.alarms * prices["cloudwatch_alarm_month"], f"{usage.alarms} alarm(s)"
    )
    idle_receives = float(a["esm_idle_receive_requests_per_day"]) * days
    ledger.fixed(
        "SQS idle long polls (event source mapping)",
        idle_receives * prices["sqs_fifo_request"],
        f"{idle_receives:.0f} empty receives a month (estimate)",
    )
    cold_starts = float(a["cold_starts_per_function_per_day"]) * days
    init_gb_seconds = sum(cold_starts * f.init_seconds * f.memory_mb / 1024 for f in functions.values())
    ledger.fixed(
        "Lambda INIT (cold starts)",
        init_gb_seconds * prices["lambda_gb_second_arm64"],
        f"{cold_starts:.0f} cold starts per function a month",
    )
    runs = usage.scheduled_runs_per_month
    run_gb_seconds = runs * float(a["scheduled_run_ms"]) / 1000 * usage.scheduled_memory_mb / 1024
    ledger.fixed(
        "Scheduled jobs (invocations, assumed duration)",
        runs * (prices["lambda_request"] + prices["eventbridge_scheduler_invocation"])
        + run_gb_seconds * prices["lambda_gb_second_arm64"],
        f"{usage.scheduled_jobs} schedule(s), {runs:.0f} runs a month "
        f"at {a['scheduled_run_ms']} ms (not measured)",
    )
    if usage.rules_cache_seconds:
        rule_reads = containers * 86400 / usage.rules_cache_seconds * days
        ledger.fixed(
            "Cleaning-rule refresh reads",
            rule_reads * prices["dynamodb_read_request_unit"],
            f"one read per sanitizer container every {usage.rules_cache_seconds} s",
        )


def cost_report(usage: Usage, prices: Prices, *, history_months: int = 12) -> CostReport:
    """The cost of ``usage`` at list prices, per 1,000 orders, and the merchant's monthly bill.

    Parameters
    ----------
    usage:
        What the scenario consumed (:func:`bench.usage.usage_of`).
    prices:
        Unit prices and assumptions (:meth:`Prices.load`).
    history_months:
        Months of orders the monthly bill keeps in DynamoDB (storage grows with history).
    """
    days = int(prices.assumptions["days_per_month"])
    orders_per_day = int(prices.assumptions["orders_per_day"])
    ledger = _Ledger(per_1000=1000 / usage.orders, thousands_per_month=orders_per_day * days / 1000)
    durations = {name: function_duration(function, prices) for name, function in _functions(usage).items()}
    gb_seconds = _request_lines(ledger, usage, prices, durations)
    log_bytes = _log_lines(ledger, usage, prices)
    _fixed_lines(ledger, usage, prices)
    ledger.lines.append(
        CostLine(
            "DynamoDB storage + PITR (per month kept)",
            usage.dynamodb_stored_bytes
            / GB
            * ledger.per_1000
            * (prices["dynamodb_storage_gb_month"] + prices["dynamodb_pitr_gb_month"]),
            f"{usage.dynamodb_stored_bytes / usage.orders / 1024:.1f} KB per order, tables and indexes",
            kind="storage",
        )
    )
    return CostReport(
        lines=ledger.lines,
        durations=durations,
        orders_per_day=orders_per_day,
        days_per_month=days,
        cny_per_usd=prices.cny_per_usd,
        saas_cny_per_month=prices.saas_cny_per_month,
        history_months=history_months,
        extra={
            "log_bytes_per_order": log_bytes / usage.orders,
            "gb_seconds_per_order": gb_seconds / usage.orders,
        },
    )


def example_usage() -> Usage:
    """Round, hand-made counts for 200 orders (five events each, 5% duplicates): docs and tests."""
    return Usage(
        orders=200,
        webhooks=1050,
        intake=FunctionUsage(
            invocations=1050,
            memory_mb=512,
            cpu_seconds_per_invocation=0.002,
            calls={"sqs:SendMessageBatch": 1050, "secretsmanager:GetSecretValue": 3},
            log_events=1050,
            log_bytes=1050 * 300,
            init_seconds=0.5,
            platforms_with_secrets=3,
        ),
        sanitizer=FunctionUsage(
            invocations=1050,
            memory_mb=512,
            cpu_seconds_per_invocation=0.004,
            calls={"dynamodb:GetItem": 1050, "dynamodb:TransactWriteItems": 1000, "s3:PutObject": 1050},
            platform_calls=700,
            log_events=2100,
            log_bytes=2100 * 400,
            init_seconds=0.6,
            platforms_with_secrets=2,
        ),
        sqs_requests=3150,
        dynamodb_read_units=1050,
        dynamodb_write_units=12000,
        s3_put_requests=1050,
        s3_bytes=1050 * 2000,
        dynamodb_stored_bytes=200 * 8000,
        access_log_bytes_per_request=330,
        custom_metrics=20,
        secrets=3,
        alarms=1,
        raw_archive_retention_days=400,
        log_retention_days=30,
        secrets_max_age_seconds=300,
        scheduled_runs_per_month=21600,
        scheduled_jobs=1,
        rules_cache_seconds=30,
    )
