"""The intake DLQ, read and emptied message by message for a filtered redrive.

SQS's own ``StartMessageMoveTask`` moves a whole DLQ back; an operator fixing one platform's
payment ids wants only those messages moved, and to know which went where. So this adapter
receives from the DLQ, sends the chosen messages to the intake queue (``SendMessageBatch``: same
message group, so an order's events keep their order, and a deduplication id derived from the DLQ
message id and the redrive number, so a retried redrive is dropped by SQS while a later one is not),
then deletes them from the DLQ. A message is deleted only after the intake queue accepted it: a
crash in between leaves a copy in both, which the sanitizer's idempotency makes harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from oms.adapters.aws import translated
from oms.services.ports import DeadLetter

#: The message attribute carrying how many times a message was redriven.
REDRIVE_ATTRIBUTE = "redrive_count"
#: SQS takes at most 10 entries per batch call.
BATCH = 10


class SqsDeadLetterQueue:
    """:class:`~oms.services.ports.DeadLetterQueue` between ``IntakeDLQ`` and ``IntakeQueue``."""

    def __init__(self, dlq_url: str, intake_url: str, sqs: Any) -> None:
        self._dlq_url = dlq_url
        self._intake_url = intake_url
        self._sqs = sqs

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
        letters = []
        for message in reply.get("Messages", []):
            system = message.get("Attributes", {})
            letters.append(
                DeadLetter(
                    message_id=message["MessageId"],
                    receipt_handle=message["ReceiptHandle"],
                    body=message["Body"],
                    group_id=system.get("MessageGroupId"),
                    attributes={
                        name: str(value.get("StringValue", ""))
                        for name, value in message.get("MessageAttributes", {}).items()
                        if value.get("DataType", "String").startswith(("String", "Number"))
                    },
                    receive_count=int(system.get("ApproximateReceiveCount", "1")),
                )
            )
        return letters

    def release(self, letters: Sequence[DeadLetter]) -> None:
        for start in range(0, len(letters), BATCH):
            chunk = letters[start : start + BATCH]
            with translated("ChangeMessageVisibilityBatch"):
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self._dlq_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                        for index, letter in enumerate(chunk)
                    ],
                )

    def move(self, moves: Sequence[tuple[DeadLetter, int]]) -> dict[str, str | None]:
        moved: dict[str, str | None] = {}
        for start in range(0, len(moves), BATCH):
            chunk = moves[start : start + BATCH]
            with translated("SendMessageBatch"):
                reply = self._sqs.send_message_batch(
                    QueueUrl=self._intake_url,
                    Entries=[
                        _entry(str(index), letter, redrive) for index, (letter, redrive) in enumerate(chunk)
                    ],
                )
            sent = {entry["Id"]: entry["MessageId"] for entry in reply.get("Successful", [])}
            delete = []
            for index, (letter, _) in enumerate(chunk):
                moved[letter.message_id] = sent.get(str(index))
                if str(index) in sent:
                    delete.append({"Id": str(index), "ReceiptHandle": letter.receipt_handle})
            if delete:
                # A message sent but not deleted keeps a copy in the DLQ; a later redrive replays it,
                # and the sanitizer finds its event already recorded (no second effect).
                with translated("DeleteMessageBatch"):
                    self._sqs.delete_message_batch(QueueUrl=self._dlq_url, Entries=delete)
        return moved


def redrive_deduplication_id(letter: DeadLetter, redrive: int) -> str:
    return hashlib.sha256(f"redrive|{letter.message_id}|{redrive}".encode()).hexdigest()


def _entry(entry_id: str, letter: DeadLetter, redrive: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in letter.attributes.items()
        if name != REDRIVE_ATTRIBUTE and value
    }
    attributes[REDRIVE_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(redrive)}
    entry: dict[str, Any] = {
        "Id": entry_id,
        "MessageBody": letter.body,
        "MessageDeduplicationId": redrive_deduplication_id(letter, redrive),
        "MessageAttributes": attributes,
    }
    # A message the DLQ got without a group (never, for a FIFO source) would be refused: use its id.
    entry["MessageGroupId"] = letter.group_id or letter.message_id
    return entry
