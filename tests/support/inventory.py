"""The Inventory table as template.yaml defines it, on any DynamoDB endpoint (moto, dynalite)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from local.template import AppModel

ROOT = Path(__file__).resolve().parents[2]


@cache
def inventory_table_spec() -> dict[str, Any]:
    table = AppModel.load(str(ROOT / "template.yaml")).tables["InventoryTable"]
    return {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "GlobalSecondaryIndexes": table["GlobalSecondaryIndexes"],
    }


def create_inventory_table(dynamodb: Any, name: str, *, indexes: bool = True) -> str:
    """Create the table (keys and indexes from the template) and wait until it is active."""
    spec = dict(inventory_table_spec())
    if not indexes:
        spec.pop("GlobalSecondaryIndexes")
        spec["AttributeDefinitions"] = [
            a for a in spec["AttributeDefinitions"] if a["AttributeName"] in ("PK", "SK")
        ]
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **spec)
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    return name
