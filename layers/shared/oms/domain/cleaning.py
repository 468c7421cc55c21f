"""Cleaning rules: named, versioned transforms applied to a payload before it is parsed.

A rule is data (:class:`CleaningRule`): which transform, on which fields, for which platforms.
:func:`clean_payload` applies a rule set to every string leaf of a decoded payload and reports
which rules changed which paths, so every event records how it was cleaned.

Field patterns are shell-style globs matched against a leaf's dotted path (list indexes left
out, e.g. ``sku_order_list.sku_id``) and against its own key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oms.domain.errors import SchemaInvalidError
from oms.domain.model import AppliedRule

# Zero-width and format characters that platforms' SDKs have been seen to leak into ids:
# ZWSP..RLM (U+200B-U+200F), WORD JOINER (U+2060), BOM/ZWNBSP (U+FEFF), SOFT HYPHEN (U+00AD).
INVISIBLE_CHARACTERS = "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"
_INVISIBLE = re.compile(f"[{INVISIBLE_CHARACTERS}]")
_PERCENT_ENCODED_INVISIBLE = re.compile(
    "|".join(re.escape("".join(f"%{byte:02X}" for byte in char.encode())) for char in INVISIBLE_CHARACTERS),
    re.IGNORECASE,
)


class Transform(StrEnum):
    STRIP_INVISIBLE = "strip_invisible"
    STRIP_PERCENT_ENCODED_INVISIBLE = "strip_percent_encoded_invisible"
    NFKC = "nfkc"  # also folds full-width digits and letters to ASCII
    TRIM = "trim"


_TRANSFORMS: dict[Transform, Callable[[str], str]] = {
    Transform.STRIP_INVISIBLE: lambda value: _INVISIBLE.sub("", value),
    Transform.STRIP_PERCENT_ENCODED_INVISIBLE: lambda value: _PERCENT_ENCODED_INVISIBLE.sub("", value),
    Transform.NFKC: lambda value: unicodedata.normalize("NFKC", value),
    Transform.TRIM: str.strip,
}


class CleaningRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    version: int = Field(ge=1)
    transform: Transform
    fields: tuple[str, ...] = Field(default=("*",), min_length=1)
    platforms: tuple[str, ...] = ()  # empty: every platform
    description: str = ""

    def applies_to_platform(self, platform: str) -> bool:
        return not self.platforms or platform in self.platforms

    def applies_to_path(self, path: str, key: str) -> bool:
        return any(fnmatchcase(path, pattern) or fnmatchcase(key, pattern) for pattern in self.fields)


# Keys that hold identifiers and codes: NFKC-folded and trimmed. Free text (names, addresses,
# remarks) only loses invisible characters: NFKC would rewrite full-width Chinese punctuation.
IDENTIFIER_FIELDS: tuple[str, ...] = (
    "*id",
    "*Id",
    "*_ids",
    "*_sn",
    "*_no",
    "*No",
    "*code",
    "*Code",
    "*status",
    "*Status",
    "*number",
    "*_num",
    "*amount",
    "*Amount",
    "*price",
    "*Price",
    "*fee",
    "*Fee",
    "*time",
    "*Time",
    "*_at",
    "tag",
    "msg_id",
)

DEFAULT_RULES: tuple[CleaningRule, ...] = (
    CleaningRule(
        name="strip-invisible",
        version=1,
        transform=Transform.STRIP_INVISIBLE,
        description="Remove zero-width and format characters (U+200B-U+200F, U+2060, U+FEFF, U+00AD).",
    ),
    CleaningRule(
        name="nfkc-identifiers",
        version=1,
        transform=Transform.NFKC,
        fields=IDENTIFIER_FIELDS,
        description="NFKC-normalise identifiers and codes (full-width digits and letters to ASCII).",
    ),
    CleaningRule(
        name="trim-identifiers",
        version=1,
        transform=Transform.TRIM,
        fields=IDENTIFIER_FIELDS,
        description="Trim surrounding whitespace from identifiers and codes.",
    ),
)


def clean_text(value: str, rules: Iterable[CleaningRule] = DEFAULT_RULES) -> str:
    """Apply the transforms of ``rules`` to one string, ignoring their field patterns."""
    for rule in rules:
        value = _TRANSFORMS[rule.transform](value)
    return value


#: Deeper payloads are refused rather than risking the interpreter's recursion limit.
MAX_DEPTH = 64


def clean_payload(
    payload: Any, platform: str, rules: Iterable[CleaningRule] = DEFAULT_RULES
) -> tuple[Any, tuple[AppliedRule, ...]]:
    """Return ``payload`` with every string leaf cleaned, and the rules that changed something.

    Raises ``SchemaInvalidError`` for a payload nested deeper than :data:`MAX_DEPTH`.
    """
    active = [rule for rule in rules if rule.applies_to_platform(platform)]
    applied: list[AppliedRule] = []

    def visit(node: Any, path: str, pattern_path: str, key: str, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise SchemaInvalidError("payload nested too deeply", limit=MAX_DEPTH, path=path[:200])
        if isinstance(node, dict):
            return {
                name: visit(child, _join(path, name), _join(pattern_path, name), name, depth + 1)
                for name, child in node.items()
            }
        if isinstance(node, list):
            return [
                visit(child, f"{path}[{index}]", pattern_path, key, depth + 1)
                for index, child in enumerate(node)
            ]
        if not isinstance(node, str):
            return node
        for rule in active:
            if rule.applies_to_path(pattern_path, key):
                cleaned = _TRANSFORMS[rule.transform](node)
                if cleaned != node:
                    applied.append(AppliedRule(name=rule.name, version=rule.version, path=path or "$"))
                    node = cleaned
        return node

    return visit(payload, "", "", ""), tuple(applied)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
