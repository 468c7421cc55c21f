"""The tamper-evident chain of a return's events, and its verification.

Every event of a return (opened, pickup, receipt, gap detected) is a JSON object appended to the
return's chain with

    hash_n = SHA-256( canonical(event_n) || bytes(hash_{n-1}) ),   hash_0 = 32 zero bytes

**Canonical serialisation** (a strict subset of RFC 8785, JCS): objects with keys sorted by code
point, no insignificant whitespace, ``,`` and ``:`` separators, strings as UTF-8 (not ``\\u``
escaped beyond what JSON requires), integers in decimal, ``true``/``false``/``null``. Floating
point numbers are refused: their textual form is the one part of JSON with several valid
spellings, so every decimal (GPS positions) travels as a string. With that restriction Python's
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` is exactly JCS.

Each stored event keeps its own hash and the previous one; the return's head (last sequence number
and hash) is kept beside the chain and moved by a conditional write, and a daily digest of the
heads is anchored in write-once storage. :func:`verify_chain` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: The "previous hash" of the first event.
GENESIS = "0" * 64
ALGORITHM = "sha256(jcs(event)||prev)/v1"


class CanonicalFormError(ValueError):
    """A value with no canonical form here (a float, a non-string key, an unknown type)."""


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of a JSON value (see the module docstring)."""
    _check_canonical(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _check_canonical(value: Any) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise CanonicalFormError("floats have no canonical form here; send decimals as strings")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalFormError("object keys must be strings")
            _check_canonical(item)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_canonical(item)
        return
    raise CanonicalFormError(f"{type(value).__name__} is not a JSON value")


def link_hash(event: Mapping[str, Any], previous_hash: str) -> str:
    """``SHA-256(canonical(event) || previous hash)`` as lowercase hex."""
    digest = hashlib.sha256(canonical_json(event))
    digest.update(bytes.fromhex(previous_hash))
    return digest.hexdigest()


def digest_root(heads: Sequence[Mapping[str, Any]]) -> str:
    """The root of a digest: SHA-256 of the canonical list of heads (sorted by return id)."""
    ordered = sorted(heads, key=lambda head: str(head["return_id"]))
    return hashlib.sha256(canonical_json(list(ordered))).hexdigest()


class LinkProblem(StrEnum):
    ALTERED = "altered"
    REMOVED = "removed"
    REORDERED = "reordered"
    #: stored beyond the head the conditional writes moved (appended around the API)
    INSERTED = "inserted"


class AnchorStatus(StrEnum):
    MATCHES = "matches"
    MISMATCH = "mismatch"
    #: no digest names this return yet (its events are younger than the last anchoring run)
    NOT_YET_ANCHORED = "not_yet_anchored"


@dataclass(frozen=True, slots=True)
class StoredLink:
    """One event as stored: its position (from the item's key), body, own hash and previous hash.

    ``event`` is None when the stored body is not readable JSON (itself a sign of tampering).
    """

    position: int
    event: Mapping[str, Any] | None
    hash: str
    previous_hash: str


@dataclass(frozen=True, slots=True)
class Anchor:
    """A head as written in a daily digest (write-once storage)."""

    seq: int
    hash: str
    digest_key: str
    day: str
    root: str


@dataclass(frozen=True, slots=True)
class BrokenLink:
    seq: int
    problem: LinkProblem
    detail: str


@dataclass(frozen=True, slots=True)
class ChainVerification:
    intact: bool
    events_checked: int
    head_seq: int
    head_hash: str
    #: the first broken link, None when the chain is intact
    broken: BrokenLink | None
    anchor_status: AnchorStatus
    anchor: Anchor | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.intact and self.anchor_status != AnchorStatus.MISMATCH

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "intact": self.intact,
            "events_checked": self.events_checked,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "broken": None
            if self.broken is None
            else {"seq": self.broken.seq, "problem": str(self.broken.problem), "detail": self.broken.detail},
            "anchor": {
                "status": str(self.anchor_status),
                **(
                    {
                        "digest_key": self.anchor.digest_key,
                        "day": self.anchor.day,
                        "root": self.anchor.root,
                        "seq": self.anchor.seq,
                        "hash": self.anchor.hash,
                    }
                    if self.anchor
                    else {}
                ),
            },
            "notes": list(self.notes),
        }


def verify_chain(
    links: Sequence[StoredLink], head_seq: int, head_hash: str, anchor: Anchor | None = None
) -> ChainVerification:
    """Recompute the chain from the stored events and name the first broken link.

    ``head_seq``/``head_hash`` are the head the conditional appends maintained; ``anchor`` is the
    head as of the last digest that names this return. The checks, per position ``n`` in order:

    - a missing position → ``removed`` (``n`` is the first missing event);
    - an event whose own ``seq`` is not ``n`` → ``reordered`` (an event moved to another slot);
    - ``SHA-256(event || stored previous hash)`` differs from the stored hash → ``altered`` at ``n``;
    - the stored previous hash differs from the recomputed hash of ``n-1`` → ``altered`` at
      ``n-1`` (that event was rewritten together with its own hash);

    then the head: fewer events than the head → ``removed``; more → ``inserted``; the last hash
    differs from the head → ``altered``. The anchor is compared with the recomputed hash at its
    sequence number: a rewritten chain that is consistent in itself still differs from it.
    """
    ordered = sorted(links, key=lambda link: link.position)
    previous = GENESIS
    hashes: dict[int, str] = {}
    broken: BrokenLink | None = None
    for index, link in enumerate(ordered):
        expected = index + 1
        broken = _check_link(link, expected, previous)
        if broken is not None:
            break
        hashes[expected] = link.hash
        previous = link.hash
    checked = len(hashes)
    if broken is None:
        broken = _check_head(checked, previous, head_seq, head_hash)
    anchor_status = _anchor_status(anchor, hashes)
    notes: list[str] = []
    if anchor is not None and anchor.seq < head_seq:
        notes.append(f"events after {anchor.seq} are not anchored in a digest yet")
    return ChainVerification(
        intact=broken is None,
        events_checked=checked,
        head_seq=head_seq,
        head_hash=head_hash,
        broken=broken,
        anchor_status=anchor_status,
        anchor=anchor,
        notes=tuple(notes),
    )


def _check_link(link: StoredLink, expected: int, previous: str) -> BrokenLink | None:
    if link.position > expected:
        return BrokenLink(expected, LinkProblem.REMOVED, f"event {expected} is missing from the chain")
    if link.event is None:
        return BrokenLink(expected, LinkProblem.ALTERED, "the stored event is not readable JSON")
    claimed = link.event.get("seq")
    if claimed != expected:
        return BrokenLink(
            expected, LinkProblem.REORDERED, f"position {expected} holds the event that says seq {claimed!r}"
        )
    try:
        own = link_hash(link.event, link.previous_hash)
    except (CanonicalFormError, ValueError):
        return BrokenLink(expected, LinkProblem.ALTERED, "the stored event or hash is not well formed")
    if own != link.hash:
        return BrokenLink(expected, LinkProblem.ALTERED, "the event no longer hashes to its stored hash")
    if link.previous_hash != previous:
        if expected == 1:
            return BrokenLink(1, LinkProblem.ALTERED, "the first event does not start from the genesis hash")
        return BrokenLink(
            expected - 1,
            LinkProblem.ALTERED,
            f"event {expected - 1} was rewritten: event {expected} recorded a different hash for it",
        )
    return None


def _check_head(count: int, last_hash: str, head_seq: int, head_hash: str) -> BrokenLink | None:
    if count < head_seq:
        return BrokenLink(
            count + 1, LinkProblem.REMOVED, f"the head is at {head_seq}; event {count + 1} is gone"
        )
    if count > head_seq:
        return BrokenLink(
            head_seq + 1, LinkProblem.INSERTED, f"event {head_seq + 1} lies beyond the head ({head_seq})"
        )
    if count and last_hash != head_hash:
        return BrokenLink(count, LinkProblem.ALTERED, "the last event's hash is not the recorded head")
    return None


def _anchor_status(anchor: Anchor | None, hashes: Mapping[int, str]) -> AnchorStatus:
    if anchor is None:
        return AnchorStatus.NOT_YET_ANCHORED
    # A position at or beyond the first broken link has no trustworthy hash: not confirmed.
    return AnchorStatus.MATCHES if hashes.get(anchor.seq) == anchor.hash else AnchorStatus.MISMATCH
