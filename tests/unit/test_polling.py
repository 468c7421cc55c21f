"""The order poller: cursors never lose or duplicate an order across overlapping runs and restarts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import PlatformApiError, StorageError
from oms.domain.model import Platform
from oms.platforms.base import AppSecrets
from oms.platforms.pinduoduo import ADAPTER as PDD
from oms.platforms.pinduoduo.client import ChangedOrder
from oms.platforms.pinduoduo.parsing import dedupe_id
from oms.platforms.pinduoduo.signing import format_china_time
from oms.services.polling import Cursor, OrderPoller, PollSettings, cursor_key

START = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
SHOP = "100001"
APP = "cid"
SETTINGS = PollSettings(
    overlap=timedelta(minutes=5), settle=timedelta(minutes=1), initial_lookback=timedelta(hours=1)
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Version:
    order_sn: str
    updated_at: datetime
    order_status: int
    visible_at: datetime  # when the platform's increment index shows it


class FakePinduoduo:
    """The platform truth: versions of orders, listed by the increment API once indexed."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.versions: list[Version] = []
        self.fail_details = 0

    def current(self, order_sn: str) -> Version:
        known = [v for v in self.versions if v.order_sn == order_sn and v.visible_at <= self.clock.now]
        return max(known, key=lambda v: v.updated_at)

    def shops(self) -> list[str]:
        return [SHOP]

    def changed_orders(self, shop_id: str, start: datetime, end: datetime) -> Sequence[ChangedOrder]:
        assert (end - start) <= timedelta(minutes=30)
        names = {v.order_sn for v in self.versions if v.visible_at <= self.clock.now}
        latest = [self.current(name) for name in sorted(names)]
        return [ChangedOrder(v.order_sn, v.updated_at) for v in latest if start <= v.updated_at <= end]

    def order_detail_body(self, shop_id: str, order_id: str) -> bytes:
        if self.fail_details:
            self.fail_details -= 1
            raise PlatformApiError("throttled", api="pdd.order.information.get")
        version = self.current(order_id)
        info = {
            "order_sn": version.order_sn,
            "order_status": version.order_status,
            "refund_status": 1,
            "updated_at": format_china_time(version.updated_at),
            "pay_amount": 1.5,
            "item_list": [],
        }
        return json.dumps({"order_info_get_response": {"order_info": info}}).encode()


class MemoryCursors:
    def __init__(self) -> None:
        self.items: dict[str, Cursor] = {}

    def load(self, key: str) -> Cursor | None:
        return self.items.get(key)

    def advance(self, key: str, position: datetime, expected_version: int | None) -> bool:
        current = self.items.get(key)
        if (current.version if current else None) != expected_version:
            return False
        self.items[key] = Cursor(position, (expected_version or 0) + 1)
        return True


class FlakyQueue:
    def __init__(self) -> None:
        self.sent: list[IntakeEnvelope] = []
        self.fail_next = 0

    def send(self, envelopes: Sequence[IntakeEnvelope]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise StorageError("queue unavailable")
        self.sent.extend(envelopes)


class Secrets:
    def app_ids(self, platform: Platform) -> list[str]:
        return [APP]

    def app_secrets(self, platform: Platform, app_id: str | None) -> tuple[str, AppSecrets]:
        return APP, {"app_id": APP}


def poller(platform: FakePinduoduo, queue: FlakyQueue, cursors: MemoryCursors, clock: Clock) -> OrderPoller:
    counter = iter(range(10**9))
    return OrderPoller(
        secrets=Secrets(),
        clients=lambda _platform, _secrets: platform,
        queue=queue,
        cursors=cursors,
        clock=clock,
        new_trace_id=lambda: f"t{next(counter)}",
        settings=SETTINGS,
    )


changes = st.lists(
    st.tuples(
        st.integers(0, 5),  # which order
        st.integers(0, 6 * 3600),  # seconds after START it changed
        st.integers(0, int((SETTINGS.overlap + SETTINGS.settle).total_seconds())),  # index lag
        st.sampled_from([1, 2, 3]),
    ),
    max_size=25,
)
runs = st.lists(
    st.tuples(
        st.integers(60, 4 * 3600), st.integers(0, 2), st.integers(0, 1)
    ),  # gap, queue faults, API faults
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(changes=changes, runs=runs)
def test_every_latest_version_is_enqueued_once_per_version_across_faulty_runs(
    changes: list[tuple[int, int, int, int]], runs: list[tuple[int, int, int]]
) -> None:
    # GIVEN orders changing over six hours, indexed late (within overlap + settle)
    clock = Clock(START)
    platform = FakePinduoduo(clock)
    for order, offset, lag, status in changes:
        updated = START + timedelta(seconds=offset)
        platform.versions.append(Version(f"o{order}", updated, status, updated + timedelta(seconds=lag)))
    queue, cursors = FlakyQueue(), MemoryCursors()
    # ...and a first run before any change (its lookback decides where pulling starts)
    poller(platform, queue, cursors, clock).run([Platform.PINDUODUO])
    # WHEN runs happen at irregular times, some failing midway (each run is a fresh poller: a restart)
    for gap, queue_faults, api_faults in runs:
        clock.now += timedelta(seconds=gap)
        queue.fail_next, platform.fail_details = queue_faults, api_faults
        poller(platform, queue, cursors, clock).run([Platform.PINDUODUO])
    # ...and then enough healthy runs to catch up
    clock.now = max(clock.now, START + timedelta(hours=7))
    queue.fail_next = platform.fail_details = 0
    for _ in range(3):
        poller(platform, queue, cursors, clock).run([Platform.PINDUODUO])
    # THEN each order's latest version is in the queue
    versions_by_id: dict[str, tuple[str, str]] = {}
    for envelope in queue.sent:
        info = PDD.decode(envelope)
        identity = (info["order_sn"], info["updated_at"])
        # ...one dedupe id per version (a re-pull collapses), never two versions under one id
        assert versions_by_id.setdefault(envelope.dedupe_id, identity) == identity
        assert envelope.dedupe_id == dedupe_id(info)
    enqueued = set(versions_by_id.values())
    for name in {v.order_sn for v in platform.versions}:
        latest = platform.current(name)
        assert (name, format_china_time(latest.updated_at)) in enqueued
    # ...and the cursor is close behind now
    cursor = cursors.load(cursor_key(Platform.PINDUODUO, APP, SHOP))
    assert cursor is not None
    assert clock.now - cursor.position <= SETTINGS.settle + timedelta(seconds=1)


def test_a_run_that_loses_the_cursor_race_stops_without_moving_it() -> None:
    clock = Clock(START + timedelta(hours=2))
    platform = FakePinduoduo(clock)
    queue = FlakyQueue()
    key = cursor_key(Platform.PINDUODUO, APP, SHOP)

    class RacingCursors(MemoryCursors):
        def load(self, key: str) -> Cursor | None:
            seen = super().load(key)
            # Another run moves the cursor right after this one read it.
            self.items[key] = Cursor(START + timedelta(hours=1), 7)
            return seen

    cursors = RacingCursors()
    report = poller(platform, queue, cursors, clock).run([Platform.PINDUODUO])
    assert report.lost_races == 1
    assert cursors.items[key] == Cursor(START + timedelta(hours=1), 7)


def test_a_first_run_starts_at_the_initial_lookback_and_windows_never_exceed_the_api_limit() -> None:
    clock = Clock(START + timedelta(hours=3))
    platform = FakePinduoduo(clock)
    platform.versions.append(Version("early", START, 1, START))  # before the lookback: not pulled
    platform.versions.append(Version("late", START + timedelta(hours=2, minutes=30), 1, START))
    queue, cursors = FlakyQueue(), MemoryCursors()
    report = poller(platform, queue, cursors, clock).run([Platform.PINDUODUO])
    assert [PDD.decode(envelope)["order_sn"] for envelope in queue.sent] == ["late"]
    assert report.windows == 3  # 60 minutes less settle, 25 new minutes per window
    envelope = queue.sent[0]
    assert (envelope.shop_id, envelope.platform, envelope.query) == (
        SHOP,
        Platform.PINDUODUO,
        {"source": "poll"},
    )
    assert envelope.message_group == f"pinduoduo:{SHOP}:late"


@dataclass(frozen=True)
class Message:
    message_id: str
    topic: str
    user_id: str
    tid: str | None


class FakeTaobao:
    """TMC holds messages until confirmed; details fail on demand; no increments changed."""

    def __init__(self) -> None:
        self.pending = [
            Message("1", "taobao_trade_TradeBuyerPay", "2200000001", "901"),
            Message("2", "taobao_item_ItemUpdate", "2200000001", None),
            Message("3", "taobao_trade_TradeCreate", "9999", "902"),  # a shop without a session
        ]
        self.confirmed: list[str] = []
        self.fail_detail = False

    def shops(self) -> list[str]:
        return ["2200000001"]

    def changed_orders(self, shop_id: str, start: datetime, end: datetime) -> Sequence[ChangedOrder]:
        return []

    def order_detail_body(self, shop_id: str, order_id: str) -> bytes:
        if self.fail_detail:
            raise PlatformApiError("App Call Limited", api="taobao.trade.fullinfo.get")
        trade = {"tid": int(order_id), "status": "WAIT_SELLER_SEND_GOODS", "modified": "2025-03-01 08:00:00"}
        return json.dumps({"trade_fullinfo_get_response": {"trade": trade}}).encode()

    def consume_messages(self, quantity: int = 100) -> Sequence[Message]:
        return [message for message in self.pending if message.message_id not in self.confirmed]

    def confirm_messages(self, message_ids: list[str]) -> None:
        self.confirmed.extend(message_ids)


def taobao_poller(platform: FakeTaobao, queue: FlakyQueue) -> OrderPoller:
    return OrderPoller(
        secrets=Secrets(),
        clients=lambda _platform, _secrets: platform,
        queue=queue,
        cursors=MemoryCursors(),
        clock=Clock(START),
        new_trace_id=lambda: "t",
        settings=PollSettings(max_message_batches=1),
    )


def test_tmc_messages_are_confirmed_only_after_their_trade_is_enqueued() -> None:
    # GIVEN a trade message the detail API cannot answer right now
    platform, queue = FakeTaobao(), FlakyQueue()
    platform.fail_detail = True
    # WHEN the poller consumes
    report = taobao_poller(platform, queue).run([Platform.TAOBAO])
    # THEN the trade message stays unconfirmed (TMC delivers it again); the others are confirmed
    assert sorted(platform.confirmed) == ["2", "3"]
    assert report.errors[0]["code"] == "PLATFORM_API_ERROR"
    # WHEN the next run finds the API healthy
    platform.fail_detail = False
    taobao_poller(platform, queue).run([Platform.TAOBAO])
    # THEN the trade is enqueued for its seller, then confirmed
    assert sorted(platform.confirmed) == ["1", "2", "3"]
    [envelope] = queue.sent
    assert (envelope.shop_id, envelope.platform_order_id) == ("2200000001", "901")


def test_a_queue_failure_leaves_tmc_messages_unconfirmed() -> None:
    platform, queue = FakeTaobao(), FlakyQueue()
    queue.fail_next = 1
    report = taobao_poller(platform, queue).run([Platform.TAOBAO])
    assert platform.confirmed == []
    assert report.errors
