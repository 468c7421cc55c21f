"""``POST|GET /webhooks/{platform}``: verify the signature, enqueue, reply as the platform requires."""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.platforms.base import WebhookRequest

logger = Logger()
tracer = Tracer()
metrics = Metrics()
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
    metrics.add_dimension(name="platform", value=platform[:64])
    if result.error_code:
        metrics.add_dimension(name="code", value=result.error_code)
        metrics.add_metric(name="WebhooksRejected", unit=MetricUnit.Count, value=1)
        logger.warning("webhook rejected", extra={"platform": platform, "code": result.error_code})
    else:
        metrics.add_metric(name="WebhooksAccepted", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="MessagesEnqueued", unit=MetricUnit.Count, value=result.enqueued)
    reply = result.reply
    return Response(status_code=reply.status, content_type=reply.content_type, body=reply.body)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
