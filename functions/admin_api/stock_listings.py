"""Admin route of the channel stock sync (issue #4 item 3): which channel product/SKU a SKU is."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router

from oms import composition
from oms.http_api import iam_caller, json_object

router = Router()  # type: ignore[no-untyped-call]


@router.put("/inventory/<sku>/listings")
def save_listing(sku: str) -> dict[str, Any]:
    """Map the SKU to one channel shop's product/SKU (and its allocation); the poller syncs it."""
    # Imported here: the stock-sync domain (inventory, allocation) is this route's alone, and the
    # admin API's other routes should not load it at every cold start (D181).
    from oms.domain.stock_sync import listing_from_request

    listing = listing_from_request(unquote(sku), json_object(router.current_event))
    composition.stock_sync_store().put_listing(
        listing, iam_caller(router.current_event), composition.utc_now()
    )
    return {
        "sku": listing.sku,
        "channels": composition.inventory_admin().view(listing.sku).get("channels", []),
    }
