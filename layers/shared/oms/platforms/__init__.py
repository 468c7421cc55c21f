"""Platform packages, one per platform, each exposing ``ADAPTER``; and the registry that finds them.

Adapter packages are imported by name on first use, so a cold start loads only the platform the
request is for (each package pulls its own crypto and parsing code).

Examples
--------
>>> get_adapter("wechat_channels").platform
<Platform.WECHAT_CHANNELS: 'wechat_channels'>
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from oms.domain.errors import UnknownPlatformError
from oms.domain.model import Platform

if TYPE_CHECKING:
    from oms.platforms.base import PlatformAdapter

#: Platforms with an adapter package, and the module that exports its ``ADAPTER``.
ADAPTER_MODULES: dict[Platform, str] = {
    Platform.DOUYIN: "oms.platforms.douyin",
    Platform.SHOPIFY: "oms.platforms.shopify",
    Platform.WECHAT_CHANNELS: "oms.platforms.wechat_channels",
    Platform.XIAOHONGSHU: "oms.platforms.xiaohongshu",
    Platform.KUAISHOU: "oms.platforms.kuaishou",
    Platform.WOOCOMMERCE: "oms.platforms.woocommerce",
    Platform.WECHAT_MINI: "oms.platforms.wechat_mini",
    Platform.PINDUODUO: "oms.platforms.pinduoduo",
    Platform.TAOBAO: "oms.platforms.taobao",
}


def supported_platforms() -> tuple[Platform, ...]:
    """The platforms an adapter exists for, in a stable order."""
    return tuple(ADAPTER_MODULES)


def get_adapter(platform: str) -> PlatformAdapter:
    """The adapter of ``platform`` (a :class:`~oms.domain.model.Platform` value such as ``"douyin"``).

    Raises
    ------
    UnknownPlatformError
        For a name that is no platform, and for a known platform without an adapter yet.
    """
    try:
        module_name = ADAPTER_MODULES[Platform(platform)]
    except (ValueError, KeyError):
        raise UnknownPlatformError(
            "no adapter for this platform",
            platform=str(platform)[:64],
            supported=[str(supported) for supported in ADAPTER_MODULES],
        ) from None
    adapter: PlatformAdapter = importlib.import_module(module_name).ADAPTER
    return adapter
