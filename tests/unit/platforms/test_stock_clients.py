"""Stock set/read calls of the Douyin, Shopify and WeChat Channels clients.

Each call is checked twice: the exact request it sends (a recording transport; for Douyin the
signature against the algorithm of the PLATFORMS.md vector) and a round trip through the platform
simulator, which refuses a bad signature or token the way the platform does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from local.simulator import PlatformSimulator, load_credentials
from local.simulators import stock as channel
from oms.adapters.http import Urllib3Transport
from oms.domain.errors import PlatformApiError, SchemaInvalidError
from oms.platforms.douyin.client import DouyinClient
from oms.platforms.douyin.signing import api_sign
from oms.platforms.shopify.client import ShopifyClient
from oms.platforms.wechat_channels.client import WechatChannelsClient
from tests.support.http import RecordingTransport, json_response

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
CREDENTIALS = load_credentials()
DOUYIN_APP = next(iter(CREDENTIALS["douyin"].values()))
SHOPIFY_SHOP, SHOPIFY_APP = next(iter(CREDENTIALS["shopify"].items()))
WECHAT_APP_ID, WECHAT_APP = next(iter(CREDENTIALS["wechat_channels"].items()))


def clock() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def simulator() -> Iterator[PlatformSimulator]:
    with PlatformSimulator(CREDENTIALS, clock=clock) as running:
        yield running


def test_douyin_sync_stock_is_signed_over_its_param_json() -> None:
    # GIVEN a client answering from a recording transport
    transport = RecordingTransport(json_response({"code": 10000, "msg": "success", "data": {}}))
    client = DouyinClient(DOUYIN_APP, transport, clock=clock)
    # WHEN it sets a SKU's stock
    client.update_stock("100001", "1755000000001", 12, product_id="3600000000001")
    # THEN the body is the sorted param_json with a total, and the sign is the documented one over it
    request = transport.requests[0]
    query = dict(parse_qsl(urlsplit(request["url"]).query))
    body = request["body"].decode()
    assert urlsplit(request["url"]).path == "/sku/syncStock"
    assert json.loads(body) == {
        "incremental": False,
        "product_id": 3600000000001,
        "sku_id": 1755000000001,
        "stock_num": 12,
    }
    assert query["method"] == "sku.syncStock"
    expected = api_sign(
        DOUYIN_APP["app_key"],
        DOUYIN_APP["app_secret"],
        "sku.syncStock",
        body,
        query["timestamp"],
        "2",
        "hmac-sha256",
    )
    assert query["sign"] == expected


def test_douyin_round_trip_against_the_simulator(simulator: PlatformSimulator) -> None:
    client = DouyinClient(
        DOUYIN_APP, Urllib3Transport(), base_url=f"{simulator.base_url}/douyin", clock=clock
    )
    client.update_stock("100001", "1755000000002", 30, product_id="3600000000002")
    assert channel.stock(simulator, "douyin", "100001", "1755000000002") == 30
    assert channel.sell(simulator, "douyin", "100001", "1755000000002", 4)
    assert client.read_stock("100001", "1755000000002") == 26
    # a wrong secret makes a signature the simulator refuses
    forged = DouyinClient(
        DOUYIN_APP | {"app_secret": "not-the-secret"},
        Urllib3Transport(),
        base_url=f"{simulator.base_url}/douyin",
        clock=clock,
    )
    with pytest.raises(PlatformApiError) as refused:
        forged.update_stock("100001", "1755000000002", 1, product_id="3600000000002")
    assert refused.value.details["sub_code"] == "isv.signature-invalid"
    assert channel.stock(simulator, "douyin", "100001", "1755000000002") == 26


def test_shopify_sets_and_reads_available_per_location(simulator: PlatformSimulator) -> None:
    client = ShopifyClient(
        SHOPIFY_APP, Urllib3Transport(), base_url=f"{simulator.base_url}/shopify/{{shop}}", clock=clock
    )
    client.update_stock(SHOPIFY_SHOP, "808950810", 17, location_id="905684977")
    assert channel.stock(simulator, "shopify", SHOPIFY_SHOP, "808950810") == 17
    assert client.read_stock(SHOPIFY_SHOP, "808950810", location_id="905684977") == 17
    wrong = ShopifyClient(
        SHOPIFY_APP | {"access_token": "shpat_wrong"},
        Urllib3Transport(),
        base_url=f"{simulator.base_url}/shopify/{{shop}}",
        clock=clock,
    )
    with pytest.raises(PlatformApiError) as refused:
        wrong.update_stock(SHOPIFY_SHOP, "808950810", 1, location_id="905684977")
    assert refused.value.details["http_status"] == 401
    with pytest.raises(SchemaInvalidError):
        client.update_stock(SHOPIFY_SHOP, "808950810", 1)


def test_shopify_request_shape() -> None:
    transport = RecordingTransport(json_response({"inventory_level": {"available": 5}}))
    ShopifyClient(SHOPIFY_APP, transport).update_stock(SHOPIFY_SHOP, "808950810", 5, location_id="905684977")
    request = transport.requests[0]
    assert request["method"] == "POST"
    assert request["url"] == f"https://{SHOPIFY_SHOP}/admin/api/2025-01/inventory_levels/set.json"
    assert json.loads(request["body"]) == {
        "location_id": 905684977,
        "inventory_item_id": 808950810,
        "available": 5,
    }
    assert request["headers"]["X-Shopify-Access-Token"] == SHOPIFY_APP["access_token"]


def test_wechat_sets_with_diff_type_3_and_reads_normal_stock(simulator: PlatformSimulator) -> None:
    client = WechatChannelsClient(
        WECHAT_APP_ID,
        WECHAT_APP["app_secret"],
        Urllib3Transport(),
        clock=clock,
        base_url=f"{simulator.base_url}/wechat_channels",
    )
    client.update_stock(WECHAT_APP_ID, "1380000001", 9, product_id="10000000001")
    assert client.read_stock(WECHAT_APP_ID, "1380000001", product_id="10000000001") == 9
    assert channel.sell(simulator, "wechat_channels", WECHAT_APP_ID, "1380000001", 2)
    assert client.read_stock(WECHAT_APP_ID, "1380000001", product_id="10000000001") == 7
    # an expired token is replaced once, then the call goes through
    simulator.expire_access_tokens()
    assert client.read_stock(WECHAT_APP_ID, "1380000001", product_id="10000000001") == 7
    with pytest.raises(PlatformApiError) as unknown:
        client.read_stock(WECHAT_APP_ID, "missing", product_id="10000000001")
    assert unknown.value.details["errcode"] == channel.WECHAT_PRODUCT_NOT_FOUND
    assert unknown.value.retryable is False


def test_wechat_too_frequent_is_retryable() -> None:
    transport = RecordingTransport(
        json_response({"access_token": "t", "expires_in": 7200}),
        json_response({"errcode": 10020112, "errmsg": "too frequent"}),
    )
    client = WechatChannelsClient(WECHAT_APP_ID, "s", transport, clock=clock)
    with pytest.raises(PlatformApiError) as throttled:
        client.update_stock(WECHAT_APP_ID, "1", 3, product_id="2")
    assert throttled.value.retryable is True
    body = json.loads(transport.requests[1]["body"])
    assert body == {"product_id": "2", "sku_id": "1", "diff_type": 3, "num": 3}


def test_a_lagging_channel_shows_a_push_only_after_its_lag(simulator: PlatformSimulator) -> None:
    now = [NOW]
    with PlatformSimulator(CREDENTIALS, clock=lambda: now[0]) as lagging:
        channel.set_lag(lagging, "douyin", 3.7)
        client = DouyinClient(
            DOUYIN_APP, Urllib3Transport(), base_url=f"{lagging.base_url}/douyin", clock=lambda: now[0]
        )
        channel.set_stock(lagging, "douyin", "100001", "77", 10)
        client.update_stock("100001", "77", 4, product_id="7")
        assert client.read_stock("100001", "77") == 10
        now[0] = NOW.replace(second=3)
        assert client.read_stock("100001", "77") == 10
        now[0] = NOW.replace(second=4)
        assert client.read_stock("100001", "77") == 4


def test_pinduoduo_buyers_see_a_push_about_3_7_seconds_later() -> None:
    from oms.platforms.pinduoduo import ADAPTER as PINDUODUO

    now = [NOW]
    app = next(iter(CREDENTIALS["pinduoduo"].values()))
    mall = next(iter(app["access_tokens"]))
    with PlatformSimulator(CREDENTIALS, clock=lambda: now[0]) as lagging:
        client = PINDUODUO.client(
            app, Urllib3Transport(), base_url=f"{lagging.base_url}/pinduoduo", clock=lambda: now[0]
        )
        channel.set_stock(lagging, "pinduoduo", mall, "70011", 10)
        client.update_stock(mall, goods_id="6001", sku_id="70011", quantity=4)  # type: ignore[attr-defined]
        # a buyer 3 s later still sees (and takes from) the old 10
        now[0] = NOW + timedelta(seconds=3)
        assert channel.sell(lagging, "pinduoduo", mall, "70011", 7)
        now[0] = NOW + timedelta(seconds=3.7)
        assert channel.stock(lagging, "pinduoduo", mall, "70011") == 4
