"""Channel-side stock for every simulated platform's stock APIs (pushes and reads).

A channel keeps its own stock per SKU: what the order center pushes sets it, buyers' orders
deduct from it (:func:`sell`), and a read returns it. A channel's stock interface may lag
(Pinduoduo's, about 3.7 s, by default; :func:`set_lag` for any platform): a pushed value becomes
visible ``lag`` later on the simulator's clock (a simulated clock makes that instant and
deterministic); until then reads and sales see the older value. Test handles:
:func:`set_stock`, :func:`stock`, :func:`sell`, :func:`set_lag`, :func:`lose_next_push` (the API
answers success and keeps nothing).

API shapes (request checks are the platform's own: Douyin's signature is checked by the
simulator before the call reaches :func:`douyin`):

- Douyin ``sku.syncStock`` ``{product_id, sku_id, stock_num, incremental}`` → ``data {}``;
  ``sku.stockNum`` ``{sku_id}`` → ``data {sku_id, stock_num, prehold_stock_num}``;
- Shopify ``POST admin/api/<v>/inventory_levels/set.json`` ``{location_id, inventory_item_id,
  available}`` → ``{inventory_level}``; ``GET inventory_levels.json?inventory_item_ids&location_ids``
  → ``{inventory_levels: [...]}``;
- WeChat ``POST /channels/ec/product/stock/update`` ``{product_id, sku_id, diff_type, num}`` and
  ``/channels/ec/product/stock/get`` ``{product_id, sku_id}`` → ``data {normal_stock_num, …}``.

The other platforms' modules (``local.simulators.<platform>``) answer their own stock calls after
their own signature checks and keep the levels here (:func:`record_push`, :func:`shown`,
:func:`latest`), so every channel's reads, lag and lost pushes behave alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DOUYIN = "douyin"
SHOPIFY = "shopify"
WECHAT_CHANNELS = "wechat_channels"
DOUYIN_STOCK_APIS = frozenset({"sku.syncStock", "sku.stockNum"})
WECHAT_STOCK_APIS = frozenset({"channels/ec/product/stock/update", "channels/ec/product/stock/get"})
SHOPIFY_STOCK_PATHS = frozenset({"inventory_levels/set.json", "inventory_levels.json"})
#: A stock call naming a product the shop does not have (WeChat).
WECHAT_PRODUCT_NOT_FOUND = 10020050


@dataclass(slots=True)
class _Level:
    shown: int = 0
    #: pushed values not yet visible: (visible at, value)
    pending: list[tuple[datetime, int]] = field(default_factory=list)

    def settle(self, now: datetime) -> None:
        while self.pending and self.pending[0][0] <= now:
            self.shown = self.pending.pop(0)[1]


#: Reported stock-interface lags: a pushed value reaches buyers this much later (configurable)
DEFAULT_LAGS = {"pinduoduo": timedelta(seconds=3.7)}


@dataclass(slots=True)
class _State:
    levels: dict[tuple[str, str, str], _Level] = field(default_factory=dict)
    lag: dict[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_LAGS))
    lose: dict[tuple[str, str, str], int] = field(default_factory=dict)
    pushes: list[tuple[str, str, str, int]] = field(default_factory=list)


_STATES: dict[int, _State] = {}


def _state(simulator: Any) -> _State:
    return _STATES.setdefault(id(simulator), _State())


def _level(simulator: Any, key: tuple[str, str, str]) -> _Level:
    level = _state(simulator).levels.setdefault(key, _Level())
    level.settle(simulator.clock())
    return level


# --- test handles ------------------------------------------------------------------------------


def set_stock(simulator: Any, platform: str, shop: str, sku: str, quantity: int) -> None:
    """Make the channel show ``quantity`` now (an operator editing stock in the channel's back office)."""
    with simulator._lock:
        level = _level(simulator, (platform, str(shop), str(sku)))
        level.shown, level.pending = quantity, []


def stock(simulator: Any, platform: str, shop: str, sku: str) -> int | None:
    """What the channel shows now, None when it never had stock for the SKU."""
    with simulator._lock:
        key = (platform, str(shop), str(sku))
        if key not in _state(simulator).levels:
            return None
        return _level(simulator, key).shown


def sell(simulator: Any, platform: str, shop: str, sku: str, quantity: int) -> bool:
    """A buyer orders on the channel: deducted from what it shows, refused when it shows too little."""
    with simulator._lock:
        level = _level(simulator, (platform, str(shop), str(sku)))
        if level.shown < quantity:
            return False
        level.shown -= quantity
        return True


def set_lag(simulator: Any, platform: str, seconds: float) -> None:
    """Pushed values become visible ``seconds`` later on the simulator's clock."""
    with simulator._lock:
        _state(simulator).lag[platform] = timedelta(seconds=seconds)


def lose_next_push(simulator: Any, platform: str, shop: str, sku: str, times: int = 1) -> None:
    """The next ``times`` pushes for the SKU answer success and change nothing (a lost update)."""
    with simulator._lock:
        _state(simulator).lose[(platform, str(shop), str(sku))] = times


def pushes(simulator: Any) -> list[tuple[str, str, str, int]]:
    """Every accepted push as (platform, shop, sku, quantity), in order (lost ones included)."""
    with simulator._lock:
        return list(_state(simulator).pushes)


def record_push(simulator: Any, platform: str, shop: str, sku: str, quantity: int) -> None:
    """A platform module's stock API set ``quantity`` (called under the simulator's lock)."""
    _push(simulator, platform, shop, sku, quantity)


def shown(simulator: Any, platform: str, shop: str, sku: str) -> int | None:
    """What buyers see now, None for a SKU the channel never had (called under the simulator's lock)."""
    return _read(simulator, platform, shop, sku)


def latest(simulator: Any, platform: str, shop: str, sku: str) -> int:
    """The newest value set, visible or still lagging (what an incremental change applies to)."""
    key = (platform, str(shop), str(sku))
    if key not in _state(simulator).levels:
        return 0
    level = _level(simulator, key)
    return level.pending[-1][1] if level.pending else level.shown


def _push(simulator: Any, platform: str, shop: str, sku: str, quantity: int) -> None:
    state = _state(simulator)
    key = (platform, str(shop), str(sku))
    state.pushes.append((*key, quantity))
    if state.lose.get(key, 0) > 0:
        state.lose[key] -= 1
        return
    level = _level(simulator, key)
    lag = state.lag.get(platform, timedelta(0))
    if lag <= timedelta(0):
        level.shown, level.pending = quantity, []
    else:
        level.pending.append((simulator.clock() + lag, quantity))


def _read(simulator: Any, platform: str, shop: str, sku: str) -> int | None:
    key = (platform, str(shop), str(sku))
    if key not in _state(simulator).levels:
        return None
    return _level(simulator, key).shown


# --- the APIs (called under the simulator's lock) ----------------------------------------------


def douyin(simulator: Any, shop_id: str, api: str, params: dict[str, Any]) -> Any:
    """Answer ``sku.syncStock`` / ``sku.stockNum`` for an authenticated shop."""
    sku = params.get("sku_id")
    if sku in (None, ""):
        return simulator._douyin_error(40002, "缺少必选参数", "isv.missing-parameter", "sku_id")
    if api == "sku.syncStock":
        quantity = params.get("stock_num")
        if params.get("incremental") not in (False, "false", None) or not _whole(quantity):
            return simulator._douyin_error(40003, "非法的参数", "isv.parameter-invalid", "stock_num")
        if not params.get("product_id"):
            return simulator._douyin_error(40002, "缺少必选参数", "isv.missing-parameter", "product_id")
        _push(simulator, DOUYIN, shop_id, str(sku), int(str(quantity)))
        return _douyin_ok(simulator, {})
    shown = _read(simulator, DOUYIN, shop_id, str(sku))
    if shown is None:
        return simulator._douyin_error(50002, "业务处理失败", "isv.business-failed", "sku不存在")
    return _douyin_ok(simulator, {"sku_id": sku, "stock_num": shown, "prehold_stock_num": 0})


def _douyin_ok(simulator: Any, data: dict[str, Any]) -> Any:
    from local.simulator import SimReply

    return SimReply.json(
        {
            "code": 10000,
            "msg": "success",
            "sub_code": "",
            "sub_msg": "",
            "log_id": f"sim{simulator._serial:017d}",
            "data": data,
        }
    )


def shopify(simulator: Any, request: Any, shop: str, path: str) -> Any:
    """``inventory_levels/set.json`` (POST) and ``inventory_levels.json`` (GET) for one shop."""
    from local.simulator import SimReply

    simulator.calls[f"{SHOPIFY}:{path}"] += 1
    secrets = simulator.credentials.get(SHOPIFY, {}).get(shop)
    if secrets is None:
        return SimReply.json({"errors": "Not Found"}, status=404)
    token = request.headers.get("x-shopify-access-token", "")
    from oms.platforms._common import constant_time_equals

    if not token or not constant_time_equals(str(secrets["access_token"]), token):
        return SimReply.json(
            {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
            status=401,
        )
    now = simulator.clock().strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if path == "inventory_levels/set.json" and request.method == "POST":
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not all(
            _whole(body.get(name)) for name in ("location_id", "inventory_item_id", "available")
        ):
            return SimReply.json(
                {"errors": {"available": ["is required"], "location_id": ["is required"]}}, status=422
            )
        item = str(body["inventory_item_id"])
        _push(simulator, SHOPIFY, shop, item, int(body["available"]))
        level = {
            "inventory_item_id": body["inventory_item_id"],
            "location_id": body["location_id"],
            "available": int(body["available"]),
            "updated_at": now,
        }
        return SimReply.json({"inventory_level": level})
    if path == "inventory_levels.json" and request.method == "GET":
        items = [x for x in request.query.get("inventory_item_ids", "").split(",") if x]
        location = request.query.get("location_ids", "")
        levels = []
        for item in items:
            shown = _read(simulator, SHOPIFY, shop, item)
            if shown is not None:
                levels.append(
                    {
                        "inventory_item_id": int(item) if item.isdigit() else item,
                        "location_id": int(location) if location.isdigit() else location,
                        "available": shown,
                        "updated_at": now,
                    }
                )
        return SimReply.json({"inventory_levels": levels})
    return SimReply.json({"errors": "Not Found"}, status=404)


def wechat(simulator: Any, request: Any, api: str) -> Any:
    """``product/stock/update`` and ``product/stock/get`` with the access token checked."""
    from local.simulator import SimReply

    if (fault := simulator._wechat_fault(api)) is not None:
        return fault
    token = request.query.get("access_token")
    issued = simulator._wechat_tokens.get(token) if token else None
    if issued is None:
        return simulator._wechat_error(40001, "invalid credential, access_token is invalid or not latest")
    app_id, expires_at = issued
    if simulator.clock() >= expires_at:
        return simulator._wechat_error(42001, "access_token expired")
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("product_id") or not body.get("sku_id"):
        return simulator._wechat_error(47001, "data format error")
    sku = str(body["sku_id"])
    if api.endswith("update"):
        if body.get("diff_type") != 3 or not _whole(body.get("num")):
            return simulator._wechat_error(47001, "data format error")
        _push(simulator, WECHAT_CHANNELS, app_id, sku, int(body["num"]))
        return SimReply.json({"errcode": 0, "errmsg": "ok"})
    shown = _read(simulator, WECHAT_CHANNELS, app_id, sku)
    if shown is None:
        return simulator._wechat_error(WECHAT_PRODUCT_NOT_FOUND, "product not exist")
    data = {
        "normal_stock_num": shown,
        "limited_discount_stock_num": 0,
        "warehouse_stocks": [],
        "total_stock_num": shown,
    }
    return SimReply.json({"errcode": 0, "errmsg": "ok", "data": data})


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
