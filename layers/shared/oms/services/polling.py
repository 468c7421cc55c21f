"""The order poller: pull order changes from platforms that do not push over HTTP.

Pinduoduo and Taobao/Tmall deliver order changes to a long-lived connection (a WebSocket, TMC), so
a serverless deployment pulls instead, on a schedule, and enqueues what it pulls into the same
intake queue as pushes, as :class:`~oms.domain.envelope.IntakeEnvelope`\\ s the sanitizer decodes and
parses through the platform's adapter like any push.

Increment pulls (every platform in :data:`INCREMENT_PROFILES`), per app and shop:

- the **cursor** (``CursorStore``) is the end of the last window whose orders were all enqueued;
  it survives restarts and moves only by a conditional write on its version, so two overlapping
  runs cannot both move it, and a run that loses the race stops;
- each window is ``[cursor - overlap, min(cursor - overlap + max_window, now - settle)]``: it starts
  before the cursor (orders the platform indexes late, clocks a little apart), and ends ``settle``
  before now (orders still being written); consecutive windows overlap, so there is **no gap**;
- an order seen in two windows (or two runs) yields the same envelope ``dedupe_id`` (a hash of
  the order's version: id, update time, status), so the FIFO queue and the orders table's
  event-id record make a re-pull **no duplicate**;
- the cursor moves only after the window's envelopes are in the queue: a crash in between repeats
  the window on the next run, which is harmless for the reason above.

Taobao's TMC messages (``MessageSource``) are consumed, their trades fetched and enqueued, and only
then confirmed; a crash before the confirm makes TMC deliver them again (deduplicated the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import OmsError
from oms.domain.model import Platform
from oms.platforms import get_adapter
from oms.platforms.base import AppSecrets
from oms.services.intake import message_group
from oms.services.ports import Clock, IntakeQueue

#: Marks an envelope's origin for operators (the envelope's query parameters are free-form).
POLL_QUERY = {"source": "poll"}


class Changed(Protocol):
    @property
    def order_sn(self) -> str: ...

    @property
    def updated_at(self) -> datetime: ...


class IncrementSource(Protocol):
    """A platform client that lists changed orders and returns an order's raw detail reply."""

    def shops(self) -> list[str]: ...

    def changed_orders(self, shop_id: str, start: datetime, end: datetime) -> Sequence[Changed]: ...

    def order_detail_body(self, shop_id: str, order_id: str) -> bytes: ...


class TmcMessageLike(Protocol):
    @property
    def message_id(self) -> str: ...

    @property
    def topic(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def tid(self) -> str | None: ...


class MessageSource(IncrementSource, Protocol):
    """A client that also pulls pushed messages (Taobao TMC)."""

    def consume_messages(self, quantity: int = ...) -> Sequence[TmcMessageLike]: ...

    def confirm_messages(self, message_ids: list[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class Cursor:
    position: datetime
    version: int


class CursorStore(Protocol):
    def load(self, key: str) -> Cursor | None:
        """The stored cursor, or None before the first run."""
        ...

    def advance(self, key: str, position: datetime, expected_version: int | None) -> bool:
        """Store ``position`` as version ``expected_version + 1`` (1 when None) if the stored
        version is still ``expected_version``; False when another run moved it first."""
        ...


class PollSecrets(Protocol):
    def app_ids(self, platform: Platform) -> list[str]: ...

    def app_secrets(self, platform: Platform, app_id: str | None) -> tuple[str, AppSecrets]: ...


ClientFactory = Callable[[Platform, AppSecrets], Any]


@dataclass(frozen=True, slots=True)
class IncrementProfile:
    """How one platform is pulled: its longest window, and how to read its detail replies."""

    max_window: timedelta
    detail_api: str
    decode: Callable[[bytes], dict[str, Any]]
    dedupe: Callable[[dict[str, Any]], str]
    order_id: Callable[[dict[str, Any]], str]


def _pinduoduo() -> IncrementProfile:
    from oms.platforms.pinduoduo import client, parsing

    return IncrementProfile(
        max_window=timedelta(seconds=client.MAX_INCREMENT_WINDOW_SECONDS),
        detail_api=client.DETAIL_API,
        decode=client.order_info,
        dedupe=parsing.dedupe_id,
        order_id=lambda info: str(info.get("order_sn", "")),
    )


def _taobao() -> IncrementProfile:
    from oms.platforms.taobao import client, parsing

    return IncrementProfile(
        max_window=timedelta(seconds=client.MAX_INCREMENT_WINDOW_SECONDS),
        detail_api=client.FULLINFO_API,
        decode=client.trade_of,
        dedupe=parsing.dedupe_id,
        order_id=lambda trade: str(trade.get("tid_str") or trade.get("tid") or ""),
    )


#: Platforms pulled by increments, with their profile (imported lazily).
INCREMENT_PROFILES: dict[Platform, Callable[[], IncrementProfile]] = {
    Platform.PINDUODUO: _pinduoduo,
    Platform.TAOBAO: _taobao,
}
#: Platforms whose pushed messages are pulled too.
MESSAGE_PLATFORMS = frozenset({Platform.TAOBAO})
#: TMC topics about a trade (others are confirmed and skipped).
TRADE_TOPIC_PREFIXES = ("taobao_trade_", "taobao_refund_")


@dataclass(frozen=True, slots=True)
class PollSettings:
    """Tuning of the poller (all configurable through the environment; see template.yaml).

    Parameters
    ----------
    overlap:
        How far before the cursor each window starts (late indexing, clock skew).
    settle:
        How far before now a window ends (orders still being written).
    initial_lookback:
        Where a shop's first window starts when it has no cursor yet.
    max_windows_per_shop:
        Windows one run pulls per shop (a backlog is caught up over several runs).
    max_message_batches:
        TMC consume calls per app and run.
    """

    overlap: timedelta = timedelta(minutes=5)
    settle: timedelta = timedelta(minutes=1)
    initial_lookback: timedelta = timedelta(hours=1)
    max_windows_per_shop: int = 48
    max_message_batches: int = 10


@dataclass(slots=True)
class PollReport:
    enqueued: int = 0
    windows: int = 0
    messages_confirmed: int = 0
    shops: int = 0
    lost_races: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)


def cursor_key(platform: Platform, app_id: str, shop_id: str) -> str:
    return f"{platform}#{app_id}#{shop_id}"


class OrderPoller:
    """Pulls changed orders of every shop of every pull platform and enqueues them.

    Parameters
    ----------
    secrets:
        Lists the apps of a platform and reads their secrets.
    clients:
        Builds a platform's signed client from an app's secrets.
    queue:
        The intake queue (the same one pushes go to).
    cursors:
        Where each shop's cursor is kept (the Ops table).
    clock, new_trace_id:
        Injected: now, and a new trace id per envelope.
    settings:
        Windows and limits (:class:`PollSettings`).

    Examples
    --------
    >>> report = poller.run()  # doctest: +SKIP
    >>> report.enqueued  # doctest: +SKIP
    12
    """

    def __init__(
        self,
        *,
        secrets: PollSecrets,
        clients: ClientFactory,
        queue: IntakeQueue,
        cursors: CursorStore,
        clock: Clock,
        new_trace_id: Callable[[], str],
        settings: PollSettings | None = None,
    ) -> None:
        self._secrets = secrets
        self._clients = clients
        self._queue = queue
        self._cursors = cursors
        self._clock = clock
        self._new_trace_id = new_trace_id
        self._settings = settings or PollSettings()

    def run(self, platforms: Iterable[Platform] = tuple(INCREMENT_PROFILES)) -> PollReport:
        """One scheduled run over ``platforms``; a failing shop is reported, the others still run."""
        report = PollReport()
        for platform in platforms:
            profile = INCREMENT_PROFILES[platform]()
            try:
                app_ids = self._secrets.app_ids(platform)
            except OmsError as error:
                # This platform's secret is unreadable; the other platforms still run.
                report.errors.append(_error(platform, "", "", error))
                continue
            for listed_app_id in app_ids:
                app_id = listed_app_id
                try:
                    app_id, secrets = self._secrets.app_secrets(platform, listed_app_id)
                    client = self._clients(platform, secrets)
                except OmsError as error:
                    report.errors.append(_error(platform, app_id, "", error))
                    continue
                if platform in MESSAGE_PLATFORMS:
                    self._consume(platform, app_id, client, profile, report)
                for shop_id in client.shops():
                    report.shops += 1
                    try:
                        self.poll_shop(
                            platform,
                            app_id=app_id,
                            shop_id=shop_id,
                            client=client,
                            profile=profile,
                            report=report,
                        )
                    except OmsError as error:
                        report.errors.append(_error(platform, app_id, shop_id, error))
        return report

    def poll_shop(
        self,
        platform: Platform,
        *,
        app_id: str,
        shop_id: str,
        client: IncrementSource,
        profile: IncrementProfile,
        report: PollReport,
    ) -> None:
        """Pull one shop's windows from its cursor up to ``now - settle``, moving the cursor after each."""
        settings = self._settings
        key = cursor_key(platform, app_id, shop_id)
        now = self._clock()
        horizon = now - settings.settle
        stored = self._cursors.load(key)
        if stored is None:
            # The starting point is stored before anything is pulled: a first run that fails
            # must not let the next one start from a later "now - lookback" and skip the gap.
            if not self._cursors.advance(key, now - settings.initial_lookback, None):
                report.lost_races += 1
                return
            stored = Cursor(now - settings.initial_lookback, 1)
        position, version = stored.position, stored.version
        for _ in range(settings.max_windows_per_shop):
            start = position - settings.overlap
            end = min(start + profile.max_window, horizon)
            if end <= position:
                return
            changed = client.changed_orders(shop_id, start, end)
            order_ids = list(dict.fromkeys(item.order_sn for item in changed))
            envelopes = [
                self._envelope(
                    platform, app_id, shop_id, profile, client.order_detail_body(shop_id, order_id)
                )
                for order_id in order_ids
            ]
            if envelopes:
                self._queue.send(envelopes)
            report.enqueued += len(envelopes)
            report.windows += 1
            if not self._cursors.advance(key, end, version):
                report.lost_races += 1
                return
            position, version = end, version + 1

    def _consume(
        self,
        platform: Platform,
        app_id: str,
        client: MessageSource,
        profile: IncrementProfile,
        report: PollReport,
    ) -> None:
        """Consume TMC messages: enqueue each named trade, then confirm what was handled."""
        shops = set(client.shops())
        for _ in range(self._settings.max_message_batches):
            try:
                messages = client.consume_messages()
            except OmsError as error:
                report.errors.append(_error(platform, app_id, "", error))
                return
            if not messages:
                return
            handled: list[str] = []
            envelopes: list[IntakeEnvelope] = []
            fetched: dict[tuple[str, str], IntakeEnvelope] = {}
            for message in messages:
                is_trade = message.topic.startswith(TRADE_TOPIC_PREFIXES) and message.tid
                if not is_trade or message.user_id not in shops:
                    # Not about a trade, or a shop without a session: nothing can be fetched; the
                    # increment backstop covers shops with a session.
                    handled.append(message.message_id)
                    continue
                reference = (message.user_id, str(message.tid))
                try:
                    if reference not in fetched:
                        body = client.order_detail_body(*reference)
                        fetched[reference] = self._envelope(platform, app_id, message.user_id, profile, body)
                        envelopes.append(fetched[reference])
                except OmsError as error:
                    # Left unconfirmed: TMC delivers it again.
                    report.errors.append(_error(platform, app_id, message.user_id, error))
                    continue
                handled.append(message.message_id)
            try:
                if envelopes:
                    self._queue.send(envelopes)
                    report.enqueued += len(envelopes)
                client.confirm_messages(handled)
            except OmsError as error:
                # Nothing confirmed: TMC delivers these again, and their dedupe ids collapse repeats.
                report.errors.append(_error(platform, app_id, "", error))
                return
            report.messages_confirmed += len(handled)

    def _envelope(
        self, platform: Platform, app_id: str, shop_id: str, profile: IncrementProfile, body: bytes
    ) -> IntakeEnvelope:
        detail = profile.decode(body)
        order_id = profile.order_id(detail)
        raw, encoding = IntakeEnvelope.encode_raw(body)
        return IntakeEnvelope(
            trace_id=self._new_trace_id(),
            platform=platform,
            app_id=app_id,
            received_at=self._clock(),
            dedupe_id=profile.dedupe(detail),
            message_group=message_group(platform, shop_id, order_id),
            shop_id=shop_id,
            platform_order_id=order_id or None,
            event_hint=profile.detail_api,
            query=dict(POLL_QUERY),
            raw=raw,
            raw_encoding=encoding,
        )


def default_clients(base_urls: dict[str, str], transport: Any, clock: Clock) -> ClientFactory:
    """A factory building each platform's client through its adapter."""

    def build(platform: Platform, secrets: AppSecrets) -> Any:
        return get_adapter(platform).client(secrets, transport, base_url=base_urls.get(platform), clock=clock)

    return build


def _error(platform: Platform, app_id: str, shop_id: str, error: OmsError) -> dict[str, str]:
    return {
        "platform": str(platform),
        "app_id": app_id,
        "shop_id": shop_id,
        "code": str(error.code),
        # Not "message": that key is reserved in a log record's extra fields.
        "error_message": error.message,
        "retryable": str(error.retryable).lower(),
    }


__all__ = [
    "INCREMENT_PROFILES",
    "Cursor",
    "CursorStore",
    "OrderPoller",
    "PollReport",
    "PollSettings",
    "cursor_key",
    "default_clients",
]
