"""Simulated APIs of further platforms, one module per platform, plugged into the simulator.

Each module named in :data:`PLATFORM_MODULES` provides:

- ``ORDER_API: str`` — the API name ``fail_next`` targets by default;
- ``base_url(simulator) -> str`` — the platform's base URL (under ``simulator.base_url``);
- ``handle(simulator, request, rest) -> SimReply`` — answer a request whose path starts with
  ``/<platform>/`` (``rest`` is the path after it), checking the platform's real signature.
  It runs under the simulator's lock; keep per-platform state on the module's own objects
  keyed by ``id(simulator)`` or on attributes it sets on the simulator.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: platform → module implementing its simulated APIs
PLATFORM_MODULES: dict[str, str] = {
    "xiaohongshu": "local.simulators.xiaohongshu",
    "kuaishou": "local.simulators.kuaishou",
    "woocommerce": "local.simulators.woocommerce",
    "wechat_mini": "local.simulators.wechat_mini",
    "pinduoduo": "local.simulators.pinduoduo",
    "taobao": "local.simulators.taobao",
}


def module_for(platform: str) -> ModuleType | None:
    name = PLATFORM_MODULES.get(platform)
    return importlib.import_module(name) if name else None
