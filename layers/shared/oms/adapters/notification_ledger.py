"""What was delivered where, and how many messages each robot sent this minute (Ops table).

=================  ==================================  ====================================
item               PK / SK                             written with
=================  ==================================  ====================================
delivery claim     ``ALERT#<dedupe key>`` /            PutItem ``attribute_not_exists(PK)``
                   ``CHANNEL#<channel id>``            (or a stale ``sending`` claim)
rate window        ``NOTIFYRATE#<channel id>`` /       UpdateItem ``ADD sent 1`` if
                   ``<yyyy-mm-ddThh:mm>``              ``sent < limit``
=================  ==================================  ====================================

A claim is taken before a message is sent and confirmed after; a failed send releases it (only
its own claim: the condition checks the token), so a retry can deliver. A claim left
``sending`` by a process that died is taken over after :data:`STALE_CLAIM`. Both kinds expire
through the table's TTL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated

STALE_CLAIM = timedelta(minutes=5)
DELIVERY_RETENTION = timedelta(days=35)
WINDOW_RETENTION = timedelta(hours=1)


class DynamoNotificationLedger:
    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._dynamodb = dynamodb

    @staticmethod
    def _key(dedupe_key: str, channel: str) -> dict[str, Any]:
        return {"PK": {"S": f"ALERT#{dedupe_key}"}, "SK": {"S": f"CHANNEL#{channel}"}}

    def claim(self, dedupe_key: str, channel: str, token: str, now: datetime) -> bool:
        """True when this caller may send (nobody delivered or is delivering this alert on this channel)."""
        with translated("claim alert delivery"):
            try:
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item={
                        **self._key(dedupe_key, channel),
                        "type": {"S": "alert_delivery"},
                        "status": {"S": "sending"},
                        "token": {"S": token},
                        "claimed_at": {"S": now.isoformat()},
                        "expires_at": {"N": str(int((now + DELIVERY_RETENTION).timestamp()))},
                    },
                    ConditionExpression=(
                        "attribute_not_exists(PK) OR (#status = :sending AND claimed_at < :stale)"
                    ),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":sending": {"S": "sending"},
                        ":stale": {"S": (now - STALE_CLAIM).isoformat()},
                    },
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def confirm(self, dedupe_key: str, channel: str, token: str, receipt: str, now: datetime) -> None:
        with translated("confirm alert delivery"):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key=self._key(dedupe_key, channel),
                    UpdateExpression="SET #status = :sent, receipt = :receipt, sent_at = :now",
                    ConditionExpression="#token = :token",
                    ExpressionAttributeNames={"#status": "status", "#token": "token"},
                    ExpressionAttributeValues={
                        ":sent": {"S": "sent"},
                        ":receipt": {"S": receipt[:500]},
                        ":now": {"S": now.isoformat()},
                        ":token": {"S": token},
                    },
                )
            except ClientError as error:
                # Taken over as stale while we were sending: the other sender owns the record now.
                if error_code(error) != "ConditionalCheckFailedException":
                    raise

    def release(self, dedupe_key: str, channel: str, token: str) -> None:
        with translated("release alert delivery"):
            try:
                self._dynamodb.delete_item(
                    TableName=self._table,
                    Key=self._key(dedupe_key, channel),
                    ConditionExpression="#token = :token",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise

    def take_slot(self, channel: str, now: datetime, limit: int) -> bool:
        """One message more for ``channel`` in this minute, if fewer than ``limit`` were sent."""
        window = now.strftime("%Y-%m-%dT%H:%M")
        with translated("take notification slot"):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"PK": {"S": f"NOTIFYRATE#{channel}"}, "SK": {"S": window}},
                    UpdateExpression="ADD sent :one SET expires_at = :expires, #type = :type",
                    ConditionExpression="attribute_not_exists(sent) OR sent < :limit",
                    ExpressionAttributeNames={"#type": "type"},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(limit)},
                        ":expires": {"N": str(int((now + WINDOW_RETENTION).timestamp()))},
                        ":type": {"S": "notify_rate"},
                    },
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True
