"""What a handler's cold start loads, checked in a fresh interpreter set up as Lambda sets it up.

Not a timing (the benchmark measures those): the modules that must stay off a cold start (D150, D152).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.cold_start import ROOT, probe_env

PROBE = """
import json, sys
import functions.webhook_intake.app
from oms import composition
composition.webhook_intake()
intake_modules = set(sys.modules)
import functions.payload_sanitizer.app
import functions.admin_api.app
from aws_xray_sdk.core import patcher
print(json.dumps({
    "intake": sorted(m for m in intake_modules if m.split(".")[0] in {"requests", "rapidfuzz", "oms"}),
    "all": sorted(m.split(".")[0] for m in sys.modules),
    "patched": sorted(patcher._PATCHED_MODULES),
}))
"""


def test_handlers_trace_only_aws_calls_and_the_intake_loads_no_other_capability() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE], env=probe_env(), cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert loaded["patched"] == ["botocore"]  # X-Ray is on (Lambda environment) and patches botocore only
    assert "requests" not in loaded["all"]  # patch_all would have imported it
    intake = set(loaded["intake"])
    assert "oms.services.intake" in intake
    assert not intake & {"oms.domain.customers", "oms.domain.inventory", "oms.domain.settlement", "rapidfuzz"}


#: Modules each handler's cold start (import + the composition its first invocation builds) must not
#: load: other capabilities, and Powertools utilities the handler does not use (D180-D182).
FORBIDDEN_AT_COLD_START: dict[str, tuple[str, ...]] = {
    "webhook_intake": (
        "oms.services.sanitize",
        "oms.services.orders",
        "oms.domain.state_machine",
        "oms.domain.cleaning",
        "oms.domain.rules",
        "oms.domain.customers",
        "oms.domain.inventory",
        "oms.domain.settlement",
        "rapidfuzz",
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.idempotency",
        "aws_lambda_powertools.utilities.parser",
    ),
    "admin_api": (
        "oms.domain.rules",
        "oms.domain.cleaning",
        "oms.services.cleaning_rules",
        "oms.domain.stock_sync",
        "oms.domain.inventory",
        "oms.domain.customers",
        "oms.domain.settlement",
        "rapidfuzz",
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.idempotency",
    ),
}

#: pydantic models no handler validates at cold start: their schemas are built on first use (D180).
DEFERRED_MODELS = (
    "oms.domain.model:OrderEvent",
    "oms.domain.model:Order",
    "oms.domain.model:HistoryEntry",
    "oms.domain.envelope:IntakeEnvelope",
    "oms.domain.order_events:OrderChanged",
)

COLD_START_PROBE = """
import importlib, json, sys
from bench.cold_start import TARGETS
target = {{t.name: t for t in TARGETS}}[{name!r}]
importlib.import_module(target.module)
from oms import composition
getattr(composition, target.build)()
built = {{}}
for reference in {models!r}:
    module, _, name = reference.partition(":")
    if module in sys.modules:
        built[reference] = getattr(sys.modules[module], name).__pydantic_complete__
print(json.dumps({{"modules": sorted(sys.modules), "built": built}}))
"""


@pytest.mark.parametrize("handler", sorted(FORBIDDEN_AT_COLD_START))
def test_a_cold_start_loads_only_what_the_handler_uses(handler: str) -> None:
    probe = COLD_START_PROBE.format(name=handler, models=DEFERRED_MODELS)
    completed = subprocess.run(
        [sys.executable, "-c", probe], env=probe_env(), cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    modules = set(loaded["modules"])
    forbidden = {
        module
        for module in modules
        for prefix in FORBIDDEN_AT_COLD_START[handler]
        if module == prefix or module.startswith(prefix + ".")
    }
    assert not forbidden
    assert loaded["built"]  # the order models are imported (pydantic is on every path) ...
    assert not any(loaded["built"].values())  # ... but none is built before its first use
