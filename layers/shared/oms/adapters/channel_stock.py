"""The channels' stock APIs behind one port: set a listing's quantity, read what the channel shows.

Every platform client sets a total except Kuaishou (changes only: it needs the current quantity).
Every one reads back (``read_stock(shop, sku, product_id=…)``; Shopify per location), so the
poller compares all eight channels. WeChat mini-program orders are the merchant's own store:
nothing to push.
"""

from __future__ import annotations

from typing import Any

from oms.adapters.platform_clients import PlatformClients
from oms.domain.errors import BadRequestError
from oms.domain.model import Platform
from oms.domain.stock_sync import PULLABLE, Listing, check_listing

#: Platforms where one app holds one shop, so the shop names the app
_SHOP_IS_APP = frozenset({"shopify", "wechat_channels"})


class ChannelStockGateway:
    """:class:`~oms.services.ports.ChannelStock` over the signed platform clients."""

    def __init__(self, clients: PlatformClients) -> None:
        self._clients = clients

    def can_pull(self, platform: str) -> bool:
        return platform in PULLABLE

    def push(self, listing: Listing, quantity: int, current: int | None) -> None:
        check_listing(listing)
        client = self._client(listing)
        if listing.platform == "pinduoduo":
            client.update_stock(
                listing.shop_id, goods_id=listing.product_id, quantity=quantity, sku_id=listing.channel_sku_id
            )
        elif listing.platform == "taobao":
            client.update_stock(
                listing.shop_id, num_iid=listing.product_id, quantity=quantity, sku_id=listing.channel_sku_id
            )
        elif listing.platform == "shopify":
            client.update_stock(
                listing.shop_id, listing.channel_sku_id, quantity, location_id=listing.location_id
            )
        else:
            if current is None and listing.platform == "kuaishou":
                # Kuaishou only takes changes: a listing never pushed starts from what it shows.
                current = self.pull(listing)
            client.update_stock(
                listing.shop_id,
                listing.channel_sku_id,
                quantity,
                product_id=listing.product_id,
                current_quantity=current,
            )

    def pull(self, listing: Listing) -> int:
        if listing.platform not in PULLABLE:
            raise BadRequestError("the poller cannot read stock on this platform", platform=listing.platform)
        client = self._client(listing)
        if listing.platform == "shopify":
            quantity: int = client.read_stock(
                listing.shop_id, listing.channel_sku_id, location_id=listing.location_id
            )
        else:
            quantity = client.read_stock(
                listing.shop_id, listing.channel_sku_id, product_id=listing.product_id
            )
        return quantity

    def _client(self, listing: Listing) -> Any:
        app_id = listing.shop_id if listing.platform in _SHOP_IS_APP else None
        return self._clients.get(Platform(listing.platform), app_id)[1]
