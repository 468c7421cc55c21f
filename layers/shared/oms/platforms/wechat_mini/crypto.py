"""WeChat Pay v3 cryptography: the notification signature and the ``resource`` AEAD envelope.

- **Signature.** ``Wechatpay-Signature`` is base64 RSA-SHA256 (PKCS#1 v1.5) over
  ``f"{Wechatpay-Timestamp}\\n{Wechatpay-Nonce}\\n{body}\\n"`` with the private key of the WeChat
  Pay platform certificate named by ``Wechatpay-Serial``; it is checked with that certificate's
  public key (a PEM certificate or a PEM public key, as configured).
- **Resource.** ``AEAD_AES_256_GCM`` keyed with the merchant's 32-byte APIv3 key, the resource's
  ``nonce`` (12 ASCII bytes) and ``associated_data``; ``ciphertext`` is base64 of the encrypted
  bytes followed by the 16-byte tag.

Every failure raises :class:`~oms.domain.errors.SignatureInvalidError`: what cannot be verified
or opened cannot be trusted, whatever the reason.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from oms.domain.errors import SignatureInvalidError

PLATFORM = "wechat_mini"
API_V3_KEY_BYTES = 32
#: Prefix WeChat Pay puts on deliberately invalid "signature probe" notifications.
SIGNATURE_PROBE_PREFIX = "WECHATPAY/SIGNTEST/"


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The bytes the platform signs: ``timestamp\\nnonce\\nbody\\n``."""
    return (
        timestamp.encode("utf-8", "surrogatepass")
        + b"\n"
        + nonce.encode("utf-8", "surrogatepass")
        + b"\n"
        + body
        + b"\n"
    )


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """The RSA public key of a PEM certificate or PEM public key (``CredentialsMissing``-free: typed)."""
    data = pem.encode("ascii", "ignore")
    key: object
    try:
        if b"BEGIN CERTIFICATE" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SignatureInvalidError("platform certificate is not a PEM RSA key", platform=PLATFORM) from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureInvalidError("platform certificate is not an RSA key", platform=PLATFORM)
    return key


def verify_signature(public_key_pem: str, timestamp: str, nonce: str, body: bytes, signature: str) -> None:
    """Raise ``SignatureInvalidError`` unless ``signature`` is the platform's over the message."""
    if signature.startswith(SIGNATURE_PROBE_PREFIX):
        raise SignatureInvalidError("signature probe", platform=PLATFORM, reason="probe")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalidError("Wechatpay-Signature is not base64", platform=PLATFORM) from exc
    key = load_public_key(public_key_pem)
    try:
        key.verify(raw_signature, signed_message(timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureInvalidError("Wechatpay-Signature mismatch", platform=PLATFORM) from None


def sign(private_key: rsa.RSAPrivateKey, timestamp: str, nonce: str, body: bytes) -> str:
    """The ``Wechatpay-Signature`` the platform would send (tests and the local simulator)."""
    raw = private_key.sign(signed_message(timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def _aead(api_v3_key: str) -> AESGCM:
    key = api_v3_key.encode("utf-8")
    if len(key) != API_V3_KEY_BYTES:
        raise SignatureInvalidError("APIv3 key must be 32 bytes", platform=PLATFORM, reason="bad_key")
    return AESGCM(key)


def decrypt_resource(api_v3_key: str, nonce: str, associated_data: str, ciphertext: str) -> str:
    """Open a notification ``resource`` (AEAD_AES_256_GCM) and return its UTF-8 plaintext."""
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
        plaintext = _aead(api_v3_key).decrypt(
            nonce.encode("utf-8"), sealed, associated_data.encode("utf-8") or None
        )
        return plaintext.decode("utf-8")
    except (binascii.Error, ValueError, InvalidTag, UnicodeError) as exc:
        raise SignatureInvalidError(
            "resource does not decrypt with the APIv3 key", platform=PLATFORM
        ) from exc


def encrypt_resource(api_v3_key: str, nonce: str, associated_data: str, plaintext: str) -> str:
    """Seal a resource like WeChat Pay does (tests and the local simulator)."""
    sealed = _aead(api_v3_key).encrypt(
        nonce.encode("utf-8"), plaintext.encode("utf-8"), associated_data.encode("utf-8") or None
    )
    return base64.b64encode(sealed).decode("ascii")
