"""Turn a recorded run and its replays into the reported figures (items 2 and 3) and the cost
model's input (item 4)."""

from __future__ import annotations

import re
import statistics
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bench.cost import FunctionUsage, Usage
from bench.pipeline import INTAKE, SANITIZER, Recording, ReplayRun
from local.template import AppModel

APPLIED_OUTCOMES = ("created", "applied")
#: Table environment variables → the template's logical ids.
TABLE_VARIABLES = {
    "ORDERS_TABLE": "OrdersTable",
    "OPS_TABLE": "OpsTable",
    "IDEMPOTENCY_TABLE": "IdempotencyTable",
}
#: Platforms whose order API the sanitizer calls (their pushes carry ids only).
FETCHING_PLATFORMS = 2


def _per(value: float, count: int) -> float:
    return value / count if count else 0.0


def metric_series(lines: Sequence[str]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Distinct CloudWatch metrics (namespace, name, dimension values) in EMF log lines."""
    import json

    series = set()
    for line in lines:
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"].get("CloudWatchMetrics", []):
            for dimension_set in directive.get("Dimensions", [[]]):
                dimensions = tuple((name, str(record.get(name, ""))) for name in dimension_set)
                for metric in directive.get("Metrics", []):
                    series.add((directive.get("Namespace", ""), metric["Name"], dimensions))
    return series


def _log_volume(lines: Sequence[str]) -> tuple[int, int]:
    """Log events (one per line, as Lambda's text capture makes them) and their UTF-8 bytes."""
    return len(lines), sum(len(line.encode("utf-8")) for line in lines)


def _cpu_summary(runs: Sequence[ReplayRun], function: str, denominator: int) -> dict[str, Any]:
    per_run = [sum(run.cpu_s[function]) for run in runs]
    if not per_run:
        return {"runs": 0}
    pooled = sorted(value for run in runs for value in run.cpu_s[function])
    invocations = len(runs[0].cpu_s[function]) if runs else 0
    return {
        "runs": len(runs),
        "total_s_per_run": per_run,
        "ms_per_event_range": [min(per_run) * 1000 / denominator, max(per_run) * 1000 / denominator]
        if denominator
        else [0.0, 0.0],
        "ms_per_event": statistics.median(per_run) * 1000 / denominator if denominator else 0.0,
        "ms_per_invocation": statistics.median(per_run) * 1000 / invocations if invocations else 0.0,
        "invocation_p50_ms": _quantile(pooled, 0.5) * 1000,
        "invocation_p90_ms": _quantile(pooled, 0.9) * 1000,
        "invocation_max_ms": (pooled[-1] if pooled else 0.0) * 1000,
    }


def _quantile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(share * len(values)))]


def summarize(recording: Recording, runs: Sequence[ReplayRun]) -> dict[str, Any]:
    """Items 2 and 3 for one profile, plus the raw totals the cost model needs."""
    tables = {recording.env[variable]: logical for variable, logical in TABLE_VARIABLES.items()}
    intake = recording.calls.get(INTAKE)
    sanitizer = recording.calls.get(SANITIZER)
    if intake is None or sanitizer is None:
        raise RuntimeError("the run made no intake or sanitizer calls")
    webhooks, messages = recording.webhooks, recording.messages
    applied = sum(recording.outcomes[outcome] for outcome in APPLIED_OUTCOMES)
    capacity = sanitizer.capacity.as_dict()
    dynamodb: dict[str, dict[str, float]] = {}
    for quantity, by_table in capacity.items():
        for table, value in by_table.items():
            dynamodb.setdefault(tables.get(table, table), {})[quantity] = value
    intake_lines = recording.output_lines.get(INTAKE, [])
    sanitizer_lines = recording.output_lines.get(SANITIZER, [])
    series = metric_series(intake_lines) | metric_series(sanitizer_lines)
    intake_events, intake_bytes = _log_volume(intake_lines)
    sanitizer_events, sanitizer_bytes = _log_volume(sanitizer_lines)
    platform_calls = sum(recording.platform_calls.values())
    write_units = sum(v.get("write_units", 0.0) + v.get("index_write_units", 0.0) for v in dynamodb.values())
    read_units = sum(v.get("read_units", 0.0) for v in dynamodb.values())
    return {
        "profile": recording.profile,
        "batch_size": recording.batch_size,
        "orders": recording.orders,
        "webhooks": webhooks,
        "messages": messages,
        "applied_events": applied,
        "sanitizer_invocations": recording.sanitizer_invocations,
        "mean_batch": _per(messages, recording.sanitizer_invocations),
        "elapsed_s": recording.elapsed_s,
        "sanity": {
            "rejected_webhooks": recording.rejected_webhooks,
            "failed_messages": recording.failed_messages,
            "orders_not_completed": len(recording.wrong_final_status),
            "outcomes": dict(recording.outcomes),
        },
        "intake": {
            "aws_calls_per_webhook": _per(sum(intake.calls.values()), webhooks),
            "calls_per_webhook": {
                call: _per(count, webhooks) for call, count in sorted(intake.calls.items())
            },
            "sqs_payload_bytes_per_message": _per(intake.sqs_payload_bytes, messages),
            "log_events_per_invocation": _per(intake_events, webhooks),
            "log_bytes_per_invocation": _per(intake_bytes, webhooks),
            "reply_bytes_median": statistics.median(recording.reply_bytes) if recording.reply_bytes else 0,
        },
        "sanitizer": {
            "aws_calls_per_message": _per(sum(sanitizer.calls.values()), messages),
            "calls_per_message": {
                call: _per(count, messages) for call, count in sorted(sanitizer.calls.items())
            },
            "dynamodb_round_trips_per_message": _per(sanitizer.dynamodb_round_trips, messages),
            "dynamodb_round_trips_per_applied_event": _per(sanitizer.dynamodb_round_trips, applied),
            "platform_calls_per_message": _per(platform_calls, messages),
            "platform_calls": dict(recording.platform_calls),
            "s3_bytes_per_put": _per(sanitizer.s3_put_bytes, sanitizer.calls.get("s3:PutObject", 0)),
            "dynamodb_per_message": {
                table: {quantity: _per(value, messages) for quantity, value in sorted(values.items())}
                for table, values in sorted(dynamodb.items())
            },
            "item_types_per_message": {
                f"{tables.get(key.split(':')[0], key.split(':')[0])}:{key.split(':', 1)[1]}": {
                    "writes": _per(entry["writes"], messages),
                    "bytes_per_write": _per(entry["bytes"], int(entry["writes"])),
                    "units": _per(entry["units"], messages),
                    "index_units": _per(entry["index_units"], messages),
                }
                for key, entry in sorted(sanitizer.item_types.items())
            },
            "write_units_per_message": _per(write_units, messages),
            "read_units_per_message": _per(read_units, messages),
            "log_events_per_invocation": _per(sanitizer_events, recording.sanitizer_invocations),
            "log_bytes_per_invocation": _per(sanitizer_bytes, recording.sanitizer_invocations),
        },
        "stored_bytes_per_order": {
            table: _per(value, recording.orders) for table, value in recording.stored_bytes.items()
        },
        "custom_metric_series": len(series),
        "cpu": {
            INTAKE: _cpu_summary(runs, INTAKE, webhooks),
            SANITIZER: _cpu_summary(runs, SANITIZER, messages),
        },
        "totals": {
            "intake_calls": dict(intake.calls),
            "sanitizer_calls": dict(sanitizer.calls),
            "platform_calls": platform_calls,
            "sqs_send_requests": intake.sqs_requests,
            "esm_receive_requests": recording.esm_receive_requests,
            "esm_delete_requests": recording.esm_delete_requests,
            "read_units": read_units,
            "write_units": write_units,
            "s3_puts": sanitizer.calls.get("s3:PutObject", 0),
            "sns_publishes": sanitizer.calls.get("sns:Publish", 0),
            "s3_bytes": sanitizer.s3_put_bytes,
            "intake_log_events": intake_events,
            "intake_log_bytes": intake_bytes,
            "sanitizer_log_events": sanitizer_events,
            "sanitizer_log_bytes": sanitizer_bytes,
            "stored_bytes_kept": recording.stored_bytes.get("OrdersTable", 0)
            + recording.stored_bytes.get("OpsTable", 0),
            "memory_mb": {name: spec.memory_mb for name, spec in recording.functions.items()},
        },
    }


def access_log_line(model: AppModel, reply_bytes: int) -> str:
    """One HTTP API access-log line for a webhook, rendered from the template's format."""
    settings = model.resources["HttpApi"]["Properties"].get("AccessLogSettings", {})
    line = str(settings.get("Format", ""))
    values = {
        "$context.identity.sourceIp": "203.0.113.10",
        "$context.identity.userArn": "-",
        "$context.requestId": "Jx3bKhQ-oAMEV0Q=",
        "$context.requestTime": "11/Nov/2026:08:15:42 +0000",
        "$context.routeKey": "POST /webhooks/{platform}",
        "$context.status": "200",
        "$context.responseLength": str(reply_bytes),
        "$context.responseLatency": "48",
        "$context.integrationLatency": "45",
        "$context.integrationErrorMessage": "-",
    }
    for name in sorted(values, key=len, reverse=True):
        line = line.replace(name, values[name])
    return line


def platform_log_lines(memory_mb: int, billed_ms: int = 40) -> list[str]:
    """The lines Lambda itself writes per invocation (text format, active tracing)."""
    request_id = str(uuid.UUID(int=0x8F5D0C7E1B2A4C3D9E8F0A1B2C3D4E5F))
    return [
        f"START RequestId: {request_id} Version: $LATEST",
        f"END RequestId: {request_id}",
        f"REPORT RequestId: {request_id}\tDuration: {billed_ms - 0.37:.2f} ms"
        f"\tBilled Duration: {billed_ms} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: 118 MB\t\n"
        "XRAY TraceId: 1-6734a1b2-0123456789abcdef01234567\tSegmentId: 6b3d9f2a1c4e5d7f\tSampled: true\t",
    ]


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def runs_per_month(expression: str, days: int = 30) -> float:
    """Invocations a month of a schedule expression: ``rate(...)`` exactly, ``cron(...)`` not supported."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise ValueError(f"cannot count the runs of {expression!r}; only rate() expressions are modelled")
    period = int(match.group(1)) * _SECONDS[match.group(2).rstrip("s")]
    return days * 86400 / period


def usage_of(
    summary: Mapping[str, Any],
    model: AppModel,
    *,
    init_seconds: Mapping[str, float],
    secrets_max_age_seconds: int,
    rules_cache_seconds: int,
    days: int = 30,
) -> Usage:
    """The cost model's input for one profile."""
    totals = summary["totals"]
    memory = totals["memory_mb"]
    cpu = summary["cpu"]
    platform_lines = platform_log_lines(memory[SANITIZER])
    parameters = model.parameters
    alarms = sum(
        1 for resource in model.resources.values() if resource.get("Type") == "AWS::CloudWatch::Alarm"
    )
    return Usage(
        orders=summary["orders"],
        webhooks=summary["webhooks"],
        intake=FunctionUsage(
            invocations=summary["webhooks"],
            memory_mb=memory[INTAKE],
            cpu_seconds_per_invocation=cpu[INTAKE]["ms_per_invocation"] / 1000,
            calls=Counter(totals["intake_calls"]),
            log_events=totals["intake_log_events"],
            log_bytes=totals["intake_log_bytes"],
            init_seconds=init_seconds.get(INTAKE, 0.0),
            platforms_with_secrets=3,
        ),
        sanitizer=FunctionUsage(
            invocations=summary["sanitizer_invocations"],
            memory_mb=memory[SANITIZER],
            cpu_seconds_per_invocation=cpu[SANITIZER]["ms_per_invocation"] / 1000,
            calls=Counter(totals["sanitizer_calls"]),
            platform_calls=totals["platform_calls"],
            log_events=totals["sanitizer_log_events"],
            log_bytes=totals["sanitizer_log_bytes"],
            init_seconds=init_seconds.get(SANITIZER, 0.0),
            platforms_with_secrets=FETCHING_PLATFORMS,
        ),
        sqs_requests=totals["sqs_send_requests"]
        + totals["esm_receive_requests"]
        + totals["esm_delete_requests"],
        dynamodb_read_units=totals["read_units"],
        dynamodb_write_units=totals["write_units"],
        s3_put_requests=totals["s3_puts"],
        sns_publish_requests=totals.get("sns_publishes", 0),
        s3_bytes=totals["s3_bytes"],
        dynamodb_stored_bytes=totals["stored_bytes_kept"],
        access_log_bytes_per_request=len(
            access_log_line(model, int(summary["intake"]["reply_bytes_median"])).encode("utf-8")
        ),
        custom_metrics=summary["custom_metric_series"],
        secrets=len(model.secrets),
        alarms=alarms,
        raw_archive_retention_days=int(parameters.get("RawArchiveRetentionDays") or 0),
        log_retention_days=int(parameters.get("LogRetentionDays") or 0),
        secrets_max_age_seconds=secrets_max_age_seconds,
        platform_log_bytes_per_invocation=sum(len(line.encode("utf-8")) for line in platform_lines),
        platform_log_events_per_invocation=len(platform_lines),
        scheduled_runs_per_month=sum(
            runs_per_month(schedule.expression, days) for schedule in model.schedules
        ),
        scheduled_jobs=len(model.schedules),
        scheduled_memory_mb=max(
            (model.functions[schedule.function_id].memory for schedule in model.schedules), default=512
        ),
        rules_cache_seconds=rules_cache_seconds,
    )
