"""WeChat Channels shop (微信小店): encrypted JSON pushes, order/get snapshots, access-token client."""

from oms.platforms.wechat_channels.adapter import ADAPTER, WechatChannelsAdapter

__all__ = ["ADAPTER", "WechatChannelsAdapter"]
