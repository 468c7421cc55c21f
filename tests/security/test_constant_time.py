"""Signature values are compared in constant time, never with ``==``.

A scan of the platform packages' syntax trees: any ``==``, ``!=``, ``in`` or ``is`` whose operand
is named like a signature (``sign``, ``signature``, ``hmac``, ``digest``, ``mac``) fails the test.
Names that merely talk about signing (``sign_method``, ``SIGNATURE_HEADER``) are not values and
are let through. The scanner is tested on known-good and known-bad snippets first, so a scanner
that stopped finding anything would fail too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ROOT / "layers" / "shared" / "oms" / "platforms"
SCANNED = [
    *sorted(PLATFORMS.rglob("*.py")),
    ROOT / "layers" / "shared" / "oms" / "services" / "intake.py",
]
#: Words that make an identifier a signature value.
SIGNATURE_WORDS = frozenset({"sign", "signature", "signatures", "hmac", "digest", "hexdigest", "mac"})
#: Words that make it something about signatures that is not one (a setting, a header name, ...).
NOT_A_VALUE_WORDS = frozenset(
    {"method", "methods", "header", "headers", "format", "formats", "params", "encoding", "encodings"}
)
_COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)


def words(identifier: str) -> set[str]:
    """The words of an identifier: ``expectedSign`` → ``{"expected", "sign"}``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", identifier)
    return {word.lower() for word in spaced.split("_") if word}


def names_in(node: ast.AST) -> set[str]:
    """Identifiers an operand is made of: variables, attributes and called functions."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def looks_like_a_signature(node: ast.AST) -> bool:
    for name in names_in(node):
        parts = words(name)
        if parts & SIGNATURE_WORDS and not parts & NOT_A_VALUE_WORDS:
            return True
    return False


def non_constant_time_comparisons(source: str, filename: str = "<snippet>") -> list[str]:
    """``file:line: code`` for every plain comparison involving a signature value."""
    tree = ast.parse(source, filename=filename)
    findings = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(operator, _COMPARISONS) for operator in node.ops):
            continue
        if any(looks_like_a_signature(operand) for operand in [node.left, *node.comparators]):
            findings.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return findings


@pytest.mark.parametrize(
    "snippet",
    [
        "ok = given_sign == expected",
        "if signature != expected: raise E",
        "if request.header('event-sign') == event_sign(k, b, s): pass",
        "match = hmac_value in allowed",
        "same = hashlib.md5(b).hexdigest() == header",
        "if expectedSignature == provided: pass",
        "if mac is not None and mac == tag: pass",
    ],
)
def test_the_scanner_finds_plain_comparisons_of_signatures(snippet: str):
    assert non_constant_time_comparisons(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        "ok = hmac.compare_digest(expected, given)",
        "ok = constant_time_equals(expected_sign, given)",
        "if sign_method == SIGN_METHOD_MD5: pass",
        "if name == SIGNATURE_HEADER: pass",
        "if timestamp_format not in TIMESTAMP_FORMATS: pass",
        "if hmac_encoding == 'base64': pass",
        "designer = assignment == 3",
    ],
)
def test_the_scanner_lets_constant_time_calls_and_settings_through(snippet: str):
    assert non_constant_time_comparisons(snippet) == []


def test_no_platform_package_compares_a_signature_with_a_plain_operator():
    findings = [
        finding
        for path in SCANNED
        for finding in non_constant_time_comparisons(path.read_text(encoding="utf-8"), str(path))
    ]
    assert findings == [], "compare signatures with hmac.compare_digest:\n" + "\n".join(findings)


@pytest.mark.parametrize("package", ["douyin", "shopify", "wechat_channels"])
def test_every_signed_push_is_verified_through_compare_digest(package: str):
    common = (PLATFORMS / "_common.py").read_text(encoding="utf-8")
    # the shared helpers: matches_any compares each candidate with constant_time_equals, which
    # is hmac.compare_digest on bytes
    assert "hmac.compare_digest(" in common
    assert "constant_time_equals(candidate, given)" in common
    sources = "".join(path.read_text(encoding="utf-8") for path in (PLATFORMS / package).rglob("*.py"))
    helpers = ("constant_time_equals(", "matches_any(", "hmac.compare_digest(")
    assert any(helper in sources for helper in helpers)
