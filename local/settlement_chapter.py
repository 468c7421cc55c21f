"""Demo chapter: last month's settlement statements for every channel, as finance receives them.

1. The template's monthly schedule fires on a simulated clock of its own (02:00 on the 1st, Asia/
   Shanghai, for the month of the scenario's orders: October 2026, "last month" for the demo), so
   the real function generates every channel's camt.053 statements through the real trigger.
2. Finance asks ``GET /settlements`` (SigV4) for links and downloads each file with a plain HTTP
   GET of its presigned URL; every XML is validated against the official schema.
3. The oracle: for each channel, the booked statement's credits, debits and closing balance equal
   the sum of the orders' sales, fees and refunds settled that month, and the pending statement's
   balance the sales less fees of the orders still open at the month's end, to the fen. The
   orders are read from the Orders table; fees from the versioned fee rules data file.
"""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from local.chapters import Chapter
from local.scenario import DEFAULT_PATH as SCENARIO_PATH
from local.scheduler import SimulatedClock, targets_from_model
from local.stack import LocalStack
from oms.adapters.statement_files import validate
from oms.domain.camt053 import CamtVersion

NAME = "settlement"
FUNCTION_ID = "SettlementXmlFunction"
CHINA = timezone(timedelta(hours=8))
FEE_RULES = Path(__file__).resolve().parents[1] / "layers" / "shared" / "oms" / "data" / "fee_rules.json"
TERMINAL = {"completed", "closed", "cancelled"}
CENT = {"JPY": Decimal(1), "KRW": Decimal(1)}


def run(stack: LocalStack, credentials: Mapping[str, Any]) -> Chapter:
    chapter = Chapter(NAME)
    if not stack.drain(timeout=120):
        chapter.mismatches.append("the queues did not drain before the statements were generated")
    scenario_start = datetime.fromisoformat(json.loads(SCENARIO_PATH.read_text(encoding="utf-8"))["start"])
    first_day = scenario_start.astimezone(CHINA).date().replace(day=1)
    month = f"{first_day:%Y-%m}"
    last_day = (first_day + timedelta(days=32)).replace(day=1) - timedelta(days=1)

    report = _fire_the_monthly_schedule(stack, first_day, last_day, chapter)
    if report is None:
        return chapter
    links = stack.admin_get("/settlements", month=month)
    if links.status != 200:
        chapter.mismatches.append(f"GET /settlements answered {links.status}")
        return chapter
    downloaded = _download(links.json()["files"], chapter)
    expected = _oracle(stack, first_day, last_day)

    files = []
    for statement in report["statements"]:
        key = f"settlements/{month}/{statement['channel']}/{statement['currency']}-{statement['status']}.xml"
        document = downloaded.get(key)
        if document is None:
            chapter.mismatches.append(f"{key}: generated but not listed or not downloadable")
            continue
        totals = _totals(document)
        files.append({"key": key, "entries": totals["entries"], "closing_balance": str(totals["closing"])})
        want = expected.get((statement["channel"], statement["currency"], statement["status"]))
        want = want or {"credits": Decimal(0), "debits": Decimal(0), "net": Decimal(0), "orders": 0}
        if statement["status"] == "BOOK":
            got = {
                "credits": totals["credits"],
                "debits": totals["debits"],
                "net": totals["closing"] - totals["opening"],
            }
        else:
            got = {"credits": totals["credits"], "debits": totals["debits"], "net": totals["closing"]}
        for field in ("credits", "debits", "net"):
            if got[field] != want[field]:
                chapter.mismatches.append(f"{key}: {field} {got[field]} != orders' {want[field]}")
        if statement["status"] == "BOOK" and totals["opening"] != Decimal(0):
            chapter.mismatches.append(
                f"{key}: opening {totals['opening']} but nothing was booked before {month}"
            )
    booked = [f for f in files if f["key"].endswith("-BOOK.xml")]
    chapter.summary = {
        "month": month,
        "format": report["format"],
        "statements": len(report["statements"]),
        "files": files,
        "links_expire_at": links.json()["expires_at"],
        "downloaded": len(downloaded),
    }
    chapter.lines.append(
        f"Settlement {month}: {len(report['statements'])} camt.053 statements ({report['format']}), "
        f"{len(downloaded)} files downloaded through presigned links and validated"
    )
    for file in booked:
        channel = file["key"].split("/")[2]
        pending = next((f for f in files if f["key"] == file["key"].replace("-BOOK", "-PDNG")), None)
        chapter.lines.append(
            f"  {channel:<16} {file['key'].rsplit('/', 1)[1]:<13} {file['entries']:>4} entries, "
            f"closing {file['closing_balance']:>10}"
            + (f"; pending {pending['entries']} entries, {pending['closing_balance']}" if pending else "")
        )
    return chapter


def _fire_the_monthly_schedule(
    stack: LocalStack, first_day: date, last_day: date, chapter: Chapter
) -> dict[str, Any] | None:
    """Fire the template's monthly settlement schedule once, for ``first_day``'s month."""
    specs = [spec for spec in stack.model.schedules if spec.function_id == FUNCTION_ID]
    clock = SimulatedClock(datetime.combine(last_day, time(12, 0), CHINA).astimezone(UTC))
    clock.schedule_all(targets_from_model(specs, stack.functions))
    firings = clock.advance_to(datetime.combine(last_day + timedelta(days=1), time(2, 0), CHINA))
    if len(firings) != 1:
        chapter.mismatches.append(f"the monthly schedule fired {len(firings)} times")
        return None
    (firing,) = firings
    result, error = firing.result, firing.error
    # EventBridge Scheduler redelivers the same event after a failed invocation, as often as the
    # schedule's RetryPolicy says (a loaded machine can make moto answer a query too late).
    for _ in range(_retry_attempts(stack)):
        if error is None:
            break
        chapter.lines.append(
            f"  the monthly run failed ({error.strip().splitlines()[-1][:120]}); redelivered"
        )
        try:
            result, error = stack.functions[FUNCTION_ID].invoke(firing.event), None
        except Exception as retry_error:  # reported below if the last attempt fails too
            error = f"{type(retry_error).__name__}: {retry_error}"
    if error is not None:
        chapter.mismatches.append(f"the monthly run failed: {error.strip().splitlines()[-1][:300]}")
        return None
    if not isinstance(result, dict) or result.get("month") != f"{first_day:%Y-%m}":
        chapter.mismatches.append(f"the monthly run generated {result!r:.200}")
        return None
    return result


def _retry_attempts(stack: LocalStack) -> int:
    """``RetryPolicy.MaximumRetryAttempts`` of the function's monthly schedule in the template."""
    for event in stack.model.resources[FUNCTION_ID]["Properties"]["Events"].values():
        if event.get("Type") == "ScheduleV2":
            return int(event["Properties"].get("RetryPolicy", {}).get("MaximumRetryAttempts", 185))
    return 0


def _download(files: list[dict[str, Any]], chapter: Chapter) -> dict[str, bytes]:
    downloaded: dict[str, bytes] = {}
    for file in files:
        if not file["url"].startswith("http://127.0.0.1:"):
            chapter.mismatches.append(f"{file['key']}: the link leaves the local stack: {file['url'][:60]}")
            continue
        with urllib.request.urlopen(file["url"], timeout=10) as reply:  # noqa: S310 - http://127.0.0.1 only
            body = reply.read()
        if file["key"].endswith(".xml"):
            try:
                validate(body, CamtVersion.V08)
            except Exception as error:  # the report names it, the demo fails
                chapter.mismatches.append(f"{file['key']}: {error}")
        downloaded[file["key"]] = body
    return downloaded


def _totals(document: bytes) -> dict[str, Any]:
    ns = {"c": CamtVersion.V08.namespace}
    # Our own document, from the local stack's bucket, already validated against the XSD.
    stmt = ElementTree.fromstring(document).find("c:BkToCstmrStmt/c:Stmt", ns)  # noqa: S314
    assert stmt is not None

    def balance(code: str) -> Decimal:
        for node in stmt.findall("c:Bal", ns):
            if node.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns) == code:
                amount = Decimal(node.findtext("c:Amt", namespaces=ns) or "0")
                return -amount if node.findtext("c:CdtDbtInd", namespaces=ns) == "DBIT" else amount
        raise ValueError(f"no {code} balance")

    entries = stmt.findall("c:Ntry", ns)
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        sums[entry.findtext("c:CdtDbtInd", namespaces=ns) or ""] += Decimal(
            entry.findtext("c:Amt", namespaces=ns) or "0"
        )
    return {
        "entries": len(entries),
        "opening": balance("OPBD"),
        "closing": balance("CLBD"),
        "credits": sums["CRDT"],
        "debits": sums["DBIT"],
    }


# --------------------------------------------------------------------------- the oracle


def _oracle(stack: LocalStack, first_day: date, last_day: date) -> dict[tuple[str, str, str], dict[str, Any]]:
    """What each statement must say, from the orders as stored."""
    rules = json.loads(FEE_RULES.read_text(encoding="utf-8"))["channels"]
    expected: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"credits": Decimal(0), "debits": Decimal(0), "net": Decimal(0), "orders": 0}
    )
    for order in _orders(stack):
        if order["status"] == "pending_payment":
            continue  # the settlement queue's subscription leaves unpaid orders out
        if order.get("paid_at"):
            amount, captured_at = order.get("paid_amount") or order.get("total_amount"), order["paid_at"]
        else:  # a platform without a payment time (Shopify): captured when placed
            amount, captured_at = order.get("paid_amount"), order.get("placed_at") or order["created_at"]
        if not amount or Decimal(str(amount)) <= 0:
            continue
        currency = order["currency"]
        sale = Decimal(str(amount))
        captured = _china_day(captured_at)
        fees = _fees(rules.get(order["platform"], []), captured, sale, currency)
        refunded = order["refund_status"] == "refunded" or order["status"] == "cancelled"
        reported = order.get("tags", {}).get("settle_info.commission_fee")
        settled = _settled_day(order, refunded, reported is not None)
        if settled is not None:
            settled = max(settled, captured)
        if captured <= last_day and (settled is None or settled > last_day):
            pending = expected[(order["platform"], currency, "PDNG")]
            pending["credits"] += sale
            pending["debits"] += fees
            pending["net"] += sale - fees
            pending["orders"] += 1
        if settled is not None and first_day <= settled <= last_day:
            booked = expected[(order["platform"], currency, "BOOK")]
            charged = Decimal(0) if refunded else fees
            booked["credits"] += sale + (fees if refunded else 0)
            booked["debits"] += fees + (sale if refunded else 0)
            if reported is not None and Decimal(reported) != charged:
                difference = Decimal(reported) - charged
                booked["debits" if difference > 0 else "credits"] += abs(difference)
                charged = Decimal(reported)
            booked["net"] += (Decimal(0) if refunded else sale) - charged
            booked["orders"] += 1
    return expected


def _orders(stack: LocalStack) -> list[dict[str, Any]]:
    """Every order header as stored (one scan: reading 250 orders over the API took half a minute)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    request: dict[str, Any] = {
        "TableName": stack.deployed.names["OrdersTable"],
        "FilterExpression": "SK = :header",
        "ExpressionAttributeValues": {":header": {"S": "#ORDER"}},
    }
    orders: list[dict[str, Any]] = []
    while True:
        page = stack.dynamodb.scan(**request)
        orders += [
            {k: deserializer.deserialize(v) for k, v in item.items()} for item in page.get("Items", [])
        ]
        if "LastEvaluatedKey" not in page:
            return sorted(orders, key=lambda order: str(order["order_id"]))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _china_day(text: str) -> date:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(CHINA).date()


def _settled_day(order: Mapping[str, Any], refunded: bool, reported: bool) -> date | None:
    if reported and order.get("tags", {}).get("settle_info.settle_time"):
        return _china_day(order["tags"]["settle_info.settle_time"])
    if order["refund_status"] == "refunded":
        return _china_day(order["refund_key"]["at"])
    if order["status"] in TERMINAL or reported:
        return _china_day(order["status_key"]["at"])
    return None


def _fees(versions: list[dict[str, Any]], captured: date, sale: Decimal, currency: str) -> Decimal:
    in_force = [v for v in versions if date.fromisoformat(v["effective_from"]) <= captured]
    if not in_force:
        return Decimal(0)
    unit = CENT.get(currency, Decimal("0.01"))
    total = Decimal(0)
    for fee in in_force[-1]["fees"]:
        fixed = Decimal(fee.get("fixed", {}).get(currency, "0"))
        total += (sale * Decimal(fee["rate"]) + fixed).quantize(unit, rounding=ROUND_HALF_EVEN)
    return total
