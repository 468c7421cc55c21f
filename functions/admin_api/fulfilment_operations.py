"""Admin routes of the fulfilment operators (issue #5): SLA policy versions, handled orders, warehouse
capacity and backups, the pre-flight configuration and its held orders (docs/fulfilment-sla.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from oms import composition
from oms.domain.errors import BadRequestError

router = Router()  # type: ignore[no-untyped-call]


def _body() -> bytes:
    return (router.current_event.decoded_body or "").encode("utf-8")


@router.put("/fulfillment/sla-policies")
def publish_sla_policies() -> dict[str, Any]:
    """Publish the next policy version and move the open deadlines it affects (repeatable)."""
    return composition.sla_operations().publish_policies(_body())


@router.post("/fulfillment/orders/<order_id>/handled")
def mark_handled(order_id: str) -> dict[str, Any]:
    """An operator took the order in hand: no further escalation level fires."""
    return composition.sla_operations().handled(order_id, _body())


@router.get("/fulfillment/orders/<order_id>")
def order_fulfilment(order_id: str) -> dict[str, Any]:
    """The order's deadline, escalation level, routing decision (and reason) and pre-flight result."""
    return composition.sla_operations().order(order_id)


@router.get("/fulfillment/warehouses")
def warehouses() -> dict[str, Any]:
    return {"warehouses": composition.sla_operations().warehouses()}


@router.put("/fulfillment/warehouses/<warehouse_id>")
def put_warehouse(warehouse_id: str) -> dict[str, Any]:
    """Capacity, backup warehouse and overflow share (versioned: send the next version)."""
    return composition.sla_operations().put_capacity(warehouse_id, _body())


@router.put("/fulfillment/preflight-config")
def put_preflight_config() -> dict[str, Any]:
    return composition.sla_operations().put_preflight(_body())


@router.get("/fulfillment/preflight")
def preflight() -> dict[str, Any]:
    state = (router.current_event.query_string_parameters or {}).get("state", "blocked")
    if state != "blocked":
        raise BadRequestError("state is blocked (the held orders)", state=state[:20])
    return {"state": state, "orders": composition.preflight_screen().blocked()}


@router.post("/fulfillment/preflight/recheck")
def recheck_preflight() -> dict[str, Any]:
    """Re-run every held order against the current configuration; release those that pass."""
    return composition.preflight_screen().recheck()
