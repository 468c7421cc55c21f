"""``POST /wms/heartbeat`` and ``POST /wms/orders/events``: a warehouse reports it is alive, and
what happened to its orders (sent to WMS, printed, picked up), signed with its own secret.

Headers ``X-Warehouse-Id``, ``X-Timestamp``, ``X-Signature`` (docs/fulfilment-sla.md); body
``{"pending_print", "printed", "picked_up", "time"}``. Typed errors answer with their status
(401 unauthenticated, 400 invalid body); nothing is stored unless the signature is right.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import OmsError
from oms.observability import count
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
app = APIGatewayHttpResolver()


def _signed_request() -> tuple[str, str, str, bytes]:
    """Warehouse id, timestamp, signature and the raw body the signature covers."""
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    body = event.decoded_body or ""
    return (
        headers.get("x-warehouse-id", ""),
        headers.get("x-timestamp", ""),
        headers.get("x-signature", ""),
        body.encode("utf-8") if isinstance(body, str) else body,
    )


@app.post("/wms/heartbeat")
def heartbeat() -> dict[str, Any]:
    result = composition.warehouse_heartbeats().receive(*_signed_request())
    count("HeartbeatsReceived", warehouse=str(result["warehouse"]))
    return result


@app.post("/wms/orders/events")
def order_stage_events() -> dict[str, Any]:
    """A batch of ``{order_id, stage, at}`` (sent to WMS, printed, picked up), signed like a heartbeat."""
    result = composition.warehouse_stage_events().receive(*_signed_request())
    count("StageEventsRecorded", int(result["recorded"]), warehouse=str(result["warehouse"]))
    return result


@app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
def typed_error(error: OmsError) -> Response[dict[str, Any]]:
    logger.info("warehouse request refused", extra={"code": str(error.code)})
    count("HeartbeatsRefused", code=str(error.code))
    return Response(
        status_code=error.http_status,
        content_type="application/json",
        body={"error": str(error.code), "message": error.message},
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
