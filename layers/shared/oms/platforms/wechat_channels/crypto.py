"""WeChat message-push cryptography: URL and message signatures, AES-256-CBC message envelopes.

The scheme is the one WeChat uses for every "secure mode" push (Official Accounts, mini-programs,
Channels shops): ``sha1`` over the sorted, concatenated values for signatures, and AES-256-CBC
with the key ``b64decode(EncodingAESKey + "=")``, the IV ``key[:16]`` and PKCS#7 padding to
32-byte blocks for the message, whose plaintext is::

    16 random bytes | 4-byte big-endian message length | message (UTF-8) | appid

Anything that does not decrypt into exactly that shape, for the expected appid, raises
:class:`~oms.domain.errors.SignatureInvalidError`: a ciphertext that cannot be opened cannot be
authenticated, whatever the reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from oms.domain.errors import SignatureInvalidError

#: WeChat pads to 32-byte blocks (not AES's 16), so a valid pad byte is 1..32.
PAD_BLOCK_BYTES = 32
RANDOM_PREFIX_BYTES = 16
_LENGTH_BYTES = 4
ENCODING_AES_KEY_LENGTH = 43


def _sha1_of_sorted(*values: str) -> str:
    # surrogatepass: query values come from the request; a lone surrogate must hash (and then not
    # match), not raise UnicodeEncodeError.
    joined = "".join(sorted(values)).encode("utf-8", "surrogatepass")
    return hashlib.sha1(joined, usedforsecurity=False).hexdigest()


def url_signature(token: str, timestamp: str, nonce: str) -> str:
    """The ``signature`` of a URL-verification request: sha1 of the sorted, joined values.

    Examples
    --------
    >>> url_signature("AAAAA", "1714036504", "1514711492")
    'f464b24fc39322e44b38aa78f5edd27bd1441696'
    """
    return _sha1_of_sorted(token, timestamp, nonce)


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The ``msg_signature`` of an encrypted push: sha1 of the sorted, joined four values."""
    return _sha1_of_sorted(token, timestamp, nonce, encrypt)


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind an EncodingAESKey (43 base64 characters without the final ``=``).

    Raises
    ------
    SignatureInvalidError
        When the configured key is not 43 valid base64 characters (the push cannot be opened).
    """
    if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
        raise SignatureInvalidError("EncodingAESKey must be 43 characters", reason="bad_key_length")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalidError("EncodingAESKey is not base64", reason="bad_key") from exc
    if len(key) != 32:
        raise SignatureInvalidError("EncodingAESKey does not decode to 32 bytes", reason="bad_key")
    return key


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(key[:RANDOM_PREFIX_BYTES]))


def encrypt(plaintext: str, encoding_aes_key: str, appid: str, random16: bytes) -> str:
    """Encrypt a message as WeChat does; returns the base64 ``Encrypt`` value.

    Parameters
    ----------
    plaintext:
        The message (the push's JSON text).
    encoding_aes_key:
        The app's 43-character EncodingAESKey.
    appid:
        The app id appended to the plaintext (the receiver checks it).
    random16:
        The 16 random bytes that prefix the plaintext; passed in so encryption is deterministic
        under test (WeChat draws fresh ones for every delivery, retries included).

    Examples
    --------
    >>> token = encrypt("{}", "A" * 43, "wx0123456789abcdef", b"0" * 16)
    >>> decrypt(token, "A" * 43, "wx0123456789abcdef")
    '{}'
    """
    if len(random16) != RANDOM_PREFIX_BYTES:
        raise ValueError("random16 must be exactly 16 bytes")
    message = plaintext.encode("utf-8")
    content = random16 + struct.pack(">I", len(message)) + message + appid.encode("utf-8")
    pad = PAD_BLOCK_BYTES - len(content) % PAD_BLOCK_BYTES
    encryptor = _cipher(aes_key(encoding_aes_key)).encryptor()
    ciphertext = encryptor.update(content + bytes([pad]) * pad) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def decrypt(encrypt_b64: str, encoding_aes_key: str, expected_appid: str) -> str:
    """Decrypt an ``Encrypt`` value and check that it was sealed for ``expected_appid``.

    Returns
    -------
    str
        The message text.

    Raises
    ------
    SignatureInvalidError
        For anything that is not a well-formed envelope for this app: bad base64, a length that is
        not a whole number of AES blocks, bad padding, an impossible message length, non-UTF-8
        message, or another app's id.
    """
    key = aes_key(encoding_aes_key)
    try:
        ciphertext = base64.b64decode(encrypt_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalidError("Encrypt is not base64", reason="bad_base64") from exc
    if not ciphertext or len(ciphertext) % 16:
        raise SignatureInvalidError("Encrypt is not a whole number of AES blocks", reason="bad_length")
    decryptor = _cipher(key).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()

    pad = padded[-1]
    if not 1 <= pad <= PAD_BLOCK_BYTES or pad > len(padded) or padded[-pad:] != bytes([pad]) * pad:
        raise SignatureInvalidError("Encrypt has invalid padding", reason="bad_padding")
    content = padded[:-pad]
    header = RANDOM_PREFIX_BYTES + _LENGTH_BYTES
    if len(content) < header:
        raise SignatureInvalidError("Encrypt is too short", reason="bad_length")
    (length,) = struct.unpack(">I", content[RANDOM_PREFIX_BYTES:header])
    if header + length > len(content):
        raise SignatureInvalidError("Encrypt declares a longer message than it holds", reason="bad_length")
    message, appid = content[header : header + length], content[header + length :]
    if not hmac.compare_digest(appid, expected_appid.encode("utf-8")):
        raise SignatureInvalidError("Encrypt was sealed for another app", reason="appid_mismatch")
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureInvalidError("Encrypt does not hold UTF-8 text", reason="bad_text") from exc
