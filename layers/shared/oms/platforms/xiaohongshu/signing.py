"""Xiaohongshu (小红书) signatures: the current ``common_controller`` sign, the legacy REST sign,
and the push signature built from the legacy rule.

The adapter, the API client and the local platform simulator all use these functions, so the
simulator checks exactly what production sends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

API_VERSION = "2.0"


def _md5(*parts: str | bytes) -> str:
    # MD5 is the platform's choice, not ours; the secret makes it a (weak) MAC.
    # surrogatepass: values taken from hostile headers must hash (and then not match), not raise.
    digest = hashlib.md5()  # noqa: S324
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part)
    return digest.hexdigest()


def api_sign(method: str, app_id: str, timestamp: str, app_secret: str, version: str = API_VERSION) -> str:
    """The ``sign`` of a ``common_controller`` request.

    ``md5(method + "?appId=" + appId + "&timestamp=" + timestamp + "&version=" + version +
    appSecret)`` as lowercase hex; ``accessToken`` and the business fields are not signed.

    Examples
    --------
    >>> api_sign("order.getOrderDetail", "app", "1700000000", "secret") == hashlib.md5(
    ...     b"order.getOrderDetail?appId=app&timestamp=1700000000&version=2.0secret").hexdigest()
    True
    """
    return _md5(f"{method}?appId={app_id}&timestamp={timestamp}&version={version}{app_secret}")


def legacy_sign(path: str, pairs: Mapping[str, str], app_secret: str) -> str:
    """The legacy REST ``sign``: ``md5(path + "?" + sorted k=v pairs joined by & + app-secret)``.

    ``pairs`` holds the query parameters and the signed headers (``app-key``, ``timestamp``).

    Examples
    --------
    The official vector (PLATFORMS.md):

    >>> legacy_sign("/ark/open_api/v1/items",
    ...             {"page_no": "1", "page_size": "50", "status": "0", "app-key": "xhs",
    ...              "timestamp": "1469902537"}, "9a539709cafc1efc9ef05838be468a28")
    '72be6fad4dd0e5104dbdebbcdadb2a06'
    """
    joined = "&".join(f"{key}={pairs[key]}" for key in sorted(pairs))
    return _md5(f"{path}?{joined}{app_secret}")


def push_sign(
    path: str, app_key: str, timestamp: str, body: bytes, app_secret: str, *, sign_body: bool = True
) -> str:
    """The ``sign`` header of a push. **[unconfirmed]**: the rule is not on an official page.

    It is the legacy rule over ``app-key`` and ``timestamp`` at ``path`` (the push URL's path),
    with the raw body bytes inserted before the secret when ``sign_body`` is true:
    without it the signature would not cover the content. Both the path and ``sign_body`` are
    configuration (secrets ``push_sign_path`` / ``push_sign_body``).
    """
    joined = f"app-key={app_key}&timestamp={timestamp}"
    return _md5(f"{path}?{joined}", body if sign_body else b"", app_secret)
