"""Provable returns through the real path: webhooks, SNS → ReturnsQueue, the returns API over HTTP
(SigV4 for operators, device signatures for scans), the Returns table, the schedules and the
Object Lock bucket on the local stack."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from local import returns_chapter, simulator
from local.scanner import Device, scan_body
from local.stack import HttpResult, LocalStack
from tests.integration.helpers import (
    LINES,
    WECHAT_APP,
    douyin_truth,
    get_order,
    minutes,
    push_douyin,
    push_wechat,
)

_deserializer = TypeDeserializer()


def _item(stack: LocalStack, pk: str, sk: str) -> dict[str, Any] | None:
    reply = stack.dynamodb.get_item(
        TableName=stack.deployed.names["ReturnsTable"],
        Key={"PK": {"S": pk}, "SK": {"S": sk}},
        ConsistentRead=True,
    )
    item = reply.get("Item")
    return {key: _deserializer.deserialize(value) for key, value in item.items()} if item else None


def _shipped_douyin_order(stack: LocalStack, number: str) -> str:
    order = douyin_truth(stack, number, 3, minutes(9), payment_id=f"PAY{number}")
    assert push_douyin(stack, order, msg_id=f"7{number[1:]}").status == 200
    assert stack.drain(timeout=60)
    return str(get_order(stack, f"douyin:100001:{number}").json()["order"]["order_id"])


def _open(stack: LocalStack, order_id: str, request_id: str, quantity: int = 1) -> HttpResult:
    lines = get_order(stack, order_id).json()["order"]["lines"]
    body = {
        "order_id": order_id,
        "request_id": request_id,
        "lines": [{"line_id": lines[0]["line_id"], "quantity": quantity}],
        "reason": "damaged <b>box</b>",
    }
    return stack.request("POST", "/returns", body=json.dumps(body), sign=True)


def _now_text(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def courier(stack: LocalStack) -> Device:
    return Device.from_credentials(stack, "courier-sf-0001")


@pytest.fixture(scope="module")
def pda(stack: LocalStack) -> Device:
    return Device.from_credentials(stack, "pda-wh-hz-01")


@pytest.fixture(scope="module")
def order_id(stack: LocalStack) -> str:
    return _shipped_douyin_order(stack, "6900000000000008001")


def _pickup(stack: LocalStack, courier: Device, code: str, scan_id: str, **options: Any) -> HttpResult:
    body = scan_body(scan_id, "pickup", "C-1001", "Wang Lei", courier.fingerprint, _now_text(), **options)
    return courier.scan(stack, code, body)


def _receipt(stack: LocalStack, pda: Device, code: str, scan_id: str, **options: Any) -> HttpResult:
    body = scan_body(scan_id, "receipt", "W-0042", "Li Na", pda.fingerprint, _now_text(), **options)
    return pda.scan(stack, code, body)


# --------------------------------------------------------------------------- opening


def test_an_after_sale_push_after_shipment_opens_one_return_bound_to_the_order(drained: LocalStack):
    # GIVEN a shipped WeChat Channels order whose buyer opens an after-sale (refund with return)
    number = "3700000000000008101"
    shipped = simulator.wechat_order(number, WECHAT_APP, 30, minutes(30), LINES, payment_id="4200008101")
    drained.simulator.put_order("wechat_channels", WECHAT_APP, shipped)
    push_wechat(drained, "channels_ec_order_deliver", number, minutes(30), nonce="1234568101")
    assert drained.drain(timeout=60)
    after_sale = simulator.wechat_order(
        number,
        WECHAT_APP,
        30,
        minutes(40),
        LINES,
        payment_id="4200008101",
        aftersale_open={"3500000000001": 1},
    )
    drained.simulator.put_order("wechat_channels", WECHAT_APP, after_sale)
    # WHEN the after-sale push arrives (twice: platforms redeliver)
    push_wechat(drained, "channels_ec_aftersale_update", number, minutes(40), nonce="1234568102")
    push_wechat(drained, "channels_ec_aftersale_update", number, minutes(41), nonce="1234568103")
    assert drained.drain(timeout=60)
    # THEN the order is in refund, and exactly one return was opened for it by the platform change
    order = get_order(drained, f"wechat_channels:{WECHAT_APP}:{number}").json()["order"]
    assert order["refund_status"] == "requested"
    opening = _item(drained, f"OPEN#order#{order['order_id']}", "OPEN")
    assert opening is not None
    record = _item(drained, f"RET#{opening['return_id']}", "META")
    assert record is not None
    assert (record["order_id"], record["source"], record["head_seq"]) == (
        order["order_id"],
        "platform:wechat_channels",
        1,
    )
    # AND its code resolves to that return for the customer
    view = drained.request("GET", f"/returns/{record['code']}").json()
    assert view["platform_order_id"] == number
    assert [step["kind"] for step in view["steps"]] == ["opened"]


def test_an_operator_opens_a_return_once_per_request_id(stack: LocalStack, order_id: str):
    first = _open(stack, order_id, "req-8001")
    again = _open(stack, order_id, "req-8001")
    assert (first.status, again.status) == (201, 200)
    assert first.json()["code"] == again.json()["code"]
    code = first.json()["code"]
    assert len(code) == 19
    assert code.isalnum()
    assert code.isupper()
    # Without SigV4 the operator route is closed; lines the order does not have are refused.
    assert stack.request("POST", "/returns", body="{}").status == 403
    reply = _open(stack, order_id, "req-8002", quantity=99)
    assert (reply.status, reply.json()["error"]) == (422, "RETURN_LINES_INVALID")


# --------------------------------------------------------------------------- scans


def test_pickup_then_receipt_builds_a_verified_chain_and_a_masked_customer_view(
    stack: LocalStack, order_id: str, courier: Device, pda: Device
):
    code = _open(stack, order_id, "req-8010").json()["code"]
    picked = _pickup(stack, courier, code, "scan-8010-1", photo_ref="s3://photos/8010-pickup.jpg")
    assert picked.status == 201, picked.text
    assert (picked.json()["seq"], picked.json()["flags"]) == (2, [])
    # A device retrying the same scan does not add an event
    repeat = _pickup(stack, courier, code, "scan-8010-1")
    assert (repeat.status, repeat.json()["seq"], repeat.json()["duplicate"]) == (200, 2, True)
    received = _receipt(stack, pda, code, "scan-8010-2")
    assert (received.status, received.json()["seq"]) == (201, 3)

    view = stack.request("GET", f"/returns/{code.lower()}").json()
    assert view["status"] == "received"
    assert [step["kind"] for step in view["steps"]] == ["opened", "pickup", "receipt"]
    assert (view["steps"][1]["handled_by"], view["steps"][1]["partner"]) == ("W******", "SF Express")
    text = json.dumps(view)
    for private in ("Wang Lei", "Li Na", courier.fingerprint):
        assert private not in text

    verified = stack.admin_get(f"/returns/{code}/verify").json()
    assert (verified["ok"], verified["intact"], verified["events_checked"]) == (True, True, 3)
    assert verified["anchor"]["status"] == "not_yet_anchored"
    assert stack.request("GET", f"/returns/{code}/verify").status == 403


def test_the_evidence_report_is_escaped_html_and_json(stack: LocalStack, order_id: str, courier: Device):
    code = _open(stack, order_id, "req-8020").json()["code"]
    body = scan_body(
        "scan-8020-1",
        "pickup",
        "C-<script>",
        "<img src=x onerror=alert(1)>",
        courier.fingerprint,
        _now_text(),
        photo_ref="s3://photos/<b>8020</b>.jpg",
    )
    assert courier.scan(stack, code, body).status == 201
    report = stack.admin_get(f"/returns/{code}/evidence", format="json").json()
    assert [event["kind"] for event in report["timeline"]] == ["opened", "pickup"]
    pickup = report["timeline"][1]["data"]
    assert (pickup["device_fingerprint"], pickup["gps"]["lat"]) == (courier.fingerprint, "30.274085")
    assert report["photos"] == ["s3://photos/<b>8020</b>.jpg"]
    assert report["verification"]["intact"] is True
    page = stack.admin_get(f"/returns/{code}/evidence")
    assert page.status == 200
    assert page.headers.get("content-type", "").startswith("text/html")
    assert "<img src=x" not in page.text
    assert "<script>" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


def test_forged_and_unknown_codes_are_refused_and_kept_as_attempts(
    stack: LocalStack, order_id: str, courier: Device
):
    code = _open(stack, order_id, "req-8030").json()["code"]
    forged = code[:-1] + ("0" if code[-1] != "0" else "1")
    unknown = code[0] + "ZZZZZZZZZZ" + code[11:]
    for attempt in (forged, unknown, "not-a-code"):
        reply = _pickup(stack, courier, attempt, f"scan-forged-{attempt}")
        assert (reply.status, reply.json()["error"]) == (404, "RETURN_CODE_INVALID"), attempt
    # No event was created on the real return; each attempt was recorded
    assert stack.admin_get(f"/returns/{code}/verify").json()["events_checked"] == 1
    day = f"{datetime.now(UTC):%Y-%m-%d}"
    attempts = stack.dynamodb.query(
        TableName=stack.deployed.names["ReturnsTable"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ATTEMPT#{day}"}},
    )["Items"]
    reasons = {item["reason"]["S"] for item in attempts if item["route"]["S"] == "scan"}
    assert {"forged", "unknown", "malformed"} <= reasons


def test_scans_need_the_devices_signature_and_role(
    stack: LocalStack, order_id: str, courier: Device, pda: Device
):
    code = _open(stack, order_id, "req-8040").json()["code"]
    body = scan_body("scan-8040-1", "pickup", "C-1", "Wang Lei", courier.fingerprint, _now_text())
    wrong_key = courier.scan(stack, code, body, key="x" * 48)
    stale = courier.scan(stack, code, body, timestamp=int(datetime.now(UTC).timestamp()) - 3600)
    unsigned = stack.request("POST", f"/returns/{code}/scans", body=json.dumps(body))
    assert [r.status for r in (wrong_key, stale, unsigned)] == [401, 401, 401]
    assert {r.json()["error"] for r in (wrong_key, stale, unsigned)} == {"SCANNER_UNAUTHENTICATED"}
    # A warehouse PDA cannot record a courier's pickup
    as_warehouse = pda.scan(stack, code, body)
    assert (as_warehouse.status, as_warehouse.json()["error"]) == (403, "SCANNER_NOT_ALLOWED")
    bad_gps = scan_body("scan-8040-2", "pickup", "C-1", "", courier.fingerprint, _now_text(), lat="123.5")
    assert courier.scan(stack, code, bad_gps).json()["error"] == "SCAN_INVALID"


def test_a_receipt_without_pickup_and_a_second_pickup_are_recorded_and_flagged(
    stack: LocalStack, order_id: str, courier: Device, pda: Device
):
    code = _open(stack, order_id, "req-8050").json()["code"]
    early = _receipt(stack, pda, code, "scan-8050-1")
    assert (early.status, early.json()["flags"]) == (201, ["receipt_without_pickup"])
    assert _pickup(stack, courier, code, "scan-8050-2").json()["flags"] == []
    second = _pickup(stack, courier, code, "scan-8050-3")
    assert second.json()["flags"] == ["second_pickup"]
    skewed = courier.scan(
        stack,
        code,
        scan_body("scan-8050-4", "pickup", "C-1", "", courier.fingerprint, _now_text(timedelta(hours=-2))),
    )
    assert skewed.json()["flags"] == ["second_pickup", "device_clock_skew"]
    report = stack.admin_get(f"/returns/{code}/evidence", format="json").json()
    assert set(report["return"]["flags"]) == {"receipt_without_pickup", "second_pickup", "device_clock_skew"}


def test_concurrent_scans_append_one_after_another_without_forking_the_chain(
    stack: LocalStack, order_id: str, courier: Device
):
    code = _open(stack, order_id, "req-8060").json()["code"]
    replies: list[HttpResult] = []
    lock = threading.Lock()

    def scan(index: int) -> None:
        reply = _pickup(stack, courier, code, f"scan-8060-{index}")
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=scan, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reply.status for reply in replies) == [201] * 8, [
        r.text for r in replies if r.status != 201
    ]
    assert sorted(reply.json()["seq"] for reply in replies) == list(range(2, 10))
    verified = stack.admin_get(f"/returns/{code}/verify").json()
    assert (verified["intact"], verified["events_checked"], verified["head"]["seq"]) == (True, 9, 9)


# --------------------------------------------------------------------------- tampering


def test_an_event_altered_in_the_table_is_named_by_verify(
    stack: LocalStack, order_id: str, courier: Device, pda: Device
):
    code = _open(stack, order_id, "req-8070").json()["code"]
    _pickup(stack, courier, code, "scan-8070-1")
    _receipt(stack, pda, code, "scan-8070-2")
    return_id = code[1:11]
    stored = _item(stack, f"RET#{return_id}", "EVT#000002")
    assert stored is not None
    event = json.loads(stored["event"])
    event["data"]["operator_id"] = "C-9999"  # someone rewrites who collected the parcel
    stack.dynamodb.update_item(
        TableName=stack.deployed.names["ReturnsTable"],
        Key={"PK": {"S": f"RET#{return_id}"}, "SK": {"S": "EVT#000002"}},
        UpdateExpression="SET #event = :event",
        ExpressionAttributeNames={"#event": "event"},
        ExpressionAttributeValues={":event": {"S": json.dumps(event)}},
    )
    verified = stack.admin_get(f"/returns/{code}/verify").json()
    assert verified["ok"] is False
    assert (verified["broken"]["seq"], verified["broken"]["problem"]) == (2, "altered")
    page = stack.admin_get(f"/returns/{code}/evidence").text
    assert "Chain broken at event 2" in page


# ------------------------------------------------------------------- schedules (keep last: moves the clock)


def test_the_demo_chapter_stalls_one_return_past_72_hours_and_anchors_the_day(stack: LocalStack):
    # GIVEN the demo's returns (normal, stalled, tampered, a forged scan), then 75 hours of schedules
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    chapter = returns_chapter.run(stack, credentials)
    # THEN its own oracle holds (one gap alert for the stalled return only, verification results)
    assert chapter.mismatches == []
    codes = chapter.summary["codes"]
    assert chapter.summary["alerts"].count(f"returns.gap#{codes['stalled'][1:11]}") == 1
    assert chapter.summary["verification"]["tampered"]["broken"] == {
        "seq": 2,
        "problem": "altered",
        "detail": "the event no longer hashes to its stored hash",
    }
    # AND the stalled return's chain carries the gap, visible to the customer too
    report = stack.admin_get(f"/returns/{codes['stalled']}/evidence", format="json").json()
    assert [event["kind"] for event in report["timeline"]] == ["opened", "pickup", "gap_detected"]
    assert report["timeline"][2]["data"]["rule"] == "no_receipt_72h"
    assert stack.request("GET", f"/returns/{codes['stalled']}").json()["steps"][-1]["kind"] == "gap_detected"
    # AND the day's digest is locked on the Object Lock bucket: it cannot be deleted
    digest_key = chapter.summary["verification"]["normal"]["digest_key"]
    bucket = stack.deployed.names["ReturnDigestBucket"]
    head = stack.s3.head_object(Bucket=bucket, Key=digest_key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    with pytest.raises(ClientError, match="AccessDenied"):
        stack.s3.delete_object(Bucket=bucket, Key=digest_key, VersionId=head["VersionId"])
    digest = json.loads(stack.s3.get_object(Bucket=bucket, Key=digest_key)["Body"].read())
    assert codes["normal"][1:11] in {entry["return_id"] for entry in digest["heads"]}
