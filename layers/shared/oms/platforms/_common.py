"""Helpers shared by the platform packages: comparing signatures, reading JSON, times, masking.

Everything here is pure. Errors are the typed ones of :mod:`oms.domain.errors`, and every
message names the field it is about, never the value (values may be personal data).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from oms.domain.cleaning import clean_text
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import (
    ChannelListingNotFoundError,
    CredentialsMissingError,
    PlatformApiError,
    SchemaInvalidError,
)
from oms.domain.money import from_major, from_minor
from oms.platforms.base import HttpResponse

_JSON_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()

#: Deepest nesting of lists and objects accepted in a platform's JSON. Real payloads nest fewer
#: than ten levels; the bound keeps every later recursive walk (cleaning, serialising, pydantic)
#: far below the interpreter's recursion limit, whatever a hostile sender nests.
MAX_JSON_DEPTH = 64


def constant_time_equals(expected: str | bytes, given: str | bytes) -> bool:
    """True when two signatures are equal, in time independent of where they differ.

    Text is compared as its UTF-8 bytes; a lone surrogate (a header decoded from a JSON event can
    carry one) is kept as its own bytes, so it simply never matches instead of failing to encode.
    """
    left = expected.encode("utf-8", "surrogatepass") if isinstance(expected, str) else expected
    right = given.encode("utf-8", "surrogatepass") if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


def load_json(data: str | bytes, *, what: str, exact_fractions: bool = False) -> Any:
    """Decode JSON text, raising ``SchemaInvalidError`` (naming ``what``) when it is not JSON.

    Documents nested deeper than :data:`MAX_JSON_DEPTH` are refused too (see there). With
    ``exact_fractions`` every number with a fraction stays its exact text (amounts in yuan).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_float=str if exact_fractions else None)
    except RecursionError:
        # The C decoder stops at the interpreter's recursion limit and says so; no stack is lost.
        raise SchemaInvalidError(f"{what} is nested too deeply", field=what) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise SchemaInvalidError(f"{what} is not valid JSON", field=what) from exc
    require_shallow(value, what=what)
    return value


def envelope_payload(envelope: IntakeEnvelope) -> str | bytes:
    """What an adapter decodes: the plaintext of an encrypted push, else the raw bytes as received.

    Raw bytes rather than ``envelope.payload_text``: that raises ``UnicodeDecodeError`` on bytes
    that are not UTF-8, where :func:`load_json` raises ``SchemaInvalidError`` (found by fuzzing).
    """
    return envelope.plaintext if envelope.plaintext is not None else envelope.raw_bytes()


def api_reply(
    response: HttpResponse, *, platform: str, api: str, exact_fractions: bool = False
) -> dict[str, Any]:
    """The JSON object a platform API answered with, before its own success code is read.

    Raises ``PlatformApiError``: retryable for HTTP 429 and 5xx, and for a reply that is not a JSON
    object on a non-error status (a cut-off body); a 4xx without JSON is the request's own fault.
    """
    if response.status == 429 or response.status >= 500:
        raise PlatformApiError(
            f"{platform} {api} failed with HTTP {response.status}", api=api, http_status=response.status
        )
    try:
        reply = load_json(response.body, what=f"{api} reply", exact_fractions=exact_fractions)
    except SchemaInvalidError as exc:
        error = PlatformApiError(
            f"{platform} {api} replied without JSON", api=api, http_status=response.status
        )
        error.retryable = response.status < 400
        raise error from exc
    if not isinstance(reply, dict):
        raise PlatformApiError(
            f"{platform} {api} reply is not an object", api=api, http_status=response.status
        )
    return reply


def require_shallow(value: Any, *, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``SchemaInvalidError`` when ``value`` nests lists and objects deeper than ``limit``.

    Walks with an explicit stack, so checking a hostile document cannot itself recurse.
    """
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            raise SchemaInvalidError(f"{what} is nested more than {limit} levels deep", field=what)
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


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
            except RecursionError:
                raise SchemaInvalidError(f"{what} is nested too deeply", field=what) from None
            except ValueError as exc:
                raise SchemaInvalidError(f"{what} holds an invalid element", field=what) from exc
            require_shallow(value, what=what, limit=MAX_JSON_DEPTH - 1)
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


def schema_violation(error: ValidationError, *, what: str) -> SchemaInvalidError:
    """The typed error for a platform value that breaks a model constraint (an over-long id, say).

    The payload is what is wrong, so it is reported as such, naming the field and never the value.
    """
    errors = error.errors()
    location = ".".join(str(part) for part in errors[0]["loc"]) if errors else ""
    return SchemaInvalidError(f"{what} violates the event schema", field=location or what)


#: Largest absolute amount accepted, in major units: far above any real order, so a value beyond
#: it is a malformed payload (a timestamp or an id in an amount field), not money.
MAX_ABS_AMOUNT = Decimal(10) ** 15


def minor_amount(value: Any, currency: str, *, field: str) -> Decimal:
    """An amount given in minor units (fen), as :func:`~oms.domain.money.from_minor`, range-checked."""
    return _in_range(lambda: from_minor(value, currency, field=field), field)


def major_amount(value: Any, currency: str, *, field: str) -> Decimal:
    """An amount given in major units (a decimal string), as :func:`~oms.domain.money.from_major`,
    range-checked."""
    return _in_range(lambda: from_major(value, currency, field=field), field)


def _in_range(convert: Callable[[], Decimal], field: str) -> Decimal:
    amount = convert()
    if abs(amount) > MAX_ABS_AMOUNT:
        raise SchemaInvalidError(f"{field} is out of range", field=field)
    return amount


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


#: Prefix of the key under which an app's secrets keep the value being rotated out.
PREVIOUS_PREFIX = "previous_"


def rotating_secrets(secrets: Mapping[str, Any], key: str, *, platform: str) -> list[str]:
    """The current value of ``key``, then ``previous_<key>`` when one is configured.

    During a rotation the platform may still sign with the old secret (pushes already queued on
    its side, retries); keeping it as ``previous_<key>`` until those have drained lets both verify.
    """
    values = [secret(secrets, key, platform=platform)]
    previous = secrets.get(PREVIOUS_PREFIX + key)
    if isinstance(previous, str) and previous and previous != values[0]:
        values.append(previous)
    return values


def matches_any(expected: list[str], given: str) -> bool:
    """True when ``given`` equals one of ``expected``; every candidate is compared, in constant time."""
    results = [constant_time_equals(candidate, given) for candidate in expected]
    return any(results)


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
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+01:00 and 9999-12-31T23:59-01:00 are valid ISO but not UTC datetimes.
        raise SchemaInvalidError(f"{field} is out of range", field=field) from None


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


def decode_message_with_data(envelope: IntakeEnvelope, *, platform: str) -> dict[str, Any]:
    """A framed ``{..., "data": "<JSON string>"}`` message as an object with ``data`` expanded.

    Douyin and Xiaohongshu push arrays of such elements.
    """
    try:
        text = envelope.payload_text
    except UnicodeDecodeError as exc:
        raise SchemaInvalidError(f"{platform} message is not UTF-8", field="message") from exc
    message = load_json_object(text, what="message")
    data = message.get("data")
    if isinstance(data, str):
        data = load_json(data, what="data")
    if not isinstance(data, dict):
        raise SchemaInvalidError(f"{platform} message data is not a JSON object", field="data")
    return {**message, "data": data}


def data_or_none(data: Any) -> dict[str, Any] | None:
    """``data`` as an object when it is one (or a JSON string of one), for routing only.

    Framing only routes: a data field that does not decode still travels, and decode reports it.
    """
    if isinstance(data, dict):
        return data
    if isinstance(data, str):
        try:
            value = load_json(data, what="data")
        except SchemaInvalidError:
            return None
        return value if isinstance(value, dict) else None
    return None


def routing_id(value: Any) -> str | None:
    """An id for queue routing, cleaned like the sanitizer will clean it (the raw stays exact)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return clean_text(str(value)) or None


def stock_quantity(quantity: int) -> int:
    """A stock total a client may send: a whole number, never negative (``SchemaInvalidError``)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise SchemaInvalidError("stock quantity must be a non-negative integer", field="quantity")
    return quantity


def reply_quantity(value: Any, *, platform: str, field: str) -> int:
    """A stock quantity read from a platform's reply (an integer, or its decimal text)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaInvalidError(f"{platform} stock reply has no whole {field}", field=field)
    return value


def listed_sku_quantity(
    skus: Any, sku_id: str, *, platform: str, list_field: str, id_field: str, quantity_field: str
) -> int:
    """The quantity of SKU ``sku_id`` in a product read's SKU list (Pinduoduo, Kuaishou).

    Raises
    ------
    SchemaInvalidError
        ``skus`` is not a list, or the SKU's quantity is not a whole number.
    ChannelListingNotFoundError
        No entry has ``id_field`` equal to ``sku_id``.
    """
    if not isinstance(skus, list):
        raise SchemaInvalidError(f"{platform} product reply has no {list_field} list", field=list_field)
    for index, sku in enumerate(skus):
        if isinstance(sku, dict) and str(sku.get(id_field)) == str(sku_id):
            field = f"{list_field}[{index}].{quantity_field}"
            return reply_quantity(sku.get(quantity_field), platform=platform, field=field)
    raise ChannelListingNotFoundError(
        f"the {platform} product has no such SKU", platform=platform, sku_id=str(sku_id)
    )


def json_id(value: str) -> int | str:
    """A platform id as its JSON wants it: ASCII digit strings as integers (64-bit ids), else as is."""
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() else text
