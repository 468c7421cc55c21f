"""Pinduoduo (拼多多): pulled orders (no HTTP push), MD5-signed router API client."""

from oms.platforms.pinduoduo.adapter import ADAPTER, PinduoduoAdapter

__all__ = ["ADAPTER", "PinduoduoAdapter"]
