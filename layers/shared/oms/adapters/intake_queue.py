"""The FIFO intake queue: one SendMessageBatch per push, whatever the number of messages in it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms.adapters.aws import translated
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import StorageError
from oms.services.intake import deduplication_id

#: SendMessageBatch takes at most 10 entries.
BATCH_LIMIT = 10


class SqsIntakeQueue:
    def __init__(self, queue_url: str, sqs: Any) -> None:
        self._queue_url = queue_url
        self._sqs = sqs

    def send(self, envelopes: Sequence[IntakeEnvelope]) -> None:
        for start in range(0, len(envelopes), BATCH_LIMIT):
            chunk = envelopes[start : start + BATCH_LIMIT]
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": envelope.model_dump_json(exclude_none=True),
                    "MessageGroupId": envelope.message_group,
                    "MessageDeduplicationId": deduplication_id(envelope),
                    "MessageAttributes": {
                        "trace_id": {"DataType": "String", "StringValue": envelope.trace_id},
                        "platform": {"DataType": "String", "StringValue": str(envelope.platform)},
                    },
                }
                for index, envelope in enumerate(chunk)
            ]
            with translated("SendMessageBatch"):
                response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if response.get("Failed"):
                failed = [entry.get("Code", "") for entry in response["Failed"]]
                raise StorageError("the intake queue refused messages", codes=failed)
