"""WooCommerce: webhook verification and the creation ping, status map, order parsing with masked
receiver data, and the REST client (order detail, stock update).

``ADAPTER`` is what the platform registry imports; :func:`.webhook.webhook_signature` is shared
with the local platform simulator.
"""

from __future__ import annotations

from oms.platforms.woocommerce.adapter import WooCommerceAdapter
from oms.platforms.woocommerce.client import WooCommerceClient

ADAPTER = WooCommerceAdapter()

__all__ = ["ADAPTER", "WooCommerceAdapter", "WooCommerceClient"]
