"""Polling cursors in the Ops table, and the app listing the order poller needs.

Item: ``PK = CURSOR#<platform>#<app id>#<shop id>``, ``SK = CURSOR``, ``position`` (ISO 8601 UTC),
``version`` (a number, +1 per move). A move is a conditional write on the version the run read,
so of two overlapping runs only one moves a cursor; the other learns it lost and stops.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oms.adapters.aws import translated
from oms.adapters.orders_table import from_attributes, to_attributes
from oms.adapters.secrets import SecretsManagerStore
from oms.domain.errors import ConcurrentUpdateError
from oms.domain.model import Platform
from oms.services.polling import Cursor

CURSOR_SK = "CURSOR"


def cursor_pk(key: str) -> str:
    return f"CURSOR#{key}"


class DynamoCursorStore:
    """:class:`~oms.services.polling.CursorStore` on the Ops table."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def load(self, key: str) -> Cursor | None:
        with translated("GetItem", cursor=key):
            response = self._dynamodb.get_item(
                TableName=self._table,
                Key=to_attributes({"PK": cursor_pk(key), "SK": CURSOR_SK}),
                ConsistentRead=True,
            )
        item = response.get("Item")
        if not item:
            return None
        values = from_attributes(item)
        return Cursor(position=datetime.fromisoformat(values["position"]), version=int(values["version"]))

    def advance(self, key: str, position: datetime, expected_version: int | None) -> bool:
        item = {
            "PK": cursor_pk(key),
            "SK": CURSOR_SK,
            "type": "cursor",
            "position": position.isoformat(),
            "version": (expected_version or 0) + 1,
        }
        request: dict[str, Any] = {"TableName": self._table, "Item": to_attributes(item)}
        if expected_version is None:
            request["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            request["ConditionExpression"] = "version = :expected"
            request["ExpressionAttributeValues"] = to_attributes({":expected": expected_version})
        try:
            with translated("PutItem", cursor=key):
                self._dynamodb.put_item(**request)
        except ConcurrentUpdateError:
            return False
        return True


class PollingSecretStore(SecretsManagerStore):
    """The secret store, plus the list of apps configured for a platform (the poller walks them)."""

    def app_ids(self, platform: Platform) -> list[str]:
        return sorted(self._apps(platform))
