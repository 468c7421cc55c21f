"""Taobao / Tmall (TOP): TMC pulled messages and sold-trade increments, MD5/HMAC-signed REST client."""

from oms.platforms.taobao.adapter import ADAPTER, TaobaoAdapter

__all__ = ["ADAPTER", "TaobaoAdapter"]
