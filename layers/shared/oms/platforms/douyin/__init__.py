"""Douyin Shop (抖店): push verification, framing, status map, order parsing, signed API client.

``ADAPTER`` is what the platform registry imports; :mod:`.signing` is shared with the local
platform simulator.
"""

from __future__ import annotations

from oms.platforms.douyin.adapter import DouyinAdapter
from oms.platforms.douyin.client import DouyinClient

ADAPTER = DouyinAdapter()

__all__ = ["ADAPTER", "DouyinAdapter", "DouyinClient"]
