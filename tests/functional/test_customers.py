"""One customer across platforms, against moto: the consumer handler, the Customers table, the admin routes.

Orders are stored by the real repository (the state machine's decisions), their changes are fed to
the customer identity handler as the CustomersQueue delivers them, and operators call the admin API.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from local.resources import Deployed
from oms import composition
from oms.domain.customers import customer_key_for
from oms.domain.model import BuyerRef, OrderEvent, OrderLine, Platform, Receiver
from oms.domain.order_events import OrderChanged
from oms.domain.state_machine import decide
from oms.domain.status import OrderStatus, RefundStatus
from tests.functional.conftest import context
from tests.functional.test_incident import OPERATOR, admin

NOW = datetime.now(UTC).replace(microsecond=0)


def event(
    platform: Platform,
    number: str,
    *,
    at: datetime,
    status: OrderStatus = OrderStatus.PAID,
    refund: RefundStatus = RefundStatus.NONE,
    buyer: BuyerRef | None = None,
    phone: str | None = "138****5678",
    address: tuple[str, str, str, str] = ("广东省", "深圳市", "南山区", "科技园路1号"),
    skus: tuple[str, ...] = ("SKU-TEA",),
    tags: dict[str, str] | None = None,
    shop: str = "shop-1",
) -> OrderEvent:
    province, city, district, detail = address
    return OrderEvent(
        event_id=f"{number}-{status}-{refund}-{at.timestamp()}",
        platform=platform,
        shop_id=shop,
        platform_order_id=number,
        event_type="test",
        event_time=at,
        status=status,
        refund_status=refund,
        platform_status=str(status),
        total_amount=Decimal("99.00"),
        placed_at=at,
        lines=tuple(
            OrderLine(line_id=str(i), sku_id=f"p-{sku}", out_sku_id=sku, quantity=1)
            for i, sku in enumerate(skus)
        ),
        buyer=buyer or BuyerRef(),
        receiver=Receiver(phone=phone, province=province, city=city, district=district, detail=detail),
        tags=tags or {},
    )


def store(order_event: OrderEvent) -> OrderChanged:
    """Apply the event as the sanitizer does; the OrderChanged it would publish."""
    repository = composition.orders_repository()
    decision = decide(
        repository.get(order_event.order_id),
        order_event,
        received_at=order_event.event_time,
        now=order_event.event_time,
    )
    assert decision.after is not None
    assert repository.save(decision)
    return OrderChanged(order=decision.after, entry=decision.entry)


def deliver(deployed: Deployed, *changes: OrderChanged) -> dict[str, Any]:
    """The consumer handler on an SQS batch of raw SNS deliveries (as CustomersQueue hands them over)."""
    from functions.customer_identity import app

    sqs = boto3.client("sqs")
    url = deployed.queue_urls["CustomersQueue"]
    for change in changes:
        sqs.send_message(QueueUrl=url, MessageBody=change.to_json())
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    records = [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": deployed.arns["CustomersQueue"],
            "awsRegion": "us-east-1",
        }
        for message in messages
    ]
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return dict(app.handler({"Records": records}, context("customers")))


def timeline(ref: str, **query: str) -> dict[str, Any]:
    status, body = admin("GET", "/customers/timeline", "/customers/timeline", query={"ref": ref, **query})
    assert status == 200, body
    return body


def test_the_same_unionid_on_two_wechat_platforms_is_one_customer_with_one_timeline(stack: Deployed):
    # GIVEN a WeChat Channels order and a mini-program order of one WeChat user (same unionid)
    buyer_channels = BuyerRef(open_id="o-channels-1", union_id="u-lin")
    buyer_mini = BuyerRef(open_id="o-mini-1", union_id="u-lin")
    first = store(event(Platform.WECHAT_CHANNELS, "CH-1", at=NOW - timedelta(days=3), buyer=buyer_channels))
    second = store(
        event(Platform.WECHAT_MINI, "MINI-1", at=NOW - timedelta(days=1), buyer=buyer_mini, shop="wx-app")
    )
    # WHEN both changes are consumed
    assert deliver(stack, first, second) == {"batchItemFailures": []}
    # THEN a timeline asked by either platform number is the same customer with both orders, newest first
    by_channels, by_mini = timeline("CH-1"), timeline("MINI-1")
    assert by_channels["customer"]["customer_key"] == by_mini["customer"]["customer_key"]
    assert [entry["platform_order_id"] for entry in by_channels["entries"]] == ["MINI-1", "CH-1"]
    assert sorted(by_channels["customer"]["platforms"]) == ["wechat_channels", "wechat_mini"]


def test_a_redelivered_change_adds_nothing(stack: Deployed):
    # GIVEN an order change consumed once
    change = store(
        event(Platform.DOUYIN, "DY-1", at=NOW - timedelta(hours=3), buyer=BuyerRef(open_id="dy-open-1"))
    )
    deliver(stack, change)
    # WHEN SNS/SQS deliver it again (twice in one batch, too)
    assert deliver(stack, change, change) == {"batchItemFailures": []}
    # THEN the timeline holds it once
    assert [entry["change_id"] for entry in timeline("DY-1")["entries"]] == [change.change_id]


def test_two_orders_of_one_new_buyer_racing_end_as_one_customer(
    stack: Deployed, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN two orders of one new buyer (same unionid), the second arriving while the first is
    # between reading the links (none yet) and creating its customer
    store_ = composition.customer_store()
    identity = composition.customer_identity()
    racing = store(
        event(
            Platform.WECHAT_CHANNELS,
            "RACE-1",
            at=NOW - timedelta(hours=2),
            buyer=BuyerRef(union_id="u-race", open_id="o-a"),
        )
    )
    other = store(
        event(
            Platform.WECHAT_MINI,
            "RACE-2",
            at=NOW - timedelta(hours=1),
            buyer=BuyerRef(union_id="u-race", open_id="o-b"),
            shop="wx-app",
        )
    )
    real_create = store_.create_customer
    raced: list[str] = []

    def create_after_the_other(key: str, links: Any, at: datetime, order_id: str) -> None:
        if not raced:
            raced.append("racing")
            raced[0] = identity.consume(other).customer_key  # the other order wins the race
        real_create(key, links, at, order_id)

    monkeypatch.setattr(store_, "create_customer", create_after_the_other)
    # WHEN the first order's consumer carries on
    consumed = identity.consume(racing)
    # THEN its create was refused by the winner's link, it read again and joined the winner
    assert consumed.customer_key == raced[0]
    assert store_.links(["union#u-race"]) == {"union#u-race": raced[0]}
    assert {entry["platform_order_id"] for entry in timeline("RACE-1")["entries"]} == {"RACE-1", "RACE-2"}
    assert (
        store_.profile(customer_key_for("acct#wechat_channels#shop-1#open#o-a")) is None
    )  # no second customer


def test_a_complete_phone_links_by_keyed_hash_and_is_never_stored_in_clear(stack: Deployed):
    # GIVEN two platforms' orders that carry the same complete phone number and different accounts
    a = store(
        event(
            Platform.TAOBAO,
            "TB-1",
            at=NOW - timedelta(days=5),
            buyer=BuyerRef(open_id="tb-1"),
            phone="13812345678",
        )
    )
    b = store(
        event(
            Platform.WECHAT_CHANNELS,
            "CH-9",
            at=NOW - timedelta(days=2),
            buyer=BuyerRef(open_id="ch-9"),
            phone="+86 138 1234 5678",
        )
    )
    deliver(stack, a, b)
    # THEN one customer, and the Customers table holds no phone digits in clear
    assert timeline("TB-1")["customer"]["customer_key"] == timeline("CH-9")["customer"]["customer_key"]
    items = boto3.client("dynamodb").scan(TableName=stack.names["CustomersTable"])["Items"]
    assert items
    assert "13812345678" not in json.dumps(items)
    assert not re.search(r"1381234|5678\b", json.dumps(items))


def test_a_likely_duplicate_buyer_becomes_a_review_item_and_the_decision_is_audited(stack: Deployed):
    # GIVEN the same masked phone, a similar address written differently and the same items, on two
    # platforms an hour apart, under two unrelated accounts
    xhs = store(
        event(
            Platform.XIAOHONGSHU,
            "XHS-1",
            at=NOW - timedelta(hours=2),
            buyer=BuyerRef(buyer_id="xhs-user-1"),
            skus=("SKU-TEA", "SKU-CUP"),
            tags={"noteId": "64f0c0ffee"},
        )
    )
    douyin = store(
        event(
            Platform.DOUYIN,
            "DY-7",
            at=NOW - timedelta(hours=1),
            buyer=BuyerRef(open_id="dy-open-7"),
            phone="*******5678",
            address=("广东", "深圳", "南山", "科技园路１号"),
            skus=("SKU-TEA",),
            tags={"room_id": "730112", "author_id": "55"},
        )
    )
    deliver(stack, xhs, douyin)
    # WHEN an operator reads the review queue
    status, queue = admin("GET", "/review-queue", "/review-queue")
    assert status == 200
    (item,) = queue["items"]
    assert item["orders"]
    assert item["scores"]["same_phone"] is True
    assert item["scores"]["address_similarity"] == 1.0
    assert item["scores"]["item_overlap"] == 1.0
    # THEN they are still two customers (a review item is not a merge)
    first, second = timeline("XHS-1")["customer"], timeline("DY-7")["customer"]
    assert first["customer_key"] != second["customer_key"]
    assert first["tags"]["source.note_url"] == "https://www.xiaohongshu.com/explore/64f0c0ffee"
    assert timeline("DY-7")["entries"][0]["tags"]["source.live_room_id"] == "730112"

    # WHEN the operator decides they are one customer
    status, decided = admin(
        "POST",
        f"/review-queue/{item['pair_id']}/decision",
        "/review-queue/{review_id}/decision",
        body={"same_customer": True, "note": "same buyer, confirmed by chat"},
        review_id=item["pair_id"],
    )
    assert status == 200, decided
    assert (decided["status"], decided["decided_by"]) == ("merged", OPERATOR)
    # THEN the timeline from either order shows both, the queue is empty, a second decision is refused
    assert {entry["platform_order_id"] for entry in timeline("DY-7")["entries"]} == {"XHS-1", "DY-7"}
    assert admin("GET", "/review-queue", "/review-queue")[1]["items"] == []
    again = admin(
        "POST",
        f"/review-queue/{item['pair_id']}/decision",
        "/review-queue/{review_id}/decision",
        body={"same_customer": False, "note": "oops"},
        review_id=item["pair_id"],
    )
    assert again[0] == 409
    assert again[1]["error"] == "REVIEW_DECIDED"
    # AND the merge is recorded with who and why, and can be undone
    survivor = timeline("XHS-1")["customer"]["customer_key"]
    merged_key = next(key for key in (first["customer_key"], second["customer_key"]) if key != survivor)
    status, merges = admin(
        "GET", f"/customers/{survivor}/merges", "/customers/{customer_key}/merges", customer_key=survivor
    )
    assert [(m["by"], m["why"], m["review_id"]) for m in merges["merges"]] == [
        (OPERATOR, "same buyer, confirmed by chat", item["pair_id"])
    ]
    status, undone = admin(
        "POST",
        f"/customers/{merged_key}/split",
        "/customers/{customer_key}/split",
        body={"note": "two sisters sharing a phone"},
        customer_key=merged_key,
    )
    assert status == 200
    assert undone["undone_by"] == OPERATOR
    assert timeline("XHS-1")["customer"]["customer_key"] != timeline("DY-7")["customer"]["customer_key"]


def test_a_rejected_pair_is_never_proposed_again(stack: Deployed):
    # GIVEN a proposed pair the operator rejected
    a = store(event(Platform.KUAISHOU, "KS-1", at=NOW - timedelta(hours=5), buyer=BuyerRef(open_id="ks-1")))
    b = store(event(Platform.DOUYIN, "DY-9", at=NOW - timedelta(hours=4), buyer=BuyerRef(open_id="dy-9")))
    deliver(stack, a, b)
    (item,) = admin("GET", "/review-queue", "/review-queue")[1]["items"]
    status, _ = admin(
        "POST",
        f"/review-queue/{item['pair_id']}/decision",
        "/review-queue/{review_id}/decision",
        body={"same_customer": False, "note": "different people"},
        review_id=item["pair_id"],
    )
    assert status == 200
    # WHEN the same two buyers order again alike
    c = store(event(Platform.DOUYIN, "DY-10", at=NOW - timedelta(hours=3), buyer=BuyerRef(open_id="dy-9")))
    assert deliver(stack, c) == {"batchItemFailures": []}
    # THEN nothing is proposed
    assert admin("GET", "/review-queue", "/review-queue")[1]["items"] == []


def test_the_timeline_pages_newest_first_and_covers_90_days(stack: Deployed):
    buyer = BuyerRef(open_id="pager")
    changes = [
        store(event(Platform.DOUYIN, f"PG-{i}", at=NOW - timedelta(days=i * 10), buyer=buyer, phone=None))
        for i in range(11)
    ]
    deliver(stack, *changes[:10])
    deliver(stack, changes[10])
    first = timeline("PG-0", limit="4")
    second = timeline("PG-0", limit="4", cursor=first["next_cursor"])
    third = timeline("PG-0", limit="4", cursor=second["next_cursor"])
    numbers = [e["platform_order_id"] for page in (first, second, third) for e in page["entries"]]
    assert numbers == [f"PG-{i}" for i in range(9)]  # 90 days: PG-9 (90 days ago) and PG-10 are older
    assert third["next_cursor"] is None


def test_unknown_refs_and_bad_requests_have_typed_errors(stack: Deployed):
    assert (
        admin("GET", "/customers/timeline", "/customers/timeline", query={"ref": "NO-SUCH"})[1]["error"]
        == "CUSTOMER_NOT_FOUND"
    )
    assert (
        admin("GET", "/customers/timeline", "/customers/timeline", query={"ref": "x", "limit": "0"})[1][
            "error"
        ]
        == "BAD_REQUEST"
    )
    status, body = admin(
        "POST",
        "/review-queue/p_none/decision",
        "/review-queue/{review_id}/decision",
        body={"same_customer": "yes", "note": "n"},
        review_id="p_none",
    )
    assert (status, body["error"]) == (400, "BAD_REQUEST")
    status, body = admin(
        "POST",
        "/review-queue/p_none/decision",
        "/review-queue/{review_id}/decision",
        body={"same_customer": True, "note": "n"},
        review_id="p_none",
    )
    assert (status, body["error"]) == (404, "REVIEW_NOT_FOUND")


def test_a_link_naming_two_customers_merges_them_and_a_split_keeps_them_apart(stack: Deployed):
    # GIVEN a mini-program buyer and a Channels buyer known apart (no shared link yet)
    mini = store(
        event(
            Platform.WECHAT_MINI,
            "M-1",
            at=NOW - timedelta(days=9),
            buyer=BuyerRef(open_id="om-1"),
            shop="wx-app",
            phone=None,
        )
    )
    channels = store(
        event(
            Platform.WECHAT_CHANNELS,
            "C-1",
            at=NOW - timedelta(days=8),
            buyer=BuyerRef(open_id="oc-1", union_id="u-zhao"),
            phone=None,
        )
    )
    deliver(stack, mini, channels)
    older, younger = timeline("M-1")["customer"]["customer_key"], timeline("C-1")["customer"]["customer_key"]
    assert older != younger
    # WHEN a later mini-program order carries both the mini openid and the unionid
    bridge = store(
        event(
            Platform.WECHAT_MINI,
            "M-2",
            at=NOW - timedelta(days=1),
            buyer=BuyerRef(open_id="om-1", union_id="u-zhao"),
            shop="wx-app",
            phone=None,
        )
    )
    assert deliver(stack, bridge) == {"batchItemFailures": []}
    # THEN the younger customer is merged into the older, by the system, with the reason
    assert {e["platform_order_id"] for e in timeline("C-1")["entries"]} == {"M-1", "M-2", "C-1"}
    (merge,) = admin(
        "GET", f"/customers/{older}/merges", "/customers/{customer_key}/merges", customer_key=older
    )[1]["merges"]
    assert (merge["by"], merge["why"], merge["automatic"]) == (
        "system",
        "deterministic link: same union",
        True,
    )
    # WHEN an operator splits them, and another order links both again
    status, _ = admin(
        "POST",
        f"/customers/{younger}/split",
        "/customers/{customer_key}/split",
        body={"note": "shared family WeChat"},
        customer_key=younger,
    )
    assert status == 200
    again = store(
        event(
            Platform.WECHAT_MINI,
            "M-3",
            at=NOW,
            buyer=BuyerRef(open_id="om-1", union_id="u-zhao"),
            shop="wx-app",
            phone=None,
        )
    )
    deliver(stack, again)
    # THEN they stay apart (the person's split wins over the automatic join), and an order naming
    # both goes with its strongest link (the unionid)
    assert timeline("C-1")["customer"]["customer_key"] == younger
    assert {e["platform_order_id"] for e in timeline("C-1")["entries"]} == {"C-1", "M-2", "M-3"}
    assert {e["platform_order_id"] for e in timeline("M-1")["entries"]} == {"M-1"}
    # AND a second split of the same merge is refused
    status, body = admin(
        "POST",
        f"/customers/{younger}/split",
        "/customers/{customer_key}/split",
        body={"note": "again"},
        customer_key=younger,
    )
    assert (status, body["error"]) == (409, "MERGE_CONFLICT")


def test_a_message_that_is_not_an_order_change_fails_alone(stack: Deployed):
    from functions.customer_identity import app

    good = store(
        event(Platform.DOUYIN, "DY-50", at=NOW - timedelta(hours=1), buyer=BuyerRef(open_id="dy-50"))
    )
    records = [
        {
            "messageId": "bad",
            "receiptHandle": "r1",
            "body": '{"not": "an order change"}',
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": stack.arns["CustomersQueue"],
            "awsRegion": "us-east-1",
        },
        {
            "messageId": "good",
            "receiptHandle": "r2",
            "body": good.to_json(),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": stack.arns["CustomersQueue"],
            "awsRegion": "us-east-1",
        },
    ]
    assert app.handler({"Records": records}, context("customers")) == {
        "batchItemFailures": [{"itemIdentifier": "bad"}]
    }
    assert timeline("DY-50")["entries"][0]["platform_order_id"] == "DY-50"
