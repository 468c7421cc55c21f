"""Handlers against moto in-process: every resource created from template.yaml by local.resources."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws

from local.lambda_context import LambdaContext
from local.resources import Deployed, deploy
from local.simulator import PlatformSimulator
from local.template import AppModel
from oms import composition
from tests.support.events import sqs_event

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = json.loads((ROOT / "local" / "credentials.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def app_model() -> AppModel:
    return AppModel.load(str(ROOT / "template.yaml"))


@pytest.fixture(scope="session")
def simulator() -> Iterator[PlatformSimulator]:
    simulator = PlatformSimulator(CREDENTIALS, host="127.0.0.1", port=0)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def stack(
    app_model: AppModel, simulator: PlatformSimulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployed]:
    """A fresh moto account with the template deployed and the handlers' environment set."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        deployed = deploy(app_model, credentials_file=ROOT / "local" / "credentials.json")
        env = {}
        for function_id in app_model.functions:
            env |= deployed.function_env(function_id)
        env["PLATFORM_BASE_URLS"] = json.dumps(simulator.base_urls())
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        composition.reset()
        yield deployed
        composition.reset()


def context(name: str = "function") -> LambdaContext:
    return LambdaContext(function_name=name, timeout_s=30)


def receive_all(deployed: Deployed, queue_id: str = "IntakeQueue") -> list[dict[str, Any]]:
    """Every visible message of a queue (FIFO delivers one group's messages in order)."""
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=deployed.queue_urls[queue_id],
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch


def sanitize(deployed: Deployed, messages: list[dict[str, Any]], *, delete: bool = True) -> dict[str, Any]:
    """Invoke the sanitizer on a batch and, like Lambda's event source mapping, delete what succeeded."""
    from functions.payload_sanitizer import app

    try:
        result = app.handler(sqs_event(messages, deployed.arns["IntakeQueue"]), context("sanitizer"))
    except BatchProcessingError:
        # Powertools raises when every record failed; Lambda then retries the whole batch.
        result = {"batchItemFailures": [{"itemIdentifier": message["MessageId"]} for message in messages]}
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    if delete:
        sqs = boto3.client("sqs")
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(
                    QueueUrl=deployed.queue_urls["IntakeQueue"], ReceiptHandle=message["ReceiptHandle"]
                )
    return result


def queue_depth(deployed: Deployed, queue_id: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=deployed.queue_urls[queue_id],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.fixture
def credentials() -> dict[str, Any]:
    return CREDENTIALS


def env(name: str) -> str:
    return os.environ[name]
