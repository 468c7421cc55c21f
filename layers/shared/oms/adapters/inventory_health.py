"""What the monthly inventory health report reads: the Inventory table and the poller's difference files.

The Inventory table is read with one paginated ``Scan`` a month (D110): the report needs every
SKU's levels, the period's ledger entries, the holds still outstanding and the oversell incidents,
and no index lists all of them. The filter keeps the transfer small; the read cost is the table's
size once a month.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from oms.adapters.aws import translated
from oms.adapters.inventory_table import _entry_from, _level_from
from oms.adapters.orders_table import from_attributes
from oms.domain.inventory import LedgerEntry, StockLevel
from oms.domain.inventory_health import InventoryMonth, SyncDifference

#: Items per Scan page: each request stays short (the functions' read timeout is 5 s; the local moto
#: server needs ~3 ms an item under load); 10 million items are ~10,000 pages, within the 300-s run.
SCAN_PAGE = 1000
#: A hold still held this long after its expiry was missed by the sweep (it runs every minute).
OVERDUE_AFTER = timedelta(minutes=10)
#: The poller's difference files: ``inventory/differences/<YYYY>/<MM>/<DD>/<run-id>.csv``.
DIFFERENCES_PREFIX = "inventory/differences/"
DIFFERENCE_COLUMNS = ("at", "sku", "channel", "ours", "theirs", "in_flight", "delta", "likely_cause")


class DynamoInventoryHealthSource:
    """:class:`~oms.services.ports.InventoryHealthSource` over the Inventory table."""

    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._db = dynamodb

    def month(self, start: datetime, end: datetime, as_of: datetime) -> InventoryMonth:
        levels: list[StockLevel] = []
        entries: list[tuple[datetime, LedgerEntry]] = []
        overdue: dict[str, int] = {}
        oversold: dict[str, set[str]] = {}
        for item in self._scan():
            kind = item.get("type")
            if kind == "stock_level" or _is_level(item):
                levels.append(_level_from(item))
            elif kind == "ledger_entry":
                at = _time(item.get("at"))
                if at is not None and start <= at < end:
                    entries.append((at, _entry_from(item)))
            elif kind in ("reservation", "bucket_hold") and item.get("state", "held") == "held":
                expires = _time(item.get("expires_at"))
                if expires is not None and expires + OVERDUE_AFTER <= as_of:
                    sku = str(item["sku"])
                    overdue[sku] = overdue.get(sku, 0) + 1
            elif kind == "oversell_incident":
                at = _time(item.get("at"))
                if at is not None and start <= at < end:
                    line = f"{item['order_id']}#{item['line_id']}"
                    oversold.setdefault(str(item["sku"]), set()).add(line)
        return InventoryMonth(
            levels=levels,
            entries=entries,
            overdue_holds=overdue,
            oversold_lines={sku: len(lines) for sku, lines in oversold.items()},
        )

    def _scan(self) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Limit": SCAN_PAGE,
            # Levels written before they carried a type are known by their key.
            "FilterExpression": "#type IN (:level, :entry, :reservation, :bucket_hold, :incident) "
            "OR (begins_with(PK, :stock) AND begins_with(SK, :wh))",
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": {
                ":level": {"S": "stock_level"},
                ":entry": {"S": "ledger_entry"},
                ":reservation": {"S": "reservation"},
                ":bucket_hold": {"S": "bucket_hold"},
                ":incident": {"S": "oversell_incident"},
                ":stock": {"S": "STOCK#"},
                ":wh": {"S": "WH#"},
            },
        }
        while True:
            with translated("scan inventory for the health report"):
                page = self._db.scan(**kwargs)
            yield from (from_attributes(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class S3DifferenceFiles:
    """:class:`~oms.services.ports.DifferenceSource` over the ReportsBucket's difference files."""

    def __init__(self, bucket: str, s3: Any) -> None:
        self._bucket = bucket
        self._s3 = s3

    def rows(self, start: datetime, end: datetime) -> tuple[list[SyncDifference], list[str]]:
        """Rows stamped in ``[start, end)``, and the keys of files that could not be read as such."""
        rows: list[SyncDifference] = []
        unreadable: list[str] = []
        for key in self._keys(start, end):
            with translated("GetObject", key=key):
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            parsed = parse_differences(body)
            if parsed is None:
                unreadable.append(key)
                continue
            rows += [row for row in parsed if start <= row.at < end]
        return rows, unreadable

    def _keys(self, start: datetime, end: datetime) -> Iterator[str]:
        # Files sit under their UTC day; a period in another zone spans parts of two UTC months.
        months: list[str] = []
        day = start.astimezone(UTC).date().replace(day=1)
        last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
        while day <= last:
            months.append(f"{DIFFERENCES_PREFIX}{day.year:04d}/{day.month:02d}/")
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        for prefix in months:
            kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
            while True:
                with translated("ListObjectsV2", prefix=prefix):
                    page = self._s3.list_objects_v2(**kwargs)
                for item in page.get("Contents", []):
                    if str(item["Key"]).endswith(".csv"):
                        yield str(item["Key"])
                if not page.get("IsTruncated"):
                    break
                kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _is_level(item: dict[str, Any]) -> bool:
    return str(item.get("PK", "")).startswith("STOCK#") and str(item.get("SK", "")).startswith("WH#")


def parse_differences(body: bytes) -> list[SyncDifference] | None:
    """A difference file's rows; None when it is not one (wrong columns, a bad number or time)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != DIFFERENCE_COLUMNS:
        return None
    rows: list[SyncDifference] = []
    try:
        for record in reader:
            at = _time(record["at"])
            if at is None:
                return None
            rows.append(
                SyncDifference(
                    at=at,
                    sku=_text(record["sku"]),
                    channel=_text(record["channel"]),
                    ours=int(record["ours"]),
                    theirs=int(record["theirs"]),
                    in_flight=int(record["in_flight"]),
                    delta=int(record["delta"]),
                    likely_cause=_text(record["likely_cause"]),
                )
            )
    except (ValueError, TypeError):
        return None
    return rows


def _text(value: str | None) -> str:
    # The report writer quotes a cell starting with = + - @ with a leading apostrophe.
    text = value or ""
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@") else text


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
