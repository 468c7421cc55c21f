"""Security tests run the real handlers against moto, with the functional suite's fixtures.

The fixtures are re-exported (not copied) so both suites deploy the same template the same way;
``emf`` turns metrics on (the functional stack turns them off) and reads the EMF lines printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.functional.conftest import app_model, credentials, simulator, stack

__all__ = ["app_model", "credentials", "emf", "simulator", "stack"]

EmfReader = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def emf(stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> EmfReader:
    """Metrics on; calling the fixture returns (and consumes) the EMF records printed so far."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OrderCenter")
    capsys.readouterr()

    def read() -> list[dict[str, Any]]:
        records = []
        for line in capsys.readouterr().out.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "_aws" in record:
                records.append(record)
        return records

    return read
