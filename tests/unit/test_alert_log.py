"""The log-and-metric alert sink: every alert is one structured log line and one AlertsRaised metric."""

from __future__ import annotations

import json
import logging

import pytest

from oms.adapters.alert_log import LoggedAlerts
from oms.domain.alerts import Alert, Severity


def test_each_alert_is_a_structured_warning_and_a_metric(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OrderCenterTest")
    alert = Alert(
        kind="reconcile.conflicts",
        severity=Severity.WARNING,
        title="3 orders disagree with their platform",
        dedupe_key="patrol-2026-11-24T02:15",
        lines=("douyin: 2", "shopify: 1"),
        facts={"conflicts": 3},
        recipient_role="duty_manager",
    )

    with caplog.at_level(logging.WARNING):
        LoggedAlerts().raise_alerts([alert])

    (record,) = [record for record in caplog.records if record.getMessage() == alert.title]
    assert record.levelno == logging.WARNING
    fields = {
        name: getattr(record, f"alert_{name}")
        for name in ("kind", "severity", "dedupe_key", "lines", "facts")
    }
    assert fields == {
        "kind": "reconcile.conflicts",
        "severity": "warning",
        "dedupe_key": "patrol-2026-11-24T02:15",
        "lines": ["douyin: 2", "shopify: 1"],
        "facts": {"conflicts": 3},
    }
    (metric,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metric["AlertsRaised"] in ([1.0], 1.0)
    assert (metric["kind"], metric["severity"]) == ("reconcile.conflicts", "warning")
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OrderCenterTest"
