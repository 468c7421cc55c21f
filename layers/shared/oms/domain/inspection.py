"""Showing a payload so that nothing hides in it: escapes, UTF-8 bytes, and encoded invisibles.

An operator looking at a payment id that "looks right" but does not parse needs to see what a
terminal or a browser will not show: a zero-width space is invisible, and ``%E2%80%8B`` (the same
character, percent-encoded) looks like harmless text. :func:`inspect_text` and
:func:`inspect_bytes` render a payload with every character outside printable ASCII written as
``\\u{XXXX}`` (a form no JSON text contains, so it cannot be confused with the payload's own
``\\uXXXX`` escapes), list each such character once with its name, category and UTF-8 bytes, and
flag percent-encoded (``%E2%80%8B``) and JSON-escaped (``\\u200b``) sequences that decode to an
invisible or control character.

Examples
--------
>>> found = inspect_text("PAY1\\u200b")
>>> found.escaped
'PAY1\\\\u{200B}'
>>> found.characters[0].utf8
'E2 80 8B'
>>> inspect_text("PAY1%E2%80%8B").encoded[0].name
'ZERO WIDTH SPACE'
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict

#: Offsets listed per finding; the count says how many there were in all.
MAX_OFFSETS = 20
#: The escaped rendering stops after this many characters of input (``truncated`` says so).
MAX_ESCAPED_INPUT = 100_000

Kind = Literal[
    "control", "format", "space", "separator", "private_use", "unassigned", "invalid_utf8", "visible"
]

_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_JSON_ESCAPE = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|\\u([0-9a-f]{4})", re.IGNORECASE)
# surrogateescape maps each undecodable byte to one of these code points.
_ESCAPED_BYTE_LOW, _ESCAPED_BYTE_HIGH = 0xDC80, 0xDCFF


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CharacterFinding(_Frozen):
    """One distinct character outside printable ASCII, and where it occurs."""

    escape: str  # as written in ``escaped``: \u{200B}, or \x{FF} for a byte that is not UTF-8
    code_point: str  # U+200B (or the byte, 0xFF)
    name: str
    category: str  # the Unicode general category (Cf, Cc, Zs, Lo...)
    kind: Kind
    invisible: bool  # shows as nothing (or as something else) on a screen
    utf8: str  # its bytes as received, hex, space-separated: E2 80 8B
    count: int
    offsets: tuple[int, ...]


class EncodedFinding(_Frozen):
    """An encoded sequence that decodes to an invisible or control character."""

    text: str  # %E2%80%8B or \u200b, as it appears in the payload
    encoding: Literal["percent", "json"]
    decodes_to: str  # U+200B
    name: str
    kind: Kind
    utf8: str
    count: int
    offsets: tuple[int, ...]


class TextInspection(_Frozen):
    """A payload as text with everything that could hide in it made visible."""

    characters_total: int
    bytes_total: int
    escaped: str
    truncated: bool
    characters: tuple[CharacterFinding, ...]
    encoded: tuple[EncodedFinding, ...]

    @property
    def suspicious(self) -> bool:
        """True when something invisible is in the text, raw or encoded."""
        return bool(self.encoded) or any(item.invisible for item in self.characters)


def inspect_bytes(raw: bytes) -> TextInspection:
    """Inspect bytes as UTF-8; bytes that are not valid UTF-8 are reported as ``\\x{XX}``."""
    return _inspect(raw.decode("utf-8", errors="surrogateescape"), bytes_total=len(raw))


def inspect_text(text: str) -> TextInspection:
    """Inspect a string (its UTF-8 encoding gives the bytes shown)."""
    return _inspect(text, bytes_total=len(text.encode("utf-8", errors="surrogateescape")))


def _inspect(text: str, *, bytes_total: int) -> TextInspection:
    findings: dict[str, list[int]] = {}
    pieces: list[str] = []
    shown = text[:MAX_ESCAPED_INPUT]
    for offset, char in enumerate(text):
        if " " <= char <= "~":
            if offset < MAX_ESCAPED_INPUT:
                pieces.append(char)
            continue
        findings.setdefault(char, []).append(offset)
        if offset < MAX_ESCAPED_INPUT:
            pieces.append(_escape(char))
    characters = tuple(_character(char, offsets) for char, offsets in findings.items())
    return TextInspection(
        characters_total=len(text),
        bytes_total=bytes_total,
        escaped="".join(pieces),
        truncated=len(shown) < len(text),
        characters=characters,
        encoded=_encoded(text),
    )


def _escape(char: str) -> str:
    point = ord(char)
    if _ESCAPED_BYTE_LOW <= point <= _ESCAPED_BYTE_HIGH:
        return f"\\x{{{point - 0xDC00:02X}}}"
    return f"\\u{{{point:04X}}}"


def _utf8(char: str) -> str:
    point = ord(char)
    if _ESCAPED_BYTE_LOW <= point <= _ESCAPED_BYTE_HIGH:
        return f"{point - 0xDC00:02X}"
    return " ".join(f"{byte:02X}" for byte in char.encode("utf-8", errors="surrogatepass"))


def _kind(char: str) -> Kind:
    point = ord(char)
    if _ESCAPED_BYTE_LOW <= point <= _ESCAPED_BYTE_HIGH:
        return "invalid_utf8"
    category = unicodedata.category(char)
    kinds: dict[str, Kind] = {
        "Cc": "control",
        "Cf": "format",
        "Zs": "space",
        "Zl": "separator",
        "Zp": "separator",
        "Co": "private_use",
        "Cn": "unassigned",
        "Cs": "unassigned",
    }
    return kinds.get(category, "visible")


_CONTROL_NAMES = {
    0x00: "NULL",
    0x09: "CHARACTER TABULATION",
    0x0A: "LINE FEED",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESCAPE",
    0x7F: "DELETE",
}


def _name(char: str) -> str:
    point = ord(char)
    if _ESCAPED_BYTE_LOW <= point <= _ESCAPED_BYTE_HIGH:
        return "BYTE THAT IS NOT UTF-8"
    if point in _CONTROL_NAMES:
        return _CONTROL_NAMES[point]
    # Control characters have no name in the Unicode database, only an alias.
    return unicodedata.name(char, f"<{unicodedata.category(char)} U+{point:04X}>")


def _character(char: str, offsets: list[int]) -> CharacterFinding:
    point = ord(char)
    is_byte = _ESCAPED_BYTE_LOW <= point <= _ESCAPED_BYTE_HIGH
    kind = _kind(char)
    return CharacterFinding(
        escape=_escape(char),
        code_point=f"0x{point - 0xDC00:02X}" if is_byte else f"U+{point:04X}",
        name=_name(char),
        category="byte" if is_byte else unicodedata.category(char),
        kind=kind,
        invisible=kind != "visible",
        utf8=_utf8(char),
        count=len(offsets),
        offsets=tuple(offsets[:MAX_OFFSETS]),
    )


def _encoded(text: str) -> tuple[EncodedFinding, ...]:
    """Percent-encoded and JSON-escaped sequences in ``text`` that decode to invisible characters."""
    found: dict[tuple[str, str], list[int]] = {}
    decoded_char: dict[tuple[str, str], str] = {}
    for run in _PERCENT_RUN.finditer(text):
        for start, sequence, char in _percent_characters(run.group(), run.start()):
            if _kind(char) != "visible":
                key = (sequence.upper(), "percent")
                found.setdefault(key, []).append(start)
                decoded_char[key] = char
    for match in _JSON_ESCAPE.finditer(text):
        escaped = _json_character(match)
        if escaped is not None and _kind(escaped) != "visible":
            key = (match.group(), "json")
            found.setdefault(key, []).append(match.start())
            decoded_char[key] = escaped
    findings = []
    for (sequence, encoding), offsets in found.items():
        char = decoded_char[(sequence, encoding)]
        findings.append(
            EncodedFinding(
                text=sequence,
                encoding="percent" if encoding == "percent" else "json",
                decodes_to=f"U+{ord(char):04X}",
                name=_name(char),
                kind=_kind(char),
                utf8=_utf8(char),
                count=len(offsets),
                offsets=tuple(offsets[:MAX_OFFSETS]),
            )
        )
    return tuple(sorted(findings, key=lambda item: item.offsets[0]))


def _percent_characters(run: str, base: int) -> list[tuple[int, str, str]]:
    """Each character a run of ``%XX`` triplets decodes to, with its own triplets and offset.

    A byte that does not start a valid UTF-8 sequence is skipped alone, so one stray ``%FF`` does not
    hide the invisible character encoded right after it.
    """
    data = bytes(int(run[index + 1 : index + 3], 16) for index in range(0, len(run), 3))
    out: list[tuple[int, str, str]] = []
    position = 0
    while position < len(data):
        for width in (1, 2, 3, 4):
            try:
                char = data[position : position + width].decode("utf-8")
            except UnicodeDecodeError:
                continue
            start = base + position * 3
            out.append((start, run[position * 3 : (position + width) * 3], char))
            position += width
            break
        else:
            position += 1
    return out


def _json_character(match: re.Match[str]) -> str | None:
    if match.group(1) is not None:  # a surrogate pair: one character outside the BMP
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    point = int(match.group(3), 16)
    if 0xD800 <= point <= 0xDFFF:
        return None  # a lone surrogate escape decodes to nothing printable or storable
    return chr(point)
