"""The FIFO intake queue: one SendMessageBatch per push, whatever the number of messages in it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms.adapters.aws import translated
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import StorageError
from oms.services.intake import deduplication_id

#: SendMessageBatch takes at most 10 entries and 256 KiB in all.
BATCH_ENTRIES = 10
BATCH_BYTES = 256 * 1024


class SqsIntakeQueue:
    def __init__(self, queue_url: str, sqs: Any) -> None:
        self._queue_url = queue_url
        self._sqs = sqs

    def send(self, envelopes: Sequence[IntakeEnvelope]) -> None:
        """One SendMessageBatch per push; more only when a push exceeds one batch's limits."""
        for entries in _batches([_entry(index, envelope) for index, envelope in enumerate(envelopes)]):
            with translated("SendMessageBatch"):
                response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if response.get("Failed"):
                failed = [entry.get("Code", "") for entry in response["Failed"]]
                raise StorageError("the intake queue refused messages", codes=failed)


def _entry(index: int, envelope: IntakeEnvelope) -> dict[str, Any]:
    return {
        "Id": str(index),
        "MessageBody": envelope.model_dump_json(exclude_none=True),
        "MessageGroupId": envelope.message_group,
        "MessageDeduplicationId": deduplication_id(envelope),
        "MessageAttributes": {
            "trace_id": {"DataType": "String", "StringValue": envelope.trace_id},
            "platform": {"DataType": "String", "StringValue": str(envelope.platform)},
        },
    }


def _batches(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for entry in entries:
        entry_size = len(entry["MessageBody"].encode())
        if batches[-1] and (len(batches[-1]) == BATCH_ENTRIES or size + entry_size > BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += entry_size
    return batches
