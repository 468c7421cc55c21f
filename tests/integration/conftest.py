"""One local stack per test module, on ephemeral ports (``pytest -n 2`` runs modules side by side)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.stack import LocalStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The whole local stack; poison messages reach the DLQ after 2 receives instead of 5."""
    log: Path = tmp_path_factory.mktemp("functions") / "functions.log"
    with LocalStack(api_port=0, parameter_overrides={"MaxReceiveCount": 2}, function_log=log) as running:
        yield running


@pytest.fixture
def drained(stack: LocalStack) -> LocalStack:
    """The stack with its queue drained before the test starts (no leftovers between tests)."""
    assert stack.drain(timeout=60), "the intake queue did not drain"
    return stack
