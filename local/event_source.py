"""SQS → Lambda event source mappings, run as poller threads against the local SQS.

Each :class:`SqsPoller` does what Lambda's event source mapping does for one queue:

- ``ReceiveMessage`` with every system attribute (``ApproximateReceiveCount``,
  ``MessageGroupId``...) and every message attribute, gathering up to the mapping's batch size
  within its batching window;
- builds the real SQS event (``Records[]`` with ``messageId``, ``receiptHandle``, ``body``,
  ``attributes``, ``messageAttributes``, ``md5OfBody``, ``eventSource``, ``eventSourceARN``,
  ``awsRegion``) and invokes the function;
- deletes what succeeded. With ``ReportBatchItemFailures`` the reply's ``batchItemFailures``
  name the failures; a reply that names an unknown or empty id fails the whole batch, and so
  does a raised exception, as in Lambda;
- leaves failures on the queue. Lambda lets them reappear when the visibility timeout expires
  (minutes); locally they are made visible again after ``retry_delay_s`` through
  ``ChangeMessageVisibility``, so a replay with poison messages finishes in seconds.

Redrive to the dead-letter queue is the queue's own business, as in SQS: moto applies the
``RedrivePolicy`` on receive (a message already received ``maxReceiveCount`` times moves to the
DLQ instead of being delivered), which ``tests/unit/test_local_event_source.py`` checks. FIFO
ordering is SQS's too: a message group with messages in flight is not delivered again until they
are deleted or visible.

Idle pollers do not spin. Each waits on its queue's :class:`Doorbell`, which the local moto server
rings when a request may have made something receivable there (``SendMessage``, a visibility change
to 0; an SNS publish rings every queue's), and otherwise backs off from ``idle_wait_s`` to
``max_idle_wait_s``: a message that becomes visible by itself (a failed record after
``retry_delay_s``) is still picked up within that bound. With seven consumers, polling every 50 ms
while idle cost more CPU than the work itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Largest ReceiveMessage batch SQS allows.
SQS_MAX_RECEIVE = 10
#: Poller errors kept for the stack to report (the newest ones).
MAX_KEPT_ERRORS = 100


class Doorbell:
    """Wakes idle pollers when something may have arrived on a queue.

    A counter under a condition: a poller notes :attr:`rings` before it receives, and if the receive
    came back empty it waits for the counter to move (a ring during the receive is not lost).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rings = 0

    @property
    def rings(self) -> int:
        return self._rings

    def ring(self) -> None:
        with self._condition:
            self._rings += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the bell rang after ``seen`` (True) or ``timeout`` passed (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: self._rings != seen, timeout)


class Invocable(Protocol):
    logical_id: str

    def invoke(self, event: dict[str, object]) -> object: ...


@dataclass(frozen=True)
class QueueMapping:
    """One event source mapping: which queue feeds which function, and how.

    Parameters
    ----------
    function:
        The function to invoke.
    queue_url:
        The source queue.
    batch_size:
        Most records per invocation.
    report_batch_item_failures:
        ``FunctionResponseTypes: [ReportBatchItemFailures]``.
    maximum_batching_window_s:
        How long to keep gathering records before invoking with a partial batch.
    """

    function: Invocable
    queue_url: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_batching_window_s: float = 0.0


@dataclass
class PollerStats:
    batches: int = 0
    records: int = 0
    succeeded: int = 0
    failed: int = 0
    whole_batch_failures: int = 0
    message_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class BatchOutcome:
    succeeded: tuple[str, ...]
    failed: tuple[str, ...]
    whole_batch_failed: bool


class SqsPoller:
    """Polls one queue and invokes one function with SQS batches, like Lambda's poller.

    Parameters
    ----------
    sqs:
        A boto3 SQS client pointed at the local stack.
    mapping:
        The event source mapping.
    region:
        Reported as ``awsRegion`` in each record.
    retry_delay_s:
        Seconds before a failed record is visible again (whole seconds: SQS's unit).
    idle_wait_s:
        Pause between receives when the queue is empty (the first one after work).
    doorbell:
        Rung when a queue may have received something; without it the poller polls every
        ``idle_wait_s``.
    max_idle_wait_s:
        Longest pause between receives of an idle poller with a doorbell (each empty receive
        doubles the pause up to it); it bounds how late a record made visible by time is seen.
    batching_window_cap_s:
        Upper bound on the batching window locally (a demo should not wait 20 s for a batch).
    """

    def __init__(
        self,
        sqs: Any,
        mapping: QueueMapping,
        *,
        region: str = "us-east-1",
        retry_delay_s: int = 1,
        idle_wait_s: float = 0.05,
        batching_window_cap_s: float = 0.5,
        doorbell: Doorbell | None = None,
        max_idle_wait_s: float = 0.25,
    ) -> None:
        self._sqs = sqs
        self.mapping = mapping
        self._region = region
        self._retry_delay_s = max(0, int(retry_delay_s))
        self._idle_wait_s = idle_wait_s
        self._doorbell = doorbell
        self._max_idle_wait_s = max(idle_wait_s, max_idle_wait_s) if doorbell else idle_wait_s
        self._window_s = min(max(0.0, mapping.maximum_batching_window_s), batching_window_cap_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Event()
        self.stats = PollerStats()
        self.queue_arn: str = sqs.get_queue_attributes(
            QueueUrl=mapping.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.errors: list[str] = []

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> SqsPoller:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"sqs-poller-{self.mapping.function.logical_id}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._doorbell is not None:
            self._doorbell.ring()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        pause = self._idle_wait_s
        while not self._stop.is_set():
            rings = self._doorbell.rings if self._doorbell is not None else 0
            try:
                handled = self.poll_once()
            except Exception:
                # A poller survives errors (moto hiccup, handler import error) and keeps polling,
                # as Lambda's does; the error is kept for the stack to report.
                self.errors.append(traceback.format_exc())
                del self.errors[:-MAX_KEPT_ERRORS]
                handled = 0
            if handled:
                pause = self._idle_wait_s
                continue
            if self._doorbell is None:
                self._stop.wait(pause)
            elif not self._doorbell.wait(rings, pause):
                pause = min(pause * 2, self._max_idle_wait_s)
            else:
                pause = self._idle_wait_s

    # ------------------------------------------------------------------- polling

    def poll_once(self) -> int:
        """Receive one batch (if any), invoke, settle it. Returns the number of records handled."""
        messages = self._receive_batch()
        if not messages:
            return 0
        self._busy.set()
        try:
            event = self.build_event(messages)
            outcome = self._invoke(event)
            self._settle(messages, outcome)
        finally:
            self._busy.clear()
        return len(messages)

    def _receive_batch(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self._window_s
        while len(messages) < self.mapping.batch_size:
            reply = self._sqs.receive_message(
                QueueUrl=self.mapping.queue_url,
                MaxNumberOfMessages=min(SQS_MAX_RECEIVE, self.mapping.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received = reply.get("Messages", [])
            messages.extend(received)
            if time.monotonic() >= deadline or (not received and self._window_s == 0):
                break
            if not received:
                self._stop.wait(min(self._idle_wait_s, max(0.0, deadline - time.monotonic())))
        return messages

    def build_event(self, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The Lambda SQS event for ``messages`` (as ReceiveMessage returned them)."""
        return {"Records": [self._record(message) for message in messages]}

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self._region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def _invoke(self, event: dict[str, Any]) -> BatchOutcome:
        ids = [record["messageId"] for record in event["Records"]]
        try:
            result = self.mapping.function.invoke(event)
        except Exception:
            # The whole batch failed (the error is in the function's log): retry all of it.
            return BatchOutcome((), tuple(ids), whole_batch_failed=True)
        if not self.mapping.report_batch_item_failures:
            return BatchOutcome(tuple(ids), (), whole_batch_failed=False)
        return interpret_batch_response(ids, result)

    def _settle(self, messages: Sequence[Mapping[str, Any]], outcome: BatchOutcome) -> None:
        by_id = {message["MessageId"]: message for message in messages}
        self.stats.batches += 1
        self.stats.records += len(messages)
        self.stats.message_ids.update(by_id)
        self.stats.succeeded += len(outcome.succeeded)
        self.stats.failed += len(outcome.failed)
        self.stats.whole_batch_failures += int(outcome.whole_batch_failed)
        for chunk in _chunks(outcome.succeeded, SQS_MAX_RECEIVE):
            self._sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": by_id[message_id]["ReceiptHandle"]}
                    for index, message_id in enumerate(chunk)
                ],
            )
        for chunk in _chunks(outcome.failed, SQS_MAX_RECEIVE):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {
                        "Id": str(index),
                        "ReceiptHandle": by_id[message_id]["ReceiptHandle"],
                        "VisibilityTimeout": self._retry_delay_s,
                    }
                    for index, message_id in enumerate(chunk)
                ],
            )

    # --------------------------------------------------------------------- drain

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def pending(self) -> int:
        """Messages still on the queue: visible, in flight, or delayed."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.mapping.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def drain(self, timeout: float = 60.0, poll_interval_s: float = 0.1) -> bool:
        """Wait until the queue is empty and no batch is being handled; False on timeout."""
        return drain_all([self], timeout=timeout, poll_interval_s=poll_interval_s)


def drain_all(pollers: Sequence[SqsPoller], *, timeout: float = 60.0, poll_interval_s: float = 0.1) -> bool:
    """Wait until every poller's queue is empty and every poller idle, twice in a row.

    Twice, because one function's success can enqueue for another: a single look could fall in
    the gap between one poller deleting a batch and the next message being sent.
    Returns False when ``timeout`` passes first.
    """
    deadline = time.monotonic() + timeout
    quiet_looks = 0
    while time.monotonic() < deadline:
        quiet = all(not poller.busy and poller.pending() == 0 for poller in pollers)
        quiet_looks = quiet_looks + 1 if quiet else 0
        if quiet_looks >= 2:
            return True
        time.sleep(poll_interval_s)
    return False


def interpret_batch_response(ids: Sequence[str], result: object) -> BatchOutcome:
    """Which records failed, from a ``ReportBatchItemFailures`` reply (Lambda's rules).

    An empty or missing list means success; an entry whose ``itemIdentifier`` is missing,
    empty or not in the batch makes Lambda treat the whole batch as failed.
    """
    everything_failed = BatchOutcome((), tuple(ids), whole_batch_failed=True)
    if result is None:
        return BatchOutcome(tuple(ids), (), whole_batch_failed=False)
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return everything_failed
    if not isinstance(result, dict):
        return everything_failed
    failures = result.get("batchItemFailures")
    if failures is None or failures == []:
        return BatchOutcome(tuple(ids), (), whole_batch_failed=False)
    if not isinstance(failures, list):
        return everything_failed
    known = set(ids)
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return everything_failed
        failed.add(identifier)
    return BatchOutcome(
        tuple(message_id for message_id in ids if message_id not in failed),
        tuple(message_id for message_id in ids if message_id in failed),
        whole_batch_failed=False,
    )


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda's SQS event spells it (camelCase, binary as base64)."""
    attribute: dict[str, Any] = {
        "dataType": value["DataType"],
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
