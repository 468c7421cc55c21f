"""``POST|GET /webhooks/{platform}``: verify the signature, enqueue, reply as the platform requires."""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.observability import count, messages_received
from oms.platforms import supported_platforms
from oms.platforms.base import WebhookRequest
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
app = APIGatewayHttpResolver()


@app.route("/webhooks/<platform>", method=["GET", "POST"])
def receive(platform: str) -> Response[str]:
    event = app.current_event
    body = event.body or ""
    request = WebhookRequest(
        method=event.request_context.http.method,
        headers={name.lower(): value for name, value in (event.headers or {}).items()},
        query=dict(event.query_string_parameters or {}),
        body=base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8"),
    )
    result = composition.webhook_intake().receive(platform, request)
    if platform not in supported_platforms():
        platform = "unknown"  # the path is the caller's: never a metric dimension of its choosing
    if result.error_code:
        count("WebhooksRejected", platform=platform, code=result.error_code)
        logger.warning("webhook rejected", extra={"platform": platform, "code": result.error_code})
    else:
        count("WebhooksAccepted", platform=platform)
        messages_received(result.envelopes)
        trace_ids = [envelope.trace_id for envelope in result.envelopes]
        if len(trace_ids) == 1:  # the usual push: this request's log lines join its message's trace
            logger.set_correlation_id(trace_ids[0])
        if trace_ids:
            tracer.put_annotation(key="trace_id", value=trace_ids[0])
            tracer.put_metadata(key="trace_ids", value=trace_ids)
        logger.info("webhook accepted", extra={"platform": platform, "trace_ids": trace_ids})
    reply = result.reply
    return Response(status_code=reply.status, content_type=reply.content_type, body=reply.body)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
