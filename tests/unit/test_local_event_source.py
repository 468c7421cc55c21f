"""The SQS → Lambda poller against moto in-process (mock_aws: no sockets, no server)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.event_source import Doorbell, QueueMapping, SqsPoller, interpret_batch_response


class ScriptedFunction:
    """Answers each invocation with the next scripted reply (a callable of the event)."""

    def __init__(self, reply: Any = None, logical_id: str = "Consumer") -> None:
        self.logical_id = logical_id
        self.reply = reply
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> object:
        self.events.append(event)
        return self.reply(event) if callable(self.reply) else self.reply


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def fifo_queue_with_dlq(sqs: Any, max_receive_count: int = 3) -> tuple[str, str]:
    dlq_url = sqs.create_queue(QueueName="intake-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName="intake.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    return queue_url, dlq_url


def send(sqs: Any, queue_url: str, body: str, group: str, dedupe: str) -> str:
    return sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageGroupId=group,
        MessageDeduplicationId=dedupe,
        MessageAttributes={
            "platform": {"DataType": "String", "StringValue": "douyin"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )["MessageId"]


def depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def poller(sqs: Any, queue_url: str, function: ScriptedFunction, **options: Any) -> SqsPoller:
    mapping = QueueMapping(function, queue_url, batch_size=10, report_batch_item_failures=True)
    return SqsPoller(sqs, mapping, retry_delay_s=0, **options)


def test_a_batch_is_delivered_as_lambda_builds_it_and_deleted_on_success(sqs):
    # GIVEN two messages in a FIFO queue
    queue_url, _ = fifo_queue_with_dlq(sqs)
    first = send(sqs, queue_url, '{"n": 1}', "douyin:100001:1", "m1")
    send(sqs, queue_url, '{"n": 2}', "douyin:100001:2", "m2")
    function = ScriptedFunction({"batchItemFailures": []})
    # WHEN the poller runs once
    handled = poller(sqs, queue_url, function).poll_once()
    # THEN one invocation got both records in Lambda's SQS event shape, and the queue is empty
    assert handled == 2
    (event,) = function.events
    record = event["Records"][0]
    assert record["messageId"] == first
    assert record["body"] == '{"n": 1}'
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:intake.fifo"
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["MessageGroupId"] == "douyin:100001:1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["MessageDeduplicationId"] == "m1"
    assert record["messageAttributes"]["platform"]["stringValue"] == "douyin"
    assert record["messageAttributes"]["platform"]["dataType"] == "String"
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert len(record["md5OfBody"]) == 32
    assert depth(sqs, queue_url) == 0


def test_reported_failures_stay_on_the_queue_and_are_retried(sqs):
    queue_url, _ = fifo_queue_with_dlq(sqs)
    good = send(sqs, queue_url, "good", "g1", "d1")
    bad = send(sqs, queue_url, "bad", "g2", "d2")
    attempts: list[int] = []

    def fail_bad_once(event: dict[str, Any]) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            if record["body"] == "bad":
                attempts.append(int(record["attributes"]["ApproximateReceiveCount"]))
                if len(attempts) == 1:
                    failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    consumer = poller(sqs, queue_url, ScriptedFunction(fail_bad_once))
    consumer.poll_once()
    # the good one is gone, the bad one is back (visible again after the local retry delay)
    assert depth(sqs, queue_url) == 1
    assert consumer.poll_once() == 1
    assert attempts == [1, 2]
    assert depth(sqs, queue_url) == 0
    assert consumer.stats.message_ids == {good, bad}
    assert (consumer.stats.succeeded, consumer.stats.failed) == (2, 1)


def test_a_raised_exception_fails_the_whole_batch(sqs):
    queue_url, _ = fifo_queue_with_dlq(sqs)
    send(sqs, queue_url, "a", "g1", "d1")
    send(sqs, queue_url, "b", "g2", "d2")

    def crash(event: dict[str, Any]) -> None:
        raise RuntimeError("handler crashed")

    consumer = poller(sqs, queue_url, ScriptedFunction(crash))
    consumer.poll_once()
    assert depth(sqs, queue_url) == 2
    assert consumer.stats.whole_batch_failures == 1


def test_messages_failing_max_receive_count_times_move_to_the_dlq(sqs):
    # GIVEN a poison message and a redrive policy of 3 receives
    queue_url, dlq_url = fifo_queue_with_dlq(sqs, max_receive_count=3)
    poison = send(sqs, queue_url, "poison", "douyin:100001:9", "p1")
    function = ScriptedFunction(lambda event: {"batchItemFailures": [{"itemIdentifier": poison}]})
    consumer = poller(sqs, queue_url, function)
    # WHEN the poller keeps polling
    handled = [consumer.poll_once() for _ in range(5)]
    # THEN it was delivered exactly 3 times, then SQS (moto) moved it to the DLQ on the next receive
    assert handled == [1, 1, 1, 0, 0]
    assert [event["Records"][0]["attributes"]["ApproximateReceiveCount"] for event in function.events] == [
        "1",
        "2",
        "3",
    ]
    assert depth(sqs, queue_url) == 0
    dead = sqs.receive_message(QueueUrl=dlq_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert [message["Body"] for message in dead] == ["poison"]


def test_a_fifo_group_with_a_message_in_flight_is_held_back(sqs):
    queue_url, _ = fifo_queue_with_dlq(sqs)
    send(sqs, queue_url, "a1", "A", "a1")
    send(sqs, queue_url, "a2", "A", "a2")
    send(sqs, queue_url, "b1", "B", "b1")
    # someone else holds a1 in flight
    held = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1)["Messages"]
    assert held[0]["Body"] == "a1"
    function = ScriptedFunction()
    poller(sqs, queue_url, function).poll_once()
    assert [record["body"] for record in function.events[0]["Records"]] == ["b1"]


def test_without_report_batch_item_failures_a_returned_list_is_ignored(sqs):
    queue_url, _ = fifo_queue_with_dlq(sqs)
    message_id = send(sqs, queue_url, "a", "g1", "d1")
    function = ScriptedFunction({"batchItemFailures": [{"itemIdentifier": message_id}]})
    mapping = QueueMapping(function, queue_url, batch_size=10, report_batch_item_failures=False)
    SqsPoller(sqs, mapping, retry_delay_s=0).poll_once()
    assert depth(sqs, queue_url) == 0


def test_drain_waits_for_the_poller_to_empty_the_queue(sqs):
    queue_url, _ = fifo_queue_with_dlq(sqs)
    for index in range(25):
        send(sqs, queue_url, f"m{index}", f"g{index % 4}", f"d{index}")
    function = ScriptedFunction()
    consumer = poller(sqs, queue_url, function, idle_wait_s=0.01).start()
    try:
        assert consumer.drain(timeout=30)
    finally:
        consumer.stop()
    assert sum(len(event["Records"]) for event in function.events) == 25
    assert all(len(event["Records"]) <= 10 for event in function.events)


class CountingSqs:
    """The SQS client, counting the receives an idle poller makes."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.receives = 0

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        return self._sqs.receive_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_an_idle_poller_with_a_doorbell_backs_off_and_wakes_when_it_rings(sqs):
    queue_url, _ = fifo_queue_with_dlq(sqs)
    counting, bell, function = CountingSqs(sqs), Doorbell(), ScriptedFunction()
    mapping = QueueMapping(function, queue_url, batch_size=10)
    # an idle wait growing 0.01, 0.02, 0.04 ... up to a minute: only the bell can wake it in time
    consumer = SqsPoller(counting, mapping, idle_wait_s=0.01, max_idle_wait_s=60, doorbell=bell).start()
    try:
        time.sleep(0.5)
        assert counting.receives <= 10  # polling every 10 ms would have made about 50
        send(sqs, queue_url, "wake", "g", "d-wake")
        bell.ring()
        assert consumer.drain(timeout=10, poll_interval_s=0.01)
        assert [record["body"] for event in function.events for record in event["Records"]] == ["wake"]
    finally:
        stopping = threading.Thread(target=consumer.stop)
        stopping.start()
        stopping.join(timeout=10)
    assert not stopping.is_alive()  # stop rings the bell: no waiting out the minute


def test_a_ring_during_a_receive_is_not_lost():
    bell = Doorbell()
    seen = bell.rings
    bell.ring()  # between the poller's note and its wait
    assert bell.wait(seen, timeout=5) is True
    assert bell.wait(bell.rings, timeout=0.01) is False


def test_drain_reports_a_queue_nobody_consumes(sqs):
    queue_url, _ = fifo_queue_with_dlq(sqs)
    send(sqs, queue_url, "stuck", "g", "d")
    idle = poller(sqs, queue_url, ScriptedFunction())  # never started
    assert idle.drain(timeout=0.2) is False


@pytest.mark.parametrize(
    ("result", "failed", "whole"),
    [
        (None, [], False),
        ({}, [], False),
        ({"batchItemFailures": []}, [], False),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["b"], False),
        ('{"batchItemFailures": [{"itemIdentifier": "a"}]}', ["a"], False),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, ["a", "b", "c"], True),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, ["a", "b", "c"], True),
        ({"batchItemFailures": [{}]}, ["a", "b", "c"], True),
        ({"batchItemFailures": "b"}, ["a", "b", "c"], True),
        ("not json", ["a", "b", "c"], True),
        (42, ["a", "b", "c"], True),
    ],
)
def test_batch_item_failures_follow_lambdas_rules(result, failed, whole):
    outcome = interpret_batch_response(["a", "b", "c"], result)
    assert list(outcome.failed) == failed
    assert outcome.whole_batch_failed is whole
    assert set(outcome.succeeded) | set(outcome.failed) == {"a", "b", "c"}
