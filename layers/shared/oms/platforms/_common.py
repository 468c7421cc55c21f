"""Helpers shared by the platform packages: comparing signatures, reading JSON, times, masking.

Everything here is pure. Errors are the typed ones of :mod:`oms.domain.errors`, and every
message names the field it is about, never the value (values may be personal data).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from oms.domain.errors import CredentialsMissingError, SchemaInvalidError

_JSON_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


def constant_time_equals(expected: str | bytes, given: str | bytes) -> bool:
    """True when two signatures are equal, in time independent of where they differ."""
    left = expected.encode() if isinstance(expected, str) else expected
    right = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


def load_json(data: str | bytes, *, what: str) -> Any:
    """Decode JSON text, raising ``SchemaInvalidError`` (naming ``what``) when it is not JSON."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SchemaInvalidError(f"{what} is not valid JSON", field=what) from exc


def load_json_object(data: str | bytes, *, what: str) -> dict[str, Any]:
    """Decode JSON text that must be an object."""
    value = load_json(data, what=what)
    if not isinstance(value, dict):
        raise SchemaInvalidError(f"{what} is not a JSON object", field=what)
    return value


def split_json_array(body: bytes, *, what: str = "body") -> list[tuple[bytes, Any]]:
    """Cut a JSON array into its elements, each with its exact bytes as received.

    The byte slices come from the decoder's own spans, never from re-serialising, so an
    element's raw bytes keep every space, escape and invisible character the platform sent.

    Raises
    ------
    SchemaInvalidError
        When ``body`` is not UTF-8 JSON holding one array and nothing after it.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaInvalidError(f"{what} is not UTF-8", field=what) from exc
    position = _skip_whitespace(text, 0)
    if position >= len(text) or text[position] != "[":
        raise SchemaInvalidError(f"{what} is not a JSON array", field=what)
    position = _skip_whitespace(text, position + 1)
    elements: list[tuple[bytes, Any]] = []
    if position < len(text) and text[position] == "]":
        position += 1
    else:
        while True:
            try:
                value, end = _DECODER.raw_decode(text, position)
            except ValueError as exc:
                raise SchemaInvalidError(f"{what} holds an invalid element", field=what) from exc
            # Re-encoding a slice of text decoded from valid UTF-8 gives back the original bytes.
            elements.append((text[position:end].encode("utf-8"), value))
            position = _skip_whitespace(text, end)
            if position < len(text) and text[position] == ",":
                position = _skip_whitespace(text, position + 1)
                continue
            if position < len(text) and text[position] == "]":
                position += 1
                break
            raise SchemaInvalidError(f"{what} is not a well-formed JSON array", field=what)
    if _skip_whitespace(text, position) != len(text):
        raise SchemaInvalidError(f"{what} has content after the JSON array", field=what)
    return elements


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in _JSON_WHITESPACE:
        position += 1
    return position


def require(mapping: Mapping[str, Any], key: str, *, where: str = "") -> Any:
    """``mapping[key]``, raising ``SchemaInvalidError`` naming the field when absent or null."""
    value = mapping.get(key)
    if value is None or value == "":
        field = f"{where}.{key}" if where else key
        raise SchemaInvalidError(f"required field {field} is missing", field=field)
    return value


def identifier(value: Any, *, field: str) -> str:
    """A platform identifier as text: integers are written in full, strings kept, others refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SchemaInvalidError(f"{field} is not an identifier", field=field)
    text = str(value)
    if not text:
        raise SchemaInvalidError(f"{field} is empty", field=field)
    return text


def optional_identifier(value: Any, *, field: str) -> str | None:
    if value is None or value == "":
        return None
    return identifier(value, field=field)


def secret(secrets: Mapping[str, Any], key: str, *, platform: str) -> str:
    """One configured secret value, or ``CredentialsMissingError`` naming the key (never the value)."""
    value = secrets.get(key)
    if not isinstance(value, str) or not value:
        raise CredentialsMissingError(f"{platform} secrets lack {key}", platform=platform, key=key)
    return value


def utc_from_unix(value: Any, *, field: str) -> datetime:
    """A Unix time in whole seconds (int or digit string) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        # Floats are refused: a fractional second would be silently truncated.
        raise SchemaInvalidError(f"{field} is not a Unix time", field=field)
    try:
        seconds = int(value)
    except (TypeError, ValueError) as exc:
        raise SchemaInvalidError(f"{field} is not a Unix time", field=field) from exc
    if seconds < 0:
        raise SchemaInvalidError(f"{field} is negative", field=field)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SchemaInvalidError(f"{field} is out of range", field=field) from exc


def optional_utc_from_unix(value: Any, *, field: str) -> datetime | None:
    """Like :func:`utc_from_unix`, with ``None``, ``""`` and ``0`` (platforms' "not yet") as None."""
    if value is None or value in ("", 0, "0"):
        return None
    return utc_from_unix(value, field=field)


def utc_from_iso(value: Any, *, field: str) -> datetime:
    """An ISO 8601 time carrying an offset (``2025-03-01T10:00:00+08:00`` or ``...Z``) in UTC."""
    if not isinstance(value, str):
        raise SchemaInvalidError(f"{field} is not an ISO 8601 time", field=field)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise SchemaInvalidError(f"{field} is not an ISO 8601 time", field=field) from exc
    if moment.tzinfo is None:
        # A time without an offset cannot be placed on the UTC line without guessing a zone.
        raise SchemaInvalidError(f"{field} has no UTC offset", field=field)
    return moment.astimezone(UTC)


def optional_utc_from_iso(value: Any, *, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    return utc_from_iso(value, field=field)


# ---------------------------------------------------------------------------------------------
# Masking: for platforms that deliver personal data in clear, only these copies are kept.
# ---------------------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")


def mask_name(name: str | None) -> str | None:
    """Keep the first character of a name and star the rest: ``张三`` → ``张*``, ``Li Lei`` → ``L*****``."""
    if name is None:
        return None
    text = name.strip()
    if not text:
        return None
    if len(text) == 1:
        return "*"
    return text[0] + "*" * (len(text) - 1)


def mask_phone(phone: str | None) -> str | None:
    """Keep the last four digits, star the other digits and drop formatting.

    ``138 1234 1234`` → ``*******1234``; a number of four digits or fewer is starred whole.
    """
    if phone is None:
        return None
    digits = "".join(_DIGIT.findall(phone))
    if not digits:
        return None
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_address(detail: str | None) -> str | None:
    """Keep the first character of each word of two or more characters unless it is a digit; star the rest.

    ``123 Main Street`` → ``*** M*** S*****``; ``崇文路88号3栋`` → ``崇*******``. Spaces are kept so
    a person can still tell a street line from a unit line.
    """
    if detail is None:
        return None
    words = detail.split()
    if not words:
        return None
    masked = []
    for word in words:
        # A one-character word would be shown whole; digits (house numbers) are never shown.
        keep = "*" if len(word) == 1 or word[0].isdigit() else word[0]
        masked.append(keep + "*" * (len(word) - 1))
    return " ".join(masked)
