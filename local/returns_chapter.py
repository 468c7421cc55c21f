"""Demo chapter: provable returns (docs/returns.md).

Three shipped orders come back. An operator opens a return for each (``POST /returns``, SigV4);
a courier's handset and a warehouse PDA scan them, signed with their own keys:

- **normal**: picked up, received; its chain verifies and is anchored in the day's digest;
- **stalled**: picked up, never received; 72 hours later the sweeper raises one gap alert;
- **tampered**: picked up, received, then someone edits who collected it directly in the table;
  ``GET /returns/{code}/verify`` names the altered event.

A forged code (one MAC character changed) is scanned too, and refused. The clock then moves
75 hours so the hourly sweep and the daily digest run as EventBridge would run them. The chapter
checks each of these facts and lists what did not match.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from local import simulator
from local.chapters import Chapter
from local.scanner import Device, scan_body
from local.stack import LocalStack

NAME = "returns"
DOUYIN_APP = "7000000000000000001"
DOUYIN_SHOP = "100001"
LINES = (
    simulator.LineSpec(sku_id="3500000000777", quantity=1, unit_price=Decimal("399.00"), out_sku_id="KETTLE"),
)
ORDERS = {
    "normal": "6900000000000077001",
    "stalled": "6900000000000077002",
    "tampered": "6900000000000077003",
}
#: Long enough for the 72-hour rule and at least one 00:05 digest run
CLOCK_ADVANCE = timedelta(hours=75)


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(NAME)
    courier = Device.from_credentials(stack, "courier-sf-0001")
    pda = Device.from_credentials(stack, "pda-wh-hz-01")
    codes = {story: _open(stack, credentials, story, number, chapter) for story, number in ORDERS.items()}
    if any(code is None for code in codes.values()):
        return chapter
    normal, stalled, tampered = (str(codes[story]) for story in ORDERS)

    _expect(chapter, "normal pickup", _scan(stack, courier, normal, "pickup", "demo-n-1"), 201)
    _expect(chapter, "normal receipt", _scan(stack, pda, normal, "receipt", "demo-n-2"), 201)
    _expect(chapter, "stalled pickup", _scan(stack, courier, stalled, "pickup", "demo-s-1"), 201)
    _expect(chapter, "tampered pickup", _scan(stack, courier, tampered, "pickup", "demo-t-1"), 201)
    _expect(chapter, "tampered receipt", _scan(stack, pda, tampered, "receipt", "demo-t-2"), 201)

    forged = normal[:-1] + ("0" if normal[-1] != "0" else "1")
    forged_reply = _scan(stack, courier, forged, "pickup", "demo-f-1")
    if (forged_reply.status, forged_reply.json().get("error")) != (404, "RETURN_CODE_INVALID"):
        chapter.mismatches.append(
            f"a forged code was not refused: {forged_reply.status} {forged_reply.text[:200]}"
        )
    chapter.lines.append(
        f"Forged code {forged}: HTTP {forged_reply.status} {forged_reply.json().get('error')}"
    )

    _tamper(stack, tampered)

    if stack.clock is None:
        chapter.mismatches.append("the stack has no simulated clock: the 72-hour rule cannot be shown")
        return chapter
    # Only the return jobs run during the jump: the per-minute schedules are paused for it.
    firings = stack.clock.advance(
        CLOCK_ADVANCE, only=lambda target: "ReturnJobs" in target.function.logical_id
    )
    errors = [firing.error for firing in firings if firing.error and "ReturnJobs" in firing.function_id]
    chapter.mismatches += [f"a return job failed: {error.splitlines()[-1]}" for error in errors]
    results = [
        firing.result for firing in firings if isinstance(firing.result, dict) and "job" in firing.result
    ]
    alerts = [key for result in results if result["job"] == "sweep" for key in result["alerts"]]
    digests = [result for result in results if result["job"] == "anchor"]
    expected_alerts = [f"returns.gap#{stalled[1:11]}"]
    ours = [key for key in alerts if key.split("#", 1)[-1] in {code[1:11] for code in codes.values() if code}]
    if ours != expected_alerts:
        chapter.mismatches.append(f"gap alerts {ours}, expected {expected_alerts}")
    if not digests or not any(digest["heads"] for digest in digests):
        chapter.mismatches.append("no daily digest anchored any chain head")

    verification = {story: stack.admin_get(f"/returns/{code}/verify").json() for story, code in codes.items()}
    _check_verification(chapter, verification)

    started = time.perf_counter()
    evidence = stack.admin_get(f"/returns/{normal}/evidence")
    evidence_ms = round((time.perf_counter() - started) * 1000)
    if evidence.status != 200 or "Chain intact" not in evidence.text:
        chapter.mismatches.append(f"the normal return's evidence report: HTTP {evidence.status}")

    chapter.summary = {
        "codes": codes,
        "alerts": alerts,
        "forged_attempt": {
            "code": forged,
            "status": forged_reply.status,
            "error": forged_reply.json().get("error"),
        },
        "verification": {
            story: {
                "ok": result.get("ok"),
                "broken": result.get("broken"),
                "anchor": result.get("anchor", {}).get("status"),
                "digest_key": result.get("anchor", {}).get("digest_key"),
            }
            for story, result in verification.items()
        },
        "digests": [
            {"day": digest["day"], "heads": digest["heads"], "key": digest["key"]} for digest in digests
        ],
        "evidence_report_ms": evidence_ms,
    }
    chapter.lines += [
        f"Returns opened: {', '.join(f'{story} {code}' for story, code in codes.items())}",
        f"Clock moved {CLOCK_ADVANCE}: gap alerts {alerts}; digests "
        + ", ".join(f"{digest['day']} ({digest['heads']} heads)" for digest in digests),
        *(
            f"Verify {story}: ok={result.get('ok')} anchor={result.get('anchor', {}).get('status')}"
            + (
                f" broken={result['broken']['seq']}:{result['broken']['problem']}"
                if result.get("broken")
                else ""
            )
            for story, result in verification.items()
        ),
        f"Evidence report (HTML) for the normal return in {evidence_ms} ms",
    ]
    return chapter


def _open(
    stack: LocalStack, credentials: Mapping[str, Any], story: str, number: str, chapter: Chapter
) -> str | None:
    """A shipped Douyin order (pushed, fetched, stored), then a return for its line."""
    app = credentials["douyin"][DOUYIN_APP]
    now = datetime.now(UTC)
    order = simulator.douyin_order(
        number, DOUYIN_SHOP, 3, now, LINES, payment_id=f"PAY{number}", create_time=now
    )
    stack.simulator.put_order("douyin", DOUYIN_SHOP, order)
    message = simulator.douyin_order_message(order, "102", f"7{number[1:]}")
    headers, body = simulator.douyin_push([message], app["app_key"], app["app_secret"])
    stack.request("POST", "/webhooks/douyin", body=body, headers=headers)
    stack.drain(timeout=60)
    stored = stack.admin_get(f"/orders/douyin:{DOUYIN_SHOP}:{number}")
    if stored.status != 200:
        chapter.mismatches.append(f"{story}: the order {number} was not stored ({stored.status})")
        return None
    order_view = stored.json()["order"]
    request = {
        "order_id": order_view["order_id"],
        "request_id": f"demo-{story}",
        "lines": [{"line_id": order_view["lines"][0]["line_id"], "quantity": 1}],
        "reason": f"demo: {story}",
    }
    reply = stack.request("POST", "/returns", body=json.dumps(request), sign=True)
    if reply.status not in (200, 201):
        chapter.mismatches.append(f"{story}: POST /returns answered {reply.status} {reply.text[:200]}")
        return None
    return str(reply.json()["code"])


def _scan(stack: LocalStack, device: Device, code: str, kind: str, scan_id: str) -> Any:
    operator = ("C-2001", "Zhang Wei") if kind == "pickup" else ("W-0042", "Li Na")
    device_time = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = scan_body(
        scan_id, kind, *operator, device.fingerprint, device_time, photo_ref=f"s3://photos/{scan_id}.jpg"
    )
    return device.scan(stack, code, body)


def _expect(chapter: Chapter, what: str, reply: Any, status: int) -> None:
    if reply.status != status:
        chapter.mismatches.append(f"{what}: HTTP {reply.status} (expected {status}) {reply.text[:200]}")


def _tamper(stack: LocalStack, code: str) -> None:
    """Rewrite who collected the parcel, directly in the table (as someone with table access could)."""
    table = stack.deployed.names["ReturnsTable"]
    key = {"PK": {"S": f"RET#{code[1:11]}"}, "SK": {"S": "EVT#000002"}}
    item = stack.dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    event = json.loads(item["event"]["S"])
    event["data"]["operator_id"] = "C-9999"
    stack.dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #event = :event",
        ExpressionAttributeNames={"#event": "event"},
        ExpressionAttributeValues={":event": {"S": json.dumps(event)}},
    )


def _check_verification(chapter: Chapter, verification: Mapping[str, Any]) -> None:
    normal, stalled, tampered = (verification[story] for story in ORDERS)
    if not normal.get("ok") or normal.get("anchor", {}).get("status") != "matches":
        chapter.mismatches.append(f"the normal return should verify and match its digest: {normal}")
    if not stalled.get("ok"):
        chapter.mismatches.append(f"the stalled return's chain should be intact: {stalled}")
    broken = tampered.get("broken") or {}
    if tampered.get("ok") is not False or (broken.get("seq"), broken.get("problem")) != (2, "altered"):
        chapter.mismatches.append(f"the tampered return should break at event 2 (altered): {tampered}")
