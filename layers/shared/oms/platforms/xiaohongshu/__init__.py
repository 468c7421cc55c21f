"""Xiaohongshu (小红书): push verification, framing, status map, order parsing, signed API client.

``ADAPTER`` is what the platform registry imports; :mod:`.signing` is shared with the local
platform simulator.
"""

from __future__ import annotations

from oms.platforms.xiaohongshu.adapter import XiaohongshuAdapter
from oms.platforms.xiaohongshu.client import XiaohongshuClient

ADAPTER = XiaohongshuAdapter()

__all__ = ["ADAPTER", "XiaohongshuAdapter", "XiaohongshuClient"]
