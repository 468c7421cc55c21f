"""Demo chapter: one customer across platforms (issue #7).

Lin discovers a tea on a Xiaohongshu note and orders it there, orders again from a Douyin live room,
buys the same tea on Kuaishou forty minutes later with her sister's account, then reorders twice in
the brand's WeChat mini-program. Every order goes through the normal path: the simulated platform
holds the truth, a signed push goes to ``/webhooks/<platform>``, the sanitizer stores it and
publishes the change, the customer identity consumer links it.

What the merchant then sees, over the admin API as an operator would:

- the two mini-program orders are one customer at once (the same openid: a deterministic link);
- the Douyin and Kuaishou orders (same masked phone, the same address written differently, the
  same tea, 40 minutes apart) are a **review item**, not a merge; the operator confirms it;
- support links her into the customer first seen, on Xiaohongshu (``POST /customers/merge``, with
  the reason), and the timeline asked by any of her five order numbers is one customer, newest
  first, tagged with the note she came from and the live room she bought in;
- two other Douyin buyers with one phone and one address wait in the review queue, undecided.

The chapter checks its own oracle (``mismatches``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from local import simulator
from local.chapters import Chapter
from local.simulators import kuaishou, wechat_mini, xiaohongshu
from oms.domain.ids import unified_order_id

if TYPE_CHECKING:
    from local.stack import LocalStack

NAME = "customers"
DOUYIN_SHOP = "100001"
TEA = simulator.LineSpec(
    sku_id="3500000007001", quantity=1, unit_price=Decimal("128.00"), out_sku_id="TEA-DHP-250"
)
NOTE_ID = "64f0c0ffee00000000000001"
LIVE_ROOM = "7301234567890123456"
LIN_PHONE = "138****5678"
NUMBERS = {
    "xiaohongshu": "P7700000000000001",
    "douyin": "6977000000000000001",
    "kuaishou": "2419277000000001",
    "mini_1": "MINI-LIN-0001",
    "mini_2": "MINI-LIN-0002",
    "pair_a": "6977000000000000101",
    "pair_b": "6977000000000000201",
}


class _Pushes:
    """Signed pushes of the simulated platforms, as each platform sends them."""

    def __init__(self, stack: LocalStack, credentials: Mapping[str, Any]) -> None:
        self.stack = stack
        self.credentials = credentials
        self.replies: list[int] = []

    def _post(
        self, platform: str, body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> None:
        self.replies.append(
            self.stack.request(
                "POST", f"/webhooks/{platform}", body=body, headers=headers, query=query
            ).status
        )

    def xiaohongshu(self, number: str, at: datetime, user_id: str) -> str:
        app_key, app = next(iter(self.credentials["xiaohongshu"].items()))
        seller = next(iter(app["access_tokens"]))
        order = xiaohongshu.order(number, seller, 4, at, [TEA], create_time=at, user_id=user_id)
        order["noteId"] = NOTE_ID  # the note the buyer ordered from
        xiaohongshu.put_order(self.stack.simulator, seller, order)
        headers, body = xiaohongshu.push(
            [xiaohongshu.status_message(order, seller)], app_key, app["app_secret"], int(time.time())
        )
        self._post("xiaohongshu", body, headers)
        return f"xiaohongshu:{seller}:{number}"

    def douyin(
        self,
        number: str,
        at: datetime,
        open_id: str,
        *,
        phone: str,
        region: tuple[str, str, str],
        detail: str,
        room_id: str | None = None,
    ) -> str:
        order = simulator.douyin_order(
            number, DOUYIN_SHOP, 105, at, [TEA], create_time=at, open_id=open_id, payment_id=f"PAY{number}"
        )
        province, city, district = region
        regions = {
            "province": {"name": province, "id": "44"},
            "city": {"name": city, "id": "4403"},
            "town": {"name": district, "id": "440305"},
        }
        order["mask_post_tel"] = phone
        order["mask_post_addr"] = {**regions, "detail": detail}
        order["post_addr"] = {**regions, "detail": "", "encrypt_detail": order["post_addr"]["encrypt_detail"]}
        if room_id:
            order["sku_order_list"][0]["room_id"] = int(room_id)
        self.stack.simulator.put_order("douyin", DOUYIN_SHOP, order)
        app = self.credentials["douyin"]["7000000000000000001"]
        message = simulator.douyin_order_message(order, "101", f"7{number[1:]}")
        headers, body = simulator.douyin_push([message], app["app_key"], app["app_secret"])
        self._post("douyin", body, headers)
        return f"douyin:{DOUYIN_SHOP}:{number}"

    def kuaishou(self, number: str, at: datetime, open_id: str) -> str:
        app_key, app = next(iter(self.credentials["kuaishou"].items()))
        seller = next(iter(app["access_tokens"]))
        order = kuaishou.order(int(number), 30, at, TEA, buyer_open_id=open_id)
        # The same address as on Douyin, as another buyer types it: short names, full-width digits, spaces.
        order["orderAddress"].update(
            {
                "province": "广东",
                "city": "深圳",
                "district": "南山",
                "town": "",
                "desensitiseMobile": LIN_PHONE,
                "desensitiseAddress": "科技园路 １８８ 号**",
            }
        )
        kuaishou.put_order(self.stack.simulator, seller, order)
        body = kuaishou.push(
            kuaishou.order_message(order, seller, app_key, f"evt-{number}"), app["message_key"]
        )
        self._post("kuaishou", body, {"content-type": "application/json"}, {"app_key": app_key})
        return f"kuaishou:{seller}:{number}"

    def wechat_mini(self, number: str, at: datetime, openid: str) -> str:
        appid, app = next(iter(self.credentials["wechat_mini"].items()))
        resource = {
            "appid": appid,
            "mchid": app["mchid"],
            "out_trade_no": number,
            "transaction_id": f"42000025{int(at.timestamp())}{number[-4:]}",
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": at.astimezone(UTC).isoformat(timespec="seconds"),
            "payer": {"openid": openid},
            "amount": {"total": 12800, "payer_total": 12800, "currency": "CNY", "payer_currency": "CNY"},
        }
        headers, body = wechat_mini.pay_notification(
            app, resource, event_type="TRANSACTION.SUCCESS", signed_at=datetime.now(UTC)
        )
        self._post("wechat_mini", body, headers)
        return f"wechat_mini:{appid}:{number}"


def _admin(stack: LocalStack, method: str, path: str, body: Any = None, **query: str) -> tuple[int, Any]:
    reply = stack.request(
        method,
        path,
        body=json.dumps(body).encode() if body is not None else b"",
        headers={"content-type": "application/json"} if body is not None else None,
        query=query or None,
        sign=True,
    )
    return reply.status, reply.json()


def _open_reviews(stack: LocalStack) -> list[dict[str, Any]]:
    """Every open review item, page by page (the day's other orders raise their own)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        status, page = _admin(stack, "GET", "/review-queue", **query)
        if status != 200:
            raise RuntimeError(f"GET /review-queue answered {status}: {page}")
        items += page.get("items", [])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def _unified(reference: str) -> str:
    platform, shop, number = reference.split(":", 2)
    return unified_order_id(platform, shop, number)


def _push_orders(push: _Pushes, start: datetime) -> tuple[dict[str, str], list[str]]:
    """Lin's five orders and the other pair's two, pushed as each platform pushes them."""
    south = ("广东省", "深圳市", "南山区")

    # Lin: a Xiaohongshu note, a Douyin live room, Kuaishou 40 minutes later, two mini-program reorders
    refs = {
        "xiaohongshu": push.xiaohongshu(NUMBERS["xiaohongshu"], start, "xhs_user_lin"),
        "douyin": push.douyin(
            NUMBERS["douyin"],
            start + timedelta(days=2),
            "dy_open_lin",
            phone=LIN_PHONE,
            region=south,
            detail="科技园路188号**",
            room_id=LIVE_ROOM,
        ),
        "kuaishou": push.kuaishou(
            NUMBERS["kuaishou"], start + timedelta(days=2, minutes=40), "ks_open_lin_sister"
        ),
        "mini_1": push.wechat_mini(NUMBERS["mini_1"], start + timedelta(days=12), "oMini_lin"),
        "mini_2": push.wechat_mini(NUMBERS["mini_2"], start + timedelta(days=19), "oMini_lin"),
    }
    # Two other Douyin buyers: one phone, one address, the same tea, 25 minutes apart
    north = ("北京市", "北京市", "朝阳区")
    pair = [
        push.douyin(
            NUMBERS["pair_a"],
            start + timedelta(days=5),
            "dy_open_wang",
            phone="139****0000",
            region=north,
            detail="望京街10号**",
        ),
        push.douyin(
            NUMBERS["pair_b"],
            start + timedelta(days=5, minutes=25),
            "dy_open_wang_2",
            phone="139****0000",
            region=north,
            detail="望京街 10 号**",
        ),
    ]
    return refs, pair


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(NAME)
    expect = chapter.mismatches.append
    push = _Pushes(stack, credentials)
    refs, pair = _push_orders(push, datetime.now(UTC).replace(microsecond=0) - timedelta(days=20))
    if any(status not in (200, 204) for status in push.replies):  # WeChat Pay expects 204
        expect(f"a platform push was refused: {push.replies}")
    if not stack.drain(timeout=120):
        expect("the queues did not drain")

    # The review queue: Lin's Douyin/Kuaishou pair and the other pair, each proposed once
    items = _open_reviews(stack)
    by_orders = {frozenset(item["orders"]): item for item in items}
    lin_pair = by_orders.get(frozenset({_unified(refs["douyin"]), _unified(refs["kuaishou"])}))
    other_pair = by_orders.get(frozenset(_unified(ref) for ref in pair))
    if lin_pair is None or other_pair is None:
        expect(f"Lin's pair or the other pair is not in the review queue ({len(items)} open items)")
        return chapter
    before = {key: _admin(stack, "GET", "/customers/timeline", ref=NUMBERS[key])[1] for key in refs}
    if len({view["customer"]["customer_key"] for view in before.values()}) != 4:
        expect("before any decision Lin should be four customers (the mini-program orders one)")

    # The operator confirms Lin's pair; support links her Xiaohongshu and mini-program customers
    status, decided = _admin(
        stack,
        "POST",
        f"/review-queue/{lin_pair['pair_id']}/decision",
        {"same_customer": True, "note": "same buyer: her sister's Kuaishou account, confirmed in chat"},
    )
    if (status, decided.get("status")) != (200, "merged"):
        expect(f"the decision did not merge: {status} {decided}")
    # Support links her into the customer first seen (Xiaohongshu, where she discovered the tea)
    lin = before["xiaohongshu"]["customer"]["customer_key"]
    douyin_side = _admin(stack, "GET", "/customers/timeline", ref=NUMBERS["douyin"])[1]["customer"][
        "customer_key"
    ]
    for other, why in (
        (douyin_side, "she gave her Xiaohongshu order number in the Douyin chat"),
        (
            before["mini_1"]["customer"]["customer_key"],
            "mini-program login with the phone of her Douyin order",
        ),
    ):
        status, merged = _admin(
            stack, "POST", "/customers/merge", {"customer": other, "into": lin, "note": why}
        )
        if status != 201:
            expect(f"merge into {lin} refused: {status} {merged}")

    # The timeline by any of her order numbers: one customer, five orders, four platforms, newest first
    views = {key: _admin(stack, "GET", "/customers/timeline", ref=NUMBERS[key])[1] for key in refs}
    keys = {view["customer"]["customer_key"] for view in views.values()}
    if keys != {lin}:
        expect(f"Lin's orders are not one customer: {sorted(keys)}")
    timeline = views["mini_2"]
    numbers = [order["platform_order_id"] for order in timeline["orders"]]
    if set(numbers) != {NUMBERS[key] for key in refs}:
        expect(f"the timeline lists {numbers}")
    times = [entry["at"] for entry in timeline["entries"]]
    if times != sorted(times, reverse=True):
        expect("the timeline is not newest first")
    tags = timeline["customer"]["tags"]
    if tags.get("source.note_url") != f"https://www.xiaohongshu.com/explore/{NOTE_ID}":
        expect(f"the Xiaohongshu note is not a customer tag: {tags}")
    if tags.get("source.channel") != "note":
        expect(f"she was found on a note (first touch), the customer says {tags.get('source.channel')}")
    if tags.get("source.live_room_id") != LIVE_ROOM:
        expect(f"the Douyin live room is not a customer tag: {tags}")
    open_items = [item["pair_id"] for item in _open_reviews(stack)]
    if other_pair["pair_id"] not in open_items or lin_pair["pair_id"] in open_items:
        expect("the review queue should hold the other pair only")

    _report(chapter, lin, timeline, other_pair)
    return chapter


def _report(chapter: Chapter, lin: str, timeline: Mapping[str, Any], other_pair: Mapping[str, Any]) -> None:
    customer = timeline["customer"]
    tags = customer["tags"]
    scores = ", ".join(
        f"{name} {value:.2f}" if isinstance(value, float) else f"{name} {value}"
        for name, value in other_pair["scores"].items()
    )
    chapter.summary = {
        "customer_key": lin,
        "orders_linked": len(timeline["orders"]),
        "platforms": sorted(customer["platforms"]),
        "review_items_raised": 2,
        "review_items_merged": 1,
        "review_items_open": [other_pair["pair_id"]],
        "customer_tags": tags,
        "timeline": [
            {key: entry.get(key) for key in ("at", "kind", "platform", "platform_order_id", "status_after")}
            for entry in timeline["entries"]
        ],
    }
    chapter.lines = [
        f"Lin: {len(timeline['orders'])} orders on {', '.join(sorted(customer['platforms']))} "
        f"are one customer ({lin})",
        "  review items raised: 2 (Douyin+Kuaishou merged by the operator;",
        f"  the Wang pair open: {scores})",
        f"  tags: {', '.join(f'{name}={value}' for name, value in sorted(tags.items()))}",
        *(
            f"  {entry['at'][:16]}  {entry['kind']:<14} {entry['platform']:<12} "
            f"{entry['platform_order_id']}  {entry['status_after']}"
            for entry in timeline["entries"]
        ),
    ]
