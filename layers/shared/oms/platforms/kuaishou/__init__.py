"""Kuaishou shop (快手小店): encrypted push handling, status map, order parsing, signed API client.

``ADAPTER`` is what the platform registry imports; :mod:`.signing` is shared with the local
platform simulator.
"""

from __future__ import annotations

from oms.platforms.kuaishou.adapter import KuaishouAdapter
from oms.platforms.kuaishou.client import KuaishouClient

ADAPTER = KuaishouAdapter()

__all__ = ["ADAPTER", "KuaishouAdapter", "KuaishouClient"]
