"""Admin routes of the fulfilment SLA (issue #5): the dashboard's data."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from oms import composition

router = Router()  # type: ignore[no-untyped-call]


@router.get("/fulfillment/sla")
def sla_dashboard() -> dict[str, Any]:
    """Promised vs achieved, on-time rate and timeout reasons, grouped by channel, warehouse or sku."""
    return composition.sla_reports().summary(router.current_event.query_string_parameters or {})
