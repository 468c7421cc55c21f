"""The benchmark's scenario: orders on Douyin, Shopify and WeChat Channels, five lifecycle events each.

Every order walks five native states (Douyin 1 → 105 → 2 → 3 → 5; Shopify pending → paid →
partially fulfilled → fulfilled → completed; WeChat 10 → 20 → 21 → 30 → 100). Each step changes the
platform's truth (what its order API returns) and sends the signed push the platform would send,
built with the simulator's own builders and the local credentials. Orders advance in cohorts of
ten, so a window holds one push per order of the cohort: a queue drained after each window gives
full batches of ten distinct FIFO groups, drained after each push it gives batches of one.

A share of pushes (5 % by default) is sent again in the next window, as a platform retry after
SQS's five-minute deduplication window would be: Douyin and Shopify resend the same bytes,
WeChat re-encrypts with a new nonce (its retries carry fresh random bytes).

Examples
--------
>>> workload = build_workload(orders=6, seed=1)
>>> workload.events_per_order, len(workload.orders)
(5, 6)
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from local.simulator import (
    DOUYIN,
    SHOPIFY,
    WECHAT_CHANNELS,
    LineSpec,
    douyin_order,
    douyin_order_message,
    douyin_push,
    load_credentials,
    shopify_order,
    shopify_webhook,
    wechat_event,
    wechat_order,
    wechat_push,
)

EVENTS_PER_ORDER = 5
COHORT_SIZE = 10
DEFAULT_ORDERS = 200
DEFAULT_DUPLICATE_SHARE = 0.05
DEFAULT_SEED = 20261124
#: When the scenario's first order is created (UTC); steps follow an hour apart.
START = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)

DOUYIN_STEPS: Sequence[tuple[int, str]] = ((1, "100"), (105, "101"), (2, "101"), (3, "102"), (5, "103"))
SHOPIFY_STEPS: Sequence[tuple[str, str]] = (
    ("pending", "orders/create"),
    ("paid", "orders/paid"),
    ("partially_fulfilled", "orders/partially_fulfilled"),
    ("fulfilled", "orders/fulfilled"),
    ("completed", "orders/updated"),
)
WECHAT_STEPS: Sequence[tuple[int, str]] = (
    (10, "channels_ec_order_new"),
    (20, "channels_ec_order_pay"),
    (21, "channels_ec_order_deliver"),
    (30, "channels_ec_order_deliver"),
    (100, "channels_ec_order_confirm"),
)
PLATFORM_CYCLE = (DOUYIN, SHOPIFY, WECHAT_CHANNELS)

CATALOG: Sequence[tuple[str, str, str, str]] = (
    # sku id, merchant code, title, unit price
    ("3500000000001", "TEA-LJ-250", "Longjing tea 250 g", "128.00"),
    ("3500000000002", "TEA-PE-357", "Pu'er cake 357 g", "219.50"),
    ("3500000000003", "CUP-GL-01", "Glass tea cup", "39.90"),
    ("3500000000004", "POT-ZS-02", "Zisha teapot", "388.00"),
    ("3500000000005", "SET-TRV-03", "Travel tea set", "159.00"),
    ("3500000000006", "TEA-OL-100", "Oolong 100 g", "66.60"),
)


@dataclass(frozen=True)
class Truth:
    """An order as the platform's API returns it, to store in the simulator before the push."""

    platform: str
    shop_id: str
    order: Mapping[str, Any]


@dataclass(frozen=True)
class Push:
    """One webhook delivery: the API Gateway (payload 2.0) event, and the truth change before it."""

    platform: str
    order_key: str
    step: int
    event: Mapping[str, Any]
    truth: Truth | None
    duplicate: bool = False


@dataclass(frozen=True)
class Workload:
    """The scenario: windows of pushes, in the order they arrive."""

    windows: list[list[Push]]
    #: The cohort each window's original pushes belong to (its resent pushes are older ones).
    window_cohorts: list[int]
    #: Order keys (``platform:shop:order``) per cohort.
    cohorts: list[list[str]]
    orders: list[str]
    duplicate_share: float
    seed: int
    events_per_order: int = EVENTS_PER_ORDER
    platforms: dict[str, int] = field(default_factory=dict)

    @property
    def pushes(self) -> list[Push]:
        return [push for window in self.windows for push in window]


def http_event(
    platform: str,
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    body: bytes = b"",
    request_id: str = "bench",
) -> dict[str, Any]:
    """The HTTP API (payload format 2.0) event API Gateway builds for ``POST /webhooks/{platform}``."""
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    path = f"/webhooks/{platform}"
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{platform}",
        "rawPath": path,
        "rawQueryString": urlencode(dict(query or {})),
        "headers": {name.lower(): value for name, value in (headers or {}).items()},
        "queryStringParameters": dict(query) if query else None,
        "pathParameters": {"platform": platform},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "platform-push",
            },
            "requestId": request_id,
            "routeKey": "POST /webhooks/{platform}",
            "stage": "$default",
            "time": "11/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1794355200000,
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


class _OrderPlan:
    """One order's identity and lines; renders its truth and push at any step."""

    def __init__(
        self,
        index: int,
        platform: str,
        credentials: Mapping[str, Any],
        rng: random.Random,
        sent_at: datetime,
    ) -> None:
        self.index = index
        self.sent_at = sent_at
        self.platform = platform
        self.created = START + timedelta(seconds=37 * index)
        picks = rng.sample(range(len(CATALOG)), rng.choice((2, 2, 3)))
        self.lines = [
            LineSpec(
                sku_id=CATALOG[pick][0],
                quantity=rng.randint(1, 3),
                unit_price=Decimal(CATALOG[pick][3]),
                out_sku_id=CATALOG[pick][1],
                title=CATALOG[pick][2],
                product_id=f"1000000000{pick + 1}",
            )
            for pick in picks
        ]
        if platform == DOUYIN:
            self.app_key, app = next(iter(credentials[DOUYIN].items()))
            self.app_secret = app["app_secret"]
            shops = sorted(app["access_tokens"])
            self.shop_id = shops[index % len(shops)]
            self.order_id = f"69200000{index:011d}"
        elif platform == SHOPIFY:
            domains = sorted(credentials[SHOPIFY])
            self.shop_id = domains[index % len(domains)]
            self.api_secret = credentials[SHOPIFY][self.shop_id]["api_secret"]
            self.order_id = str(5_500_000_000_000 + index)
        else:
            app_id, app = next(iter(credentials[WECHAT_CHANNELS].items()))
            self.app = {"app_id": app_id, **app}
            self.shop_id = app_id
            self.order_id = f"37000000{index:011d}"
        self.key = f"{platform}:{self.shop_id}:{self.order_id}"

    def at(self, step: int) -> datetime:
        return self.created + timedelta(hours=step, minutes=step * 7)

    def push(self, step: int, attempt: int = 0) -> Push:
        when = self.at(step)
        payment_id = f"PAY{self.order_id[-12:]}"
        request_id = f"{self.order_id}-{step}-{attempt}"
        if self.platform == DOUYIN:
            status, tag = DOUYIN_STEPS[step]
            order = douyin_order(
                self.order_id,
                self.shop_id,
                status,
                when,
                self.lines,
                payment_id=payment_id if status != 1 else None,
                create_time=self.created,
            )
            headers, body = douyin_push(
                [douyin_order_message(order, tag, f"dy-{self.order_id}-{step}")],
                self.app_key,
                self.app_secret,
            )
            event = http_event(DOUYIN, headers=headers, body=body, request_id=request_id)
            truth = Truth(DOUYIN, self.shop_id, order)
        elif self.platform == SHOPIFY:
            stage, topic = SHOPIFY_STEPS[step]
            order = shopify_order(
                int(self.order_id), self.shop_id, stage, when, self.lines, created_at=self.created
            )
            headers, body = shopify_webhook(
                order, topic, self.shop_id, self.api_secret, f"sh-{self.order_id}-{step}", triggered_at=when
            )
            event = http_event(SHOPIFY, headers=headers, body=body, request_id=request_id)
            truth = Truth(SHOPIFY, self.shop_id, order)
        else:
            status, name = WECHAT_STEPS[step]
            order = wechat_order(
                self.order_id,
                self.shop_id,
                status,
                when,
                self.lines,
                payment_id=payment_id if status != 10 else None,
                create_time=self.created,
            )
            # WeChat signs the push time and the intake refuses stale ones: stamp it with the run's
            # clock. A retry is re-encrypted: new timestamp and nonce, so new ciphertext.
            stamp = int(self.sent_at.timestamp()) + 60 * attempt
            query, body = wechat_push(
                wechat_event(name, self.order_id, when),
                self.app,
                stamp,
                f"n{self.order_id[-6:]}{step}{attempt}",
            )
            event = http_event(WECHAT_CHANNELS, query=query, body=body, request_id=request_id)
            truth = Truth(WECHAT_CHANNELS, self.shop_id, order)
        return Push(
            platform=self.platform,
            order_key=self.key,
            step=step,
            event=event,
            truth=None if attempt else truth,
            duplicate=attempt > 0,
        )


def build_workload(
    orders: int = DEFAULT_ORDERS,
    *,
    duplicate_share: float = DEFAULT_DUPLICATE_SHARE,
    seed: int = DEFAULT_SEED,
    credentials: Mapping[str, Any] | None = None,
    sent_at: datetime | None = None,
) -> Workload:
    """The scenario: ``orders`` orders (platforms in turn), five events each, ``duplicate_share`` resent.

    Parameters
    ----------
    orders:
        Orders in the scenario; the platforms take turns (Douyin, Shopify, WeChat Channels).
    duplicate_share:
        Fraction of pushes sent a second time, one window later.
    seed:
        Seeds line items and the choice of duplicated pushes: the same seed, the same scenario.
    credentials:
        ``local/credentials.json`` by default.
    sent_at:
        When pushes that sign their send time (WeChat) say they were sent; now by default, since
        the intake refuses stale ones. The orders' own times are fixed (:data:`START`).
    """
    if orders < 1:
        raise ValueError("the scenario needs at least one order")
    rng = random.Random(seed)  # noqa: S311 - a reproducible scenario, not a secret
    credentials = credentials or load_credentials()
    sent_at = sent_at or datetime.now(UTC)
    plans = [
        _OrderPlan(index, PLATFORM_CYCLE[index % 3], credentials, rng, sent_at) for index in range(orders)
    ]
    windows: list[list[Push]] = []
    window_cohorts: list[int] = []
    cohorts: list[list[str]] = []
    for start in range(0, orders, COHORT_SIZE):
        cohort = plans[start : start + COHORT_SIZE]
        cohorts.append([plan.key for plan in cohort])
        for step in range(EVENTS_PER_ORDER):
            windows.append([plan.push(step) for plan in cohort])
            window_cohorts.append(len(cohorts) - 1)
    by_key = {plan.key: plan for plan in plans}
    originals = [(w, p) for w, window in enumerate(windows) for p in range(len(window))]
    chosen = sorted(rng.sample(originals, round(duplicate_share * len(originals))))
    retries: dict[int, list[Push]] = {}
    for window_index, position in chosen:
        original = windows[window_index][position]
        plan = by_key[original.order_key]
        # Resent one window later: after the original was processed, as a late retry would be.
        retries.setdefault(window_index + 1, []).append(plan.push(original.step, attempt=1))
    for window_index, resent in sorted(retries.items()):
        if window_index < len(windows):
            windows[window_index] = windows[window_index] + resent
        else:
            windows.append(resent)
            window_cohorts.append(len(cohorts))
    counts: dict[str, int] = {}
    for plan in plans:
        counts[plan.platform] = counts.get(plan.platform, 0) + 1
    return Workload(
        windows=windows,
        window_cohorts=window_cohorts,
        cohorts=cohorts,
        orders=[plan.key for plan in plans],
        duplicate_share=duplicate_share,
        seed=seed,
        platforms=counts,
    )
