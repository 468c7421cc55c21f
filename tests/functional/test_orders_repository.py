"""The Orders repository and apply_event against DynamoDB (moto): conditional writes do the work."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.resources import Deployed
from oms.adapters.orders_table import DynamoOrdersRepository
from oms.domain.errors import ConcurrentUpdateError, StorageError
from oms.domain.model import OrderEvent, OrderLine, Outcome, Platform
from oms.domain.state_machine import decide
from oms.domain.status import OrderStatus
from oms.services.orders import apply_event
from tests.support.order_changes import RecordingPublisher
from tests.unit.test_state_machine_properties import event_time_order, fold, lifecycles, state

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
#: Where the changes of the tests that do not look at them go.
ELSEWHERE = RecordingPublisher()
_order_numbers = itertools.count(1)


def clock() -> datetime:
    return T0


@pytest.fixture
def repository(stack: Deployed) -> DynamoOrdersRepository:
    return DynamoOrdersRepository(stack.names["OrdersTable"], boto3.client("dynamodb"))


def event(
    event_id: str, status: OrderStatus, seconds: int, *, number: str = "9001", lines: int = 1
) -> OrderEvent:
    return OrderEvent(
        event_id=event_id,
        platform=Platform.DOUYIN,
        shop_id="shop-1",
        platform_order_id=number,
        event_type="test",
        event_time=T0 + timedelta(seconds=seconds),
        status=status,
        platform_status=str(status),
        lines=tuple(
            OrderLine(line_id=f"L{index}", sku_id=f"SKU{index}", quantity=1) for index in range(lines)
        ),
    )


def test_a_write_based_on_a_stale_read_is_refused(repository: DynamoOrdersRepository):
    # GIVEN two sanitizers that read the same order version
    apply_event(repository, event("a", OrderStatus.PAID, 0), received_at=T0, clock=clock, publisher=ELSEWHERE)
    current = repository.get(event("a", OrderStatus.PAID, 0).order_id)
    first = decide(current, event("b", OrderStatus.APPROVED, 5), received_at=T0, now=T0)
    second = decide(current, event("c", OrderStatus.SHIPPED, 9), received_at=T0, now=T0)
    # WHEN both write
    assert repository.save(first) is True
    # THEN the second is refused, and apply_event would re-read and decide again
    with pytest.raises(ConcurrentUpdateError):
        repository.save(second)
    decision = apply_event(
        repository, event("c", OrderStatus.SHIPPED, 9), received_at=T0, clock=clock, publisher=ELSEWHERE
    )
    assert decision.outcome is Outcome.APPLIED
    order = repository.get(decision.entry.order_id)
    assert (order.status, order.version) == (OrderStatus.SHIPPED, 3)


def test_an_event_recorded_once_is_a_duplicate_forever(repository: DynamoOrdersRepository):
    apply_event(repository, event("a", OrderStatus.PAID, 0), received_at=T0, clock=clock, publisher=ELSEWHERE)
    apply_event(
        repository, event("b", OrderStatus.SHIPPED, 9), received_at=T0, clock=clock, publisher=ELSEWHERE
    )
    # "a" is no longer the last event, so only the history entry can tell it was seen
    again = apply_event(
        repository, event("a", OrderStatus.PAID, 0), received_at=T0, clock=clock, publisher=ELSEWHERE
    )
    assert again.outcome is Outcome.DUPLICATE
    assert [entry.event_id for entry in repository.history(again.entry.order_id)] == ["a", "b"]


def test_lines_are_written_as_items_and_removed_lines_deleted(
    stack: Deployed, repository: DynamoOrdersRepository
):
    apply_event(
        repository, event("a", OrderStatus.PAID, 0, lines=3), received_at=T0, clock=clock, publisher=ELSEWHERE
    )
    decision = apply_event(
        repository,
        event("b", OrderStatus.APPROVED, 5, lines=2),
        received_at=T0,
        clock=clock,
        publisher=ELSEWHERE,
    )
    items = boto3.client("dynamodb").query(
        TableName=stack.names["OrdersTable"],
        KeyConditionExpression="PK = :pk AND begins_with(SK, :line)",
        ExpressionAttributeValues={":pk": {"S": f"ORDER#{decision.entry.order_id}"}, ":line": {"S": "LINE#"}},
    )["Items"]
    assert sorted(item["SK"]["S"] for item in items) == ["LINE#L0", "LINE#L1"]
    by_sku = boto3.client("dynamodb").query(
        TableName=stack.names["OrdersTable"],
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :sku",
        ExpressionAttributeValues={":sku": {"S": "SKU#SKU1"}},
    )["Items"]
    assert [item["order_id"]["S"] for item in by_sku] == [decision.entry.order_id]


def test_open_orders_are_listed_by_platform_and_status(stack: Deployed, repository: DynamoOrdersRepository):
    apply_event(
        repository,
        event("a", OrderStatus.PAID, 0, number="7001"),
        received_at=T0,
        clock=clock,
        publisher=ELSEWHERE,
    )
    apply_event(
        repository,
        event("b", OrderStatus.PAID, 0, number="7002"),
        received_at=T0,
        clock=clock,
        publisher=ELSEWHERE,
    )
    apply_event(
        repository,
        event("c", OrderStatus.SHIPPED, 5, number="7002"),
        received_at=T0,
        clock=clock,
        publisher=ELSEWHERE,
    )
    paid = boto3.client("dynamodb").query(
        TableName=stack.names["OrdersTable"],
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :status",
        ExpressionAttributeValues={":status": {"S": "STATUS#douyin#paid"}},
    )["Items"]
    assert [item["platform_order_id"]["S"] for item in paid] == ["7001"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=lifecycles(),
    picks=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=12),
    shuffle=st.randoms(use_true_random=False),
)
def test_stored_orders_converge_whatever_the_arrival_order(repository, events, picks, shuffle):
    # GIVEN a lifecycle's events, some twice, in any order, for an order of its own
    number = f"P{next(_order_numbers)}"
    events = [item.model_copy(update={"platform_order_id": number}) for item in events]
    arrived = [events[pick % len(events)] for pick in picks]
    shuffle.shuffle(arrived)
    # WHEN each is applied through DynamoDB's conditional writes
    publisher = RecordingPublisher()
    for item in arrived:
        apply_event(repository, item, received_at=T0, clock=clock, publisher=publisher)
    # THEN the stored order is the event-time-order fold, and each distinct event is recorded once
    distinct = list({item.event_id: item for item in arrived}.values())
    expected, _ = fold(sorted(distinct, key=event_time_order))
    stored = repository.get(arrived[0].order_id)
    assert state(stored) == state(expected)
    assert sorted(entry.event_id for entry in repository.history(stored.order_id)) == sorted(
        item.event_id for item in distinct
    )
    # AND every stored version was published, and nothing else (a duplicate may publish it again)
    assert set(publisher.change_ids) == {
        f"{stored.order_id}#v{version}" for version in range(1, stored.version + 1)
    }


def test_each_stored_change_is_published_with_its_entry(repository: DynamoOrdersRepository):
    publisher = RecordingPublisher()
    apply_event(
        repository,
        event("a", OrderStatus.PAID, 0, number="8001"),
        received_at=T0,
        clock=clock,
        publisher=publisher,
    )
    apply_event(
        repository,
        event("b", OrderStatus.SHIPPED, 9, number="8001"),
        received_at=T0,
        clock=clock,
        publisher=publisher,
    )
    # a stale event changes nothing and publishes nothing
    apply_event(
        repository,
        event("c", OrderStatus.APPROVED, 5, number="8001"),
        received_at=T0,
        clock=clock,
        publisher=publisher,
    )
    created, shipped = publisher.published
    assert (created.status_before, created.status_after, created.entry.outcome) == (
        None,
        OrderStatus.PAID,
        Outcome.CREATED,
    )
    assert (shipped.status_before, shipped.status_after) == (OrderStatus.PAID, OrderStatus.SHIPPED)
    assert [change.change_id for change in publisher.published] == [
        f"{created.order.order_id}#v1",
        f"{created.order.order_id}#v2",
    ]
    assert shipped.order.lines
    assert shipped.entry.event_id == "b"


def test_a_change_whose_publish_failed_is_published_by_the_retry(repository: DynamoOrdersRepository):
    # GIVEN SNS refuses the publish after the change was stored
    publisher = RecordingPublisher(refuse=1)
    paid = event("a", OrderStatus.PAID, 0, number="8002")
    with pytest.raises(StorageError):
        apply_event(repository, paid, received_at=T0, clock=clock, publisher=publisher)
    assert repository.get(paid.order_id) is not None
    # WHEN the message is retried (the event is now a duplicate)
    again = apply_event(repository, paid, received_at=T0, clock=clock, publisher=publisher)
    # THEN nothing is written twice, and the change is published with its original entry
    assert again.outcome is Outcome.DUPLICATE
    (change,) = publisher.published
    assert (change.change_id, change.entry.outcome, change.entry.event_id) == (
        f"{paid.order_id}#v1",
        Outcome.CREATED,
        "a",
    )
