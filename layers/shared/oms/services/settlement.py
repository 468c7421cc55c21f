"""Settlement: record entries as orders change, generate the monthly statements, hand out links.

- :class:`SettlementRecorder` consumes ``OrderChanged`` (the settlement queue, subscribed to the
  order events topic) and writes the entries the order implies, each once.
- :class:`SettlementStatements` builds, validates and stores the camt.053 statements of a month
  (and their CSV/XLSX companions) and lists them with presigned download links.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from oms.domain.camt053 import CamtVersion, render
from oms.domain.errors import BadRequestError
from oms.domain.model import Platform
from oms.domain.order_events import OrderChanged
from oms.domain.settlement import (
    FeeRules,
    ManualEntryRequest,
    Month,
    Statement,
    StatementAccount,
    build_statements,
    order_entries,
)
from oms.services.ports import Clock, SettlementStore, StatementArchive, StoredFile

#: Finance's links expire after at most this long (the issue's limit).
MAX_LINK_LIFETIME = timedelta(minutes=15)
PREFIX = "settlements/"
#: Currencies a channel is reported in even in a month without activity (more appear with entries).
DEFAULT_CURRENCIES: Mapping[Platform, tuple[str, ...]] = {
    platform: ("USD",) if platform in (Platform.SHOPIFY, Platform.WOOCOMMERCE) else ("CNY",)
    for platform in Platform
}

Validator = Callable[[bytes, CamtVersion], None]
Companions = Mapping[str, tuple[Callable[[Statement], bytes], str]]


def statement_key(statement: Statement, extension: str = "xml") -> str:
    """``settlements/{yyyy-mm}/{channel}/{currency}-{status}.{extension}``."""
    return (
        f"{PREFIX}{statement.month}/{statement.channel}/{statement.currency}-{statement.status}.{extension}"
    )


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """Per channel: the merchant account id at the platform, and currencies always reported."""

    account_id: str
    currencies: tuple[str, ...]
    name: str = ""


def account_settings(configured: Mapping[str, Any]) -> dict[Platform, AccountSettings]:
    """Every channel's account, from ``SETTLEMENT_ACCOUNTS`` (JSON) over the defaults."""
    accounts: dict[Platform, AccountSettings] = {}
    for platform in Platform:
        given = configured.get(str(platform)) or {}
        if not isinstance(given, Mapping):
            raise BadRequestError("each SETTLEMENT_ACCOUNTS value must be an object", field=str(platform))
        accounts[platform] = AccountSettings(
            account_id=str(given.get("account_id") or f"{platform}-merchant"),
            currencies=tuple(given.get("currencies") or DEFAULT_CURRENCIES[platform]),
            name=str(given.get("name") or ""),
        )
    return accounts


class SettlementRecorder:
    """Writes the entries each order change implies (idempotent: every entry is written once)."""

    def __init__(self, store: SettlementStore, rules: FeeRules, *, clock: Clock) -> None:
        self._store = store
        self._rules = rules
        self._clock = clock

    def record(self, change: OrderChanged) -> int:
        """The number of entries this change added (0 for a replayed or an unpaid change)."""
        entries = order_entries(
            change.order, self._rules, recorded_by=change.change_id, recorded_at=self._clock()
        )
        return sum(1 for entry in entries if self._store.add(entry))

    def record_manual(self, request: Mapping[str, Any], *, actor: str) -> tuple[bool, dict[str, Any]]:
        """A payout or chargeback from the API; (created, entry). A retried request is not a duplicate."""
        try:
            parsed = ManualEntryRequest.model_validate(dict(request))
        except ValueError as exc:
            raise BadRequestError("invalid settlement entry", reason=str(exc).splitlines()[0][:200]) from None
        entry = parsed.to_entry(recorded_by=f"api:{actor}", recorded_at=self._clock())
        created = self._store.add_unique(entry)
        return created, entry.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True, slots=True)
class GeneratedStatement:
    statement_id: str
    channel: str
    currency: str
    status: str
    entries: int
    opening: Decimal
    credits: Decimal
    debits: Decimal
    closing: Decimal
    files: tuple[StoredFile, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "statement_id": self.statement_id,
            "channel": self.channel,
            "currency": self.currency,
            "status": self.status,
            "entries": self.entries,
            "opening_balance": str(self.opening),
            "credits": str(self.credits),
            "debits": str(self.debits),
            "closing_balance": str(self.closing),
            "files": [
                {
                    "key": f.key,
                    "version_id": f.version_id,
                    "sha256": f.sha256,
                    "size": f.size,
                    "changed": f.changed,
                }
                for f in self.files
            ],
        }


@dataclass(frozen=True, slots=True)
class GenerationReport:
    month: Month
    version: CamtVersion
    statements: list[GeneratedStatement] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": str(self.month),
            "format": self.version.value,
            "statements": [statement.as_dict() for statement in self.statements],
        }


class SettlementStatements:
    def __init__(
        self,
        store: SettlementStore,
        archive: StatementArchive,
        *,
        accounts: Mapping[Platform, AccountSettings],
        validate: Validator,
        companions: Companions,
        version: CamtVersion,
        clock: Clock,
    ) -> None:
        self._store = store
        self._archive = archive
        self._accounts = accounts
        self._validate = validate
        self._companions = companions
        self._version = version
        self._clock = clock

    def statements(self, month: Month, channel: Platform) -> list[Statement]:
        account = self._accounts[channel]
        return build_statements(
            month,
            channel,
            self._store.entries(channel, through=month.last_day),
            account=StatementAccount(account.account_id, issuer=str(channel), name=account.name),
            currencies=account.currencies,
        )

    def generate(self, month: Month, channels: Iterable[Platform] = tuple(Platform)) -> GenerationReport:
        """Build, validate and store every statement of ``month`` for ``channels``.

        Raises StatementInvalidError (nothing of that statement is stored) when a document fails
        its schema; the statements validated before it stay stored.
        """
        if month.first_day > self._clock().date():
            raise BadRequestError("the month has not started yet", field="month")
        report = GenerationReport(month=month, version=self._version)
        for channel in channels:
            for statement in self.statements(month, channel):
                document = render(statement, self._version)
                self._validate(document, self._version)
                files = [self._archive.store(statement_key(statement), document, "application/xml")]
                files += [
                    self._archive.store(statement_key(statement, extension), make(statement), content_type)
                    for extension, (make, content_type) in self._companions.items()
                ]
                report.statements.append(
                    GeneratedStatement(
                        statement_id=statement.statement_id,
                        channel=str(channel),
                        currency=statement.currency,
                        status=str(statement.status),
                        entries=len(statement.entries),
                        opening=statement.opening,
                        credits=statement.credits,
                        debits=statement.debits,
                        closing=statement.closing,
                        files=tuple(files),
                    )
                )
        return report

    def links(
        self, month: Month, channel: Platform | None, *, lifetime: timedelta = MAX_LINK_LIFETIME
    ) -> dict[str, Any]:
        """Every stored file of the month (of one channel), each with a presigned download URL."""
        lifetime = min(lifetime, MAX_LINK_LIFETIME)
        prefix = f"{PREFIX}{month}/" + (f"{channel}/" if channel else "")
        expires_at = self._clock() + lifetime
        files = []
        for stored in sorted(self._archive.list(prefix), key=lambda f: f.key):
            channel_name, name = stored.key[len(f"{PREFIX}{month}/") :].split("/", 1)
            stem, _, extension = name.rpartition(".")
            currency, _, status = stem.partition("-")
            files.append(
                {
                    "key": stored.key,
                    "channel": channel_name,
                    "currency": currency,
                    "status": status,
                    "format": extension,
                    "size": stored.size,
                    "url": self._archive.presign(stored.key, lifetime),
                }
            )
        return {
            "month": str(month),
            "channel": str(channel) if channel else None,
            "expires_at": expires_at.isoformat(timespec="seconds"),
            "files": files,
        }


def parse_channels(value: object) -> Sequence[Platform]:
    """``channel`` of a request: absent → every channel; else one known platform."""
    if value in (None, ""):
        return tuple(Platform)
    try:
        return (Platform(str(value)),)
    except ValueError:
        raise BadRequestError("unknown channel", field="channel") from None
