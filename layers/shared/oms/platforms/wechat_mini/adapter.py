"""The WeChat mini-program orders adapter: WeChat Pay v3 payment and refund notifications.

Protocol (WeChat Pay APIv3 notifications):

- ``POST`` to the ``notify_url`` (``/webhooks/wechat_mini?app_id=<mchid or appid>`` when several
  merchants share a deployment) with headers ``Wechatpay-Signature``, ``-Timestamp``, ``-Nonce``,
  ``-Serial`` and the JSON body ``{id, create_time, event_type, resource_type, summary,
  resource{original_type, algorithm, ciphertext, associated_data, nonce}}``.
- The signature (:mod:`.crypto`) is checked with the platform certificate named by
  ``Wechatpay-Serial``; the ``resource`` opens with the APIv3 key (``AEAD_AES_256_GCM``).
- Reply HTTP 204 with no body; anything else makes WeChat Pay retry (over about 24 h).

One app's secrets::

    {"appid": "wx…", "mchid": "1900000109", "api_v3_key": "<32 characters>",
     "platform_certificates": {"<serial>": "-----BEGIN CERTIFICATE-----…"},
     "app_secret": "…"}   # for the shipping-management API (access token)

``platform_certificates`` may hold several serials (WeChat Pay rotates certificates and signs with
the new one while the old one is still valid); a PEM public key (the newer "WeChat Pay public
key" mode, ``PUB_KEY_ID_…`` serials) works the same way.

Freshness: ``Wechatpay-Timestamp`` is signed. WeChat Pay's documentation tells merchants to
refuse a notification whose timestamp is more than 5 minutes from their clock, which implies that
each retry is signed afresh; that is not stated in so many words **[unconfirmed]**, so the window
(:data:`FRESHNESS`, 5 minutes either way) is configuration: the intake's ``freshness`` override
(``{"wechat_mini": FreshnessWindow(...)}``) widens it if genuine retries are ever refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import SchemaInvalidError, SignatureInvalidError
from oms.domain.ids import content_hash
from oms.domain.model import OrderEvent, Platform
from oms.platforms._common import envelope_payload, load_json_object, secret
from oms.platforms.base import (
    AppSecrets,
    FramedMessage,
    FreshnessWindow,
    HttpTransport,
    WebhookReply,
    WebhookRequest,
)
from oms.platforms.wechat_channels.client import DEFAULT_BASE_URL
from oms.platforms.wechat_mini import crypto
from oms.platforms.wechat_mini.client import WechatMiniClient
from oms.platforms.wechat_mini.parsing import parse_message

PLATFORM = "wechat_mini"
MAX_BODY_BYTES = 64 * 1024
#: Default freshness of ``Wechatpay-Timestamp`` (see the module docstring: configurable).
FRESHNESS = FreshnessWindow(max_age=timedelta(minutes=5), max_ahead=timedelta(minutes=5))
SIGNATURE_HEADER = "Wechatpay-Signature"
TIMESTAMP_HEADER = "Wechatpay-Timestamp"
NONCE_HEADER = "Wechatpay-Nonce"
SERIAL_HEADER = "Wechatpay-Serial"
SUPPORTED_ALGORITHM = "AEAD_AES_256_GCM"
#: Notifications about an order: payments and refunds. Others are acknowledged, never enqueued.
ORDER_EVENT_PREFIXES = ("TRANSACTION.", "REFUND.")


def _secret(secrets: AppSecrets, key: str) -> str:
    return secret(secrets, key, platform=PLATFORM)


class WechatMiniAdapter:
    """:class:`~oms.platforms.base.PlatformAdapter` for mini-program orders paid with WeChat Pay."""

    platform = Platform.WECHAT_MINI
    max_body_bytes = MAX_BODY_BYTES
    default_base_url = DEFAULT_BASE_URL
    freshness: FreshnessWindow | None = FRESHNESS

    def app_id(self, request: WebhookRequest) -> str | None:
        """The ``app_id`` query parameter of the notify URL, if any."""
        return request.query.get("app_id") or None

    def handshake(self, request: WebhookRequest, secrets: AppSecrets) -> WebhookReply | None:
        """WeChat Pay has no URL check."""
        return None

    def verify(self, request: WebhookRequest, secrets: AppSecrets) -> None:
        """Check ``Wechatpay-Signature`` with the platform certificate ``Wechatpay-Serial`` names.

        Raises
        ------
        SignatureInvalidError
            Not a POST, a header missing, an unknown serial, or a signature that does not verify.
        """
        if request.method.upper() != "POST":
            raise SignatureInvalidError("WeChat Pay notifications are POST requests", platform=PLATFORM)
        signature, timestamp, nonce, serial = (
            request.header(name) for name in (SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SERIAL_HEADER)
        )
        if not (signature and timestamp and nonce and serial):
            raise SignatureInvalidError("notification lacks a Wechatpay-* header", platform=PLATFORM)
        certificates = secrets.get("platform_certificates")
        pem = certificates.get(serial) if isinstance(certificates, Mapping) else None
        if not isinstance(pem, str) or not pem:
            raise SignatureInvalidError(
                "unknown Wechatpay-Serial", platform=PLATFORM, reason="unknown_serial"
            )
        crypto.verify_signature(pem, timestamp, nonce, request.body, signature)

    def signed_at(self, request: WebhookRequest) -> datetime | None:
        """``Wechatpay-Timestamp`` (Unix seconds, covered by the signature) in UTC."""
        value = (request.header(TIMESTAMP_HEADER) or "").strip()
        if not (value.isascii() and value.isdigit()):
            raise SignatureInvalidError("Wechatpay-Timestamp is not a Unix time", platform=PLATFORM)
        try:
            return datetime.fromtimestamp(int(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise SignatureInvalidError("Wechatpay-Timestamp is out of range", platform=PLATFORM) from None

    def frame(self, request: WebhookRequest, secrets: AppSecrets) -> list[FramedMessage]:
        """One message: raw = the body, plaintext = the notification with ``resource`` decrypted.

        The dedupe id hashes (event type, order, transaction or refund id, state): a retry of the
        same notification, whatever its signature, dedupes, and each state change is its own event.
        """
        notification = load_json_object(request.body, what="WeChat Pay notification")
        resource = decrypt_notification(notification, secrets)
        event_type = str(notification.get("event_type") or "")
        order_id = resource.get("out_trade_no")
        opened: dict[str, Any] = {
            key: notification[key]
            for key in ("id", "create_time", "event_type", "resource_type", "summary")
            if key in notification
        }
        encrypted = notification.get("resource")
        if isinstance(encrypted, Mapping) and encrypted.get("original_type"):
            opened["original_type"] = encrypted["original_type"]
        opened["resource"] = resource
        state = resource.get("trade_state") or resource.get("refund_status") or ""
        return [
            FramedMessage(
                dedupe_id=content_hash(
                    event_type,
                    str(order_id or ""),
                    str(resource.get("refund_id") or resource.get("transaction_id") or ""),
                    str(state),
                ),
                raw=request.body,
                shop_id=str(resource.get("appid") or secrets.get("appid") or "") or None,
                platform_order_id=str(order_id)
                if isinstance(order_id, str | int) and order_id != ""
                else None,
                event_hint=event_type or None,
                plaintext=json.dumps(opened, ensure_ascii=False, separators=(",", ":")),
                is_test=not event_type.startswith(ORDER_EVENT_PREFIXES),
            )
        ]

    def acknowledge(self) -> WebhookReply:
        """HTTP 204, no body: what WeChat Pay v3 takes as "received"."""
        return WebhookReply(status=204, body="", content_type="text/plain")

    def decode(self, envelope: IntakeEnvelope) -> dict[str, Any]:
        """The opened notification (or a shipping snapshot) as a JSON object."""
        return load_json_object(envelope_payload(envelope), what="WeChat Pay notification")

    def needs_fetch(self, message: dict[str, Any]) -> bool:
        """Never: a notification carries the whole payment (or refund) fact."""
        return False

    def parse(
        self, message: dict[str, Any], snapshot: dict[str, Any] | None, envelope: IntakeEnvelope
    ) -> OrderEvent:
        """The canonical event (see :mod:`.parsing` for the mapping)."""
        return parse_message(message, snapshot, envelope)

    def client(
        self,
        secrets: AppSecrets,
        transport: HttpTransport,
        *,
        base_url: str | None = None,
        clock: Callable[[], datetime],
    ) -> WechatMiniClient:
        return WechatMiniClient(
            _secret(secrets, "appid"),
            _secret(secrets, "app_secret"),
            _secret(secrets, "mchid"),
            transport,
            clock=clock,
            base_url=base_url,
        )


def decrypt_notification(notification: Mapping[str, Any], secrets: AppSecrets) -> dict[str, Any]:
    """The decrypted ``resource`` of a verified notification, as a JSON object.

    Raises
    ------
    SignatureInvalidError
        The resource is missing, uses another algorithm, or does not open with the APIv3 key.
    SchemaInvalidError
        It opens to something that is not a JSON object.
    """
    resource = notification.get("resource")
    if not isinstance(resource, Mapping):
        raise SignatureInvalidError("notification has no resource", platform=PLATFORM)
    if resource.get("algorithm") != SUPPORTED_ALGORITHM:
        raise SignatureInvalidError("resource algorithm is not AEAD_AES_256_GCM", platform=PLATFORM)
    nonce, associated, ciphertext = (resource.get(key) for key in ("nonce", "associated_data", "ciphertext"))
    if not isinstance(nonce, str) or not isinstance(ciphertext, str):
        raise SignatureInvalidError("resource lacks nonce or ciphertext", platform=PLATFORM)
    if associated is not None and not isinstance(associated, str):
        raise SchemaInvalidError("resource.associated_data is not text", field="resource.associated_data")
    plaintext = crypto.decrypt_resource(_secret(secrets, "api_v3_key"), nonce, associated or "", ciphertext)
    return load_json_object(plaintext, what="decrypted resource")


ADAPTER = WechatMiniAdapter()
