"""What every IAM-authorised HTTP API function shares: the JSON body, the caller, typed errors.

Handlers (``functions/*/app.py``) build their own Powertools ``APIGatewayHttpResolver`` and use
these, so a bad body, the audit identity and an ``OmsError``'s answer are the same everywhere.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from oms.domain.errors import BadRequestError, OmsError


def json_object(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty); BadRequestError otherwise."""
    try:
        body = app.current_event.json_body if app.current_event.body else {}
    except ValueError as error:
        raise BadRequestError("the body is not JSON") from error
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body


def caller(app: APIGatewayHttpResolver) -> str:
    """The caller's IAM identity (the API's IAM authorizer put it in the request context)."""
    event: Any = app.current_event
    try:
        return str(event.request_context.authorizer.iam.user_arn or "unknown")
    except (AttributeError, KeyError, TypeError):
        return "unknown"


def answer_typed_errors(app: APIGatewayHttpResolver, logger: Logger) -> None:
    """Answer every ``OmsError`` with its ``http_status``, code, message and details."""

    @app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
    def typed_error(error: OmsError) -> Response[dict[str, Any]]:
        logger.info("request refused", extra={"code": str(error.code)})
        return Response(
            status_code=error.http_status,
            content_type="application/json",
            body={"error": str(error.code), "message": error.message, "details": error.details},
        )
