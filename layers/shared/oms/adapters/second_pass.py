"""The sync's second pass 30 s after the first: a one-shot EventBridge Scheduler schedule (D100).

The first pass creates ``at(<its scheduled time + 30 s>)`` targeting the poller itself, named
after that time, with ``ActionAfterCompletion: DELETE``. The name makes it idempotent: a retried
first pass meets ``ConflictException`` and plans nothing twice. Nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated

SCHEDULE_PREFIX = "inventory-second-pass-"


class SecondPassScheduler:
    def __init__(self, scheduler: Any, *, role_arn: str, group: str = "default") -> None:
        self._scheduler = scheduler
        self._role_arn = role_arn
        self._group = group

    def plan(self, first_pass: datetime, function_arn: str, delay: timedelta) -> bool:
        """Schedule the second pass; False when the first pass had planned it already."""
        due = (first_pass + delay).astimezone(UTC)
        name = f"{SCHEDULE_PREFIX}{first_pass.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        event = {
            "pass": "second",
            "first_pass": first_pass.astimezone(UTC).isoformat(),
            "due": due.isoformat(),
        }
        with translated("create schedule", name=name):
            try:
                self._scheduler.create_schedule(
                    Name=name,
                    GroupName=self._group,
                    ScheduleExpression=f"at({due:%Y-%m-%dT%H:%M:%S})",
                    ScheduleExpressionTimezone="UTC",
                    FlexibleTimeWindow={"Mode": "OFF"},
                    ActionAfterCompletion="DELETE",
                    Target={
                        "Arn": function_arn,
                        "RoleArn": self._role_arn,
                        "Input": json.dumps(event),
                        "RetryPolicy": {"MaximumRetryAttempts": 0},
                    },
                )
            except ClientError as error:
                if error_code(error) == "ConflictException":
                    return False
                raise
        return True
