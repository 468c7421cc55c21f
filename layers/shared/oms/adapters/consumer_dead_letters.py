"""A consumer's DLQ and its source queue, for a redrive to source (``oms.services.consumer_redrive``).

SQS's ``StartMessageMoveTask`` is the managed way to move a whole DLQ back; it cannot pick messages
(one order's, one platform's) nor say which message went where, and moto does not implement it. So
this adapter receives from the DLQ, sends each chosen letter to the source queue (its body and
message attributes unchanged, plus ``redrive_count``), and deletes it from the DLQ only once the
source accepted it: a crash in between leaves a copy in both, which the consumers' idempotency on
``change_id`` makes harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms.adapters.aws import translated
from oms.adapters.dead_letter_queue import BATCH, REDRIVE_ATTRIBUTE
from oms.services.ports import DeadLetter

_DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class SqsConsumerDeadLetters:
    """:class:`~oms.services.ports.ConsumerDeadLetters` between a standard DLQ and its source queue."""

    def __init__(self, dlq_url: str, source_url: str, sqs: Any) -> None:
        self._dlq_url = dlq_url
        self._source_url = source_url
        self._sqs = sqs

    def depth(self) -> int:
        with translated("GetQueueAttributes"):
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._dlq_url, AttributeNames=list(_DEPTH_ATTRIBUTES)
            )["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in _DEPTH_ATTRIBUTES)

    def receive(self, max_messages: int, *, hold_seconds: int) -> list[DeadLetter]:
        with translated("ReceiveMessage"):
            reply = self._sqs.receive_message(
                QueueUrl=self._dlq_url,
                MaxNumberOfMessages=max(1, min(max_messages, BATCH)),
                VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        return [
            DeadLetter(
                message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                body=message["Body"],
                group_id=None,
                attributes={
                    name: str(value.get("StringValue", ""))
                    for name, value in message.get("MessageAttributes", {}).items()
                    if value.get("DataType", "String").startswith(("String", "Number"))
                },
                receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
            for message in reply.get("Messages", [])
        ]

    def release(self, letters: Sequence[DeadLetter]) -> None:
        for start in range(0, len(letters), BATCH):
            with translated("ChangeMessageVisibilityBatch"):
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self._dlq_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                        for index, letter in enumerate(letters[start : start + BATCH])
                    ],
                )

    def move_back(self, letters: Sequence[DeadLetter]) -> dict[str, str | None]:
        moved: dict[str, str | None] = {}
        for start in range(0, len(letters), BATCH):
            chunk = letters[start : start + BATCH]
            with translated("SendMessageBatch"):
                reply = self._sqs.send_message_batch(
                    QueueUrl=self._source_url,
                    Entries=[_entry(str(index), letter) for index, letter in enumerate(chunk)],
                )
            sent = {entry["Id"]: entry["MessageId"] for entry in reply.get("Successful", [])}
            delete = []
            for index, letter in enumerate(chunk):
                moved[letter.message_id] = sent.get(str(index))
                if str(index) in sent:
                    delete.append({"Id": str(index), "ReceiptHandle": letter.receipt_handle})
            if delete:
                with translated("DeleteMessageBatch"):
                    self._sqs.delete_message_batch(QueueUrl=self._dlq_url, Entries=delete)
        return moved


def _entry(entry_id: str, letter: DeadLetter) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in letter.attributes.items()
        if name != REDRIVE_ATTRIBUTE and value
    }
    previous = letter.attributes.get(REDRIVE_ATTRIBUTE, "0")
    redrive = int(previous) + 1 if previous.isdigit() else 1
    attributes[REDRIVE_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(redrive)}
    return {"Id": entry_id, "MessageBody": letter.body, "MessageAttributes": attributes}
