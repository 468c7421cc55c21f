"""The delivering ``AlertSink``: route by kind/role/merchant, deduplicate, group, rate-limit, send.

Every alert first goes to the floor (log line + ``AlertsRaised`` metric), whatever happens next.
Then, per channel the routes name (``docs/notifiers.md``):

1. each alert is claimed in the ledger (a conditional write on its ``dedupe_key`` and the
   channel): an alert delivered before, or being delivered by a concurrent caller, is dropped;
2. the alerts still claimed become **one** message (robots allow ~20 a minute; voice channels
   ``calls_per_minute`` per callee, 1 by default), if the channel's minute window has room;
3. a send that fails, or finds no room, releases its claims, and the call ends with
   :class:`AlertDeliveryError` listing what was not delivered, so the producer's retry (or the
   escalator's next run) delivers it, still exactly once per channel.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from aws_lambda_powertools import Logger

from oms.adapters.notification_ledger import DynamoNotificationLedger
from oms.adapters.notifiers.channels import Channel
from oms.adapters.notifiers.config import (
    AliyunVoiceChannel,
    ChannelConfig,
    ConnectVoiceChannel,
    NotifierConfig,
)
from oms.domain.alert_routing import group_by_channel
from oms.domain.alerts import Alert
from oms.domain.errors import AlertDeliveryError, NotificationFailedError
from oms.observability import count
from oms.services.ports import AlertSink

logger = Logger(child=True)


class NotifyingAlertSink:
    def __init__(
        self,
        *,
        floor: AlertSink,
        config: Callable[[], NotifierConfig],
        ledger: DynamoNotificationLedger,
        build_channel: Callable[[ChannelConfig], Channel],
        clock: Callable[[], datetime],
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._floor = floor
        self._config = config
        self._ledger = ledger
        self._build_channel = build_channel
        self._clock = clock
        self._new_token = new_token
        self._channels: dict[str, tuple[ChannelConfig, Channel]] = {}

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        self._floor.raise_alerts(alerts)
        if not alerts:
            return
        config = self._config()
        undelivered: set[str] = set()
        for channel_id, group in group_by_channel(alerts, config.route_list).items():
            undelivered |= self._send(channel_id, config, group)
        if undelivered:
            raise AlertDeliveryError("some alerts were not delivered", undelivered=sorted(undelivered))

    def _send(self, channel_id: str, config: NotifierConfig, group: Sequence[Alert]) -> set[str]:
        now = self._clock()
        token = self._new_token()
        fresh = [alert for alert in group if self._ledger.claim(alert.dedupe_key, channel_id, token, now)]
        if len(fresh) < len(group):
            count("AlertsDeduplicated", len(group) - len(fresh), channel=channel_id)
        if not fresh:
            return set()
        channel_config = config.channels[channel_id]
        limit = (
            channel_config.calls_per_minute
            if isinstance(channel_config, ConnectVoiceChannel | AliyunVoiceChannel)
            else config.rate_limit_per_minute
        )
        keys = {alert.dedupe_key for alert in fresh}
        if not self._ledger.take_slot(channel_id, now, limit):
            self._release(fresh, channel_id, token)
            count("NotificationsRateLimited", channel=channel_id)
            logger.warning("channel rate limit reached", extra={"channel": channel_id, "alerts": len(fresh)})
            return keys
        try:
            receipt = self._channel(channel_id, channel_config).deliver(fresh)
        except NotificationFailedError as error:
            self._release(fresh, channel_id, token)
            count("NotificationsFailed", channel=channel_id)
            logger.warning("notification failed", extra={"channel": channel_id, "error": error.to_dict()})
            return keys
        for alert in fresh:
            self._ledger.confirm(alert.dedupe_key, channel_id, token, receipt, now)
        count("NotificationsSent", channel=channel_id)
        return set()

    def _release(self, alerts: Sequence[Alert], channel_id: str, token: str) -> None:
        for alert in alerts:
            self._ledger.release(alert.dedupe_key, channel_id, token)

    def _channel(self, channel_id: str, config: ChannelConfig) -> Channel:
        cached = self._channels.get(channel_id)
        if cached is None or cached[0] != config:  # a rotated secret builds a new client
            cached = (config, self._build_channel(config))
            self._channels[channel_id] = cached
        return cached[1]
