"""Returns: the return code, the scans, and the rules that flag a doubtful path.

**Return code** (printed as a QR code on the return label)::

    K IIIIIIIIII MMMMMMMM        19 characters of Crockford base32 (0-9, A-Z without I L O U)
    | |          +-- 40-bit truncated HMAC-SHA256 over (key version, return id, order, lines)
    | +------------- 50-bit random return id
    +--------------- key version (which code key signed it; rotation keeps old codes valid)

19 upper-case alphanumerics fit QR version 1 (21x21 modules) at error correction M in
alphanumeric mode (capacity 20). The MAC binds the code to the order and the returned lines: a
code re-pointed at another order, or a return record whose lines were edited, no longer checks.

Why 40 bits of MAC: a forger must guess the MAC of an existing return id, one guess per scan
request. At the scan route's throttle (50 requests/s, far above any fleet's real rate) a guess
succeeds after 2^40 / 50 s ≈ 700 years on average, and every wrong guess is refused, logged and
counted (``ReturnCodeRejected``), which alarms long before. Brute force offline is impossible
without the key. More bits would push the code past QR version 1; fewer (32 bits: 2.7 years at
that rate) leave too little margin. The id's 50 random bits make a collision rare (1 in ~2,000
after a million returns) and the conditional create turns one into a retry, never a shared code.

Crockford decoding is lenient as people read labels: lower case, ``I``/``L`` → ``1``, ``O`` → ``0``,
and hyphens or spaces are accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from oms.domain.errors import ReturnCodeInvalidError
from oms.domain.return_chain import canonical_json

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {char: value for value, char in enumerate(CROCKFORD)} | {"I": 1, "L": 1, "O": 0}
ID_CHARS = 10  # 50 bits
MAC_CHARS = 8  # 40 bits
CODE_LENGTH = 1 + ID_CHARS + MAC_CHARS
#: How long after a pickup the receipt must be recorded before an alert goes out
RECEIPT_DEADLINE = timedelta(hours=72)
#: A device clock further than this from the server's is flagged (its time is kept as evidence)
DEVICE_CLOCK_TOLERANCE = timedelta(minutes=15)


class ScanKind(StrEnum):
    PICKUP = "pickup"  # a courier collects the parcel from the customer
    RECEIPT = "receipt"  # the warehouse receives it


class ScannerRole(StrEnum):
    COURIER = "courier"
    WAREHOUSE = "warehouse"


#: Which device role may record which scan
SCAN_ROLES = {ScanKind.PICKUP: ScannerRole.COURIER, ScanKind.RECEIPT: ScannerRole.WAREHOUSE}


class EventKind(StrEnum):
    OPENED = "opened"
    PICKUP = "pickup"
    RECEIPT = "receipt"
    GAP_DETECTED = "gap_detected"


class Flag(StrEnum):
    RECEIPT_WITHOUT_PICKUP = "receipt_without_pickup"
    SECOND_PICKUP = "second_pickup"
    SECOND_RECEIPT = "second_receipt"
    DEVICE_CLOCK_SKEW = "device_clock_skew"
    NO_RECEIPT_72H = "no_receipt_72h"
    LATE_RECEIPT_72H = "late_receipt_72h"


class ReturnStatus(StrEnum):
    OPENED = "opened"
    PICKED_UP = "picked_up"
    RECEIVED = "received"


class ReturnLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    line_id: str = Field(min_length=1, max_length=128)
    sku_id: str = Field(min_length=1, max_length=128)
    quantity: int = Field(ge=1, le=100_000)


def encode_crockford(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def normalise_code(text: str) -> str:
    """The code as issued (upper case, ambiguous letters mapped, separators dropped)."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    return "".join(CROCKFORD[_DECODE[char]] if char in _DECODE else char for char in cleaned)


@dataclass(frozen=True, slots=True)
class ParsedCode:
    key_version: str
    return_id: str
    mac: str

    @property
    def code(self) -> str:
        return self.key_version + self.return_id + self.mac


def parse_code(text: str) -> ParsedCode:
    """Split a scanned code; raises ``ReturnCodeInvalidError`` when it cannot be one of ours."""
    code = normalise_code(text)
    if len(code) != CODE_LENGTH or any(char not in CROCKFORD for char in code):
        raise ReturnCodeInvalidError("not a return code", reason="malformed")
    return ParsedCode(code[0], code[1 : 1 + ID_CHARS], code[1 + ID_CHARS :])


def new_return_id(random_bytes: bytes) -> str:
    """A return id from at least 7 random bytes (50 bits are used)."""
    if len(random_bytes) < 7:
        raise ValueError("a return id needs 7 random bytes")
    return encode_crockford(int.from_bytes(random_bytes[:7], "big") >> 6, ID_CHARS)


def code_mac(key: bytes, key_version: str, return_id: str, order_id: str, lines: Sequence[ReturnLine]) -> str:
    message = canonical_json(
        {
            "v": 1,
            "key_version": key_version,
            "return_id": return_id,
            "order_id": order_id,
            "lines": sorted([line.line_id, line.sku_id, line.quantity] for line in lines),
        }
    )
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return encode_crockford(int.from_bytes(digest[:5], "big"), MAC_CHARS)


def issue_code(
    key: bytes, key_version: str, return_id: str, order_id: str, lines: Sequence[ReturnLine]
) -> str:
    if len(key_version) != 1 or key_version not in CROCKFORD:
        raise ValueError("a key version is one Crockford character")
    return key_version + return_id + code_mac(key, key_version, return_id, order_id, lines)


def code_matches(key: bytes, parsed: ParsedCode, order_id: str, lines: Sequence[ReturnLine]) -> bool:
    expected = code_mac(key, parsed.key_version, parsed.return_id, order_id, lines)
    return hmac.compare_digest(expected, parsed.mac)


def scan_flags(
    kind: ScanKind,
    pickups_before: int,
    receipts_before: int,
    device_time: datetime,
    recorded_at: datetime,
) -> list[Flag]:
    """What is doubtful about a scan, given the scans recorded before it (never a refusal)."""
    flags: list[Flag] = []
    if kind == ScanKind.PICKUP and pickups_before:
        flags.append(Flag.SECOND_PICKUP)
    if kind == ScanKind.RECEIPT:
        if not pickups_before:
            flags.append(Flag.RECEIPT_WITHOUT_PICKUP)
        if receipts_before:
            flags.append(Flag.SECOND_RECEIPT)
    if abs(device_time - recorded_at) > DEVICE_CLOCK_TOLERANCE:
        flags.append(Flag.DEVICE_CLOCK_SKEW)
    return flags


def gap_rule(pickup_at: datetime, receipt_at: datetime | None, now: datetime) -> Flag | None:
    """The 72-hour rule: no receipt 72 h after the pickup, or a receipt later than that."""
    if receipt_at is None:
        return Flag.NO_RECEIPT_72H if now - pickup_at > RECEIPT_DEADLINE else None
    return Flag.LATE_RECEIPT_72H if receipt_at - pickup_at > RECEIPT_DEADLINE else None


def mask_name(name: str) -> str:
    """A person's name as a customer may see it: first character, the rest starred."""
    text = name.strip()
    if not text:
        return ""
    return text[0] + "*" * min(len(text) - 1, 6) if len(text) > 1 else "*"


@dataclass(frozen=True, slots=True)
class Scanner:
    """A registered scanning device (a courier's handset, a warehouse PDA) and its signing key."""

    device_id: str
    key: bytes
    role: ScannerRole
    partner: str


SIGNATURE_WINDOW = timedelta(minutes=5)


def scan_signature(key: bytes, method: str, path: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``METHOD\\npath\\ntimestamp\\nsha256(body)`` as lowercase hex."""
    message = "\n".join((method.upper(), path, timestamp, hashlib.sha256(body).hexdigest()))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    """A return's current state (its chain's head and what the rules need), beside the chain."""

    return_id: str
    code: str
    order_id: str
    platform: str
    shop_id: str
    platform_order_id: str
    lines: tuple[ReturnLine, ...]
    source: str
    opened_at: datetime
    head_seq: int
    head_hash: str
    status: ReturnStatus = ReturnStatus.OPENED
    pickup_at: datetime | None = None
    receipt_at: datetime | None = None
    pickups: int = 0
    receipts: int = 0
    flags: tuple[str, ...] = ()
    gap_alerted: bool = False
    last_change_at: datetime | None = None

    @property
    def watching_gap(self) -> bool:
        """True while the 72-hour sweeper must look at this return (sparse index entry)."""
        if self.pickup_at is None or self.gap_alerted:
            return False
        return (
            self.receipt_at is None or gap_rule(self.pickup_at, self.receipt_at, self.receipt_at) is not None
        )
