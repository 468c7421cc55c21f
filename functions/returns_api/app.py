"""Returns API: open a return (IAM), record signed device scans, the customer's view, and for
operators the chain verification and the evidence report (IAM).

Scans and the customer's view are open routes at the gateway: a scan is authenticated here by
its device's HMAC signature (docs/returns.md), the customer's view by knowing the unforgeable code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import OmsError
from oms.http_api import error_reply, iam_caller, json_object
from oms.services.return_evidence import render_html
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
app = APIGatewayHttpResolver()


@app.post("/returns")
def open_return() -> Response[dict[str, Any]]:
    opened = composition.returns_service().open_by_operator(_json_object(), actor=_caller())
    return Response(
        status_code=201 if opened.created else 200, content_type="application/json", body=opened.as_dict()
    )


@app.get("/returns/<code>")
def customer_view(code: str) -> dict[str, Any]:
    return composition.returns_service().customer_view(unquote(code))


@app.post("/returns/<code>/scans")
def record_scan(code: str) -> Response[dict[str, Any]]:
    event = app.current_event
    body = (event.decoded_body or "").encode("utf-8")
    recorded = composition.returns_service().record_scan(
        unquote(code), path=f"/returns/{code}/scans", headers=dict(event.headers or {}), body=body
    )
    return Response(
        status_code=200 if recorded.duplicate else 201,
        content_type="application/json",
        body=recorded.as_dict(),
    )


@app.get("/returns/<code>/verify")
def verify(code: str) -> dict[str, Any]:
    record, verification = composition.returns_service().verify(unquote(code))
    return {"return_id": record.return_id, "code": record.code, **verification.as_dict()}


@app.get("/returns/<code>/evidence")
def evidence(code: str) -> Response[Any]:
    report = composition.returns_service().evidence(unquote(code))
    if (app.current_event.get_query_string_value("format") or "html") == "json":
        return Response(status_code=200, content_type="application/json", body=report)
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=render_html(report))


def _json_object() -> dict[str, Any]:
    return json_object(app.current_event)


def _caller() -> str:
    return iam_caller(app.current_event)


@app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
def typed_error(error: OmsError) -> Response[dict[str, Any]]:
    return error_reply(error)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
