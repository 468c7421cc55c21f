"""WeChat mini-program orders: WeChat Pay v3 notifications and the shipping-management order API."""

from oms.platforms.wechat_mini.adapter import ADAPTER, WechatMiniAdapter

__all__ = ["ADAPTER", "WechatMiniAdapter"]
