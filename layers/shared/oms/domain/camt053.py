"""A :class:`~oms.domain.settlement.Statement` as an ISO 20022 camt.053 document (.001.08 or .001.02).

The two versions differ only where the schema does: ``Ntry/Sts`` is a choice (``<Sts><Cd>``) in
.08 and a plain code in .02; ``TxDtls`` carries its amount in .08 only. Everything else is
identical, and the output is deterministic: the same statement renders to the same bytes.

References are cut to the schema's lengths (``Max35Text``, ``Max34Text``, ``Max140Text``); a
reference longer than that keeps its head and a hash of the whole, so it stays unique.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from xml.etree import ElementTree

from oms.domain.money import minor_units
from oms.domain.settlement import STATEMENT_TZ, Direction, SettlementEntry, Statement


class CamtVersion(StrEnum):
    V08 = "camt.053.001.08"
    V02 = "camt.053.001.02"

    @property
    def namespace(self) -> str:
        return f"urn:iso:std:iso:20022:tech:xsd:{self.value}"


DEFAULT_VERSION = CamtVersion.V08


def fit(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its head + ``~`` + 8 hex of its hash."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{text[: limit - 9]}~{digest}"


def _amount(value: Decimal, currency: str) -> str:
    return f"{abs(value):.{minor_units(currency)}f}"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(STATEMENT_TZ).isoformat(timespec="seconds")


class _Writer:
    def __init__(self, version: CamtVersion) -> None:
        self.version = version
        ElementTree.register_namespace("", version.namespace)

    def tag(self, name: str) -> str:
        return f"{{{self.version.namespace}}}{name}"

    def add(
        self, parent: ElementTree.Element, name: str, text: str | None = None, **attributes: str
    ) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, self.tag(name), attributes)
        if text is not None:
            element.text = text
        return element

    def path(self, parent: ElementTree.Element, names: str, text: str | None = None) -> ElementTree.Element:
        element = parent
        for name in names.split("/"):
            element = self.add(element, name)
        element.text = text
        return element


def render(statement: Statement, version: CamtVersion = DEFAULT_VERSION) -> bytes:
    """The statement as a UTF-8 camt.053 document (validate it before storing: see the adapter)."""
    w = _Writer(version)
    root = ElementTree.Element(w.tag("Document"))
    report = w.add(root, "BkToCstmrStmt")
    header = w.add(report, "GrpHdr")
    w.add(header, "MsgId", statement.message_id)
    w.add(header, "CreDtTm", _timestamp(statement.created_at))
    stmt = w.add(report, "Stmt")
    w.add(stmt, "Id", statement.statement_id)
    w.add(stmt, "ElctrncSeqNb", str(statement.sequence_number))
    w.add(stmt, "CreDtTm", _timestamp(statement.created_at))
    period = w.add(stmt, "FrToDt")
    w.add(period, "FrDtTm", _timestamp(statement.month.starts_at))
    w.add(period, "ToDtTm", _timestamp(statement.month.ends_at))
    _account(w, stmt, statement)
    currency = statement.currency
    for code, balance, on in (
        ("OPBD", statement.opening, statement.month.first_day),
        ("CLBD", statement.closing, statement.month.last_day),
    ):
        node = w.add(stmt, "Bal")
        w.path(node, "Tp/CdOrPrtry/Cd", code)
        w.add(node, "Amt", _amount(balance, currency), Ccy=currency)
        w.add(node, "CdtDbtInd", "DBIT" if balance < 0 else "CRDT")
        w.path(node, "Dt/Dt", on.isoformat())
    summary = w.add(stmt, "TxsSummry")
    total = w.add(summary, "TtlNtries")
    w.add(total, "NbOfNtries", str(len(statement.entries)))
    w.add(total, "Sum", _amount(statement.credits + statement.debits, currency))
    if version is CamtVersion.V08:
        net = w.add(total, "TtlNetNtry")
        w.add(net, "Amt", _amount(statement.credits - statement.debits, currency))
        w.add(net, "CdtDbtInd", "DBIT" if statement.credits < statement.debits else "CRDT")
    else:
        w.add(total, "TtlNetNtryAmt", _amount(statement.credits - statement.debits, currency))
        w.add(total, "CdtDbtInd", "DBIT" if statement.credits < statement.debits else "CRDT")
    for name, direction, sum_ in (
        ("TtlCdtNtries", Direction.CRDT, statement.credits),
        ("TtlDbtNtries", Direction.DBIT, statement.debits),
    ):
        node = w.add(summary, name)
        w.add(node, "NbOfNtries", str(sum(1 for e in statement.entries if e.direction is direction)))
        w.add(node, "Sum", _amount(sum_, currency))
    for entry in statement.entries:
        _entry(w, stmt, entry)
    ElementTree.indent(root, space="  ")
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _account(w: _Writer, stmt: ElementTree.Element, statement: Statement) -> None:
    account = w.add(stmt, "Acct")
    other = w.path(account, "Id/Othr")
    w.add(other, "Id", fit(statement.account.account_id, 34))
    w.path(other, "SchmeNm/Prtry", fit(statement.account.scheme, 35))
    if statement.account.issuer:
        w.add(other, "Issr", fit(statement.account.issuer, 35))
    w.add(account, "Ccy", statement.currency)
    if statement.account.name:
        w.add(account, "Nm", fit(statement.account.name, 70))


def _entry(w: _Writer, stmt: ElementTree.Element, entry: SettlementEntry) -> None:
    node = w.add(stmt, "Ntry")
    w.add(node, "NtryRef", entry.entry_ref)
    w.add(node, "Amt", _amount(entry.amount, entry.currency), Ccy=entry.currency)
    w.add(node, "CdtDbtInd", str(entry.direction))
    if w.version is CamtVersion.V08:
        w.path(node, "Sts/Cd", str(entry.status))
    else:
        w.add(node, "Sts", str(entry.status))
    w.path(node, "BookgDt/Dt", entry.booking_date.isoformat())
    w.path(node, "ValDt/Dt", entry.value_date.isoformat())
    w.add(node, "AcctSvcrRef", fit(entry.reference, 35))
    _bank_transaction_code(w, node, entry)
    details = w.path(node, "NtryDtls/TxDtls")
    refs = w.add(details, "Refs")
    w.add(refs, "AcctSvcrRef", fit(entry.reference, 35))
    w.add(refs, "EndToEndId", fit(entry.platform_order_id or entry.reference, 35))
    w.add(refs, "TxId", entry.entry_ref)
    if w.version is CamtVersion.V08:
        w.add(details, "Amt", _amount(entry.amount, entry.currency), Ccy=entry.currency)
        w.add(details, "CdtDbtInd", str(entry.direction))
    else:
        amounts = w.path(details, "AmtDtls/TxAmt")
        w.add(amounts, "Amt", _amount(entry.amount, entry.currency), Ccy=entry.currency)
    w.path(details, "RmtInf/Ustrd", fit(entry.label, 140))
    w.add(node, "AddtlNtryInf", fit(_additional_information(entry), 500))


def _bank_transaction_code(w: _Writer, parent: ElementTree.Element, entry: SettlementEntry) -> None:
    code = entry.bank_transaction_code
    node = w.add(parent, "BkTxCd")
    domain = w.add(node, "Domn")
    w.add(domain, "Cd", code.domain)
    family = w.add(domain, "Fmly")
    w.add(family, "Cd", code.family)
    w.add(family, "SubFmlyCd", code.sub_family)
    proprietary = w.add(node, "Prtry")
    w.add(proprietary, "Cd", fit(f"OMS/{entry.kind}/{entry.component}", 35))
    w.add(proprietary, "Issr", "ORDER-CENTER")


def _additional_information(entry: SettlementEntry) -> str:
    parts = [f"kind={entry.kind}", f"source={entry.source}", f"shop={entry.shop_id}"]
    if entry.order_id:
        parts.append(f"order={entry.order_id}")
    if entry.fee_rule_version is not None:
        parts.append(f"fee_rules=v{entry.fee_rule_version}")
    if entry.reported_amount is not None:
        parts.append(f"reported={entry.reported_amount} computed={entry.computed_amount}")
    return " ".join(parts)
