"""The operators' API (IAM-authorised): ``GET /orders/{order_id}`` for now."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import ErrorCode, OmsError

logger = Logger()
tracer = Tracer()
app = APIGatewayHttpResolver()

_STATUS = {
    ErrorCode.ORDER_NOT_FOUND: 404,
    ErrorCode.ORDER_AMBIGUOUS: 409,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.STORAGE_ERROR: 503,
}


@app.get("/orders/<order_id>")
def get_order(order_id: str) -> dict[str, Any]:
    view = composition.order_queries().get(unquote(order_id))
    return {
        "order": view.order.model_dump(mode="json"),
        "history": [entry.model_dump(mode="json") for entry in view.history],
    }


@app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
def typed_error(error: OmsError) -> Response[dict[str, Any]]:
    logger.info("request refused", extra={"code": str(error.code)})
    return Response(
        status_code=_STATUS.get(error.code, 500),
        content_type="application/json",
        body={"error": str(error.code), "message": error.message, "details": error.details},
    )


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
