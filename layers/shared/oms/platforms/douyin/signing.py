"""Douyin Shop (抖店) signatures: push verification and API request signing.

Both the adapter and the local platform simulator use these functions, so the simulator checks
exactly what production sends.

Sources: PyPI ``doudian`` 0.6 ``doudian/core.py``; github fudiwei/DotNetCore.SKIT.FlurlHttpClient.ByteDance
(``DouyinShopRequestSignInterceptor``, ``VerifyEventSignature``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

SIGN_METHOD_HMAC_SHA256 = "hmac-sha256"
SIGN_METHOD_MD5 = "md5"
SIGN_METHODS = (SIGN_METHOD_HMAC_SHA256, SIGN_METHOD_MD5)

#: The platform's wall clock (China Standard Time, no daylight saving).
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "UTC+08:00")

TimestampFormat = Literal["datetime", "unix"]
TIMESTAMP_FORMATS: tuple[TimestampFormat, ...] = ("datetime", "unix")


def event_sign(app_key: str, body: bytes, app_secret: str) -> str:
    """The ``event-sign`` header of a push: lowercase hex MD5 of ``app_key + raw body + app_secret``.

    Parameters
    ----------
    app_key:
        The app's key (the push carries it in the ``app-id`` header).
    body:
        The push body exactly as received, byte for byte.
    app_secret:
        The app's secret.

    Examples
    --------
    >>> event_sign("k", b"[]", "s") == hashlib.md5(b"k[]s").hexdigest()
    True
    """
    # MD5 is the platform's choice, not ours; the secret makes it a (weak) MAC.
    # surrogatepass: an app key taken from a hostile header must hash, not fail to encode.
    digest = hashlib.md5(  # noqa: S324
        app_key.encode("utf-8", "surrogatepass") + body + app_secret.encode("utf-8", "surrogatepass")
    )
    return digest.hexdigest()


def param_json(params: dict[str, Any]) -> str:
    """The ``param_json`` body: keys sorted at every depth, no spaces, non-ASCII kept as is.

    Examples
    --------
    >>> param_json({"b": 1, "a": {"d": "抖", "c": [2, 1]}})
    '{"a":{"c":[2,1],"d":"抖"},"b":1}'
    """
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def api_sign(  # noqa: PLR0917 - positional order is the interface the simulator shares
    app_key: str,
    app_secret: str,
    method: str,
    param_json: str,
    timestamp: str,
    v: str = "2",
    sign_method: str = SIGN_METHOD_HMAC_SHA256,
) -> str:
    """The ``sign`` query parameter of an API request.

    The string signed is ``secret + "app_key" + key + "method" + method + "param_json" +
    param_json + "timestamp" + timestamp + "v" + v + secret``; ``hmac-sha256`` keys HMAC-SHA256
    with the secret, ``md5`` hashes the string; both give lowercase hex.

    Parameters
    ----------
    app_key, app_secret:
        The app's credentials.
    method:
        The API name with dots (``order.orderDetail``).
    param_json:
        The request body exactly as sent (see :func:`param_json`).
    timestamp:
        The ``timestamp`` query parameter exactly as sent.
    v:
        API version, ``"2"``.
    sign_method:
        ``"hmac-sha256"`` (default) or ``"md5"``.

    Raises
    ------
    ValueError
        For any other ``sign_method``.

    Examples
    --------
    >>> api_sign("test_key", "test_secret", "order.orderDetail", '{"order_id":"123"}',
    ...          "2024-01-01 12:00:00")
    '314938a67105e139ea293d4679642af9ad41935cdce25371d3289d25dc516a6e'
    """
    plain = (
        f"{app_secret}app_key{app_key}method{method}param_json{param_json}"
        f"timestamp{timestamp}v{v}{app_secret}"
    ).encode()
    if sign_method == SIGN_METHOD_HMAC_SHA256:
        return hmac.new(app_secret.encode(), plain, hashlib.sha256).hexdigest()
    if sign_method == SIGN_METHOD_MD5:
        return hashlib.md5(plain).hexdigest()  # noqa: S324 - the platform's algorithm
    raise ValueError(f"unsupported Douyin sign_method {sign_method!r}; expected one of {SIGN_METHODS}")


def api_method(path: str) -> str:
    """The API name for a gateway path: ``/order/orderDetail`` → ``order.orderDetail``."""
    return path.strip("/").replace("/", ".")


def api_timestamp(moment: datetime, timestamp_format: TimestampFormat = "datetime") -> str:
    """The ``timestamp`` parameter for ``moment``.

    ``"datetime"`` gives ``yyyy-MM-dd HH:mm:ss`` in China Standard Time (one SDK), ``"unix"``
    gives Unix seconds (another SDK). Which one the gateway demands is unconfirmed, hence the
    choice. A naive ``moment`` is taken as UTC.
    """
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if timestamp_format == "unix":
        return str(int(aware.timestamp()))
    if timestamp_format == "datetime":
        return aware.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M:%S")
    raise ValueError(f"unsupported Douyin timestamp format {timestamp_format!r}")
