"""The mini-program shipping-management API client: ``/wxa/sec/order/get_order``.

WeChat APIs carry no request signature: the mini-program's ``access_token`` rides in the query
string. Token caching and the one retry on a rejected token are the WeChat Channels client's
(same ``/cgi-bin/token`` endpoint); this client only adds the order call.

WeChat Pay holds no stock for a mini-program (the merchant's own system does), so this client
has no ``update_stock``: the inventory poller skips ``wechat_mini``.
"""

from __future__ import annotations

import json
from typing import Any

from oms.domain.errors import CredentialsMissingError, PlatformApiError
from oms.platforms.wechat_channels.client import WechatChannelsClient

GET_ORDER_PATH = "/wxa/sec/order/get_order"
#: 45009 daily quota reached, 45011 API minute-quota reached: retry later.
RATE_LIMITED_ERRCODES = frozenset({45009, 45011, -1})


class WechatMiniClient(WechatChannelsClient):
    """Shipping-management client for one mini-program (``app_id``) and its merchant (``mchid``).

    Parameters
    ----------
    app_id, app_secret, transport, clock, base_url:
        As for :class:`~oms.platforms.wechat_channels.client.WechatChannelsClient`.
    mchid:
        The WeChat Pay merchant the orders were paid to (``merchant_id`` of ``get_order``).

    Examples
    --------
    >>> client = WechatMiniClient("wx…", "secret", "1900000109", transport, clock=clock)  # doctest: +SKIP
    >>> client.fetch_order("wx…", "ORDER-20250301-0001")["order_state"]  # doctest: +SKIP
    2
    """

    def __init__(self, app_id: str, app_secret: str, mchid: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(app_id, app_secret, *args, **kwargs)
        self.mchid = mchid

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """The ``order`` object of ``get_order`` for the merchant order number ``platform_order_id``.

        Raises
        ------
        CredentialsMissingError
            ``shop_id`` is not this client's mini-program.
        PlatformApiError
            HTTP failure or ``errcode != 0``; retryable for the quota codes and system busy (-1).
        """
        if shop_id != self.app_id:
            raise CredentialsMissingError(
                "this client holds the secrets of another mini-program", platform="wechat_mini"
            )
        body = json.dumps({"merchant_id": self.mchid, "merchant_trade_no": platform_order_id}).encode()
        try:
            reply = self._call_with_token(GET_ORDER_PATH, body)
        except PlatformApiError as error:
            error.details["platform"] = "wechat_mini"
            errcode = error.details.get("errcode")
            # An errcode is WeChat refusing this request; only quota and "busy" pass with time.
            if errcode is not None:
                error.retryable = errcode in RATE_LIMITED_ERRCODES
            raise
        order = reply.get("order")
        if not isinstance(order, dict):
            raise PlatformApiError(
                "get_order returned no order object", platform="wechat_mini", api=GET_ORDER_PATH
            )
        return order
