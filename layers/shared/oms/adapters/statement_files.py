"""Statement files: the camt.053 schemas (validation before storing) and the companions for people.

The official XSDs ship in the layer (``oms/data/schemas``); a schema is loaded once per container.
Every document is validated before it is stored: a document the schema rejects is a
:class:`~oms.domain.errors.StatementInvalidError`, never a file.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from oms.domain.camt053 import CamtVersion
from oms.domain.errors import StatementInvalidError
from oms.domain.settlement import Statement

CSV_COLUMNS = (
    "statement_id",
    "entry_ref",
    "booking_date",
    "value_date",
    "status",
    "kind",
    "component",
    "direction",
    "amount",
    "signed_amount",
    "currency",
    "order_id",
    "platform_order_id",
    "reference",
    "label",
    "source",
    "fee_rule_version",
    "computed_amount",
    "reported_amount",
    "bank_transaction_code",
)


@cache
def camt_schema(version: CamtVersion) -> Any:
    """The official XSD of ``version`` as an ``xmlschema.XMLSchema`` (loaded once per container)."""
    import xmlschema

    source = resources.files("oms.data").joinpath("schemas", f"{version.value}.xsd")
    with resources.as_file(source) as path:
        return xmlschema.XMLSchema(str(path))


def validate(document: bytes, version: CamtVersion) -> None:
    """Raise StatementInvalidError naming the first error when ``document`` fails the schema."""
    schema = camt_schema(version)
    error = next(iter(schema.iter_errors(io.BytesIO(document))), None)
    if error is not None:
        raise StatementInvalidError(
            "the statement does not validate against its ISO 20022 schema",
            version=version.value,
            path=str(error.path or ""),
            reason=str(error.reason or "")[:300],
        )


def _rows(statement: Statement) -> list[list[str]]:
    rows = []
    for entry in statement.entries:
        code = entry.bank_transaction_code
        rows.append(
            [
                statement.statement_id,
                entry.entry_ref,
                entry.booking_date.isoformat(),
                entry.value_date.isoformat(),
                str(entry.status),
                str(entry.kind),
                entry.component,
                str(entry.direction),
                str(entry.amount),
                str(entry.signed_amount),
                entry.currency,
                entry.order_id or "",
                entry.platform_order_id or "",
                entry.reference,
                entry.label,
                str(entry.source),
                "" if entry.fee_rule_version is None else str(entry.fee_rule_version),
                "" if entry.computed_amount is None else str(entry.computed_amount),
                "" if entry.reported_amount is None else str(entry.reported_amount),
                f"{code.domain}/{code.family}/{code.sub_family}",
            ]
        )
    return rows


def render_csv(statement: Statement) -> bytes:
    """One row per entry (UTF-8 with a BOM, so spreadsheet programs read the Chinese labels)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_rows(statement))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def render_xlsx(statement: Statement) -> bytes:
    """A summary sheet (balances, totals) and an entries sheet; deterministic bytes."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    # A fixed creation time (the statement's own), or the file would differ on every run.
    workbook.set_properties({"title": statement.statement_id, "created": _naive(statement.created_at)})
    money = workbook.add_format({"num_format": "#,##0.00" if statement.currency != "JPY" else "#,##0"})
    summary = workbook.add_worksheet("Summary")
    rows: tuple[tuple[str, str | int | Decimal], ...] = (
        ("Statement", statement.statement_id),
        ("Month", str(statement.month)),
        ("Channel", str(statement.channel)),
        ("Currency", statement.currency),
        ("Status", str(statement.status)),
        ("Account", statement.account.account_id),
        ("Opening balance (OPBD)", statement.opening),
        ("Credits", statement.credits),
        ("Debits", statement.debits),
        ("Closing balance (CLBD)", statement.closing),
        ("Entries", len(statement.entries)),
    )
    for row, (label, value) in enumerate(rows):
        summary.write_string(row, 0, label)
        if isinstance(value, str):
            summary.write_string(row, 1, value)
        elif isinstance(value, int):
            summary.write_number(row, 1, value)
        else:
            # Spreadsheet cells are binary floats; the exact amount is in column C as text.
            summary.write_number(row, 1, float(value), money)
            summary.write_string(row, 2, str(value))
    entries = workbook.add_worksheet("Entries")
    for column, name in enumerate(CSV_COLUMNS):
        entries.write_string(0, column, name)
    for row, values in enumerate(_rows(statement), start=1):
        for column, value in enumerate(values):
            if CSV_COLUMNS[column] in ("amount", "signed_amount"):
                entries.write_number(row, column, float(value), money)
            else:
                entries.write_string(row, column, value)
    workbook.close()
    return buffer.getvalue()


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)
