"""The signatures the notification services check (the local notification sink checks them too).

Pure functions, no I/O: ``docs/notifiers.md`` cites the vectors the unit tests pin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk custom robot: base64(HMAC-SHA256(key=secret, msg=ts + "\\n" + secret)), not URL-encoded."""
    message = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark custom bot: base64(HMAC-SHA256(key=ts + "\\n" + secret, msg=empty))."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def aliyun_percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun's RPC signature wants it (space → %20, ``*`` → %2A, ``~`` kept)."""
    return quote(value, safe="~")


def aliyun_rpc_signature(params: Mapping[str, str], access_key_secret: str, method: str = "POST") -> str:
    """Aliyun RPC signature v1 (HMAC-SHA1) over every parameter but ``Signature``."""
    canonical = "&".join(
        f"{aliyun_percent_encode(key)}={aliyun_percent_encode(params[key])}"
        for key in sorted(params)
        if key != "Signature"
    )
    string_to_sign = f"{method}&{aliyun_percent_encode('/')}&{aliyun_percent_encode(canonical)}"
    digest = hmac.new(f"{access_key_secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
