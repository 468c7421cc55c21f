"""What every HTTP API handler shares: the JSON body, the IAM caller, typed errors as replies.

Each API function (admin, returns) has its own Powertools resolver; these helpers take the current
event so the functions stay independent of each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response

from oms.domain.errors import BadRequestError, OmsError

logger = Logger(child=True)


def json_object(event: Any) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``); ``BAD_REQUEST`` otherwise."""
    try:
        body = event.json_body if event.body else {}
    except ValueError as error:
        raise BadRequestError("the body is not JSON") from error
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body


def iam_caller(event: Any) -> str:
    """The caller's IAM identity (the API's IAM authorizer put it in the request context)."""
    try:
        return str(event.request_context.authorizer.iam.user_arn or "unknown")
    except (AttributeError, KeyError, TypeError):
        return "unknown"


def error_reply(error: OmsError) -> Response[dict[str, Any]]:
    """A typed error as its HTTP status and ``{"error": <code>, "message", "details"}``."""
    logger.info("request refused", extra={"code": str(error.code)})
    return Response(
        status_code=error.http_status,
        content_type="application/json",
        body={"error": str(error.code), "message": error.message, "details": error.details},
    )


def aware_time(value: Any, field: str) -> datetime:
    """An ISO 8601 time with its zone (``Z`` accepted), from a request or a schedule's input."""
    try:
        moment = datetime.fromisoformat(str(value or "").replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(f"{field} is not an ISO 8601 time", field=field) from None
    if moment.tzinfo is None:
        raise BadRequestError(f"{field} has no time zone", field=field)
    return moment
