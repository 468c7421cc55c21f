"""Shared pieces of the adapter fuzz suite: settings, the bounded runner, hostile-input strategies.

The property every fuzz test checks: an adapter method given anything returns normally or raises
an :class:`~oms.domain.errors.OmsError` whose code is one of the stable :class:`ErrorCode` values,
within a per-input time budget (the hypothesis ``deadline``) and memory budget (``tracemalloc``).
Any other exception escapes the runner and fails the test with the input that caused it.

``FUZZ_EXAMPLES`` sets how many examples each test draws: small by default (the short run inside
``make test``), ``>= 10000`` under ``make fuzz``. The short run is derandomised so CI is
reproducible; the long run draws fresh inputs every time.
"""

from __future__ import annotations

import copy
import json
import os
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import ErrorCode, OmsError
from oms.domain.model import Platform

EVENTS = Path(__file__).resolve().parents[2] / "events" / "platforms"

#: Examples per test in the short run; ``FUZZ_EXAMPLES`` overrides it (``make fuzz``).
SHORT_RUN_EXAMPLES = 100
#: Wall-clock budget for one input (generous: it catches quadratic blow-ups, not slow machines).
PER_INPUT_DEADLINE = timedelta(seconds=5)
#: Peak memory one adapter call may allocate, beyond the input it was handed.
PER_INPUT_MEMORY_BYTES = 64 * 1024 * 1024

#: A JSON document nested far beyond any recursion limit (the stack must not blow up).
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
#: Wide rather than deep: a quarter-megabyte array of small elements.
WIDE_ARRAY = b"[" + b",".join(b'{"tag":"100","msg_id":"%d","data":"{}"}' % i for i in range(6000)) + b"]"
#: Nested just under CPython's recursion limit: json decodes it, a recursive walker would not.
NEAR_LIMIT_ARRAY = b"[" * 900 + b"]" * 900
#: Byte sequences that are not UTF-8: a lone continuation byte, an overlong encoding, a
#: surrogate, a truncated sequence, bytes that never occur in UTF-8.
INVALID_UTF8 = (b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x80", b"\xff\xfe", b"\xf5\x80\x80\x80")

#: Every invisible character the cleaning rules know, and their percent-encodings.
INVISIBLES = ("\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff", "\u00ad")
PERCENT_INVISIBLES = tuple("".join(f"%{byte:02X}" for byte in char.encode()) for char in INVISIBLES) + tuple(
    "".join(f"%{byte:02x}" for byte in char.encode()) for char in INVISIBLES
)
_FULL_WIDTH = str.maketrans(
    {chr(code): chr(code - 0x21 + 0xFF01) for code in range(0x21, 0x7F)} | {" ": "\u3000"}
)

T = TypeVar("T")


def fuzz_settings(**overrides: Any) -> settings:
    """Hypothesis settings for one fuzz test: example count from ``FUZZ_EXAMPLES``."""
    examples = int(os.environ.get("FUZZ_EXAMPLES") or SHORT_RUN_EXAMPLES)
    options: dict[str, Any] = {
        "max_examples": examples,
        "deadline": PER_INPUT_DEADLINE,
        "derandomize": "FUZZ_EXAMPLES" not in os.environ,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
        "print_blob": True,
    }
    return settings(**(options | overrides))


def outcome(call: Callable[[], T]) -> T | OmsError:
    """Run ``call`` under a memory budget; return its result or the typed error it raised.

    Anything but an :class:`OmsError` propagates (and fails the test); a typed error must carry
    a stable code, and its message and details must be JSON-serialisable (they reach logs).
    """
    tracing_already = tracemalloc.is_tracing()
    if not tracing_already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result: T | OmsError = call()
    except OmsError as error:
        result = error
    finally:
        _, peak = tracemalloc.get_traced_memory()
        if not tracing_already:
            tracemalloc.stop()
    assert peak <= PER_INPUT_MEMORY_BYTES, f"one input allocated {peak} bytes"
    if isinstance(result, OmsError):
        assert isinstance(result.code, ErrorCode)
        assert result.code in set(ErrorCode)
        json.dumps(result.to_dict(), default=str)
    return result


def load_sample(platform: str, name: str) -> Any:
    return json.loads((EVENTS / platform / name).read_text(encoding="utf-8"))


def envelope(platform: Platform, raw: bytes, **fields: Any) -> IntakeEnvelope:
    """An intake envelope carrying ``raw`` as intake would have encoded it."""
    text, encoding = IntakeEnvelope.encode_raw(raw)
    values: dict[str, Any] = {
        "trace_id": "fuzz-trace",
        "platform": platform,
        "app_id": "fuzz-app",
        "received_at": datetime(2026, 2, 5, 12, 0, tzinfo=UTC),
        "dedupe_id": "fuzz-dedupe",
        "message_group": f"{platform}:_:_",
        "raw": text,
        "raw_encoding": encoding,
    }
    return IntakeEnvelope(**(values | fields))


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


def full_width(text: str) -> str:
    """``text`` with ASCII letters, digits and punctuation replaced by their full-width forms."""
    return text.translate(_FULL_WIDTH)


@st.composite
def decorated_text(draw: st.DrawFn, base: str) -> str:
    """``base`` with invisible characters, percent-encodings or full-width forms mixed in."""
    kind = draw(st.sampled_from(("invisible", "percent", "full_width", "padding", "overlong", "control")))
    if kind == "full_width":
        return full_width(base)
    if kind == "padding":
        return draw(st.sampled_from((" ", "\t", "\u3000", "\n"))) + base + " "
    if kind == "overlong":
        return base + "9" * draw(st.integers(min_value=100, max_value=5000))
    if kind == "control":
        return base + draw(st.sampled_from(("\x00", "\x1b", "\ud800", "\U0010ffff", "\u202e")))
    pieces = INVISIBLES if kind == "invisible" else PERCENT_INVISIBLES
    position = draw(st.integers(min_value=0, max_value=len(base)))
    return base[:position] + draw(st.sampled_from(pieces)) + base[position:]


HUGE_NUMBERS = st.sampled_from(
    (
        2**53 + 1,
        2**63,
        -(2**63) - 1,
        10**30,
        -(10**30),
        10**4000,
        -1,
        -100,
        0,
        1e308,
        -1e308,
        5e-324,
        0.1,
    )
)

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_NUMBERS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.text(max_size=8).flatmap(decorated_text),
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            paths += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            paths += _paths(child, (*prefix, index))
    return paths


def _retyped(value: Any) -> list[Any]:
    """Other JSON types carrying (roughly) the same content."""
    options: list[Any] = [None, [], {}, True, "", [value], {"value": value}]
    if isinstance(value, int | float) and not isinstance(value, bool):
        options += [str(value), float(value) if abs(value) < 1e300 else 1e300, -value]
    if isinstance(value, str):
        options.append(value.encode("utf-8", "surrogatepass").hex())
        # int() refuses more than 4300 digits; such strings stay strings.
        if value.strip().lstrip("-").isdecimal() and len(value.strip()) <= 4000:
            options.append(int(value.strip()))
    return options


@st.composite
def mutated(draw: st.DrawFn, document: Any, *, max_mutations: int = 4) -> Any:
    """``document`` with a few structured mutations: fields dropped, replaced, retyped, made huge
    or negative, nested as JSON strings, or decorated with invisible and full-width characters."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=max_mutations))):
        path = draw(st.sampled_from(_paths(document)))
        current: Any = document
        for part in path:
            current = current[part]
        operation = draw(
            st.sampled_from(("drop", "replace", "retype", "number", "nest", "decorate", "duplicate"))
        )
        if operation == "replace":
            new = draw(json_values)
        elif operation == "retype":
            new = draw(st.sampled_from(_retyped(current)))
        elif operation == "number":
            new = draw(HUGE_NUMBERS)
        elif operation == "nest":
            new = json.dumps(current, ensure_ascii=draw(st.booleans()))
        elif operation == "decorate":
            new = draw(decorated_text(current if isinstance(current, str) else json.dumps(current)))
        elif operation == "duplicate" and isinstance(current, list) and current:
            new = current + current
        else:
            new = None
        if not path:
            if operation != "drop":
                document = new
            continue
        parent: Any = document
        for part in path[:-1]:
            parent = parent[part]
        if operation == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
    return document


def json_bytes(value: Any, draw_ascii: bool = False) -> bytes:
    """Serialise a (possibly hostile) value the way a platform might: surrogates pass through."""
    return json.dumps(value, ensure_ascii=draw_ascii, separators=(",", ":")).encode("utf-8", "surrogatepass")


hostile_bytes = st.one_of(
    st.binary(max_size=512),
    st.sampled_from((DEEP_ARRAY, DEEP_OBJECT, NEAR_LIMIT_ARRAY, b"", b"null", b"[]", b"{}", b"[null]")),
    st.sampled_from(INVALID_UTF8).map(lambda bad: b'[{"tag":"100","msg_id":"' + bad + b'"}]'),
    json_values.map(json_bytes),
)

header_values = st.one_of(
    st.none(),
    st.text(max_size=64),
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    st.sampled_from(INVISIBLES).map(lambda char: "a" * 31 + char),
    st.text(max_size=8).flatmap(decorated_text),
)
