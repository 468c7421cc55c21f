"""What a handler's cold start loads, checked in a fresh interpreter set up as Lambda sets it up.

Not a timing (the benchmark measures those): the modules that must stay off a cold start (D150, D152).
"""

from __future__ import annotations

import json
import subprocess
import sys

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
