"""Admin route of bundles (kits; issue #4): define which components, in which units, a bundle SKU is."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router

from oms import composition
from oms.http_api import iam_caller, json_object

router = Router()  # type: ignore[no-untyped-call]


@router.put("/inventory-bundles/<sku>")
def save_bundle(sku: str) -> dict[str, Any]:
    """Create or replace (with the revision read) a bundle; answers the SKU's view with the bundle."""
    composition.bundle_admin().save(
        unquote(sku), json_object(router.current_event), iam_caller(router.current_event)
    )
    return composition.inventory_admin().view(unquote(sku))
