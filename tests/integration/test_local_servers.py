"""The pieces under the stack, over real sockets: moto behind its lock, and the stack's lifecycle."""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.moto_server import MotoServer
from local.stack import LocalStack

pytestmark = pytest.mark.integration


def client(moto: MotoServer, service: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_concurrent_conditional_decrements_never_oversell_behind_the_lock():
    # GIVEN a SKU with 40 in stock in moto behind the lock
    with MotoServer() as moto:
        dynamodb = client(moto, "dynamodb")
        dynamodb.create_table(
            TableName="stock",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        )
        dynamodb.put_item(TableName="stock", Item={"sku": {"S": "hot"}, "available": {"N": "40"}})
        sold: list[int] = []
        refused: list[int] = []
        codes: set[str] = set()
        guard = threading.Lock()

        def buyer() -> None:
            own = client(moto, "dynamodb")
            for _ in range(10):
                try:
                    own.update_item(
                        TableName="stock",
                        Key={"sku": {"S": "hot"}},
                        UpdateExpression="SET available = available - :one",
                        ConditionExpression="available >= :one",
                        ExpressionAttributeValues={":one": {"N": "1"}},
                    )
                    outcome = sold
                except ClientError as error:
                    outcome = refused
                    codes.add(error.response["Error"]["Code"])
                with guard:
                    outcome.append(1)

        # WHEN 8 buyers try 10 purchases each at the same time
        buyers = [threading.Thread(target=buyer) for _ in range(8)]
        for thread in buyers:
            thread.start()
        for thread in buyers:
            thread.join()
        # THEN exactly the stock was sold and nothing went negative
        item = dynamodb.get_item(TableName="stock", Key={"sku": {"S": "hot"}})["Item"]
        assert (len(sold), len(refused), item["available"]["N"]) == (40, 40, "0")
        assert codes == {"ConditionalCheckFailedException"}


def test_a_long_poll_waits_for_a_message_without_blocking_other_calls():
    with MotoServer() as moto:
        sqs = client(moto, "sqs")
        queue = sqs.create_queue(QueueName="waiting")["QueueUrl"]
        received: dict[str, Any] = {}

        def long_poll() -> None:
            received.update(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10))

        poller = threading.Thread(target=long_poll)
        poller.start()
        # other calls go through while the long poll waits (the lock is not held across it)
        client(moto, "sqs").send_message(QueueUrl=queue, MessageBody="hello")
        poller.join(timeout=15)
        assert [message["Body"] for message in received["Messages"]] == ["hello"]


def test_reset_empties_every_backend():
    with MotoServer() as moto:
        sqs = client(moto, "sqs")
        sqs.create_queue(QueueName="before-reset")
        moto.reset()
        assert sqs.list_queues().get("QueueUrls", []) == []


def test_the_stack_takes_the_next_port_when_asked_and_restores_the_environment():
    # GIVEN a port already taken by someone else
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy_port = taken.getsockname()[1]
    before = dict(os.environ)
    try:
        with LocalStack(api_port=busy_port, fallback_port=True) as stack:
            # THEN the API listens on another port and says so
            assert stack.api is not None
            assert stack.api.port != busy_port
            assert str(busy_port) in stack.api_port_note
            assert os.environ["AWS_ENDPOINT_URL"] == stack.moto_url
            assert os.environ["ORDERS_TABLE"] == stack.deployed.names["OrdersTable"]
    finally:
        taken.close()
    # AND after it stops the process environment is as it was
    assert dict(os.environ) == before


def test_without_fallback_a_taken_port_is_an_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        before = dict(os.environ)
        with pytest.raises(OSError, match="in use"), LocalStack(api_port=taken.getsockname()[1]):
            pass
    finally:
        taken.close()
    # the failed start stopped what it had started and put the environment back
    assert dict(os.environ) == before


def test_each_stack_writes_the_functions_output_to_its_own_log(tmp_path, capfd):
    # GIVEN two stacks one after the other in this process (the handlers' modules stay imported)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    for log in logs:
        with LocalStack(api_port=0, function_log=log) as stack:
            # WHEN a forged push is refused (the intake logs a warning and an EMF metric)
            reply = stack.request("POST", "/webhooks/douyin", body=b"[]", headers={"event-sign": "0" * 32})
            assert reply.status == 401
    # THEN each stack's log holds its own function output, and nothing leaked or broke
    for log in logs:
        text = log.read_text(encoding="utf-8")
        assert "[WebhookIntakeFunction]" in text
        assert "webhook rejected" in text
        assert "WebhooksRejected" in text
    captured = capfd.readouterr()
    assert "Logging error" not in captured.err
    assert "webhook rejected" not in captured.out


def test_one_stack_per_process_and_moto_is_left_empty():
    with LocalStack(api_port=0) as stack:
        with pytest.raises(RuntimeError, match="another LocalStack"):
            LocalStack(api_port=0).start()
        queue_url = stack.deployed.queue_urls["IntakeQueue"]
        assert stack.queue_depth("IntakeQueue") == 0
    # after the stack, moto's process-global backends hold nothing of it
    from moto.sqs.models import sqs_backends

    assert not sqs_backends["123456789012"]["us-east-1"].queues, queue_url
