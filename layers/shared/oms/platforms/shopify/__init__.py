"""Shopify: webhook verification and framing, status map, order parsing with masked receiver
data, and the Admin REST client.

``ADAPTER`` is what the platform registry imports; :func:`.webhook.webhook_hmac` is shared with
the local platform simulator.
"""

from __future__ import annotations

from oms.platforms.shopify.adapter import ShopifyAdapter
from oms.platforms.shopify.client import ShopifyClient

ADAPTER = ShopifyAdapter()

__all__ = ["ADAPTER", "ShopifyAdapter", "ShopifyClient"]
