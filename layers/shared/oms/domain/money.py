"""Exact money: ``Decimal`` in major units (yuan), quantised to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from oms.domain.errors import SchemaInvalidError

# ISO 4217 minor units of the currencies the platforms settle in; anything else defaults to 2.
MINOR_UNITS: dict[str, int] = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "GBP": 2, "JPY": 0, "KRW": 0}


def minor_units(currency: str) -> int:
    return MINOR_UNITS.get(currency.upper(), 2)


def quantize(amount: Decimal, currency: str = "CNY", *, field: str = "amount") -> Decimal:
    try:
        return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)
    except InvalidOperation as exc:  # beyond the context's precision (28 digits)
        raise SchemaInvalidError(f"{field} is out of range", field=field) from exc


def from_minor(value: int | str, currency: str = "CNY", *, field: str = "amount") -> Decimal:
    """Convert an integer amount in minor units (fen) to major units (yuan)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SchemaInvalidError(f"{field} must be an integer number of minor units", field=field)
    try:
        minor = int(value)
    except ValueError as exc:
        raise SchemaInvalidError(f"{field} is not an integer", field=field) from exc
    return quantize(Decimal(minor).scaleb(-minor_units(currency)), currency, field=field)


def from_major(value: str | int, currency: str = "CNY", *, field: str = "amount") -> Decimal:
    """Parse an amount given in major units as a decimal string ("12.30"); floats are refused."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SchemaInvalidError(f"{field} must be a decimal string", field=field)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise SchemaInvalidError(f"{field} is not a decimal amount", field=field) from exc
    if not amount.is_finite():
        raise SchemaInvalidError(f"{field} is not a finite amount", field=field)
    return quantize(amount, currency, field=field)
