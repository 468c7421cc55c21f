"""The demo scenario's other six sources: Xiaohongshu, Kuaishou, WooCommerce, WeChat mini-program
orders (WeChat Pay v3 notifications), Pinduoduo and Taobao (both pulled by the order poller).

Like :mod:`local.scenario` (whose generator and model this extends), every step is a change of the
platform truth followed by what the platform sends about it, and every order carries its expected
final canonical status. The tables below are written from ``docs/platforms/<platform>.md`` and
``PLATFORMS.md``, independently of the adapters' maps, so the demo checks the adapters.

Pushes: Xiaohongshu's signed status messages (``data`` a JSON string; status 4 pushed twice in some
lifecycles, as the platform does), Kuaishou's AES-encrypted messages, WooCommerce's signed
``order.created``/``order.updated`` deliveries (the whole order: a late one carries an old state)
and WeChat Pay's signed, AEAD-encrypted payment and refund notifications. They get the same
duplicates and late deliveries as the first three platforms (:func:`local.scenario.generate`).

Pulls: a Pinduoduo or Taobao step only changes the truth (Taobao also publishes a TMC message,
except on :data:`TMC_MISSED_SHARE` of steps, which only the ``trades.sold.increment`` backstop
finds). The replay's ``poll`` actions move the local stack's simulated clock, so the template's
OrderPoller schedule fires and pulls what changed. A pull platform's intermediate states may be
missed when two changes fall between polls; re-pulls come from the overlapping windows and from
TMC plus the backstop, so there is no separate "duplicate" action for them. The poller works on
the wall clock, so the replay rebases a pulled order's times to "just now" (:func:`rebase_pulled`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.scenario import Generator, PushRequest, ScenarioOrder, ScenarioStep

XIAOHONGSHU, KUAISHOU, WOOCOMMERCE = "xiaohongshu", "kuaishou", "woocommerce"
WECHAT_MINI, PINDUODUO, TAOBAO = "wechat_mini", "pinduoduo", "taobao"
#: In the order the generator interleaves them.
PLATFORMS = (XIAOHONGSHU, KUAISHOU, WOOCOMMERCE, WECHAT_MINI, PINDUODUO, TAOBAO)
PULLED = frozenset({PINDUODUO, TAOBAO})

# The apps and shops of local/credentials.json.
XHS_APP_KEY, XHS_SELLER = "test-xhs-app-key-0001", "5f0c00000000000000000001"
KS_APP_KEY, KS_SELLER = "ks_test_app_key_0001", "7000000001"
WOO_SITE = "demo-woo-1.example"
MINI_APP = "wx00000000000mini1"
PDD_CLIENT, PDD_MALL = "pdd-local-client", "100001"
TB_APP_KEY, TB_SELLER = "12345678", "2200000001"

#: Share of Taobao steps whose TMC message never comes (the increment backstop must find them).
TMC_MISSED_SHARE = 0.2
#: How far before "now" a pulled order's update time is put: after the poller's settle time
#: (60 s by default), so the next poll sees it.
PULL_LAG = timedelta(seconds=90)
#: Scenario time between two polls (the real schedule is every 2 minutes; the demo compresses a
#: day into about a minute, so it polls at this scenario-time interval instead).
POLL_EVERY = timedelta(hours=3)

# --------------------------------------------------------------------------- the oracle's tables

#: Xiaohongshu: (orderStatus, orderAfterSalesStatus) → canonical (docs/platforms/xiaohongshu.md).
XHS_EXPECTED: Mapping[tuple[int, int], tuple[str, str]] = {
    (1, 1): ("pending_payment", "none"),
    (2, 1): ("paid", "none"),
    (4, 1): ("approved", "none"),
    (5, 1): ("partially_shipped", "none"),
    (6, 1): ("shipped", "none"),
    (7, 1): ("completed", "none"),
    (9, 1): ("cancelled", "none"),
    (6, 2): ("shipped", "requested"),  # after-sale processing
    (8, 3): ("closed", "refunded"),  # closed after the after-sale completed
}
XHS_LIFECYCLES: Sequence[tuple[int, Sequence[tuple[int, int]]]] = (
    (36, ((1, 1), (2, 1), (4, 1), (6, 1), (7, 1))),
    (10, ((1, 1), (2, 1), (4, 1), (4, 1), (6, 1), (7, 1))),  # status 4 pushed twice
    (6, ((1, 1), (2, 1), (4, 1), (5, 1), (6, 1))),
    (8, ((1, 1), (9, 1))),
    (6, ((1, 1), (2, 1), (4, 1), (6, 1), (6, 2))),
    (6, ((1, 1), (2, 1), (4, 1), (6, 1), (6, 2), (8, 3))),
)

#: Kuaishou: (status, refund statuses) → canonical (docs/platforms/kuaishou.md).
KS_EXPECTED: Mapping[tuple[int, tuple[int, ...]], tuple[str, str]] = {
    (10, ()): ("pending_payment", "none"),
    (30, ()): ("paid", "none"),
    (40, ()): ("shipped", "none"),
    (50, ()): ("delivered", "none"),
    (70, ()): ("completed", "none"),
    (80, ()): ("closed", "none"),
    (30, (10,)): ("paid", "requested"),
    (80, (60,)): ("closed", "refunded"),  # refunded on a closed order
    (70, (60,)): ("completed", "partial"),  # refunded on a completed one: part of it
}
KS_LIFECYCLES: Sequence[tuple[int, Sequence[tuple[int, tuple[int, ...]]]]] = (
    (40, ((10, ()), (30, ()), (40, ()), (50, ()), (70, ()))),
    (8, ((10, ()), (30, ()), (40, ()))),
    (6, ((10, ()), (80, ()))),
    (8, ((10, ()), (30, ()), (30, (10,)), (80, (60,)))),
    (6, ((10, ()), (30, ()), (40, ()), (50, ()), (70, ()), (70, (60,)))),
)

#: WooCommerce: (status, partly refunded) → canonical (docs/platforms/woocommerce.md).
WOO_EXPECTED: Mapping[tuple[str, bool], tuple[str, str]] = {
    ("pending", False): ("pending_payment", "none"),
    ("on-hold", False): ("pending_payment", "none"),
    ("failed", False): ("pending_payment", "none"),
    ("processing", False): ("paid", "none"),
    ("completed", False): ("completed", "none"),
    ("completed", True): ("completed", "partial"),
    ("cancelled", False): ("cancelled", "none"),
    ("refunded", False): ("closed", "refunded"),
}
WOO_LIFECYCLES: Sequence[tuple[int, Sequence[tuple[str, bool]]]] = (
    (40, (("pending", False), ("processing", False), ("completed", False))),
    (8, (("pending", False), ("cancelled", False))),
    (8, (("pending", False), ("processing", False), ("refunded", False))),
    (6, (("pending", False), ("processing", False), ("completed", False), ("completed", True))),
    (6, (("pending", False), ("on-hold", False), ("processing", False))),
    (4, (("pending", False), ("failed", False), ("processing", False), ("completed", False))),
)

#: WeChat Pay: (notification, state) → canonical (docs/platforms/wechat_mini.md). A refund's main
#: status is ``paid``, which never moves an order backwards; the refund dimension is its own.
MINI_EXPECTED: Mapping[tuple[str, str], tuple[str, str]] = {
    ("TRANSACTION.SUCCESS", "SUCCESS"): ("paid", "none"),
    ("REFUND.SUCCESS", "full"): ("paid", "refunded"),
    ("REFUND.SUCCESS", "part"): ("paid", "partial"),
    ("REFUND.ABNORMAL", "part"): ("paid", "refunding"),
}
MINI_LIFECYCLES: Sequence[tuple[int, Sequence[tuple[str, str]]]] = (
    (40, (("TRANSACTION.SUCCESS", "SUCCESS"),)),
    (10, (("TRANSACTION.SUCCESS", "SUCCESS"), ("REFUND.SUCCESS", "full"))),
    (10, (("TRANSACTION.SUCCESS", "SUCCESS"), ("REFUND.SUCCESS", "part"))),
    (6, (("TRANSACTION.SUCCESS", "SUCCESS"), ("REFUND.ABNORMAL", "part"))),
)

#: Pinduoduo: (order_status, refund_status) → canonical (docs/platforms/pinduoduo.md).
PDD_EXPECTED: Mapping[tuple[int, int], tuple[str, str]] = {
    (1, 1): ("paid", "none"),
    (2, 1): ("shipped", "none"),
    (3, 1): ("delivered", "none"),
    (1, 2): ("paid", "requested"),
    (1, 4): ("cancelled", "refunded"),  # refunded before shipment
    (3, 2): ("delivered", "requested"),
}
PDD_LIFECYCLES: Sequence[tuple[int, Sequence[tuple[int, int]]]] = (
    (40, ((1, 1), (2, 1), (3, 1))),
    (8, ((1, 1), (2, 1))),
    (8, ((1, 1), (1, 2), (1, 4))),
    (6, ((1, 1), (2, 1), (3, 1), (3, 2))),
    (4, ((1, 1),)),
)

#: Taobao: (trade status, line refunds) → canonical (docs/platforms/taobao.md).
TB_EXPECTED: Mapping[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("WAIT_BUYER_PAY", ()): ("pending_payment", "none"),
    ("WAIT_SELLER_SEND_GOODS", ()): ("paid", "none"),
    ("SELLER_CONSIGNED_PART", ()): ("partially_shipped", "none"),
    ("WAIT_BUYER_CONFIRM_GOODS", ()): ("shipped", "none"),
    ("TRADE_FINISHED", ()): ("completed", "none"),
    ("TRADE_CLOSED_BY_TAOBAO", ()): ("cancelled", "none"),  # closed before payment
    ("WAIT_SELLER_SEND_GOODS", ("WAIT_SELLER_AGREE",)): ("paid", "requested"),
    ("TRADE_CLOSED", ("SUCCESS",)): ("closed", "refunded"),
    ("TRADE_FINISHED", ("SUCCESS", "NO_REFUND")): ("completed", "partial"),  # one line of two
}
TB_LIFECYCLES: Sequence[tuple[int, Sequence[tuple[str, tuple[str, ...]]]]] = (
    (
        36,
        (
            ("WAIT_BUYER_PAY", ()),
            ("WAIT_SELLER_SEND_GOODS", ()),
            ("WAIT_BUYER_CONFIRM_GOODS", ()),
            ("TRADE_FINISHED", ()),
        ),
    ),
    (
        6,
        (
            ("WAIT_BUYER_PAY", ()),
            ("WAIT_SELLER_SEND_GOODS", ()),
            ("SELLER_CONSIGNED_PART", ()),
            ("WAIT_BUYER_CONFIRM_GOODS", ()),
            ("TRADE_FINISHED", ()),
        ),
    ),
    (8, (("WAIT_BUYER_PAY", ()), ("TRADE_CLOSED_BY_TAOBAO", ()))),
    (
        8,
        (
            ("WAIT_BUYER_PAY", ()),
            ("WAIT_SELLER_SEND_GOODS", ()),
            ("WAIT_SELLER_SEND_GOODS", ("WAIT_SELLER_AGREE",)),
            ("TRADE_CLOSED", ("SUCCESS",)),
        ),
    ),
    (
        6,
        (
            ("WAIT_BUYER_PAY", ()),
            ("WAIT_SELLER_SEND_GOODS", ()),
            ("WAIT_BUYER_CONFIRM_GOODS", ()),
            ("TRADE_FINISHED", ()),
            ("TRADE_FINISHED", ("SUCCESS", "NO_REFUND")),
        ),
    ),
)


def orders_per_platform(first_three: int) -> int:
    """Orders per new platform: a quarter of the first three's, so the demo stays fast."""
    return max(1, first_three // 4)


# --------------------------------------------------------------------------- the generators


def generate(gen: Generator, platform: str, index: int, start: datetime) -> None:
    """Add one order of ``platform`` (its lifecycle chosen by ``gen.rng``) to ``gen``."""
    {
        XIAOHONGSHU: _xiaohongshu,
        KUAISHOU: _kuaishou,
        WOOCOMMERCE: _woocommerce,
        WECHAT_MINI: _wechat_mini,
        PINDUODUO: _pinduoduo,
        TAOBAO: _taobao,
    }[platform](gen, index, start)


def _lifecycle(gen: Generator, lifecycles: Sequence[tuple[int, Any]], index: int) -> Any:
    """The ``index``-th order's lifecycle: each one once first (the demo has few orders of these
    platforms, and every lifecycle must be seen), then weighted at random."""
    from local.scenario import weighted

    if index < len(lifecycles):
        return lifecycles[index][1]
    return weighted(gen.rng, lifecycles)


def _order(  # noqa: PLR0917 - local.scenario.ScenarioOrder's fields, in its order
    key: str, platform: str, shop: str, order_id: str, created: datetime, lines: Any
) -> ScenarioOrder:
    from local.scenario import ScenarioOrder

    return ScenarioOrder(key, platform, shop, order_id, created, lines)


def _xiaohongshu(gen: Generator, index: int, start: datetime) -> None:
    lifecycle = _lifecycle(gen, XHS_LIFECYCLES, index)
    times = gen.times(start, len(lifecycle))
    order = _order(
        f"XH{index + 1:03d}",
        XIAOHONGSHU,
        XHS_SELLER,
        "P" + gen.digits("73", 18),
        times[0],
        gen.lines(),
    )
    payment_no = gen.digits("XHS2026", 24)
    for position, ((status, after_sale), at) in enumerate(zip(lifecycle, times, strict=True)):
        _xiaohongshu_step(gen, order, position, at, status, after_sale, payment_no=payment_no)
    gen.register(order, XHS_EXPECTED[lifecycle[-1]], steps=len(lifecycle), cleaning=False)


def _xiaohongshu_step(  # noqa: PLR0917 - one step's coordinates, as local.scenario's steps take them
    gen: Generator,
    order: Any,
    position: int,
    at: datetime,
    status: int,
    after_sale: int,
    *,
    payment_no: str,
    poison: bool = False,
) -> ScenarioStep:
    args = order.factory_args(at, seller_id=order.shop_id, status=status, after_sales_status=after_sale)
    if status not in (1, 9):
        args["payment_no"] = payment_no
    return gen.add(
        order,
        position,
        at,
        native=f"orderStatus={status};orderAfterSalesStatus={after_sale}",
        expected=None if poison else XHS_EXPECTED[(status, after_sale)],
        truth={"factory": "xiaohongshu_order", "args": args},
        push={"builder": "xiaohongshu_push", "app_key": XHS_APP_KEY, "tag": "msg_fulfillment_status_change"},
    )


def _kuaishou(gen: Generator, index: int, start: datetime) -> None:
    lifecycle = _lifecycle(gen, KS_LIFECYCLES, index)
    times = gen.times(start, len(lifecycle))
    # Kuaishou orders have one item (one SKU, any quantity).
    order = _order(
        f"KS{index + 1:03d}", KUAISHOU, KS_SELLER, gen.digits("24192", 16), times[0], gen.lines()[:1]
    )
    for position, ((status, refunds), at) in enumerate(zip(lifecycle, times, strict=True)):
        args = order.factory_args(at, seller_id=order.shop_id, status=status, refund_statuses=list(refunds))
        gen.add(
            order,
            position,
            at,
            native=f"status={status}" + (f";refundStatus={','.join(map(str, refunds))}" if refunds else ""),
            expected=KS_EXPECTED[(status, refunds)],
            truth={"factory": "kuaishou_order", "args": args},
            push={"builder": "kuaishou_push", "app_key": KS_APP_KEY, "event_id": gen.uuid()},
        )
    gen.register(order, KS_EXPECTED[lifecycle[-1]], steps=len(lifecycle), cleaning=False)


def _woocommerce(gen: Generator, index: int, start: datetime) -> None:
    lifecycle = _lifecycle(gen, WOO_LIFECYCLES, index)
    times = gen.times(start, len(lifecycle))
    order_id = str(41000 + gen.next_serial())
    order = _order(f"WC{index + 1:03d}", WOOCOMMERCE, WOO_SITE, order_id, times[0], gen.lines())
    transaction_id = gen.digits("2026101222001", 28)
    for position, ((status, part_refunded), at) in enumerate(zip(lifecycle, times, strict=True)):
        _woocommerce_step(gen, order, position, at, status, part_refunded, transaction_id=transaction_id)
    gen.register(order, WOO_EXPECTED[lifecycle[-1]], steps=len(lifecycle), cleaning=False)


def _woocommerce_step(  # noqa: PLR0917 - one step's coordinates, as local.scenario's steps take them
    gen: Generator,
    order: Any,
    position: int,
    at: datetime,
    status: str,
    part_refunded: bool,
    *,
    transaction_id: str,
    poison: bool = False,
) -> ScenarioStep:
    args = order.factory_args(at, site=order.shop_id, status=status)
    if status in ("processing", "completed", "refunded"):
        args["transaction_id"] = transaction_id
    if part_refunded:
        args["refunded"] = str(_price(order.lines[0]))
    return gen.add(
        order,
        position,
        at,
        native=f"status={status}" + (";refunds=1" if part_refunded else ""),
        expected=None if poison else WOO_EXPECTED[(status, part_refunded)],
        truth={"factory": "woocommerce_order", "args": args},
        push={
            "builder": "woocommerce_webhook",
            "site": order.shop_id,
            "topic": "order.created" if position == 0 else "order.updated",
            "webhook_id": 7,
        },
    )


def _price(line: Mapping[str, Any]) -> Decimal:
    from local.scenario import CATALOG

    return next(Decimal(price) for sku, _, _, price in CATALOG if sku == line["sku_id"])


def _wechat_mini(gen: Generator, index: int, start: datetime) -> None:
    lifecycle = _lifecycle(gen, MINI_LIFECYCLES, index)
    times = gen.times(start, len(lifecycle))
    needs_two = any(state == "part" for _, state in lifecycle)
    lines = gen.lines(min_items=2 if needs_two else 1)
    if needs_two and len(lines) == 1:
        lines = [
            *lines,
            {"sku_id": next(sku for sku, *_ in _catalog() if sku != lines[0]["sku_id"]), "quantity": 1},
        ]
    trade_no = f"MINI-{gen.digits('2026', 16)}"
    order = _order(f"WM{index + 1:03d}", WECHAT_MINI, MINI_APP, trade_no, times[0], lines)
    transaction_id = f"4200{gen.digits('2026', 24)}"
    refund_id = gen.digits("5000", 29)
    total = sum(_price(line) * int(line["quantity"]) for line in lines)
    for position, ((event_type, state), at) in enumerate(zip(lifecycle, times, strict=True)):
        args = order.factory_args(
            at, appid=order.shop_id, transaction_id=transaction_id, paid_time=_iso(times[0])
        )
        push: dict[str, Any] = {"builder": "wechat_pay_notification", "event_type": event_type}
        if event_type.startswith("REFUND."):
            refund = total if state == "full" else _price(lines[0])
            push |= {
                "refund_status": event_type.removeprefix("REFUND."),
                "refund_fen": int(refund * 100),
                "refund_id": refund_id,
            }
        gen.add(
            order,
            position,
            at,
            native=f"{event_type}" + (f";refund={state}" if event_type.startswith("REFUND.") else ""),
            expected=MINI_EXPECTED[(event_type, state)],
            truth={"factory": "wechat_mini_order", "args": args},
            push=push,
        )
    gen.register(order, MINI_EXPECTED[lifecycle[-1]], steps=len(lifecycle), cleaning=False)


def _catalog() -> Sequence[tuple[str, str, str, str]]:
    from local.scenario import CATALOG

    return CATALOG


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pinduoduo(gen: Generator, index: int, start: datetime) -> None:
    lifecycle = _lifecycle(gen, PDD_LIFECYCLES, index)
    times = gen.times(start, len(lifecycle))
    order_sn = f"{start.strftime('%y%m%d')}-{gen.digits('', 15)}"
    order = _order(f"PD{index + 1:03d}", PINDUODUO, PDD_MALL, order_sn, times[0], gen.lines())
    pay_no = gen.digits("XP01261012", 24)
    for position, ((status, refund), at) in enumerate(zip(lifecycle, times, strict=True)):
        args = order.factory_args(
            at, mall_id=order.shop_id, order_status=status, refund_status=refund, pay_no=pay_no
        )
        gen.add(
            order,
            position,
            at,
            native=f"order_status={status};refund_status={refund}",
            expected=PDD_EXPECTED[(status, refund)],
            truth={"factory": "pinduoduo_order", "args": args},
            push={"builder": "pull"},
        )
    gen.register(order, PDD_EXPECTED[lifecycle[-1]], steps=len(lifecycle), cleaning=False)


def _taobao(gen: Generator, index: int, start: datetime) -> None:
    from local.simulators import taobao as taobao_sim

    lifecycle = _lifecycle(gen, TB_LIFECYCLES, index)
    times = gen.times(start, len(lifecycle))
    two_lines = any(len(refunds) == 2 for _, refunds in lifecycle)
    lines = gen.lines(min_items=2 if two_lines else 1)
    if two_lines and len(lines) == 1:
        lines = [
            *lines,
            {"sku_id": next(sku for sku, *_ in _catalog() if sku != lines[0]["sku_id"]), "quantity": 1},
        ]
    order = _order(f"TB{index + 1:03d}", TAOBAO, TB_SELLER, gen.digits("33", 16), times[0], lines)
    alipay_no = gen.digits("2026101222001", 28)
    for position, ((status, refunds), at) in enumerate(zip(lifecycle, times, strict=True)):
        args = order.factory_args(
            at, seller_id=order.shop_id, status=status, line_refunds=list(refunds), alipay_no=alipay_no
        )
        topic = (
            taobao_sim.REFUND_TOPIC
            if refunds and refunds[0] != "SUCCESS"
            else taobao_sim.TOPIC_BY_STATUS[status]
        )
        missed = gen.rng.random() < TMC_MISSED_SHARE
        gen.add(
            order,
            position,
            at,
            native=f"status={status}" + (f";refunds={','.join(refunds)}" if refunds else ""),
            expected=TB_EXPECTED[(status, refunds)],
            truth={"factory": "taobao_trade", "args": args},
            push={"builder": "pull", "tmc_topic": None if missed else topic},
        )
    gen.register(order, TB_EXPECTED[lifecycle[-1]], steps=len(lifecycle), cleaning=False)


def poison(gen: Generator, start: datetime, when: Any, record: Any) -> None:
    """Authentic messages of the new platforms that the sanitizer must reject with a stable code."""
    at = when()
    order = _order("P7", XIAOHONGSHU, XHS_SELLER, "P" + gen.digits("73", 18), at, gen.lines())
    step = _xiaohongshu_step(gen, order, 0, at, 99, 1, payment_no="", poison=True)
    record(step, "UNKNOWN_STATUS", "orderStatus 99")
    at = when()
    order = _order("P8", WOOCOMMERCE, WOO_SITE, str(41000 + gen.next_serial()), at, gen.lines())
    step = _woocommerce_step(gen, order, 0, at, "awaiting-pickup", False, transaction_id="", poison=True)
    record(step, "UNKNOWN_STATUS", "a plugin's custom status awaiting-pickup")


# --------------------------------------------------------------------------- replay helpers


def build_truth(factory: str, args: dict[str, Any], lines: list[Any], when: Any) -> dict[str, Any] | None:
    """The platform-native order of one of the six platforms' factories, or None for another one."""
    from local.simulators import kuaishou, pinduoduo, taobao, wechat_mini, woocommerce, xiaohongshu

    if factory == "xiaohongshu_order":
        return xiaohongshu.order(
            args["order_id"],
            args["seller_id"],
            int(args["status"]),
            when(args["update_time"]),
            lines,
            create_time=when(args["create_time"]),
            after_sales_status=int(args["after_sales_status"]),
            payment_no=args.get("payment_no"),
        )
    if factory == "kuaishou_order":
        return kuaishou.order(
            int(args["order_id"]),
            int(args["status"]),
            when(args["update_time"]),
            lines[0],
            create_time=when(args["create_time"]),
            refund_statuses=[int(code) for code in args["refund_statuses"]],
        )
    if factory == "woocommerce_order":
        return woocommerce.order(
            int(args["order_id"]),
            str(args["status"]),
            when(args["update_time"]),
            lines,
            created=when(args["create_time"]),
            transaction_id=str(args.get("transaction_id", "")),
            refunded=Decimal(args["refunded"]) if "refunded" in args else None,
        )
    if factory == "wechat_mini_order":
        from local.simulator import load_credentials

        app = load_credentials()[WECHAT_MINI][args["appid"]]
        return wechat_mini.shipping_order(
            app,
            args["order_id"],
            1,
            lines,
            created=when(args["create_time"]),
            paid=when(args["paid_time"]),
            transaction_id=args["transaction_id"],
        )
    if factory == "pinduoduo_order":
        return pinduoduo.order_info(
            args["order_id"],
            int(args["order_status"]),
            when(args["update_time"]),
            lines,
            refund_status=int(args["refund_status"]),
            created=when(args["create_time"]),
            pay_no=args["pay_no"],
        )
    if factory == "taobao_trade":
        return taobao.trade(
            args["order_id"],
            args["status"],
            when(args["update_time"]),
            lines,
            line_refunds=args["line_refunds"],
            created=when(args["create_time"]),
            alipay_no=args["alipay_no"],
        )
    return None


#: factory → (platform, the args' shop field)
FACTORIES: Mapping[str, tuple[str, str]] = {
    "xiaohongshu_order": (XIAOHONGSHU, "seller_id"),
    "kuaishou_order": (KUAISHOU, "seller_id"),
    "woocommerce_order": (WOOCOMMERCE, "site"),
    "wechat_mini_order": (WECHAT_MINI, "appid"),
    "pinduoduo_order": (PINDUODUO, "mall_id"),
    "taobao_trade": (TAOBAO, "seller_id"),
}


def put_truth(simulator: Any, step: Mapping[str, Any], truth: Mapping[str, Any]) -> bool:
    """Put ``truth`` on the simulator through the platform's module; False for the first three."""
    from local.simulators import module_for

    known = FACTORIES.get(step["truth"]["factory"])
    if known is None:
        return False
    platform, shop_field = known
    shop = str(step["truth"]["args"][shop_field])
    module = module_for(platform)
    assert module is not None
    if platform == TAOBAO:
        module.put_trade(simulator, shop, dict(truth), topic=step["push"].get("tmc_topic"))
    else:
        module.put_order(simulator, shop, dict(truth))
    return True


def build_push(
    step: Mapping[str, Any],
    truth: Mapping[str, Any],
    credentials: Mapping[str, Any],
    *,
    sent_at: datetime,
) -> PushRequest | None:
    """The signed request of a push step of the new platforms, or None for another builder."""
    from local.scenario import PushRequest
    from local.simulators import kuaishou, wechat_mini, woocommerce, xiaohongshu

    push = step["push"]
    builder = push["builder"]
    if builder == "xiaohongshu_push":
        app = credentials[XIAOHONGSHU][push["app_key"]]
        seller = str(truth["sellerId"])
        message = xiaohongshu.status_message(truth, seller, push["tag"])
        headers, body = xiaohongshu.push(
            [message], app["app_key"], app["app_secret"], int(sent_at.timestamp())
        )
        return PushRequest("POST", f"/webhooks/{XIAOHONGSHU}", {}, headers, body)
    if builder == "kuaishou_push":
        app = credentials[KUAISHOU][push["app_key"]]
        seller = str(step["truth"]["args"]["seller_id"])
        message = kuaishou.order_message(truth, seller, app["app_key"], push["event_id"])
        body = kuaishou.push(message, app["message_key"])
        return PushRequest(
            "POST",
            f"/webhooks/{KUAISHOU}",
            {"app_key": app["app_key"]},
            {"content-type": "application/json"},
            body,
        )
    if builder == "woocommerce_webhook":
        site = push["site"]
        secret = credentials[WOOCOMMERCE][site]["webhook_secret"]
        headers, body = woocommerce.webhook(
            truth, push["topic"], f"https://{site}/", secret, webhook_id=int(push["webhook_id"])
        )
        return PushRequest("POST", f"/webhooks/{WOOCOMMERCE}", {}, headers, body)
    if builder == "wechat_pay_notification":
        appid = str(step["truth"]["args"]["appid"])
        app = credentials[WECHAT_MINI][appid]
        event_type = push["event_type"]
        if event_type.startswith("TRANSACTION."):
            resource = wechat_mini.transaction_resource(app, dict(truth))
            original_type = "transaction"
        else:
            resource = wechat_mini.refund_resource(
                app,
                dict(truth),
                refund_status=push["refund_status"],
                refund_fen=int(push["refund_fen"]),
                refund_id=push["refund_id"],
                at=datetime.fromisoformat(step["at"].replace("Z", "+00:00")),
            )
            original_type = "refund"
        headers, body = wechat_mini.pay_notification(
            app, resource, event_type=event_type, signed_at=sent_at, original_type=original_type
        )
        return PushRequest("POST", f"/webhooks/{WECHAT_MINI}", {"app_id": appid}, headers, body)
    return None


def rebase_pulled(args: dict[str, Any], update: datetime, create: datetime) -> dict[str, Any]:
    """A pulled step's factory args with its times moved to the wall clock (see the module doc)."""
    return {**args, "update_time": _iso(update), "create_time": _iso(create)}


class PullTimes:
    """Wall-clock update times of the pulled orders during one replay: each just before now,
    strictly increasing per order (whole seconds, as the platforms' times are)."""

    def __init__(self) -> None:
        self._last: dict[str, datetime] = {}
        self._created: dict[str, datetime] = {}

    def next(self, order_key: str, now: datetime) -> tuple[datetime, datetime]:
        """(update time, creation time) for the order's next step."""
        update = (now - PULL_LAG).replace(microsecond=0)
        last = self._last.get(order_key)
        if last is not None and update <= last:
            update = last + timedelta(seconds=1)
        self._last[order_key] = update
        created = self._created.setdefault(order_key, update - timedelta(seconds=60))
        return update, created
