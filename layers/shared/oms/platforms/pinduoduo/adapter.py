"""The Pinduoduo adapter: orders arrive by pull, not by HTTP push.

Pinduoduo pushes over a WebSocket the receiver has to hold open, which a serverless receiver
cannot, so ``order_poller`` pulls instead (:mod:`oms.services.polling`): for each mall,
``pdd.order.number.list.increment.get`` since a stored cursor, then ``pdd.order.information.get``
per order, enqueued on the intake queue as an :class:`~oms.domain.envelope.IntakeEnvelope` whose
``raw`` is the detail reply body as received and whose ``shop_id`` is the mall id. The sanitizer
then decodes and parses it like a push. Any HTTP push to ``/webhooks/pinduoduo`` is refused.

One app's secrets::

    {"client_id": "…", "client_secret": "…", "access_tokens": {"<mall id>": "<token>"}}
"""

from __future__ import annotations

from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import OrderEvent, Platform
from oms.platforms._common import envelope_payload
from oms.platforms._pull import PulledPlatformAdapter
from oms.platforms.pinduoduo.client import DEFAULT_BASE_URL, PinduoduoClient, order_info
from oms.platforms.pinduoduo.parsing import parse_order


class PinduoduoAdapter(PulledPlatformAdapter):
    """:class:`~oms.platforms.base.PlatformAdapter` for Pinduoduo (pull only)."""

    platform = Platform.PINDUODUO
    label = "Pinduoduo"
    default_base_url = DEFAULT_BASE_URL
    client_type = PinduoduoClient

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The ``order_info`` of the enqueued detail reply (fractions kept as decimal strings)."""
        return order_info(envelope_payload(envelope))

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        return parse_order(snapshot if snapshot is not None else message, envelope)


ADAPTER = PinduoduoAdapter()
