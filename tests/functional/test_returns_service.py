"""The returns service on moto (in-process) with a clock the test moves: what real time cannot show
in an integration test (a receipt arriving 80 hours after its pickup, a second anchoring run)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from local.resources import Deployed
from oms.adapters.orders_table import DynamoOrdersRepository
from oms.adapters.return_digests import S3DigestStore
from oms.adapters.return_keys import SecretCodeKeys, SecretScanners
from oms.adapters.returns_table import DynamoReturnsRepository
from oms.domain.alerts import Alert
from oms.domain.model import OrderEvent, OrderLine, Platform
from oms.domain.returns import scan_signature
from oms.domain.status import OrderStatus, RefundStatus
from oms.services.orders import apply_event
from oms.services.returns import ReturnsService
from tests.functional.conftest import CREDENTIALS
from tests.support.order_changes import RecordingPublisher

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


class MovableClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class RecordingAlerts:
    def __init__(self) -> None:
        self.raised: list[Alert] = []

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        self.raised.extend(alerts)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def alerts() -> RecordingAlerts:
    return RecordingAlerts()


@pytest.fixture
def service(stack: Deployed, clock: MovableClock, alerts: RecordingAlerts) -> ReturnsService:
    secrets = boto3.client("secretsmanager")
    return ReturnsService(
        repository=DynamoReturnsRepository(stack.names["ReturnsTable"], boto3.client("dynamodb")),
        orders=DynamoOrdersRepository(stack.names["OrdersTable"], boto3.client("dynamodb")),
        code_keys=SecretCodeKeys(stack.names["ReturnCodeKeysSecret"], secrets, 0),
        scanners=SecretScanners(stack.names["ReturnScannersSecret"], secrets, 0),
        digests=S3DigestStore(stack.names["ReturnDigestBucket"], boto3.client("s3")),
        alerts=alerts,
        clock=clock,
    )


def after_sale_change(stack: Deployed, status: OrderStatus, number: str = "8801"):  # type: ignore[no-untyped-def]
    publisher = RecordingPublisher()
    repository = DynamoOrdersRepository(stack.names["OrdersTable"], boto3.client("dynamodb"))
    for index, (main, refund) in enumerate(((status, RefundStatus.NONE), (status, RefundStatus.REQUESTED))):
        event = OrderEvent(
            event_id=f"e{index}",
            platform=Platform.DOUYIN,
            shop_id="shop-1",
            platform_order_id=number,
            event_type="test",
            event_time=T0 + timedelta(minutes=index),
            status=main,
            refund_status=refund,
            platform_status=str(main),
            lines=(OrderLine(line_id="L1", sku_id="SKU-1", quantity=2),),
        )
        apply_event(repository, event, received_at=T0, clock=lambda: T0, publisher=publisher)
    return publisher.published[-1]


def scan(service: ReturnsService, code: str, device: str, kind: str, scan_id: str, at: datetime) -> dict:  # type: ignore[type-arg]
    body = json.dumps(
        {
            "scan_id": scan_id,
            "kind": kind,
            "operator_id": "op-1",
            "device_fingerprint": "fp",
            "gps": {"lat": 30.1, "lon": 120.2},
            "device_time": at.isoformat(),
        }
    ).encode()
    path = f"/returns/{code}/scans"
    timestamp = str(int(at.timestamp()))
    key = CREDENTIALS["scanners"][device]["key"].encode()
    headers = {
        "X-Oms-Scanner": device,
        "X-Oms-Timestamp": timestamp,
        "X-Oms-Signature": scan_signature(key, "POST", path, timestamp, body),
    }
    return service.record_scan(code, path=path, headers=headers, body=body).as_dict()


def test_only_a_refund_after_shipment_opens_a_return_and_only_once(stack: Deployed, service: ReturnsService):
    assert service.open_from_change(after_sale_change(stack, OrderStatus.PAID, "8800")) is None
    change = after_sale_change(stack, OrderStatus.SHIPPED)
    first = service.open_from_change(change)
    again = service.open_from_change(change)
    assert first is not None
    assert again is not None
    assert (first.created, again.created) == (True, False)
    assert again.record.code == first.record.code
    assert [(line.sku_id, line.quantity) for line in first.record.lines] == [("SKU-1", 2)]


def test_a_receipt_80_hours_after_pickup_alerts_once_as_late(
    stack: Deployed, service: ReturnsService, clock: MovableClock, alerts: RecordingAlerts
):
    opened = service.open_from_change(after_sale_change(stack, OrderStatus.DELIVERED))
    assert opened is not None
    code = opened.record.code
    scan(service, code, "courier-sf-0001", "pickup", "s1", clock.now)
    clock.now += timedelta(hours=80)
    scan(service, code, "pda-wh-hz-01", "receipt", "s2", clock.now)
    # WHEN the sweeper runs (twice: schedules overlap and retry)
    first = service.sweep(clock.now + timedelta(minutes=5))
    second = service.sweep(clock.now + timedelta(hours=1))
    # THEN one alert, for the late receipt, and one gap event in the chain
    assert [alert.facts["rule"] for alert in first.alerts] == ["late_receipt_72h"]
    assert second.alerts == ()
    assert [alert.dedupe_key for alert in alerts.raised] == [f"returns.gap#{opened.record.return_id}"]
    assert alerts.raised[0].kind == "returns.gap"
    evidence = service.evidence(code)
    assert [event["kind"] for event in evidence["timeline"]] == [
        "opened",
        "pickup",
        "receipt",
        "gap_detected",
    ]
    assert evidence["timeline"][3]["data"]["hours_waited"] == 80
    assert evidence["verification"]["intact"] is True


def test_a_receipt_within_72_hours_is_never_swept(
    stack: Deployed, service: ReturnsService, clock: MovableClock
):
    opened = service.open_from_change(after_sale_change(stack, OrderStatus.SHIPPED))
    assert opened is not None
    scan(service, opened.record.code, "courier-sf-0001", "pickup", "s1", clock.now)
    clock.now += timedelta(hours=71)
    scan(service, opened.record.code, "pda-wh-hz-01", "receipt", "s2", clock.now)
    report = service.sweep(clock.now + timedelta(days=30))
    assert (report.examined, report.alerts) == (0, ())


def test_a_day_is_anchored_once_and_a_second_run_keeps_the_first_digest(
    stack: Deployed, service: ReturnsService, clock: MovableClock
):
    opened = service.open_from_change(after_sale_change(stack, OrderStatus.SHIPPED))
    assert opened is not None
    day = f"{clock.now:%Y-%m-%d}"
    first = service.anchor(day)
    scan(service, opened.record.code, "courier-sf-0001", "pickup", "s1", clock.now)  # the head moves on
    second = service.anchor(day)
    assert (first.written, second.written) == (True, False)
    assert (first.root, first.heads) == (second.root, 1)
    _, verification = service.verify(opened.record.code)
    assert verification.ok
    assert verification.anchor is not None
    assert (verification.anchor.seq, verification.anchor.digest_key) == (1, f"returns/digests/{day}.json")
    assert verification.notes == ("events after 1 are not anchored in a digest yet",)
    # AND the head that moved stays pending: the next run anchors it, whatever day it grew on
    next_day = f"{clock.now + timedelta(days=3):%Y-%m-%d}"
    third = service.anchor(next_day)
    assert (third.written, third.heads) == (True, 1)
    _, verification = service.verify(opened.record.code)
    assert verification.anchor is not None
    assert (verification.anchor.seq, verification.anchor.day, verification.notes) == (2, next_day, ())
    # AND nothing is pending any more
    assert service.anchor(f"{clock.now + timedelta(days=4):%Y-%m-%d}").heads == 0
