"""Capacity, overflow and pre-flight items in the Ops table.

======================  =====================================  ==========================================
item                    PK / SK                                notes
======================  =====================================  ==========================================
warehouse capacity      ``FULFILCONFIG`` / ``WAREHOUSE#<id>``  versioned: written over the version read
pre-flight config       ``FULFILCONFIG`` / ``PREFLIGHT``       versioned likewise
overflow episode        ``OVERFLOW`` / ``<warehouse>``         ``active``, ``since`` (names the episode)
arrivals                ``ARRIVALS#<warehouse>`` / ``<hour>``  counted with the deadline's first write
pre-flight result       ``PREFLIGHT#<order id>`` / ``CHECK``   GSI1 ``PREFLIGHT#blocked`` while held
======================  =====================================  ==========================================

Every write is conditional: a configuration on the version its writer read; an episode opens only
when none is active and closes only the episode its closer read; a pre-flight result is written only
by a newer order version, and released only from the blocked state its re-check read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from oms.adapters.aws import error_code, translated
from oms.domain.capacity import WarehouseCapacity, arrival_hour
from oms.domain.errors import FulfilmentConfigConflictError, FulfilmentConfigInvalidError
from oms.domain.preflight import PreflightConfig, PreflightResult

CONFIG_PK = "FULFILCONFIG"
OVERFLOW_PK = "OVERFLOW"
BLOCKED_INDEX_PK = "PREFLIGHT#blocked"


def _conditional(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


class DynamoFulfilmentConfig:
    """Warehouse capacities and the pre-flight configuration (versioned documents)."""

    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def capacities(self) -> list[WarehouseCapacity]:
        with translated("read warehouse capacities"):
            items = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues={":pk": {"S": CONFIG_PK}, ":prefix": {"S": "WAREHOUSE#"}},
                ConsistentRead=True,
            ).get("Items", [])
        try:
            return [WarehouseCapacity.model_validate_json(item["document"]["S"]) for item in items]
        except ValidationError as error:  # written around the API (the API validates)
            raise FulfilmentConfigInvalidError("a stored warehouse capacity does not validate") from error

    def capacity(self, warehouse: str) -> WarehouseCapacity | None:
        item = self._get(f"WAREHOUSE#{warehouse}")
        return WarehouseCapacity.model_validate_json(item["document"]["S"]) if item else None

    def preflight(self) -> PreflightConfig | None:
        item = self._get("PREFLIGHT")
        return PreflightConfig.model_validate_json(item["document"]["S"]) if item else None

    def put_capacity(self, config: WarehouseCapacity, now: datetime) -> None:
        self._put(f"WAREHOUSE#{config.warehouse}", config.version, config.model_dump_json(), now)

    def put_preflight(self, config: PreflightConfig, now: datetime) -> None:
        self._put("PREFLIGHT", config.version, config.model_dump_json(), now)

    def _get(self, sort_key: str) -> dict[str, Any] | None:
        with translated("read fulfilment config", item=sort_key):
            item: dict[str, Any] | None = self._dynamodb.get_item(
                TableName=self._table,
                Key={"PK": {"S": CONFIG_PK}, "SK": {"S": sort_key}},
                ConsistentRead=True,
            ).get("Item")
        return item

    def _put(self, sort_key: str, version: int, document: str, now: datetime) -> None:
        """Version 1 creates; version n replaces version n − 1 only (lost updates are refused)."""
        condition = "attribute_not_exists(PK)" if version == 1 else "version = :previous"
        values = {} if version == 1 else {":previous": {"N": str(version - 1)}}
        with translated("write fulfilment config", item=sort_key):
            written = _conditional(
                self._dynamodb.put_item,
                TableName=self._table,
                Item={
                    "PK": {"S": CONFIG_PK},
                    "SK": {"S": sort_key},
                    "type": {"S": "fulfilment_config"},
                    "version": {"N": str(version)},
                    "document": {"S": document},
                    "updated_at": {"S": now.isoformat()},
                },
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        if not written:
            raise FulfilmentConfigConflictError(
                "the stored configuration is not the version before this one; read it again",
                item=sort_key,
                version=version,
            )


@dataclass(frozen=True, slots=True)
class OverflowEpisode:
    warehouse: str
    active: bool
    #: When the episode opened (names it: the alert's dedupe key)
    since: datetime | None
    reason: str
    alerted: bool
    forecast: dict[str, Any]


class DynamoOverflowStates:
    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def all(self) -> dict[str, OverflowEpisode]:
        with translated("read overflow states"):
            items = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": OVERFLOW_PK}},
                ConsistentRead=True,
            ).get("Items", [])
        return {episode.warehouse: episode for episode in map(_episode, items)}

    def get(self, warehouse: str) -> OverflowEpisode | None:
        with translated("read overflow state", warehouse=warehouse):
            item = self._dynamodb.get_item(
                TableName=self._table, Key=self._key(warehouse), ConsistentRead=True
            ).get("Item")
        return _episode(item) if item else None

    def open(self, warehouse: str, since: datetime, reason: str, forecast: dict[str, Any]) -> bool:
        """Start an episode unless one is active (two planners: one opens it, one alert)."""
        with translated("open overflow episode", warehouse=warehouse):
            return _conditional(
                self._dynamodb.update_item,
                TableName=self._table,
                Key=self._key(warehouse),
                UpdateExpression=(
                    "SET active = :true, since = :since, reason = :reason, alerted = :false,"
                    " forecast = :forecast, #type = :type"
                ),
                ConditionExpression="attribute_not_exists(active) OR active = :false",
                ExpressionAttributeNames={"#type": "type"},
                ExpressionAttributeValues={
                    ":true": {"BOOL": True},
                    ":false": {"BOOL": False},
                    ":since": {"S": since.isoformat()},
                    ":reason": {"S": reason},
                    ":forecast": {"S": json.dumps(forecast, sort_keys=True)},
                    ":type": {"S": "overflow_episode"},
                },
            )

    def refresh(self, warehouse: str, since: datetime, reason: str, forecast: dict[str, Any]) -> bool:
        """The active episode's latest forecast (what new orders' routing reasons quote)."""
        with translated("refresh overflow episode", warehouse=warehouse):
            return _conditional(
                self._dynamodb.update_item,
                TableName=self._table,
                Key=self._key(warehouse),
                UpdateExpression="SET reason = :reason, forecast = :forecast",
                ConditionExpression="active = :true AND since = :since",
                ExpressionAttributeValues={
                    ":true": {"BOOL": True},
                    ":since": {"S": since.isoformat()},
                    ":reason": {"S": reason},
                    ":forecast": {"S": json.dumps(forecast, sort_keys=True)},
                },
            )

    def mark_alerted(self, warehouse: str, since: datetime) -> None:
        with translated("mark overflow alerted", warehouse=warehouse):
            _conditional(
                self._dynamodb.update_item,
                TableName=self._table,
                Key=self._key(warehouse),
                UpdateExpression="SET alerted = :true",
                ConditionExpression="since = :since",
                ExpressionAttributeValues={":true": {"BOOL": True}, ":since": {"S": since.isoformat()}},
            )

    def close(self, warehouse: str, since: datetime, now: datetime, forecast: dict[str, Any]) -> bool:
        with translated("close overflow episode", warehouse=warehouse):
            return _conditional(
                self._dynamodb.update_item,
                TableName=self._table,
                Key=self._key(warehouse),
                UpdateExpression="SET active = :false, cleared_at = :now, forecast = :forecast",
                ConditionExpression="active = :true AND since = :since",
                ExpressionAttributeValues={
                    ":true": {"BOOL": True},
                    ":false": {"BOOL": False},
                    ":since": {"S": since.isoformat()},
                    ":now": {"S": now.isoformat()},
                    ":forecast": {"S": json.dumps(forecast, sort_keys=True)},
                },
            )

    @staticmethod
    def _key(warehouse: str) -> dict[str, Any]:
        return {"PK": {"S": OVERFLOW_PK}, "SK": {"S": warehouse}}


def _episode(item: dict[str, Any]) -> OverflowEpisode:
    since = item.get("since", {}).get("S")
    return OverflowEpisode(
        warehouse=item["SK"]["S"],
        active=item.get("active", {}).get("BOOL", False),
        since=datetime.fromisoformat(since) if since else None,
        reason=item.get("reason", {}).get("S", ""),
        alerted=item.get("alerted", {}).get("BOOL", False),
        forecast=json.loads(item.get("forecast", {}).get("S", "{}")),
    )


class DynamoArrivals:
    """Orders that arrived at a warehouse per UTC hour (written by the SLA store's first write)."""

    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def last_two_hours(self, warehouse: str, at: datetime) -> tuple[int, int]:
        """(the previous hour's count, this hour's count)."""
        this_hour = arrival_hour(at)
        previous = arrival_hour(at - timedelta(hours=1))
        with translated("read arrivals", warehouse=warehouse):
            items = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": {"S": f"ARRIVALS#{warehouse}"},
                    ":from": {"S": previous},
                    ":to": {"S": this_hour},
                },
                ConsistentRead=True,
            ).get("Items", [])
        counts = {item["SK"]["S"]: int(item.get("arrivals", {}).get("N", "0")) for item in items}
        return counts.get(previous, 0), counts.get(this_hour, 0)


class DynamoPreflightResults:
    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def record(self, result: PreflightResult) -> bool:
        """A newer order version's dry run; False when a newer (or the same) version was recorded."""
        item: dict[str, Any] = {
            **self._key(result.order_id),
            "type": {"S": "preflight"},
            "order_id": {"S": result.order_id},
            "order_version": {"N": str(result.order_version)},
            "state": {"S": result.state},
            "warehouse": {"S": result.warehouse},
            "reasons": {"S": json.dumps(result.reasons)},
            "risk": {"S": json.dumps(result.risk)},
            "facts": {"S": json.dumps(result.facts, sort_keys=True)},
            "checked_at": {"S": result.checked_at.isoformat()},
            "config_version": {"N": str(result.config_version)},
        }
        if result.state == "blocked":
            blocked_at = result.blocked_at or result.checked_at
            item["blocked_at"] = {"S": blocked_at.isoformat()}
            item["GSI1PK"] = {"S": BLOCKED_INDEX_PK}
            item["GSI1SK"] = {"S": f"{blocked_at.isoformat()}#{result.order_id}"}
        with translated("record pre-flight", order_id=result.order_id):
            return _conditional(
                self._dynamodb.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(PK) OR order_version < :version",
                ExpressionAttributeValues={":version": {"N": str(result.order_version)}},
            )

    def release(self, result: PreflightResult, now: datetime, config_version: int) -> bool:
        """Blocked → released, only if still the blocked result of the order version read."""
        with translated("release pre-flight", order_id=result.order_id):
            return _conditional(
                self._dynamodb.update_item,
                TableName=self._table,
                Key=self._key(result.order_id),
                UpdateExpression=(
                    "SET #state = :released, released_at = :now, checked_at = :now, reasons = :none,"
                    " config_version = :config REMOVE GSI1PK, GSI1SK"
                ),
                ConditionExpression="#state = :blocked AND order_version = :version",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":released": {"S": "released"},
                    ":blocked": {"S": "blocked"},
                    ":now": {"S": now.isoformat()},
                    ":none": {"S": "[]"},
                    ":config": {"N": str(config_version)},
                    ":version": {"N": str(result.order_version)},
                },
            )

    def still_blocked(self, result: PreflightResult, reasons: list[dict[str, str]], now: datetime) -> None:
        """A re-check that still blocks: its (maybe different) reasons, if nothing changed meanwhile."""
        with translated("re-check pre-flight", order_id=result.order_id):
            _conditional(
                self._dynamodb.update_item,
                TableName=self._table,
                Key=self._key(result.order_id),
                UpdateExpression="SET reasons = :reasons, checked_at = :now",
                ConditionExpression="#state = :blocked AND order_version = :version",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":reasons": {"S": json.dumps(reasons)},
                    ":now": {"S": now.isoformat()},
                    ":blocked": {"S": "blocked"},
                    ":version": {"N": str(result.order_version)},
                },
            )

    def get(self, order_id: str) -> PreflightResult | None:
        with translated("read pre-flight", order_id=order_id):
            item = self._dynamodb.get_item(
                TableName=self._table, Key=self._key(order_id), ConsistentRead=True
            ).get("Item")
        return _result(item) if item else None

    def blocked(self, limit: int = 500) -> list[PreflightResult]:
        """Held orders, oldest first (the sparse GSI1 partition ``PREFLIGHT#blocked``)."""
        results: list[PreflightResult] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": BLOCKED_INDEX_PK}},
        }
        with translated("query blocked pre-flights"):
            while len(results) < limit:
                page = self._dynamodb.query(**kwargs)
                results += [_result(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return results[:limit]

    @staticmethod
    def _key(order_id: str) -> dict[str, Any]:
        return {"PK": {"S": f"PREFLIGHT#{order_id}"}, "SK": {"S": "CHECK"}}


def _result(item: dict[str, Any]) -> PreflightResult:
    blocked_at = item.get("blocked_at", {}).get("S")
    return PreflightResult(
        order_id=item["order_id"]["S"],
        order_version=int(item["order_version"]["N"]),
        state=item["state"]["S"],
        warehouse=item["warehouse"]["S"],
        reasons=json.loads(item["reasons"]["S"]),
        risk=json.loads(item["risk"]["S"]),
        facts=json.loads(item["facts"]["S"]),
        checked_at=datetime.fromisoformat(item["checked_at"]["S"]),
        config_version=int(item["config_version"]["N"]),
        blocked_at=datetime.fromisoformat(blocked_at) if blocked_at else None,
    )
