"""TOP (Taobao Open Platform) request signing.

Sort every parameter but ``sign`` by name, concatenate ``name + value``; ``md5``:
``MD5(secret + s + secret)``, ``hmac``: ``HMAC-MD5(key=secret, s)``; uppercase hex. Timestamps are
``yyyy-MM-dd HH:mm:ss`` in UTC+8 and must be within ±10 minutes of the gateway's clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGN_METHODS = ("md5", "hmac")


def sign(params: Mapping[str, str], secret: str, sign_method: str = "md5") -> str:
    """The TOP signature of ``params``.

    Examples
    --------
    The official vector:

    >>> sign({"app_key": "12345678", "fields": "num_iid,title,nick,price,num", "format": "json",
    ...       "method": "taobao.item.seller.get", "num_iid": "11223344", "session": "test",
    ...       "sign_method": "md5", "timestamp": "2016-01-01 12:00:00", "v": "2.0"}, "helloworld")
    '66987CB115214E59E6EC978214934FB8'
    """
    joined = "".join(key + value for key, value in sorted(params.items()) if key != "sign").encode("utf-8")
    key = secret.encode("utf-8")
    if sign_method == "hmac":
        return hmac.new(key, joined, hashlib.md5).hexdigest().upper()
    if sign_method != "md5":
        raise ValueError("sign_method must be md5 or hmac")
    return hashlib.md5(key + joined + key, usedforsecurity=False).hexdigest().upper()
