"""Stock reads of the Xiaohongshu, Kuaishou, WooCommerce, Pinduoduo and Taobao clients.

Each read is checked three ways: the exact request it sends, its signature recomputed here from
the algorithm as PLATFORMS.md states it (independently of the client's signing module); the
parsing of replies, with a typed error for each malformed or failed one; and a round trip through
the platform simulator, which checks the signature the way the platform does and serves the stock
the pushes set (with the channel's lag on the simulator's clock).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from local.simulator import PlatformSimulator, load_credentials
from local.simulators import stock as channel
from oms.adapters.http import Urllib3Transport
from oms.domain.errors import (
    BadRequestError,
    ChannelListingNotFoundError,
    ErrorCode,
    PlatformApiError,
    SchemaInvalidError,
)
from oms.platforms.kuaishou.client import KuaishouClient
from oms.platforms.pinduoduo.client import PinduoduoClient
from oms.platforms.taobao.client import TaobaoClient
from oms.platforms.woocommerce.client import WooCommerceClient
from oms.platforms.xiaohongshu.client import XiaohongshuClient
from tests.support.http import RecordingTransport, json_response

CREDENTIALS = load_credentials()
XHS_APP = next(iter(CREDENTIALS["xiaohongshu"].values()))
XHS_SELLER = next(iter(XHS_APP["access_tokens"]))
KS_APP = next(iter(CREDENTIALS["kuaishou"].values()))
KS_SELLER = next(iter(KS_APP["access_tokens"]))
WOO_SITE, WOO_APP = next(iter(CREDENTIALS["woocommerce"].items()))
PDD_APP = next(iter(CREDENTIALS["pinduoduo"].values()))
PDD_MALL = next(iter(PDD_APP["access_tokens"]))
TB_APP = next(iter(CREDENTIALS["taobao"].values()))
TB_SELLER = next(iter(TB_APP["sessions"]))


class Clock:
    """The simulator's and the clients' now, moved by the test (the channels' lag runs on it)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def simulator(clock: Clock) -> Iterator[PlatformSimulator]:
    with PlatformSimulator(CREDENTIALS, clock=clock) as running:
        yield running


def fixed() -> datetime:
    return datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _md5_upper(secret: str, params: dict[str, str]) -> str:
    """Pinduoduo and TOP (md5): MD5(secret + sorted k+v + secret), uppercase hex."""
    text = secret + "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign") + secret
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


# --- Pinduoduo ---------------------------------------------------------------------------------


def test_pinduoduo_reads_the_skus_quantity_from_the_signed_goods_detail() -> None:
    reply = {"goods_detail_get_response": {"goods_id": 6001, "sku_list": [{"sku_id": 70011, "quantity": 8}]}}
    transport = RecordingTransport(json_response(reply))
    client = PinduoduoClient(PDD_APP, transport, clock=fixed)
    assert client.read_stock(PDD_MALL, "70011", product_id="6001") == 8
    form = dict(parse_qsl(transport.requests[0]["body"].decode()))
    assert urlsplit(transport.requests[0]["url"]).path == "/api/router"
    assert {k: form[k] for k in ("type", "goods_id", "data_type", "client_id")} == {
        "type": "pdd.goods.detail.get",
        "goods_id": "6001",
        "data_type": "JSON",
        "client_id": PDD_APP["client_id"],
    }
    assert form["timestamp"] == str(int(fixed().timestamp()))
    assert form["sign"] == _md5_upper(PDD_APP["client_secret"], form)


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        (
            {"goods_detail_get_response": {"sku_list": [{"sku_id": 1, "quantity": 3}]}},
            ChannelListingNotFoundError,
            None,
        ),
        ({"goods_detail_get_response": {"goods_id": 6001}}, SchemaInvalidError, None),
        (
            {"goods_detail_get_response": {"sku_list": [{"sku_id": 70011, "quantity": "many"}]}},
            SchemaInvalidError,
            None,
        ),
        ({"error_response": {"error_code": 70031, "error_msg": "throttled"}}, PlatformApiError, "70031"),
    ],
)
def test_pinduoduo_reply_errors_are_typed(
    reply: dict[str, Any], error: type[Exception], code: str | None
) -> None:
    client = PinduoduoClient(PDD_APP, RecordingTransport(json_response(reply)), clock=fixed)
    with pytest.raises(error) as raised:
        client.read_stock(PDD_MALL, "70011", product_id="6001")
    if code is not None:
        assert isinstance(raised.value, PlatformApiError)
        assert (raised.value.details["error_code"], raised.value.retryable) == (code, True)


def test_pinduoduo_round_trip_shows_the_push_after_its_lag(
    simulator: PlatformSimulator, clock: Clock
) -> None:
    transport = Urllib3Transport()
    client = PinduoduoClient(PDD_APP, transport, base_url=f"{simulator.base_url}/pinduoduo", clock=clock)
    client.update_stock(PDD_MALL, goods_id="6101", sku_id="71011", quantity=20)
    clock.now += timedelta(seconds=4)
    assert client.read_stock(PDD_MALL, "71011", product_id="6101") == 20
    # WHEN a new total is pushed THEN buyers (and the read) see the old one for ~3.7 s
    client.update_stock(PDD_MALL, goods_id="6101", sku_id="71011", quantity=12)
    clock.now += timedelta(seconds=3)
    assert client.read_stock(PDD_MALL, "71011", product_id="6101") == 20
    clock.now += timedelta(seconds=1)
    assert client.read_stock(PDD_MALL, "71011", product_id="6101") == 12
    assert channel.sell(simulator, "pinduoduo", PDD_MALL, "71011", 5)
    assert client.read_stock(PDD_MALL, "71011", product_id="6101") == 7
    with pytest.raises(ChannelListingNotFoundError):
        client.read_stock(PDD_MALL, "79999", product_id="6101")
    forged = PinduoduoClient(
        PDD_APP | {"client_secret": "not-the-secret"},
        transport,
        base_url=f"{simulator.base_url}/pinduoduo",
        clock=clock,
    )
    with pytest.raises(PlatformApiError) as refused:
        forged.read_stock(PDD_MALL, "71011", product_id="6101")
    assert refused.value.details["error_code"] == "10014"


# --- Taobao ------------------------------------------------------------------------------------


def test_taobao_reads_quantity_less_unpaid_holds_with_a_signed_sku_get() -> None:
    reply = {"item_sku_get_response": {"sku": {"sku_id": 700001, "quantity": 9, "with_hold_quantity": 2}}}
    transport = RecordingTransport(json_response(reply))
    secrets = TB_APP | {"sign_method": "md5"}
    assert (
        TaobaoClient(secrets, transport, clock=fixed).read_stock(TB_SELLER, "700001", product_id="600001")
        == 7
    )
    form = dict(parse_qsl(transport.requests[0]["body"].decode()))
    assert {k: form[k] for k in ("method", "fields", "sku_id", "num_iid", "v", "format")} == {
        "method": "taobao.item.sku.get",
        "fields": "sku_id,num_iid,quantity,with_hold_quantity",
        "sku_id": "700001",
        "num_iid": "600001",
        "v": "2.0",
        "format": "json",
    }
    assert form["timestamp"] == "2026-11-25 16:00:00"  # UTC+8
    assert form["session"] == TB_APP["sessions"][TB_SELLER]
    assert form["sign"] == _md5_upper(TB_APP["app_secret"], form)


def test_taobao_hmac_signing_of_the_read() -> None:
    reply = {"item_sku_get_response": {"sku": {"sku_id": 700001, "quantity": 4}}}
    transport = RecordingTransport(json_response(reply))
    client = TaobaoClient(TB_APP | {"sign_method": "hmac"}, transport, clock=fixed)
    assert client.read_stock(TB_SELLER, "700001", product_id="600001") == 4
    form = dict(parse_qsl(transport.requests[0]["body"].decode()))
    text = "".join(f"{key}{form[key]}" for key in sorted(form) if key != "sign")
    expected = hmac.new(TB_APP["app_secret"].encode(), text.encode(), hashlib.md5).hexdigest().upper()
    assert form["sign"] == expected


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"item_sku_get_response": {"sku": {"sku_id": 1, "quantity": 4}}}, ChannelListingNotFoundError),
        ({"item_sku_get_response": {}}, ChannelListingNotFoundError),
        ({"item_sku_get_response": {"sku": {"sku_id": 700001}}}, SchemaInvalidError),
        ({"something_else": {}}, SchemaInvalidError),
        ({"error_response": {"code": 7, "msg": "App Call Limited"}}, PlatformApiError),
    ],
)
def test_taobao_reply_errors_are_typed(reply: dict[str, Any], error: type[Exception]) -> None:
    client = TaobaoClient(TB_APP, RecordingTransport(json_response(reply)), clock=fixed)
    with pytest.raises(error):
        client.read_stock(TB_SELLER, "700001", product_id="600001")
    with pytest.raises(SchemaInvalidError):
        client.read_stock(TB_SELLER, "700001")


def test_taobao_round_trip(simulator: PlatformSimulator, clock: Clock) -> None:
    base = f"{simulator.base_url}/taobao"
    client = TaobaoClient(TB_APP, Urllib3Transport(), base_url=base, clock=clock)
    client.update_stock(TB_SELLER, num_iid="610001", sku_id="710001", quantity=30)
    assert client.read_stock(TB_SELLER, "710001", product_id="610001") == 30
    channel.lose_next_push(simulator, "taobao", TB_SELLER, "710001")
    client.update_stock(TB_SELLER, num_iid="610001", sku_id="710001", quantity=25)
    assert client.read_stock(TB_SELLER, "710001", product_id="610001") == 30  # the lost push shows
    with pytest.raises(PlatformApiError) as unknown:
        client.read_stock(TB_SELLER, "719999", product_id="610001")
    assert unknown.value.details["sub_code"] == "isv.item-sku-not-exist"
    forged = TaobaoClient(TB_APP | {"app_secret": "wrong"}, Urllib3Transport(), base_url=base, clock=clock)
    with pytest.raises(PlatformApiError) as refused:
        forged.read_stock(TB_SELLER, "710001", product_id="610001")
    assert refused.value.details["error_code"] == "25"


# --- Xiaohongshu -------------------------------------------------------------------------------


def test_xiaohongshu_reads_available_with_a_signed_get_sku_stock() -> None:
    reply = {"success": True, "data": {"skuId": "64f0b1", "skuStock": {"available": 6, "total": 8}}}
    transport = RecordingTransport(json_response(reply))
    client = XiaohongshuClient(XHS_APP, transport, clock=fixed)
    assert client.read_stock(XHS_SELLER, "64f0b1") == 6
    body = json.loads(transport.requests[0]["body"])
    assert {k: body[k] for k in ("method", "skuId", "version", "accessToken")} == {
        "method": "inventory.getSkuStock",
        "skuId": "64f0b1",
        "version": "2.0",
        "accessToken": XHS_APP["access_tokens"][XHS_SELLER],
    }
    text = f"inventory.getSkuStock?appId={XHS_APP['app_key']}&timestamp={body['timestamp']}&version=2.0"
    assert body["sign"] == hashlib.md5((text + XHS_APP["app_secret"]).encode()).hexdigest()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"success": True, "data": {"skuId": "64f0b1"}}, SchemaInvalidError),
        ({"success": True, "data": {"skuStock": {"available": None}}}, SchemaInvalidError),
        ({"success": False, "error_code": -20003, "error_msg": "no sku"}, PlatformApiError),
    ],
)
def test_xiaohongshu_reply_errors_are_typed(reply: dict[str, Any], error: type[Exception]) -> None:
    client = XiaohongshuClient(XHS_APP, RecordingTransport(json_response(reply)), clock=fixed)
    with pytest.raises(error):
        client.read_stock(XHS_SELLER, "64f0b1")


def test_xiaohongshu_round_trip(simulator: PlatformSimulator, clock: Clock) -> None:
    base = f"{simulator.base_url}/xiaohongshu"
    client = XiaohongshuClient(XHS_APP, Urllib3Transport(), base_url=base, clock=clock)
    client.update_stock(XHS_SELLER, "sku-r1", 14)
    assert channel.sell(simulator, "xiaohongshu", XHS_SELLER, "sku-r1", 3)
    assert client.read_stock(XHS_SELLER, "sku-r1") == 11
    with pytest.raises(PlatformApiError):
        client.read_stock(XHS_SELLER, "sku-missing")
    forged = XiaohongshuClient(
        XHS_APP | {"app_secret": "wrong"}, Urllib3Transport(), base_url=base, clock=clock
    )
    with pytest.raises(PlatformApiError) as refused:
        forged.read_stock(XHS_SELLER, "sku-r1")
    assert refused.value.details["code"] == "-10003"


# --- Kuaishou ----------------------------------------------------------------------------------


def test_kuaishou_reads_sku_stock_from_a_signed_item_get() -> None:
    reply = {"result": 1, "data": {"skuInfos": [{"kwaiSkuId": 23000000001, "skuStock": 5}]}}
    transport = RecordingTransport(json_response(reply))
    client = KuaishouClient(KS_APP | {"sign_method": "MD5"}, transport, clock=fixed)
    assert client.read_stock(KS_SELLER, "23000000001", product_id="22000000001") == 5
    request = transport.requests[0]
    assert (request["method"], request["body"]) == ("GET", None)
    url = urlsplit(request["url"])
    query = dict(parse_qsl(url.query))
    assert url.path == "/open/item/get"
    assert (query["method"], query["param"], query["version"]) == (
        "open.item.get",
        '{"kwaiItemId":22000000001}',
        "1",
    )
    signed = "&".join(f"{key}={query[key]}" for key in sorted(query) if key != "sign")
    expected = hashlib.md5(f"{signed}&signSecret={KS_APP['sign_secret']}".encode()).hexdigest()
    assert query["sign"] == expected


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"result": 1, "data": {"skuInfos": [{"kwaiSkuId": 1, "skuStock": 5}]}}, ChannelListingNotFoundError),
        ({"result": 1, "data": {"itemId": 1}}, SchemaInvalidError),
        ({"result": 1, "data": {"skuInfos": [{"kwaiSkuId": 23000000001}]}}, SchemaInvalidError),
        ({"result": 100020, "error_msg": "商品不存在"}, PlatformApiError),
    ],
)
def test_kuaishou_reply_errors_are_typed(reply: dict[str, Any], error: type[Exception]) -> None:
    client = KuaishouClient(KS_APP, RecordingTransport(json_response(reply)), clock=fixed)
    with pytest.raises(error):
        client.read_stock(KS_SELLER, "23000000001", product_id="22000000001")
    with pytest.raises(BadRequestError):
        client.read_stock(KS_SELLER, "23000000001")


def test_kuaishou_round_trip_with_hmac_signing(simulator: PlatformSimulator, clock: Clock) -> None:
    base = f"{simulator.base_url}/kuaishou"
    client = KuaishouClient(KS_APP, Urllib3Transport(), base_url=base, clock=clock)
    client.update_stock(KS_SELLER, "23000000101", 9, product_id="22000000101", current_quantity=0)
    assert channel.sell(simulator, "kuaishou", KS_SELLER, "23000000101", 2)
    assert client.read_stock(KS_SELLER, "23000000101", product_id="22000000101") == 7
    with pytest.raises(ChannelListingNotFoundError):
        client.read_stock(KS_SELLER, "23000000999", product_id="22000000101")
    forged = KuaishouClient(KS_APP | {"sign_secret": "wrong"}, Urllib3Transport(), base_url=base, clock=clock)
    with pytest.raises(PlatformApiError) as refused:
        forged.read_stock(KS_SELLER, "23000000101", product_id="22000000101")
    assert refused.value.details["code"] == "24"


# --- WooCommerce -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_id", "path"),
    [(None, "/products/4130"), ("4129", "/products/4129/variations/4130"), ("4130", "/products/4130")],
)
def test_woocommerce_reads_stock_quantity_with_basic_auth(product_id: str | None, path: str) -> None:
    transport = RecordingTransport(json_response({"id": 4130, "manage_stock": True, "stock_quantity": 3}))
    client = WooCommerceClient(WOO_APP, transport)
    assert client.read_stock(WOO_SITE, "4130", product_id=product_id) == 3
    request = transport.requests[0]
    assert (request["method"], request["url"]) == ("GET", f"https://{WOO_SITE}/wp-json/wc/v3{path}")
    token = base64.b64encode(f"{WOO_APP['consumer_key']}:{WOO_APP['consumer_secret']}".encode()).decode()
    assert request["headers"]["Authorization"] == f"Basic {token}"


@pytest.mark.parametrize(
    ("reply", "status", "error"),
    [
        ({"id": 4130, "manage_stock": False, "stock_quantity": None}, 200, SchemaInvalidError),
        ([], 200, SchemaInvalidError),
        ({"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID."}, 404, PlatformApiError),
    ],
)
def test_woocommerce_reply_errors_are_typed(reply: Any, status: int, error: type[Exception]) -> None:
    client = WooCommerceClient(WOO_APP, RecordingTransport(json_response(reply, status)))
    with pytest.raises(error):
        client.read_stock(WOO_SITE, "4130")


def test_woocommerce_round_trip(simulator: PlatformSimulator) -> None:
    base = f"{simulator.base_url}/woocommerce/{{shop}}"
    client = WooCommerceClient(WOO_APP, Urllib3Transport(), base_url=base)
    client.update_stock(WOO_SITE, "5230", 11, product_id="5229")
    assert channel.sell(simulator, "woocommerce", WOO_SITE, "5230", 1)
    assert client.read_stock(WOO_SITE, "5230", product_id="5229") == 10
    wrong = WooCommerceClient(WOO_APP | {"consumer_secret": "cs_wrong"}, Urllib3Transport(), base_url=base)
    with pytest.raises(PlatformApiError) as refused:
        wrong.read_stock(WOO_SITE, "5230", product_id="5229")
    assert refused.value.details["http_status"] == 401


def test_a_listing_missing_on_the_channel_has_its_own_code() -> None:
    error = ChannelListingNotFoundError("x", platform="pinduoduo")
    assert (error.code, error.http_status, error.retryable) == (
        ErrorCode.CHANNEL_LISTING_NOT_FOUND,
        404,
        False,
    )
