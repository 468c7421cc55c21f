"""Typed errors with stable codes.

Every failure the product reports carries one of these codes; ``docs/error-codes.md`` is the
catalogue. Codes never change meaning once released; new ones are appended.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    UNKNOWN_PLATFORM = "UNKNOWN_PLATFORM"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    ENVELOPE_INVALID = "ENVELOPE_INVALID"
    SCHEMA_INVALID = "SCHEMA_INVALID"
    PAY_PARSE_ERR = "PAY_PARSE_ERR"
    UNKNOWN_STATUS = "UNKNOWN_STATUS"
    PLATFORM_API_ERROR = "PLATFORM_API_ERROR"
    CREDENTIALS_MISSING = "CREDENTIALS_MISSING"
    CONCURRENT_UPDATE = "CONCURRENT_UPDATE"
    STORAGE_ERROR = "STORAGE_ERROR"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_AMBIGUOUS = "ORDER_AMBIGUOUS"
    BAD_REQUEST = "BAD_REQUEST"
    TRACE_NOT_FOUND = "TRACE_NOT_FOUND"
    RULE_NOT_FOUND = "RULE_NOT_FOUND"
    RULE_INVALID = "RULE_INVALID"
    RULE_CONFLICT = "RULE_CONFLICT"
    ADMIN_REQUIRED = "ADMIN_REQUIRED"
    FORCE_REFUSED = "FORCE_REFUSED"
    STATEMENT_INVALID = "STATEMENT_INVALID"
    SETTLEMENT_ENTRY_CONFLICT = "SETTLEMENT_ENTRY_CONFLICT"

    NOTIFICATION_FAILED = "NOTIFICATION_FAILED"
    NOTIFIER_CONFIG_INVALID = "NOTIFIER_CONFIG_INVALID"
    ALERT_UNDELIVERED = "ALERT_UNDELIVERED"
    SLA_POLICY_INVALID = "SLA_POLICY_INVALID"
    SLA_POLICY_CONFLICT = "SLA_POLICY_CONFLICT"
    WAREHOUSE_UNAUTHENTICATED = "WAREHOUSE_UNAUTHENTICATED"
    HEARTBEAT_INVALID = "HEARTBEAT_INVALID"
    RETURN_CODE_INVALID = "RETURN_CODE_INVALID"
    RETURN_LINES_INVALID = "RETURN_LINES_INVALID"
    SCANNER_UNAUTHENTICATED = "SCANNER_UNAUTHENTICATED"
    SCANNER_NOT_ALLOWED = "SCANNER_NOT_ALLOWED"
    SCAN_INVALID = "SCAN_INVALID"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    INVENTORY_INVALID = "INVENTORY_INVALID"
    RESERVATION_NOT_FOUND = "RESERVATION_NOT_FOUND"
    FORMULA_INVALID = "FORMULA_INVALID"
    CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
    REVIEW_NOT_FOUND = "REVIEW_NOT_FOUND"
    REVIEW_DECIDED = "REVIEW_DECIDED"
    MERGE_CONFLICT = "MERGE_CONFLICT"
    CUSTOMER_CONFIG_INVALID = "CUSTOMER_CONFIG_INVALID"
    STAGE_EVENTS_INVALID = "STAGE_EVENTS_INVALID"
    FULFILMENT_CONFIG_INVALID = "FULFILMENT_CONFIG_INVALID"
    FULFILMENT_CONFIG_CONFLICT = "FULFILMENT_CONFIG_CONFLICT"
    SLA_DEADLINE_NOT_FOUND = "SLA_DEADLINE_NOT_FOUND"
    SLA_DEADLINE_CLOSED = "SLA_DEADLINE_CLOSED"
    BUNDLE_CONFLICT = "BUNDLE_CONFLICT"
    CHANNEL_LISTING_NOT_FOUND = "CHANNEL_LISTING_NOT_FOUND"


class OmsError(Exception):
    """Base of every error the product raises on purpose.

    Parameters
    ----------
    message:
        What went wrong, for a person. Never contains personal data.
    details:
        Machine-readable context (field names, platform, order reference, ...).
    """

    code: ErrorCode = ErrorCode.SCHEMA_INVALID
    #: True when a later retry of the same input may succeed (throttling, platform outage).
    retryable: bool = False
    #: The HTTP status an API answers this error with (the operators' API, the webhook intake).
    http_status: int = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, "details": self.details}


class SignatureInvalidError(OmsError):
    code = ErrorCode.SIGNATURE_INVALID


class UnknownPlatformError(OmsError):
    code = ErrorCode.UNKNOWN_PLATFORM


class PayloadTooLargeError(OmsError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class EnvelopeInvalidError(OmsError):
    code = ErrorCode.ENVELOPE_INVALID


class SchemaInvalidError(OmsError):
    code = ErrorCode.SCHEMA_INVALID


class PaymentParseError(OmsError):
    code = ErrorCode.PAY_PARSE_ERR


class UnknownStatusError(OmsError):
    code = ErrorCode.UNKNOWN_STATUS


class PlatformApiError(OmsError):
    code = ErrorCode.PLATFORM_API_ERROR
    retryable = True


class CredentialsMissingError(OmsError):
    code = ErrorCode.CREDENTIALS_MISSING


class ConcurrentUpdateError(OmsError):
    code = ErrorCode.CONCURRENT_UPDATE
    retryable = True


class StorageError(OmsError):
    code = ErrorCode.STORAGE_ERROR
    http_status = 503
    retryable = True


class InternalError(OmsError):
    """A bug: an exception nobody typed. Recorded like any failure so nothing is lost."""

    code = ErrorCode.INTERNAL_ERROR
    retryable = True


class OrderNotFoundError(OmsError):
    code = ErrorCode.ORDER_NOT_FOUND
    http_status = 404


class OrderAmbiguousError(OmsError):
    code = ErrorCode.ORDER_AMBIGUOUS
    http_status = 409


class BadRequestError(OmsError):
    code = ErrorCode.BAD_REQUEST
    http_status = 400


class TraceNotFoundError(OmsError):
    code = ErrorCode.TRACE_NOT_FOUND
    http_status = 404


class RuleNotFoundError(OmsError):
    code = ErrorCode.RULE_NOT_FOUND
    http_status = 404


class RuleInvalidError(OmsError):
    """A cleaning rule (or a change to one) that does not validate; nothing was saved."""

    code = ErrorCode.RULE_INVALID
    http_status = 400


class RuleConflictError(OmsError):
    """A rule change that conflicts with the rules' current state (or with a concurrent change)."""

    code = ErrorCode.RULE_CONFLICT
    http_status = 409


class AdminRequiredError(OmsError):
    """The caller is authenticated (SigV4) but not one of the configured administrators."""

    code = ErrorCode.ADMIN_REQUIRED
    http_status = 403


class ForceRefusedError(OmsError):
    """A forced status change the rules (mode ``validated``) or the order's state refuse; nothing changed."""

    code = ErrorCode.FORCE_REFUSED
    http_status = 409


class StatementInvalidError(OmsError):
    """A generated settlement statement fails its ISO 20022 schema: a bug, never stored."""

    code = ErrorCode.STATEMENT_INVALID
    http_status = 500


class SettlementEntryConflictError(OmsError):
    """A settlement entry id already recorded with different content (a payout reference reused)."""

    code = ErrorCode.SETTLEMENT_ENTRY_CONFLICT
    http_status = 409


class NotificationFailedError(OmsError):
    """A notification service refused or did not answer a message; retrying later may succeed."""

    code = ErrorCode.NOTIFICATION_FAILED
    retryable = True
    http_status = 502


class NotifierConfigInvalidError(OmsError):
    """The notifier secret does not match the documented shape (docs/notifiers.md)."""

    code = ErrorCode.NOTIFIER_CONFIG_INVALID
    http_status = 500


class AlertDeliveryError(OmsError):
    """Some alerts reached no channel (failed or rate limited); the log floor has them, a retry may deliver.

    ``details["undelivered"]`` lists their ``dedupe_key``; their dedupe records were released.
    """

    code = ErrorCode.ALERT_UNDELIVERED
    retryable = True
    http_status = 503


class SlaPolicyInvalidError(OmsError):
    """An SLA policy set that does not validate (unknown zone, bad hours, no default); nothing was saved."""

    code = ErrorCode.SLA_POLICY_INVALID
    http_status = 400


class SlaPolicyConflictError(OmsError):
    """An SLA policy set published over a version other than the current one."""

    code = ErrorCode.SLA_POLICY_CONFLICT
    http_status = 409


class WarehouseUnauthenticatedError(OmsError):
    """A heartbeat from an unknown warehouse, with a wrong signature, or signed too long ago."""

    code = ErrorCode.WAREHOUSE_UNAUTHENTICATED
    http_status = 401


class HeartbeatInvalidError(OmsError):
    """A signed heartbeat whose body is not the documented JSON (counts and time); nothing was stored."""

    code = ErrorCode.HEARTBEAT_INVALID
    http_status = 400


class ReturnCodeInvalidError(OmsError):
    """A return code that is malformed, unknown or forged (one answer for all three: no oracle)."""

    code = ErrorCode.RETURN_CODE_INVALID
    http_status = 404


class ReturnLinesInvalidError(OmsError):
    """A return names lines the order does not have, or more than was ordered."""

    code = ErrorCode.RETURN_LINES_INVALID
    http_status = 422


class ScannerUnauthenticatedError(OmsError):
    """A scan without a valid device signature (unknown device, bad or stale signature)."""

    code = ErrorCode.SCANNER_UNAUTHENTICATED
    http_status = 401


class ScannerNotAllowedError(OmsError):
    """An authenticated device recording a scan its role may not (a courier's receipt)."""

    code = ErrorCode.SCANNER_NOT_ALLOWED
    http_status = 403


class ScanInvalidError(OmsError):
    """A scan body that does not validate (kind, operator, GPS, device time)."""

    code = ErrorCode.SCAN_INVALID
    http_status = 400


class InsufficientStockError(OmsError):
    """A reservation or deduction asked for more than is available; nothing was written.

    ``details["short"]`` lists ``{sku, warehouse, requested, available}`` per short line.
    """

    code = ErrorCode.INSUFFICIENT_STOCK
    http_status = 409


class InventoryInvalidError(OmsError):
    """A stock movement that would break an invariant or makes no sense (negative quantity, …)."""

    code = ErrorCode.INVENTORY_INVALID
    http_status = 400


class ReservationNotFoundError(OmsError):
    code = ErrorCode.RESERVATION_NOT_FOUND
    http_status = 404


class FormulaInvalidError(OmsError):
    """A sellable-quantity formula that does not parse or names an unknown variable/function.

    ``details["position"]`` is the 0-based character offset of the problem.
    """

    code = ErrorCode.FORMULA_INVALID
    http_status = 400


# --------------------------------------------------------------------------- issue #7: customers


class CustomerNotFoundError(OmsError):
    code = ErrorCode.CUSTOMER_NOT_FOUND
    http_status = 404


class ReviewItemNotFoundError(OmsError):
    code = ErrorCode.REVIEW_NOT_FOUND
    http_status = 404


class ReviewDecidedError(OmsError):
    """The review item was decided already (by someone else, or by an earlier retry)."""

    code = ErrorCode.REVIEW_DECIDED
    http_status = 409


class MergeConflictError(OmsError):
    """A merge or split does not fit the customers' current state (already merged, kept apart, ...)."""

    code = ErrorCode.MERGE_CONFLICT
    http_status = 409


class CustomerConfigInvalidError(OmsError):
    """The duplicate-buyer rule or the platform tag mapping does not validate."""

    code = ErrorCode.CUSTOMER_CONFIG_INVALID
    http_status = 400


class StageEventsInvalidError(OmsError):
    """A correctly signed batch of WMS stage events that does not validate; nothing was stored."""

    code = ErrorCode.STAGE_EVENTS_INVALID
    http_status = 400


class LinkTakenError(ConcurrentUpdateError):
    """An identity link was created by someone else between our read and our write: read again."""


class FulfilmentConfigInvalidError(OmsError):
    """A warehouse capacity or pre-flight configuration that does not validate; nothing was saved."""

    code = ErrorCode.FULFILMENT_CONFIG_INVALID
    http_status = 400


class FulfilmentConfigConflictError(OmsError):
    """A configuration written over a version other than the stored one (read it again)."""

    code = ErrorCode.FULFILMENT_CONFIG_CONFLICT
    http_status = 409


class SlaDeadlineNotFoundError(OmsError):
    """No SLA deadline for that order (never paid through us, or not yet processed)."""

    code = ErrorCode.SLA_DEADLINE_NOT_FOUND
    http_status = 404


class SlaDeadlineClosedError(OmsError):
    """The order's deadline is closed already (shipped, cancelled, handled, or its last level sent)."""

    code = ErrorCode.SLA_DEADLINE_CLOSED
    http_status = 409


class BundleConflictError(OmsError):
    """A bundle saved over a revision other than the stored one, or raced by another save (read again)."""

    code = ErrorCode.BUNDLE_CONFLICT
    http_status = 409


class ChannelListingNotFoundError(OmsError):
    """A channel's stock read answered, but without the listing's SKU (a wrong or deleted mapping)."""

    code = ErrorCode.CHANNEL_LISTING_NOT_FOUND
    http_status = 404
