"""Deterministic identifiers: a replay never needs a read to find an order."""

from __future__ import annotations

import base64
import hashlib

UNIFIED_ID_PREFIX = "o_"


def unified_order_id(platform: str, shop_id: str, platform_order_id: str) -> str:
    """The unified order id of a platform order: stable, opaque, 26 characters.

    >>> unified_order_id("douyin", "shop1", "6918...")[:2]
    'o_'
    """
    digest = hashlib.blake2b(f"{platform}|{shop_id}|{platform_order_id}".encode(), digest_size=15).digest()
    return UNIFIED_ID_PREFIX + base64.b32encode(digest).decode().lower()


def is_unified_order_id(reference: str) -> bool:
    return reference.startswith(UNIFIED_ID_PREFIX) and len(reference) == len(UNIFIED_ID_PREFIX) + 24


def content_hash(*parts: str | bytes) -> str:
    """A stable hex digest of the given parts, used where a platform gives no message id."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else part.encode())
        hasher.update(b"\x00")
    return hasher.hexdigest()
