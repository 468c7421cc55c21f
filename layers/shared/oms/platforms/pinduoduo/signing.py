"""Pinduoduo open-platform request signing and its time format.

``sign = MD5(client_secret + "".join(k + v for k, v in sorted(params)) + client_secret)``, uppercase
hex, over every parameter except ``sign`` [github bububa/openpdd ``core/client.go``].
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

from oms.domain.errors import SchemaInvalidError

#: Pinduoduo writes times as ``yyyy-MM-dd HH:mm:ss`` in China Standard Time.
CHINA_TIME = timezone(timedelta(hours=8), "UTC+8")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def sign(params: Mapping[str, str], client_secret: str) -> str:
    """The uppercase MD5 signature of ``params`` (``sign`` itself is ignored).

    Examples
    --------
    >>> sign({"type": "pdd.order.information.get", "order_sn": "1"}, "s") == sign(
    ...     {"order_sn": "1", "type": "pdd.order.information.get"}, "s")
    True
    """
    joined = "".join(key + value for key, value in sorted(params.items()) if key != "sign")
    digest = hashlib.md5((client_secret + joined + client_secret).encode("utf-8"), usedforsecurity=False)
    return digest.hexdigest().upper()


def china_time(value: object, *, field: str) -> datetime:
    """A ``yyyy-MM-dd HH:mm:ss`` UTC+8 time (or Unix seconds) as an aware UTC datetime."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _from_unix(value, field)
    if not isinstance(value, str):
        raise SchemaInvalidError(f"{field} is not a time", field=field)
    text = value.strip()
    if text.isascii() and text.isdigit():
        return _from_unix(int(text), field)
    try:
        local = datetime.strptime(text, TIME_FORMAT)
    except ValueError as exc:
        raise SchemaInvalidError(f"{field} is not a yyyy-MM-dd HH:mm:ss time", field=field) from exc
    try:
        return local.replace(tzinfo=CHINA_TIME).astimezone(UTC)
    except OverflowError as exc:
        # 0001-01-01 00:00:00 in UTC+8 is before datetime.min in UTC (found by fuzzing).
        raise SchemaInvalidError(f"{field} is out of range", field=field) from exc


def _from_unix(seconds: int, field: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SchemaInvalidError(f"{field} is out of range", field=field) from exc


def optional_china_time(value: object, *, field: str) -> datetime | None:
    if value is None or value in ("", 0, "0"):
        return None
    return china_time(value, field=field)


def format_china_time(moment: datetime) -> str:
    """An aware datetime as ``yyyy-MM-dd HH:mm:ss`` in UTC+8."""
    return moment.astimezone(CHINA_TIME).strftime(TIME_FORMAT)
