"""The Ops-table cursor store (moto): conditional moves, so overlapping runs cannot both advance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oms.adapters.cursors import DynamoCursorStore
from oms.services.polling import Cursor

TABLE = "ops"
T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_a_cursor_is_created_once_and_moved_only_from_the_version_read(dynamodb: Any) -> None:
    store = DynamoCursorStore(TABLE, dynamodb)
    key = "pinduoduo#cid#100001"
    # GIVEN no cursor yet: the first creation wins, a concurrent one loses
    assert store.load(key) is None
    assert store.advance(key, T0, None)
    assert not store.advance(key, T0 + timedelta(minutes=1), None)
    assert store.load(key) == Cursor(T0, 1)
    # WHEN two runs both read version 1 and move it
    first = store.advance(key, T0 + timedelta(minutes=25), 1)
    second = store.advance(key, T0 + timedelta(minutes=30), 1)
    # THEN only the first move lands; the cursor keeps its UTC position across a "restart"
    assert (first, second) == (True, False)
    assert DynamoCursorStore(TABLE, dynamodb).load(key) == Cursor(T0 + timedelta(minutes=25), 2)
