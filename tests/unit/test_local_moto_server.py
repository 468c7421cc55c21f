"""The lock in front of moto: one request at a time, long polls that do not hold it (no sockets)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from local.moto_server import SerialisedApp


def call(app: SerialisedApp, body: bytes = b"", target: str | None = None) -> tuple[str, bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    captured: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"] = status

    chunks = app(environ, start_response)
    return captured["status"], b"".join(chunks)


class OverlapDetector:
    """A WSGI app that notices when two requests are inside it at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.guard = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        with self.guard:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.0005)  # widen the window in which an unserialised caller would overlap
        start_response("200 OK", [])

        def body() -> Iterator[bytes]:
            # moto may build its reply lazily: the lock must cover this part too
            yield b"ok"
            with self.guard:
                self.inside -= 1

        return body()


def test_concurrent_requests_enter_the_app_one_at_a_time():
    # GIVEN the lock in front of an app that detects overlapping requests
    detector = OverlapDetector()
    app = SerialisedApp(detector)
    # WHEN eight threads call it concurrently
    threads = [threading.Thread(target=lambda: [call(app) for _ in range(25)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN no two requests were ever inside at once, including while bodies were produced
    assert detector.most_inside == 1
    assert app.requests_served == 200


class FakeSqs:
    """Answers ReceiveMessage with nothing until the ``deliver_on``-th call."""

    def __init__(self, app_lock: threading.Lock, deliver_on: int) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock_held_during_call: list[bool] = []
        self._app_lock = app_lock
        self._deliver_on = deliver_on

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.lock_held_during_call.append(self._app_lock.locked())
        self.requests.append(json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))))
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        if len(self.requests) >= self._deliver_on:
            return [json.dumps({"Messages": [{"MessageId": "m1", "Body": "hi"}]}).encode()]
        return [b"{}"]


def test_a_long_poll_becomes_short_receives_that_release_the_lock():
    lock = threading.Lock()
    fake = FakeSqs(lock, deliver_on=3)
    app = SerialisedApp(fake, lock, sleep=lambda _seconds: None)
    request = {"QueueUrl": "q", "WaitTimeSeconds": 5, "MaxNumberOfMessages": 10}
    # WHEN a client long-polls an empty queue that gets a message on the third look
    status, body = call(app, json.dumps(request).encode(), target="AmazonSQS.ReceiveMessage")
    # THEN it got the message, moto only ever saw short receives, each under the lock
    assert status.startswith("200")
    assert json.loads(body)["Messages"][0]["MessageId"] == "m1"
    assert [sent["WaitTimeSeconds"] for sent in fake.requests] == [0, 0, 0]
    assert all(sent["MaxNumberOfMessages"] == 10 for sent in fake.requests)
    assert fake.lock_held_during_call == [True, True, True]
    # AND between looks the lock was free (the loop does not hold it while waiting)
    assert not lock.locked()


def test_a_short_receive_passes_through_untouched():
    lock = threading.Lock()
    fake = FakeSqs(lock, deliver_on=1)
    app = SerialisedApp(fake, lock)
    call(app, json.dumps({"QueueUrl": "q"}).encode(), target="AmazonSQS.ReceiveMessage")
    assert fake.requests == [{"QueueUrl": "q"}]


def test_a_long_poll_on_an_empty_queue_returns_empty_when_the_wait_ends():
    lock = threading.Lock()
    fake = FakeSqs(lock, deliver_on=10**9)
    seconds = iter(range(1000))  # each look at the clock is one second later
    app = SerialisedApp(fake, lock, monotonic=lambda: float(next(seconds)), sleep=lambda _seconds: None)
    request = json.dumps({"QueueUrl": "q", "WaitTimeSeconds": 2}).encode()
    status, body = call(app, request, target="AmazonSQS.ReceiveMessage")
    assert status.startswith("200")
    assert json.loads(body) == {}
    # deadline = t0 + 2; the looks at t1 (too early) and t2 (deadline reached): two short receives
    assert len(fake.requests) == 2


def test_sends_ring_their_queue_and_publishes_every_queue_once_moto_accepted_them():
    lock = threading.Lock()
    fake = FakeSqs(lock, deliver_on=1)
    rung: list[str | None] = []
    app = SerialisedApp(fake, lock, on_enqueue=rung.append)
    send = {"QueueUrl": "http://127.0.0.1:1/123456789012/intake.fifo", "MessageBody": "x"}
    call(app, json.dumps(send).encode(), target="AmazonSQS.SendMessage")
    later = [{"Id": "1", "ReceiptHandle": "r", "VisibilityTimeout": 1}]
    batch = {"QueueUrl": "http://q/sla", "Entries": later}
    call(app, json.dumps(batch).encode(), target="AmazonSQS.ChangeMessageVisibilityBatch")  # not yet
    released = {"QueueUrl": "http://q/dlq", "ReceiptHandle": "r", "VisibilityTimeout": 0}
    call(app, json.dumps(released).encode(), target="AmazonSQS.ChangeMessageVisibility")
    call(app, json.dumps({"QueueUrl": "http://q/dlq"}).encode(), target="AmazonSQS.GetQueueAttributes")
    assert rung == ["http://127.0.0.1:1/123456789012/intake.fifo", "http://q/dlq"]
    # moto still read every body whole
    assert fake.requests[0] == send
    assert fake.requests[2] == released


# ---------------------------------------------------------------- TransactWriteItems snapshots


def _scenario_results(snapshots: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """Run the same transactions on a fresh mock account; return the outcomes and the final items."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from local.moto_server import TransactionSnapshots

    outcomes: list[str] = []
    with mock_aws(), TransactionSnapshots() as installed:
        assert installed.active is snapshots or not snapshots
        if not snapshots:
            installed.uninstall()
        dynamodb = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        dynamodb.create_table(
            TableName="orders",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
        )

        def key(pk: str, sk: str = "ORDER") -> dict[str, Any]:
            return {"PK": {"S": pk}, "SK": {"S": sk}}

        def order(pk: str, version: int) -> dict[str, Any]:
            return {**key(pk), "version": {"N": str(version)}, "status": {"S": "paid"}}

        transactions: list[list[dict[str, Any]]] = [
            # 1. create two orders and a history entry: succeeds
            [
                {
                    "Put": {
                        "TableName": "orders",
                        "Item": order("A", 1),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {"Put": {"TableName": "orders", "Item": order("B", 1)}},
                {"Put": {"TableName": "orders", "Item": {**key("A", "EVENT#1"), "n": {"N": "1"}}}},
            ],
            # 2. update A (in place), delete B, add C, then a failing condition: all undone
            [
                {
                    "Update": {
                        "TableName": "orders",
                        "Key": key("A"),
                        "UpdateExpression": "SET version = version + :one, #s = :shipped",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":shipped": {"S": "shipped"}},
                    }
                },
                {"Delete": {"TableName": "orders", "Key": key("B")}},
                {"Put": {"TableName": "orders", "Item": order("C", 1)}},
                {
                    "ConditionCheck": {
                        "TableName": "orders",
                        "Key": key("A", "EVENT#1"),
                        "ConditionExpression": "attribute_not_exists(PK)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ],
            # 3. two actions on one item: rejected before anything is written
            [
                {"Put": {"TableName": "orders", "Item": order("D", 1)}},
                {"Delete": {"TableName": "orders", "Key": key("D")}},
            ],
            # 4. a conditional version bump that holds: succeeds
            [
                {
                    "Update": {
                        "TableName": "orders",
                        "Key": key("A"),
                        "UpdateExpression": "SET version = :two",
                        "ConditionExpression": "version = :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}},
                    }
                }
            ],
        ]
        for actions in transactions:
            try:
                dynamodb.transact_write_items(TransactItems=actions)
                outcomes.append("ok")
            except ClientError as error:
                reasons = error.response.get("CancellationReasons", [])
                outcomes.append(
                    error.response["Error"]["Code"]
                    + ":"
                    + ",".join(f"{reason.get('Code')}/{bool(reason.get('Item'))}" for reason in reasons)
                )
        items = dynamodb.scan(TableName="orders")["Items"]
    return outcomes, sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


def test_transactions_with_item_snapshots_behave_exactly_like_motos_own():
    # GIVEN the same transactions (successes, a cancelled one with in-place updates, a rejected one)
    # WHEN they run with moto's whole-table copy and with the per-item snapshot
    original = _scenario_results(snapshots=False)
    snapshotted = _scenario_results(snapshots=True)
    # THEN outcomes, cancellation reasons and the final table are identical
    assert snapshotted == original
    outcomes, items = snapshotted
    assert outcomes[0] == "ok"
    # the fourth action's condition failed and returned the old item; the first three had no error
    assert outcomes[1] == "TransactionCanceledException:" + "None/False," * 3 + "ConditionalCheckFailed/True"
    assert outcomes[2].startswith("ValidationException")
    assert outcomes[3] == "ok"
    by_key = {(item["PK"]["S"], item["SK"]["S"]): item for item in items}
    assert set(by_key) == {("A", "ORDER"), ("A", "EVENT#1"), ("B", "ORDER")}
    assert by_key[("A", "ORDER")]["version"] == {"N": "2"}
    assert by_key[("A", "ORDER")]["status"] == {"S": "paid"}  # the cancelled SET was rolled back


def test_the_sqs_wall_clock_reads_the_same_time_as_motos():
    from moto.core.utils import unix_time as motos_unix_time
    from moto.sqs import models

    from local.moto_server import SqsWallClock

    with SqsWallClock() as clock:
        assert clock.active
        before = motos_unix_time()
        ours = models.unix_time()
        after = motos_unix_time()
        assert before - 0.001 <= ours <= after + 0.001
        assert abs(models.unix_time_millis() / 1000 - motos_unix_time()) < 0.05
        fixed = datetime(2026, 1, 1)
        assert models.unix_time(fixed) == motos_unix_time(fixed) == 1767225600.0
    assert models.unix_time is motos_unix_time  # restored


def _query_results(*, partitions: bool) -> list[Any]:
    import boto3
    from moto import mock_aws

    from local.moto_server import PartitionQueries

    with mock_aws(), PartitionQueries() if partitions else nullcontext():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="orders",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
                {"AttributeName": "G", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "GSI",
                    "KeySchema": [
                        {"AttributeName": "G", "KeyType": "HASH"},
                        {"AttributeName": "SK", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        for pk in ("A", "B", "C"):
            for index in range(7):
                sk = f"EVENT#{index}" if index else "#ORDER"
                item = {"PK": {"S": pk}, "SK": {"S": sk}, "n": {"N": str(index)}, "G": {"S": f"G{index % 2}"}}
                dynamodb.put_item(TableName="orders", Item=item)
        queries: list[dict[str, Any]] = [
            {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "B"}}},
            {
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :e)",
                "ExpressionAttributeValues": {":pk": {"S": "A"}, ":e": {"S": "EVENT#"}},
                "ScanIndexForward": False,
                "Limit": 4,
            },
            {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "missing"}}},
            {
                "KeyConditionExpression": "PK = :pk",
                "FilterExpression": "n > :two",
                "ExpressionAttributeValues": {":pk": {"S": "C"}, ":two": {"N": "2"}},
                "ExclusiveStartKey": {"PK": {"S": "C"}, "SK": {"S": "EVENT#3"}},
            },
        ]
        queries.append(
            {
                "IndexName": "GSI",
                "KeyConditionExpression": "G = :g",
                "ExpressionAttributeValues": {":g": {"S": "G1"}},
            }
        )
        results = [dynamodb.query(TableName="orders", **query) for query in queries]
        for result in results:
            result.pop("ResponseMetadata", None)
        return results


def test_partition_queries_answer_exactly_like_motos_own():
    from moto.dynamodb.models.table import Table

    original = Table.query
    assert _query_results(partitions=True) == _query_results(partitions=False)
    assert Table.query is original  # restored
    results = _query_results(partitions=True)
    assert len(results[0]["Items"]) == 7
    assert len(results[-1]["Items"]) == 9  # the index query: three odd items in each partition
