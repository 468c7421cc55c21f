"""The operators' API (IAM-authorised): orders, traces, cleaning rules and DLQ redrive.

Every route is one call into a service from :mod:`oms.composition`; errors are typed and answered
with their code and the error's ``http_status``. Who called is the caller's IAM identity (SigV4),
recorded by the changes that are audited (rules, redrives).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.domain.errors import BadRequestError, OmsError
from oms.http_api import error_reply, iam_caller, json_object
from oms.tracing import handler_tracer

if TYPE_CHECKING:  # the rules' models load with the cleaning-rules service, not on every route (D181)
    from oms.domain.rules import RuleChange

if __package__:
    from .customers_routes import router as customers_router
    from .dlq_routes import router as dlq_router
    from .fulfillment import router as fulfillment_router
    from .fulfilment_operations import router as fulfilment_operations_router
    from .stock_listings import router as stock_listings_router
else:  # the Lambda runtime imports app.py as a top-level module from the code directory
    from customers_routes import router as customers_router  # type: ignore[no-redef]
    from dlq_routes import router as dlq_router  # type: ignore[no-redef]
    from fulfillment import router as fulfillment_router  # type: ignore[no-redef]
    from fulfilment_operations import router as fulfilment_operations_router  # type: ignore[no-redef]
    from stock_listings import router as stock_listings_router  # type: ignore[no-redef]

logger = Logger()
tracer = handler_tracer()
app = APIGatewayHttpResolver()
app.include_router(customers_router)
app.include_router(fulfillment_router)
app.include_router(dlq_router)
app.include_router(stock_listings_router)
app.include_router(fulfilment_operations_router)


@app.get("/orders/<order_id>")
def get_order(order_id: str) -> dict[str, Any]:
    view = composition.order_queries().get(unquote(order_id))
    return {
        "order": view.order.model_dump(mode="json"),
        "history": [entry.model_dump(mode="json") for entry in view.history],
    }


@app.get("/traces")
def search_traces() -> dict[str, Any]:
    query = app.current_event.query_string_parameters or {}
    return composition.trace_queries().search(query).as_dict()


@app.get("/traces/<trace_id>")
def get_trace(trace_id: str) -> dict[str, Any]:
    return composition.trace_queries().get(unquote(trace_id)).as_dict()


@app.get("/cleaning-rules")
def list_cleaning_rules() -> dict[str, Any]:
    rules = composition.cleaning_rules_admin()
    in_force = rules.in_force()
    return {
        "revision": in_force.revision,
        "in_force": [rule.model_dump(mode="json") for rule in in_force.rules],
        "versions": [rule.model_dump(mode="json") for rule in rules.all_versions()],
    }


@app.post("/cleaning-rules")
def create_cleaning_rule() -> Response[dict[str, Any]]:
    change = composition.cleaning_rules_admin().create(_json_object(), actor=_caller())
    return Response(status_code=201, content_type="application/json", body=_change(change))


@app.get("/cleaning-rules/<rule_id>")
def get_cleaning_rule(rule_id: str) -> dict[str, Any]:
    found = composition.cleaning_rules_admin().describe(unquote(rule_id))
    return {
        "in_force": [rule.model_dump(mode="json") for rule in found.in_force],
        "versions": [rule.model_dump(mode="json") for rule in found.versions],
        "changes": [change.model_dump(mode="json") for change in found.changes],
    }


@app.patch("/cleaning-rules/<rule_id>")
def change_cleaning_rule(rule_id: str) -> dict[str, Any]:
    return _change(
        composition.cleaning_rules_admin().change(unquote(rule_id), _json_object(), actor=_caller())
    )


@app.get("/cleaning-rules/<rule_id>/rollout")
def cleaning_rule_rollout(rule_id: str) -> dict[str, Any]:
    version = app.current_event.get_query_string_value("version")
    if version is not None and not version.isdigit():
        raise BadRequestError("version is a number", version=version[:20])
    view = composition.cleaning_rules_admin().rollout(unquote(rule_id), int(version) if version else None)
    return view.as_dict()


@app.post("/dlq/redrive")
def redrive_dlq() -> dict[str, Any]:
    context = app.lambda_context
    report = composition.dlq_redrive().redrive(
        _json_object(), actor=_caller(), seconds_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    return report.as_dict()


# ------------------------------------------------------------------ order state consistency (#3)


@app.post("/orders/diagnose")
def diagnose_orders() -> dict[str, Any]:
    return composition.order_diagnostics().diagnose(_json_object()).as_dict()


@app.post("/orders/<order_id>/force-status")
def force_order_status(order_id: str) -> dict[str, Any]:
    outcome = composition.forced_corrections().force_one(unquote(order_id), _json_object(), actor=_caller())
    return outcome.as_dict()


@app.post("/orders/force-status")
def force_order_statuses() -> dict[str, Any]:
    request_id, outcomes = composition.forced_corrections().force_many(_json_object(), actor=_caller())
    totals: dict[str, int] = {}
    for outcome in outcomes:
        totals[outcome.result] = totals.get(outcome.result, 0) + 1
    return {"request_id": request_id, "totals": totals, "orders": [outcome.as_dict() for outcome in outcomes]}


@app.get("/audit/forced-changes")
def forced_changes() -> dict[str, Any]:
    now = composition.utc_now()
    start = _time_parameter("from", now - timedelta(days=1))
    end = _time_parameter("to", now)
    entries = composition.forced_corrections().audit(start, end)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "changes": [
            {
                "order_id": entry.order_id,
                "at": entry.recorded_at.isoformat(),
                "event_id": entry.event_id,
                "status_before": entry.status_before,
                "status_after": entry.status_after,
                **(entry.operator.model_dump(mode="json", exclude_none=True) if entry.operator else {}),
            }
            for entry in entries
        ],
    }


def _time_parameter(name: str, default: datetime) -> datetime:
    value = app.current_event.get_query_string_value(name)
    if not value:
        return default
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise BadRequestError(f"{name} is an ISO 8601 time", value=value[:40]) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json_object() -> dict[str, Any]:
    return json_object(app.current_event)


def _caller() -> str:
    return iam_caller(app.current_event)


def _change(change: RuleChange) -> dict[str, Any]:
    return {
        "rule": change.rule.model_dump(mode="json"),
        "superseded": change.superseded.model_dump(mode="json") if change.superseded else None,
        "revision": change.ruleset.revision,
        "change": change.audit.model_dump(mode="json"),
    }


@app.exception_handler(OmsError)  # type: ignore[untyped-decorator]
def typed_error(error: OmsError) -> Response[dict[str, Any]]:
    return error_reply(error)


# ------------------------------------------------------------------ inventory (docs/inventory.md)
# In this module, not a Router module beside it: Lambda loads app.py as a top-level module from
# the function's CodeUri, where `functions.admin_api.<module>` does not exist.


@app.get("/inventory/<sku>")
def get_inventory(sku: str) -> dict[str, Any]:
    return composition.inventory_admin().view(unquote(sku))


@app.put("/inventory/<sku>")
def change_inventory(sku: str) -> dict[str, Any]:
    return composition.inventory_admin().change(unquote(sku), _json_object(), actor=_caller())


@app.post("/inventory/cart-events")
def post_cart_events() -> dict[str, Any]:
    return composition.surge_breaker().cart_events(_json_object())


@app.delete("/inventory/<sku>/surge")
def clear_surge_breaker(sku: str) -> dict[str, Any]:
    return {"cleared": composition.surge_breaker().clear(unquote(sku))}


@app.put("/inventory-formulas/<scope>")
def save_inventory_formula(scope: str) -> dict[str, Any]:
    return composition.inventory_admin().save_formula(unquote(scope), _json_object(), actor=_caller())


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# ------------------------------------------------------------------ bundles (issue #4)
if __package__:
    from .bundle_routes import router as bundle_router
else:
    from bundle_routes import router as bundle_router  # type: ignore[no-redef]
app.include_router(bundle_router)
