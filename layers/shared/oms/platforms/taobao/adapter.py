"""The Taobao / Tmall adapter: orders arrive by pull, not by HTTP push.

TOP delivers messages through TMC, which a serverless receiver consumes by pull
(``taobao.tmc.messages.consume`` then ``confirm``); ``taobao.trades.sold.increment.get`` since a
stored cursor is the backstop for anything TMC drops. ``order_poller`` (:mod:`oms.services.polling`)
does both and enqueues, per changed trade, the raw ``taobao.trade.fullinfo.get`` reply body as an
:class:`~oms.domain.envelope.IntakeEnvelope` (``shop_id`` = the seller's user id). Any HTTP push to
``/webhooks/taobao`` is refused.

One app's secrets::

    {"app_key": "…", "app_secret": "…", "sessions": {"<seller user id>": "<session key>"},
     "sign_method": "md5" | "hmac", "tmc_group": "default"}
"""

from __future__ import annotations

from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform
from oms.platforms._common import envelope_payload
from oms.platforms._pull import PulledPlatformAdapter
from oms.platforms.taobao.client import DEFAULT_BASE_URL, TaobaoClient, trade_of
from oms.platforms.taobao.parsing import parse_trade


class TaobaoAdapter(PulledPlatformAdapter):
    """:class:`~oms.platforms.base.PlatformAdapter` for Taobao / Tmall (pull only)."""

    platform = Platform.TAOBAO
    label = "Taobao"
    default_base_url = DEFAULT_BASE_URL
    client_type = TaobaoClient

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The ``trade`` of the enqueued ``taobao.trade.fullinfo.get`` reply."""
        return trade_of(envelope_payload(envelope))

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        return parse_trade(snapshot if snapshot is not None else message, envelope)


ADAPTER = TaobaoAdapter()
