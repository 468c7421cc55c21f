"""One customer across platforms through the real path: signed pushes → intake → sanitizer → SNS →
CustomersQueue → customer identity → admin API over HTTP (SigV4), on the local stack."""

from __future__ import annotations

import json

from local import customers_chapter
from local.stack import LocalStack


def test_buyers_across_platforms_become_one_customer_and_a_duplicate_pair_waits_for_review(
    drained: LocalStack,
):
    # GIVEN the platforms' pushes of the demo chapter (Xiaohongshu, Douyin, Kuaishou, WeChat mini-program)
    credentials = json.loads(drained.credentials_file.read_text(encoding="utf-8"))
    # WHEN they go through the stack and an operator decides and links as the chapter does
    chapter = customers_chapter.run(drained, credentials)
    # THEN its oracle holds: one customer, five orders on four platforms, one pair left open
    assert chapter.mismatches == []
    assert chapter.summary["orders_linked"] == 5
    assert chapter.summary["platforms"] == ["douyin", "kuaishou", "wechat_mini", "xiaohongshu"]
    kinds = [entry["kind"] for entry in chapter.summary["timeline"]]
    assert kinds.count("order_placed") == 5
    # AND nothing reached the customers' dead-letter queue
    assert drained.queue_depth("CustomersDLQ") == 0
    assert drained.poller_errors() == []


def test_the_timeline_routes_need_iam(drained: LocalStack):
    unsigned = drained.request("GET", "/customers/timeline", query={"ref": "anything"})
    assert unsigned.status == 403
    signed = drained.admin_get("/customers/timeline", ref="NO-SUCH-ORDER")
    assert (signed.status, signed.json()["error"]) == (404, "CUSTOMER_NOT_FOUND")
