"""Reports people download: CSV / XLSX rendering and the ReportsBucket with short-lived links."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from oms.adapters.aws import translated

#: Presigned links expire after this many seconds (15 minutes: a link pasted in a chat dies soon).
LINK_SECONDS = 900
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render_csv(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel opens Chinese text correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(_safe(row) for row in rows)
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def render_xlsx(columns: Sequence[str], rows: Sequence[Sequence[str]], *, sheet: str = "orders") -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    worksheet = workbook.add_worksheet(sheet)
    bold = workbook.add_format({"bold": True})
    worksheet.write_row(0, 0, list(columns), bold)
    for index, row in enumerate(rows, start=1):
        # Strings only: order numbers longer than 15 digits must not become rounded numbers.
        for column, value in enumerate(row):
            worksheet.write_string(index, column, str(value))
    worksheet.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)
    worksheet.freeze_panes(1, 0)
    workbook.close()
    return buffer.getvalue()


def _safe(row: Sequence[str]) -> list[str]:
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection): quote it as text.
    return [f"'{value}" if value[:1] in ("=", "+", "-", "@") else value for value in map(str, row)]


class S3ReportStore:
    """:class:`~oms.services.ports.ReportStore` over the ReportsBucket."""

    def __init__(self, bucket: str, s3: Any, *, link_seconds: int = LINK_SECONDS) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._link_seconds = min(link_seconds, LINK_SECONDS)

    def publish_json(self, key: str, document: Mapping[str, Any]) -> str:
        body = json.dumps(document, ensure_ascii=False, indent=1, default=str).encode("utf-8")
        return self.publish(key, body, "application/json")

    def publish_table(
        self, stem: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str
    ) -> dict[str, tuple[str, str]]:
        published: dict[str, tuple[str, str]] = {}
        for kind, body, content_type in (
            ("csv", render_csv(columns, rows), CSV_TYPE),
            ("xlsx", render_xlsx(columns, rows, sheet=title[:31]), XLSX_TYPE),
        ):
            key = f"{stem}.{kind}"
            published[kind] = (key, self.publish(key, body, content_type))
        return published

    def publish_csv(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        return self.publish(key, render_csv(columns, rows), CSV_TYPE)

    def publish(self, key: str, body: bytes, content_type: str) -> str:
        with translated("PutObject", key=key):
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._link_seconds
        )
        return url
