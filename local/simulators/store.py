"""The order and product store a platform simulator module keeps per simulator (Kuaishou, Xiaohongshu,
WooCommerce): one :class:`ShopState` for each running simulator, dropped with it."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.simulator import PlatformSimulator


@dataclass
class ShopState:
    """Orders and each product's SKUs keyed by (shop, id); hold ``lock`` while reading or changing
    them. Stock levels live in :mod:`local.simulators.stock`, shared by every platform."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    orders: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    items: dict[tuple[str, str], list[str]] = field(default_factory=dict)


class SimulatorStates:
    """One platform module's :class:`ShopState` per simulator (call it with the simulator)."""

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[PlatformSimulator, ShopState] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, simulator: PlatformSimulator) -> ShopState:
        with self._lock:
            return self._states.setdefault(simulator, ShopState())
