"""The Ops table: failure records by trace id, indexed for the failure search.

``PK = TRACE#<trace_id>``, ``SK = FAILURE#<receive count>#<stage>``: one record per attempt, so a
message retried five times before the DLQ shows five attempts, and a retried write of the same
attempt is idempotent. GSI1 (``FAILED#<platform>`` / ``<time>#<trace>``) lists failures newest first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from oms.adapters.aws import translated
from oms.adapters.orders_table import to_attributes
from oms.domain.model import FailureRecord

#: Failure records are kept for this long (TTL only cleans up; nothing relies on it).
FAILURE_RETENTION = timedelta(days=90)


class DynamoFailureLog:
    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def record(self, failure: FailureRecord) -> None:
        body = failure.model_dump(mode="json", exclude_none=True)
        item = {
            "PK": f"TRACE#{failure.trace_id}",
            "SK": f"FAILURE#{failure.receive_count:04d}#{failure.stage}",
            "type": "failure",
            "GSI1PK": f"FAILED#{failure.platform or 'unknown'}",
            "GSI1SK": f"{failure.occurred_at.isoformat()}#{failure.trace_id}",
            "expires_at": int((failure.occurred_at + FAILURE_RETENTION).timestamp()),
            **body,
        }
        with translated("PutItem", trace_id=failure.trace_id):
            self._dynamodb.put_item(TableName=self._table, Item=to_attributes(item))
