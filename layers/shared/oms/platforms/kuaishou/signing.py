"""Kuaishou shop (快手小店) cryptography: API request signing and push message decryption.

The adapter, the API client and the local platform simulator share these functions.

- **API sign.** Over the request parameters except ``sign``, sorted by name and joined as
  ``k=v&…``, followed by ``&signSecret=<signSecret>`` (the sign secret differs from the app
  secret). ``MD5`` gives lowercase hex; ``HMAC_SHA256`` (keyed with the sign secret) gives Base64
  in the official sample and hex in one third-party test **[unconfirmed]**, hence configurable.
- **Push.** The body is Base64 of AES/CBC/PKCS5 ciphertext; the key is ``b64decode(message key)``
  and the IV sixteen zero bytes. There is no MAC: a ciphertext that does not decrypt to a JSON
  object naming our app is refused as unauthentic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from oms.domain.errors import SignatureInvalidError

SIGN_METHOD_MD5 = "MD5"
SIGN_METHOD_HMAC_SHA256 = "HMAC_SHA256"
SIGN_METHODS = (SIGN_METHOD_MD5, SIGN_METHOD_HMAC_SHA256)
HmacEncoding = Literal["base64", "hex"]
HMAC_ENCODINGS: tuple[HmacEncoding, ...] = ("base64", "hex")
ZERO_IV = bytes(16)


def sign_string(params: Mapping[str, str], sign_secret: str) -> str:
    """The text that is signed: sorted ``k=v`` pairs (``sign`` left out) and ``&signSecret=…``."""
    pairs = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign")
    return f"{pairs}&signSecret={sign_secret}"


def api_sign(
    params: Mapping[str, str],
    sign_secret: str,
    sign_method: str = SIGN_METHOD_MD5,
    hmac_encoding: HmacEncoding = "base64",
) -> str:
    """The ``sign`` parameter of an API request.

    Raises
    ------
    ValueError
        For a sign method or HMAC encoding not listed above.

    Examples
    --------
    >>> params = {"appkey": "ks1", "method": "open.order.detail", "version": "1",
    ...           "param": '{"oid":1}', "access_token": "t", "timestamp": "1", "signMethod": "MD5"}
    >>> api_sign(params, "s") == hashlib.md5(
    ...     b'access_token=t&appkey=ks1&method=open.order.detail&param={"oid":1}'
    ...     b"&signMethod=MD5&timestamp=1&version=1&signSecret=s").hexdigest()
    True
    """
    text = sign_string(params, sign_secret).encode("utf-8")
    if sign_method == SIGN_METHOD_MD5:
        return hashlib.md5(text).hexdigest()  # noqa: S324 - the platform's algorithm
    if sign_method == SIGN_METHOD_HMAC_SHA256:
        digest = hmac.new(sign_secret.encode("utf-8"), text, hashlib.sha256)
        if hmac_encoding == "base64":
            return base64.b64encode(digest.digest()).decode("ascii")
        if hmac_encoding == "hex":
            return digest.hexdigest()
        raise ValueError(f"unsupported Kuaishou HMAC encoding {hmac_encoding!r}")
    raise ValueError(f"unsupported Kuaishou signMethod {sign_method!r}; expected one of {SIGN_METHODS}")


def _key(message_key: str) -> bytes:
    try:
        key = base64.b64decode(message_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalidError("Kuaishou message key is not base64", reason="bad_key") from exc
    if len(key) not in (16, 24, 32):
        raise SignatureInvalidError("Kuaishou message key is not an AES key", reason="bad_key")
    return key


def encrypt(plaintext: str, message_key: str) -> str:
    """Encrypt a push as Kuaishou does: Base64(AES-CBC(PKCS5(plaintext)), zero IV).

    Examples
    --------
    >>> key = base64.b64encode(bytes(range(16))).decode()
    >>> decrypt(encrypt('{"test":true}', key), key)
    '{"test":true}'
    """
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(message_key)), modes.CBC(ZERO_IV)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def decrypt(ciphertext_b64: str | bytes, message_key: str) -> str:
    """The plaintext of a push body.

    Raises
    ------
    SignatureInvalidError
        Bad base64, a length that is not whole AES blocks, bad padding or non-UTF-8 text: a body
        that does not open cannot be authentic.
    """
    key = _key(message_key)
    try:
        ciphertext = base64.b64decode(ciphertext_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalidError("Kuaishou push is not base64", reason="bad_base64") from exc
    if not ciphertext or len(ciphertext) % 16:
        raise SignatureInvalidError("Kuaishou push is not whole AES blocks", reason="bad_length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(ZERO_IV)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode("utf-8")
    except ValueError as exc:  # bad padding, or UnicodeDecodeError (a ValueError)
        raise SignatureInvalidError("Kuaishou push does not decrypt", reason="bad_plaintext") from exc
