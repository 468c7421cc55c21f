"""A publisher of order changes that keeps what it was given (and can refuse, like SNS throttling)."""

from __future__ import annotations

from typing import Any

from oms.domain.errors import StorageError
from oms.domain.order_events import OrderChanged


class RecordingPublisher:
    def __init__(self, *, refuse: int = 0) -> None:
        self.published: list[OrderChanged] = []
        self._refusals_left = refuse

    def publish(self, change: OrderChanged) -> None:
        if self._refusals_left:
            self._refusals_left -= 1
            raise StorageError("Publish failed: Throttling")
        self.published.append(change)

    @property
    def change_ids(self) -> list[str]:
        return [change.change_id for change in self.published]


def subscribe_probe(stack: Any, name: str) -> str:
    """A queue of the local stack subscribed to the order events topic, as each capability has one."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    queue_url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=stack.deployed.arns["OrderEventsTopic"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return queue_url


def received_changes(stack: Any, queue_url: str) -> list[OrderChanged]:
    """Every change waiting on a probe queue (taken off it)."""
    sqs = stack.client("sqs")
    changes: list[OrderChanged] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        changes += [OrderChanged.from_json(message["Body"]) for message in batch]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return changes
