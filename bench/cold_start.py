"""Item 1: each handler's import and initialisation time in a fresh process, against the floor.

A sample is one new interpreter that imports the handler module and builds the composition its
first invocation builds (the clients included), timed with ``perf_counter`` inside the process
(interpreter start-up, the same for both sides, is left out). The floor is the least any Python
handler on AWS pays: ``import boto3`` and creating the clients that handler needs, from one
session. Handler and floor samples alternate, so drift on the machine hits both; the ratio is
of the two medians. Wall time is what Lambda bills; CPU time (``process_time``) is reported too,
because on a shared machine other tenants stretch wall time but not CPU time.

One extra run per handler with ``-X importtime`` attributes the import time to modules; the
modules the floor also imports are subtracted, which leaves what the project adds.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class HandlerTarget:
    """A handler and what its first invocation builds."""

    name: str
    module: str
    build: str  # the composition builder the first invocation calls
    services: tuple[str, ...]  # the boto3 clients that build creates


TARGETS: tuple[HandlerTarget, ...] = (
    HandlerTarget(
        "webhook_intake", "functions.webhook_intake.app", "webhook_intake", ("sqs", "secretsmanager")
    ),
    HandlerTarget(
        "payload_sanitizer",
        "functions.payload_sanitizer.app",
        "payload_sanitizer",
        ("dynamodb", "s3", "secretsmanager", "sns"),
    ),
    HandlerTarget("admin_api", "functions.admin_api.app", "order_queries", ("dynamodb",)),
)

# The probes import nothing before the clock starts but the timer and json (both built in or
# already loaded by the interpreter): what is timed is the import and the build.
HANDLER_PROBE = """
import time
started, cpu_started = time.perf_counter(), time.process_time()
import importlib
importlib.import_module({module!r})
imported = time.perf_counter()
from oms import composition
composition.{build}()
built, cpu_built = time.perf_counter(), time.process_time()
import json, sys
print(json.dumps({{"import_s": imported - started, "build_s": built - imported, "total_s": built - started,
                  "cpu_s": cpu_built - cpu_started, "modules": len(sys.modules)}}))
"""

FLOOR_PROBE = """
import time
started, cpu_started = time.perf_counter(), time.process_time()
import boto3
imported = time.perf_counter()
{clients}
built, cpu_built = time.perf_counter(), time.process_time()
import json, sys
print(json.dumps({{"import_s": imported - started, "build_s": built - imported, "total_s": built - started,
                  "cpu_s": cpu_built - cpu_started, "modules": len(sys.modules)}}))
"""


def floor_probe(services: Sequence[str], *, session_per_client: bool = False) -> str:
    """The floor's probe: one session and its clients (or, to compare, one session per client)."""
    if session_per_client:
        clients = "\n".join(f"boto3.session.Session().client({service!r})" for service in services)
    else:
        clients = "session = boto3.session.Session()\n" + "\n".join(
            f"session.client({service!r})" for service in services
        )
    return FLOOR_PROBE.format(clients=clients)


def probe_env() -> dict[str, str]:
    """A Lambda-like environment: the template's variables (dummy values) and no AWS network."""
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)]),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            # Powertools looks at this to decide it runs in Lambda (and traces, as Tracing: Active does).
            "AWS_LAMBDA_FUNCTION_NAME": "bench-cold-start",
            # Lambda sets this; the X-Ray SDK looks at it to take the trace from Lambda instead of
            # building a centralized-sampling X-Ray client at import (about 0.1-0.2 s that Lambda never pays).
            "LAMBDA_TASK_ROOT": str(ROOT),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "POWERTOOLS_SERVICE_NAME": "order-center",
            "POWERTOOLS_METRICS_NAMESPACE": "OrderCenter",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "STAGE": "dev",
            "ORDERS_TABLE": "bench-orders",
            "OPS_TABLE": "bench-ops",
            "IDEMPOTENCY_TABLE": "bench-idempotency",
            "INTAKE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench.fifo",
            "RAW_ARCHIVE_BUCKET": "bench-raw",
            "PLATFORM_SECRET_PREFIX": "bench/platforms/",
            "PLATFORM_BASE_URLS": "{}",
        }
    )
    # Bytecode caches are written on the warm-up runs, as a deployment package would ship them.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_probe(code: str, env: Mapping[str, str], *, importtime: bool = False) -> tuple[dict[str, float], str]:
    """Run one probe in a fresh interpreter; its timings, and its stderr (``-X importtime``)."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and probe
        command, env=dict(env), cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    if completed.returncode != 0:
        raise RuntimeError(f"cold-start probe failed:\n{completed.stderr[-2000:]}")
    timings: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return timings, completed.stderr


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def parse_importtime(stderr: str) -> dict[str, int]:
    """Module → self time (µs) from ``-X importtime`` output."""
    modules: dict[str, int] = {}
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            modules[match.group(4)] = int(match.group(1))
    return modules


def import_costs(handler: Mapping[str, int], floor: Mapping[str, int], *, top: int = 8) -> dict[str, Any]:
    """What the handler imports beyond the floor, by top-level package and by module (ms, self time)."""
    extra = {module: micros for module, micros in handler.items() if module not in floor}
    packages: dict[str, int] = defaultdict(int)
    for module, micros in extra.items():
        packages[module.split(".")[0]] += micros
    by_package = sorted(packages.items(), key=lambda entry: -entry[1])[:top]
    by_module = sorted(extra.items(), key=lambda entry: -entry[1])[:top]
    return {
        "extra_modules": len(extra),
        "extra_ms": sum(extra.values()) / 1000,
        "floor_ms": sum(floor.values()) / 1000,
        "packages_ms": {name: micros / 1000 for name, micros in by_package},
        "modules_ms": {name: micros / 1000 for name, micros in by_module},
    }


def _median(samples: Sequence[Mapping[str, float]], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


def measure(
    samples: int = 11, *, warmup: int = 1, targets: Sequence[HandlerTarget] = TARGETS
) -> dict[str, Any]:
    """Cold-start medians per handler and floor, their ratio, and the import attribution.

    Parameters
    ----------
    samples:
        Fresh processes per side and handler (each figure is their median).
    warmup:
        Untimed runs first, so bytecode caches exist for both sides.
    """
    env = probe_env()
    results: dict[str, Any] = {"samples": samples, "python": sys.version.split()[0], "handlers": {}}
    for target in targets:
        handler_code = HANDLER_PROBE.format(module=target.module, build=target.build)
        floor_code = floor_probe(target.services)
        split_code = floor_probe(target.services, session_per_client=True)
        for _ in range(warmup):
            run_probe(handler_code, env)
            run_probe(floor_code, env)
        handler_runs, floor_runs, split_runs = [], [], []
        for _ in range(samples):
            handler_runs.append(run_probe(handler_code, env)[0])
            floor_runs.append(run_probe(floor_code, env)[0])
            split_runs.append(run_probe(split_code, env)[0])
        _, handler_trace = run_probe(handler_code, env, importtime=True)
        _, floor_trace = run_probe(floor_code, env, importtime=True)
        handler_total = _median(handler_runs, "total_s")
        floor_total = _median(floor_runs, "total_s")
        handler_cpu = _median(handler_runs, "cpu_s")
        floor_cpu = _median(floor_runs, "cpu_s")
        results["handlers"][target.name] = {
            "clients": list(target.services),
            "handler_s": handler_total,
            "handler_import_s": _median(handler_runs, "import_s"),
            "handler_build_s": _median(handler_runs, "build_s"),
            "handler_modules": int(_median(handler_runs, "modules")),
            "floor_s": floor_total,
            "floor_import_s": _median(floor_runs, "import_s"),
            "floor_clients_s": _median(floor_runs, "build_s"),
            "floor_modules": int(_median(floor_runs, "modules")),
            "session_per_client_clients_s": _median(split_runs, "build_s"),
            "ratio": handler_total / floor_total,
            "handler_cpu_s": handler_cpu,
            "floor_cpu_s": floor_cpu,
            "ratio_cpu": handler_cpu / floor_cpu,
            "imports_beyond_floor": import_costs(
                parse_importtime(handler_trace), parse_importtime(floor_trace)
            ),
        }
    return results
