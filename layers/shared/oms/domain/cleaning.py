"""Cleaning rules: named, versioned transforms applied to a payload before it is parsed.

A rule is data (:class:`CleaningRule`): which transform, on which fields, for which platforms.
:func:`clean_payload` applies a rule set to every string leaf of a decoded payload and reports
which rules changed which paths, so every event records how it was cleaned.

Field patterns are shell-style globs matched against a leaf's dotted path (list indexes left
out, e.g. ``sku_order_list.sku_id``) and against its own key.

Rules written by operators (:mod:`oms.domain.rules`) use the same model, so a rule is validated
here before it is ever saved: a ``regex_replace`` pattern must compile, its replacement must only
name groups the pattern has, and a pattern whose matching time can explode (a quantified group that
itself holds an unbounded quantifier, or a back-reference) is refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import cache
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    PERCENT_DECODE = "percent_decode"
    PERCENT_DECODE_STRIP_INVISIBLE = "percent_decode_strip_invisible"
    REGEX_REPLACE = "regex_replace"  # needs ``pattern`` (and ``replacement``)


_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def percent_decode(value: str) -> str:
    """Decode every run of ``%XX`` escapes that forms valid UTF-8; leave any other run as it is.

    ``+`` stays ``+`` (this is not form decoding), and a run that is not UTF-8 (``%FF``) is kept
    verbatim rather than turned into replacement characters.
    """

    def decode(run: re.Match[str]) -> str:
        raw = bytes(int(run.group()[index + 1 : index + 3], 16) for index in range(0, len(run.group()), 3))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return run.group()

    return _PERCENT_RUN.sub(decode, value)


_TRANSFORMS: dict[Transform, Callable[[str], str]] = {
    Transform.STRIP_INVISIBLE: lambda value: _INVISIBLE.sub("", value),
    Transform.STRIP_PERCENT_ENCODED_INVISIBLE: lambda value: _PERCENT_ENCODED_INVISIBLE.sub("", value),
    Transform.NFKC: lambda value: unicodedata.normalize("NFKC", value),
    Transform.TRIM: str.strip,
    Transform.PERCENT_DECODE: percent_decode,
    Transform.PERCENT_DECODE_STRIP_INVISIBLE: lambda value: _INVISIBLE.sub("", percent_decode(value)),
}

#: Longest ``regex_replace`` pattern accepted (rules target identifiers, not prose).
MAX_PATTERN_LENGTH = 200
#: A field pattern: dotted keys with shell wildcards, nothing that could smuggle anything else.
FIELD_PATTERN = r"^[A-Za-z0-9_.*?\[\]-]{1,120}$"


class CleaningRule(BaseModel):
    """One named, versioned transform, applied to the fields and platforms it names.

    Raises ``pydantic.ValidationError`` when built with an invalid combination (a regex rule without
    a pattern, a pattern that does not compile or could backtrack exponentially, a replacement naming
    a group the pattern lacks, a pattern on a transform that takes none).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    version: int = Field(ge=1)
    transform: Transform
    fields: tuple[Annotated[str, Field(pattern=FIELD_PATTERN)], ...] = Field(
        default=("*",), min_length=1, max_length=50
    )
    platforms: tuple[str, ...] = ()  # empty: every platform
    pattern: str | None = Field(default=None, min_length=1, max_length=MAX_PATTERN_LENGTH)
    replacement: str = Field(default="", max_length=MAX_PATTERN_LENGTH)
    description: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _pattern_fits_the_transform(self) -> Self:
        if self.transform is not Transform.REGEX_REPLACE:
            if self.pattern is not None or self.replacement:
                raise ValueError(f"{self.transform} takes no pattern or replacement")
            return self
        if self.pattern is None:
            raise ValueError("regex_replace needs a pattern")
        compiled = _compiled(self.pattern)
        try:
            compiled.sub(self.replacement, "")  # the replacement template is parsed even without a match
        except (re.error, IndexError) as error:
            raise ValueError(f"replacement is invalid for this pattern: {error}") from None
        return self

    def applies_to_platform(self, platform: str) -> bool:
        return not self.platforms or platform in self.platforms

    def applies_to_path(self, path: str, key: str) -> bool:
        return any(fnmatchcase(path, pattern) or fnmatchcase(key, pattern) for pattern in self.fields)

    def apply(self, value: str) -> str:
        """This rule's transform applied to one string."""
        if self.transform is Transform.REGEX_REPLACE:
            return _compiled(self.pattern or "").sub(self.replacement, value)
        return _TRANSFORMS[self.transform](value)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """Compile a rule pattern, refusing the shapes whose matching time can explode."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"pattern does not compile: {error}") from None
    problem = _backtracking_risk(pattern)
    if problem:
        raise ValueError(f"pattern refused: {problem}")
    return compiled


def _backtracking_risk(pattern: str) -> str | None:
    """Why ``pattern`` could take exponential time on a short input, or None.

    Walks the parsed pattern: an unbounded repeat inside another repeat (``(a+)+``, ``(a*)*``),
    an alternation of multi-character branches inside a repeat (``(a|aa)*``) and back-references
    (``(a)\\1``) are the shapes behind catastrophic backtracking in Python's engine, which has no
    time limit of its own.
    """
    from re import _parser  # type: ignore[attr-defined]  # the stdlib's own pattern parser

    def walk(items: Any, inside_repeat: bool) -> str | None:
        for op, argument in items:
            name = str(op)
            if name in ("GROUPREF", "GROUPREF_EXISTS"):
                return "back-references are not allowed"
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                _low, high, body = argument
                unbounded = high == _parser.MAXREPEAT or high > 100
                if inside_repeat and unbounded:
                    return "a repeated group holds an unbounded repeat (nested quantifiers)"
                found = walk(body, inside_repeat or high > 1)
                if found:
                    return found
            elif name == "SUBPATTERN":
                found = walk(argument[-1], inside_repeat)
                if found:
                    return found
            elif name == "BRANCH":
                # The parser already turned single-character alternatives into a set; what is left
                # can overlap ("a|aa"), and a repeat over overlapping branches backtracks exponentially.
                if inside_repeat:
                    return "an alternation of several characters inside a repeat (use a character set)"
                for branch in argument[1]:
                    found = walk(branch, inside_repeat)
                    if found:
                        return found
            elif name in ("ASSERT", "ASSERT_NOT"):
                found = walk(argument[1], inside_repeat)
                if found:
                    return found
            elif name == "ATOMIC_GROUP":
                found = walk(argument, inside_repeat)
                if found:
                    return found
        return None

    return walk(_parser.parse(pattern), inside_repeat=False)


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
        value = rule.apply(value)
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
                cleaned = rule.apply(node)
                if cleaned != node:
                    applied.append(AppliedRule(name=rule.name, version=rule.version, path=path or "$"))
                    node = cleaned
        return node

    return visit(payload, "", "", ""), tuple(applied)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
