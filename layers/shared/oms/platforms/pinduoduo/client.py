"""The signed Pinduoduo router client: order increments, order detail, stock update and read.

Every call is ``POST https://gw-api.pinduoduo.com/api/router`` with form fields ``type`` (the API
name), ``client_id``, ``access_token``, ``timestamp`` (Unix s), ``data_type=JSON``, the business
fields and ``sign`` (:func:`~oms.platforms.pinduoduo.signing.sign`). A failure answers
``{"error_response": {"error_code", "error_msg", "sub_code", "sub_msg"}}``.

Rate limits: Pinduoduo throttles per app and API and answers a throttled call with an error code;
the codes treated as "try again later" are :data:`RETRYABLE_ERROR_CODES` (70031 throttled is
documented by the SDKs; the others are common "system busy" codes **[unconfirmed]**), and the
client raises a retryable :class:`~oms.domain.errors.PlatformApiError` for them and for HTTP
429/5xx. Secrets key ``retryable_error_codes`` (a list of ints) replaces the default set.

Stock read: ``pdd.goods.detail.get`` (``goods_id``) answers ``goods_detail_get_response`` with
``sku_list[] {sku_id, quantity, out_sku_sn, is_onsale, ...}`` (the field list of the public
Node SDK lywzx/pdd-node-sdk, generated from the open platform's API document); the SKU's
``quantity`` is what buyers can order. Pinduoduo has no single-SKU stock read in the public
documents we found, so a read costs one goods detail call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from oms.domain.errors import CredentialsMissingError, PlatformApiError, SchemaInvalidError
from oms.platforms._common import api_reply, listed_sku_quantity, load_json, secret
from oms.platforms.base import AppSecrets, HttpTransport
from oms.platforms.pinduoduo.signing import china_time, sign

PLATFORM = "pinduoduo"
DEFAULT_BASE_URL = "https://gw-api.pinduoduo.com"
ROUTER_PATH = "/api/router"
INCREMENT_API = "pdd.order.number.list.increment.get"
DETAIL_API = "pdd.order.information.get"
STOCK_API = "pdd.goods.quantity.update"
GOODS_DETAIL_API = "pdd.goods.detail.get"
#: The increment API refuses windows longer than 30 minutes.
MAX_INCREMENT_WINDOW_SECONDS = 30 * 60
PAGE_SIZE = 100
#: 70031 throttled; 50001/50002 system busy **[unconfirmed]**; configurable through the secrets.
RETRYABLE_ERROR_CODES = frozenset({70031, 50001, 50002})
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ChangedOrder:
    """One order the increment API lists: its number and when it last changed."""

    order_sn: str
    updated_at: datetime


def loads(body: bytes | str, *, what: str) -> Any:
    """JSON with every number that has a fraction kept as its exact text (amounts are in yuan)."""
    return load_json(body, what=what, exact_fractions=True)


class PinduoduoClient:
    """A signed client for one Pinduoduo app and the malls (shops) that authorised it.

    Parameters
    ----------
    secrets:
        ``{"client_id", "client_secret", "access_tokens": {"<mall id>": "<token>"}}``; optional
        ``retryable_error_codes``.
    transport, base_url, clock:
        Where requests go, the gateway root (the local simulator in development), and now.

    Examples
    --------
    >>> client = PinduoduoClient(secrets, transport, clock=clock)  # doctest: +SKIP
    >>> client.fetch_order("100001", "250301-123456789012345")["order_status"]  # doctest: +SKIP
    1
    """

    def __init__(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self._client_id = secret(secrets, "client_id", platform=PLATFORM)
        self._client_secret = secret(secrets, "client_secret", platform=PLATFORM)
        tokens = secrets.get("access_tokens")
        self._tokens: Mapping[str, Any] = tokens if isinstance(tokens, Mapping) else {}
        codes = secrets.get("retryable_error_codes")
        if codes is None:
            self._retryable = RETRYABLE_ERROR_CODES
        elif isinstance(codes, list) and all(_as_int(code) is not None for code in codes):
            self._retryable = frozenset(int(code) for code in codes)
        else:
            raise CredentialsMissingError(
                "pinduoduo retryable_error_codes must be a list of integers",
                platform=PLATFORM,
                key="retryable_error_codes",
            )
        self._transport = transport
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._clock = clock

    def shops(self) -> list[str]:
        """The mall ids this app holds an access token for (what the poller walks)."""
        return sorted(str(shop) for shop in self._tokens)

    def fetch_order(self, shop_id: str, platform_order_id: str) -> dict[str, Any]:
        """``order_info`` of ``pdd.order.information.get`` (amounts as decimal strings)."""
        return order_info(self.order_detail_body(shop_id, platform_order_id))

    def order_detail_body(self, shop_id: str, order_sn: str) -> bytes:
        """The raw reply body of ``pdd.order.information.get`` (what the poller enqueues)."""
        body, _ = self.call(DETAIL_API, {"order_sn": order_sn}, shop_id=shop_id)
        return body

    def changed_orders(self, shop_id: str, start: datetime, end: datetime) -> list[ChangedOrder]:
        """Every order of ``shop_id`` whose ``updated_at`` lies in ``[start, end]``, all pages.

        Raises
        ------
        ValueError
            The window is longer than the API accepts (30 minutes) or ends before it starts.
        """
        if not 0 <= (end - start).total_seconds() <= MAX_INCREMENT_WINDOW_SECONDS:
            raise ValueError("increment window must be 0..30 minutes long")
        changed: list[ChangedOrder] = []
        page = 1
        while True:
            params = {
                "start_updated_at": str(int(start.timestamp())),
                "end_updated_at": str(int(end.timestamp())),
                "is_lucky_flag": "0",  # 0: every order
                "order_status": "5",  # 5: every status
                "refund_status": "5",  # 5: every refund status
                "page": str(page),
                "page_size": str(PAGE_SIZE),
                "use_has_next": "true",
            }
            _, reply = self.call(INCREMENT_API, params, shop_id=shop_id)
            section = reply.get("order_sn_increment_get_response")
            if not isinstance(section, dict):
                raise SchemaInvalidError(
                    "increment reply has no order_sn_increment_get_response",
                    field="order_sn_increment_get_response",
                )
            orders = section.get("order_sn_list") or []
            if not isinstance(orders, list):
                raise SchemaInvalidError("order_sn_list is not a list", field="order_sn_list")
            for index, item in enumerate(orders):
                if not isinstance(item, dict) or not item.get("order_sn"):
                    raise SchemaInvalidError(
                        "order_sn_list item lacks order_sn", field=f"order_sn_list[{index}]"
                    )
                changed.append(
                    ChangedOrder(
                        order_sn=str(item["order_sn"]),
                        updated_at=china_time(
                            item.get("updated_at"), field=f"order_sn_list[{index}].updated_at"
                        ),
                    )
                )
            if not section.get("has_next") or not orders:
                return changed
            page += 1

    def update_stock(
        self,
        shop_id: str,
        *,
        goods_id: str,
        quantity: int,
        sku_id: str | None = None,
        outer_id: str | None = None,
        mode: Literal["full", "incremental"] = "full",
    ) -> None:
        """Set (``full``, update_type 1) or change (``incremental``, 2) the stock of one SKU.

        ``pdd.goods.quantity.update``: the SKU is named by ``sku_id`` or the merchant's
        ``outer_id``. Pinduoduo's stock interface lags (about 3.7 s reported): read-after-write
        may show the old value, so callers must not verify by reading back at once.

        Raises
        ------
        ValueError
            Neither ``sku_id`` nor ``outer_id`` given, or a negative quantity in ``full`` mode.
        PlatformApiError
            The API refused the update (retryable when throttled).
        """
        if not (sku_id or outer_id):
            raise ValueError("a SKU is named by sku_id or outer_id")
        if mode == "full" and quantity < 0:
            raise ValueError("a full stock quantity cannot be negative")
        params = {
            "goods_id": goods_id,
            "quantity": str(quantity),
            "update_type": "1" if mode == "full" else "2",
        }
        if sku_id:
            params["sku_id"] = sku_id
        if outer_id:
            params["outer_id"] = outer_id
        self.call(STOCK_API, params, shop_id=shop_id)

    def read_stock(self, shop_id: str, sku_id: str, *, product_id: str | None = None) -> int:
        """The SKU's stock as Pinduoduo shows it (``sku_list[].quantity`` of ``pdd.goods.detail.get``).

        Raises
        ------
        SchemaInvalidError
            No ``product_id`` (the ``goods_id``), or a reply without ``sku_list`` or a whole quantity.
        ChannelListingNotFoundError
            The goods has no SKU ``sku_id``.
        PlatformApiError
            The API refused the call (retryable when throttled).
        """
        if not product_id:
            raise SchemaInvalidError(
                "Pinduoduo names a SKU within its goods: give goods_id", field="goods_id"
            )
        _, reply = self.call(GOODS_DETAIL_API, {"goods_id": str(product_id)}, shop_id=shop_id)
        section = reply.get("goods_detail_get_response")
        return listed_sku_quantity(
            section.get("sku_list") if isinstance(section, dict) else None,
            sku_id,
            platform="Pinduoduo",
            list_field="goods_detail_get_response.sku_list",
            id_field="sku_id",
            quantity_field="quantity",
        )

    def call(self, api: str, params: Mapping[str, str], *, shop_id: str) -> tuple[bytes, dict[str, Any]]:
        """Call one API for one mall; returns the raw reply body and its JSON object."""
        token = self._tokens.get(str(shop_id))
        if not isinstance(token, str) or not token:
            raise CredentialsMissingError(
                "no Pinduoduo access token for this mall", platform=PLATFORM, shop_id=shop_id
            )
        fields = {
            **params,
            "type": api,
            "client_id": self._client_id,
            "access_token": token,
            "timestamp": str(int(self._clock().timestamp())),
            "data_type": "JSON",
        }
        fields["sign"] = sign(fields, self._client_secret)
        response = self._transport.request(
            "POST",
            f"{self._base_url}{ROUTER_PATH}",
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
            body=urlencode(fields).encode("utf-8"),
            timeout=TIMEOUT_SECONDS,
        )
        reply = api_reply(response, platform="Pinduoduo", api=api, exact_fractions=True)
        failure = reply.get("error_response")
        if isinstance(failure, dict) or response.status >= 400:
            failure = failure if isinstance(failure, dict) else {}
            code = failure.get("error_code")
            error = PlatformApiError(
                f"Pinduoduo {api} failed with error_code {code}",
                api=api,
                http_status=response.status,
                error_code=str(code),
                sub_code=str(failure.get("sub_code") or ""),
                error_msg=str(failure.get("error_msg") or "")[:200],
            )
            error.retryable = _as_int(code) in self._retryable
            raise error
        return response.body, reply


def order_info(body: bytes | str) -> dict[str, Any]:
    """``order_info_get_response.order_info`` of a ``pdd.order.information.get`` reply body."""
    reply = loads(body, what="order detail")
    section = reply.get("order_info_get_response") if isinstance(reply, dict) else None
    info = section.get("order_info") if isinstance(section, dict) else None
    if not isinstance(info, dict):
        raise SchemaInvalidError(
            "reply has no order_info_get_response.order_info", field="order_info_get_response.order_info"
        )
    return info


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None
