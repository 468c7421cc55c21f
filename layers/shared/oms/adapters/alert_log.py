"""The alert sink every deployment has: a structured log line and an ``AlertsRaised`` metric.

It is the floor under the notifiers (DingTalk, Feishu, WeCom, voice): a CloudWatch alarm on the
metric or a Logs Insights query on ``alert_kind`` finds every alert even where no channel is
configured. It does not deduplicate (a log is not a delivery); delivering sinks do.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger

from oms.domain.alerts import Alert
from oms.observability import count

logger = Logger(child=True)


class LoggedAlerts:
    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            logger.warning(
                alert.title,
                extra={
                    "alert_kind": alert.kind,
                    "alert_severity": str(alert.severity),
                    "alert_dedupe_key": alert.dedupe_key,
                    "alert_lines": list(alert.lines),
                    "alert_facts": dict(alert.facts),
                    "alert_recipient_role": alert.recipient_role,
                },
            )
            count("AlertsRaised", kind=alert.kind, severity=str(alert.severity))
