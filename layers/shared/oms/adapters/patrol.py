"""The reconciliation patrol's adapters: open orders by the status index, the platforms' truth,
the patrol queue and the patrol's records in the Ops table.

Patrol items (Ops table, ``docs/access-patterns.md``)::

    PATROL#<patrol id> / #PATROL      started_at, orders, chunks, done, reported_at
    PATROL#<patrol id> / CHUNK#<n>    one chunk's results (JSON), written once

Both expire 30 days after the patrol (``expires_at``); the report in S3 stays.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from oms.adapters.aws import error_code, translate, translated
from oms.adapters.orders_table import from_attributes, to_attributes
from oms.adapters.platform_clients import PlatformClients
from oms.domain.cleaning import DEFAULT_RULES, clean_payload
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import ConcurrentUpdateError, CredentialsMissingError, StorageError
from oms.domain.model import OrderEvent, Platform
from oms.domain.status import OPEN_STATUSES
from oms.platforms import get_adapter
from oms.platforms.base import HttpTransport, PlatformClient
from oms.services.ports import Clock, SecretStore
from oms.services.reconcile import OpenOrderRef, PatrolStart

PATROL_SK = "#PATROL"
CHUNK_PREFIX = "CHUNK#"
KEEP_RECORDS = timedelta(days=30)
#: The push message each adapter's ``parse`` expects beside a fetched snapshot, when the snapshot
#: alone is the order (Douyin wraps its message fields in ``data``).
SNAPSHOT_MESSAGES: Mapping[Platform, Mapping[str, Any]] = {Platform.DOUYIN: {"data": {}}}


def patrol_pk(patrol_id: str) -> str:
    return f"PATROL#{patrol_id}"


class DynamoOpenOrderIndex:
    """Open orders from GSI1 (``STATUS#<platform>#<status>`` / ``<status since>#<order id>``).

    One Query (paged) per platform and open status: the cost follows the open orders only.
    """

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def open_orders(self, settled_before: datetime) -> Iterator[OpenOrderRef]:
        for platform in Platform:
            for status in sorted(OPEN_STATUSES):
                kwargs: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": "GSI1",
                    "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK < :before",
                    "ExpressionAttributeValues": to_attributes(
                        {":pk": f"STATUS#{platform}#{status}", ":before": settled_before.isoformat()}
                    ),
                }
                while True:
                    with translated("Query", index="GSI1"):
                        page = self._dynamodb.query(**kwargs)
                    for raw in page.get("Items", []):
                        item = from_attributes(raw)
                        yield OpenOrderRef(
                            order_id=str(item["order_id"]),
                            platform=platform,
                            shop_id=str(item["shop_id"]),
                            platform_order_id=str(item["platform_order_id"]),
                        )
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class SignedPlatformTruth:
    """Each platform's order API through its signed client; the snapshot cleaned and parsed.

    The app is the one named by the shop (Shopify, WeChat: the shop is the app) or else the
    platform's only app; the built-in cleaning rules apply, as they do to a fetched snapshot.
    """

    def __init__(
        self, *, secrets: SecretStore, transport: HttpTransport, base_urls: Mapping[str, str], clock: Clock
    ) -> None:
        self._clients = PlatformClients(
            secrets=secrets, transport=transport, base_urls=base_urls, clock=clock
        )
        self._clock = clock

    def fetch(self, platform: Platform, shop_id: str, platform_order_id: str) -> OrderEvent:
        app_id, client = self._client(platform, shop_id)
        snapshot, applied = clean_payload(
            client.fetch_order(shop_id, platform_order_id), platform, DEFAULT_RULES
        )
        now = self._clock()
        envelope = IntakeEnvelope(
            trace_id=uuid.uuid4().hex,
            platform=platform,
            app_id=app_id,
            received_at=now,
            dedupe_id=f"reconcile-{platform_order_id}"[:128],
            message_group=f"{platform}:{shop_id}:{platform_order_id}"[:128],
            shop_id=shop_id,
            platform_order_id=platform_order_id,
            event_hint="reconcile",
            raw="{}",
        )
        message = dict(SNAPSHOT_MESSAGES.get(platform, {}))
        event = get_adapter(platform).parse(message, snapshot, envelope)
        return event.model_copy(update={"cleaning": applied})

    def _client(self, platform: Platform, shop_id: str) -> tuple[str, PlatformClient]:
        try:
            return self._clients.get(platform, shop_id)
        except CredentialsMissingError:
            return self._clients.get(platform, None)


class SqsPatrolQueue:
    def __init__(self, queue_url: str, sqs: Any) -> None:
        self._queue_url = queue_url
        self._sqs = sqs

    def send(self, messages: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(index), "MessageBody": json.dumps(message, separators=(",", ":"))}
                for index, message in enumerate(messages[start : start + 10])
            ]
            with translated("SendMessageBatch"):
                response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if response.get("Failed"):
                raise StorageError(
                    "the patrol queue refused messages",
                    codes=[item.get("Code", "") for item in response["Failed"]],
                )


class DynamoPatrolLog:
    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def start(self, patrol: PatrolStart) -> None:
        item = {
            "PK": patrol_pk(patrol.patrol_id),
            "SK": PATROL_SK,
            "type": "patrol",
            "started_at": patrol.started_at.isoformat(),
            "orders": patrol.orders,
            "chunks": patrol.chunks,
            "done": 0,
            "expires_at": int((patrol.started_at + KEEP_RECORDS).timestamp()),
        }
        with translated("PutItem", patrol=patrol.patrol_id):
            self._dynamodb.put_item(
                TableName=self._table,
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(PK)",
            )

    def record_chunk(self, patrol_id: str, chunk: int, result: Mapping[str, Any]) -> bool:
        record = {
            "PK": patrol_pk(patrol_id),
            "SK": f"{CHUNK_PREFIX}{chunk:06d}",
            "type": "patrol_chunk",
            "results": json.dumps(result, separators=(",", ":"), default=str),
            "expires_at": int(time.time() + KEEP_RECORDS.total_seconds()),
        }
        actions = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_attributes(record),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_attributes({"PK": patrol_pk(patrol_id), "SK": PATROL_SK}),
                    "UpdateExpression": "ADD done :one",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": to_attributes({":one": 1}),
                }
            },
        ]
        try:
            self._dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as error:
            reasons = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
            if error_code(error) == "TransactionCanceledException" and reasons[:1] == [
                "ConditionalCheckFailed"
            ]:
                return False  # this chunk was counted by an earlier delivery
            raise translate(error, "TransactWriteItems", patrol=patrol_id) from error
        except BotoCoreError as error:
            raise translate(error, "TransactWriteItems", patrol=patrol_id) from error
        return True

    def claim_report(self, patrol_id: str, now: datetime) -> PatrolStart | None:
        try:
            with translated("UpdateItem", patrol=patrol_id):
                response = self._dynamodb.update_item(
                    TableName=self._table,
                    Key=to_attributes({"PK": patrol_pk(patrol_id), "SK": PATROL_SK}),
                    UpdateExpression="SET reported_at = :now",
                    ConditionExpression=(
                        "attribute_exists(PK) AND done = chunks AND attribute_not_exists(reported_at)"
                    ),
                    ExpressionAttributeValues=to_attributes({":now": now.isoformat()}),
                    ReturnValues="ALL_NEW",
                )
        except ConcurrentUpdateError:
            return None  # not every chunk is in yet, or another worker claimed the report
        item = from_attributes(response["Attributes"])
        return PatrolStart(
            patrol_id=patrol_id,
            started_at=datetime.fromisoformat(str(item["started_at"])),
            orders=int(item["orders"]),
            chunks=int(item["chunks"]),
        )

    def chunk_results(self, patrol_id: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :chunk)",
            "ExpressionAttributeValues": to_attributes({":pk": patrol_pk(patrol_id), ":chunk": CHUNK_PREFIX}),
            "ConsistentRead": True,
        }
        chunks: list[dict[str, Any]] = []
        while True:
            with translated("Query", patrol=patrol_id):
                page = self._dynamodb.query(**kwargs)
            chunks += [json.loads(from_attributes(item)["results"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return chunks
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
