"""Bundle definitions in the Inventory table: one kit item per SKU that is a bundle or a component.

=====================  =====================================  =====================================
item                   PK / SK                                attributes
=====================  =====================================  =====================================
kit (a bundle)         STOCK#<bundle> / KIT                   role=bundle, components, formula?, revision
kit (a component)      STOCK#<component> / KIT                role=component, bundles (string set)
=====================  =====================================  =====================================

A save is one ``TransactWriteItems``: the bundle's kit item (conditioned on the revision the
operator read, and on the SKU not being a component of another bundle) and each component's kit
item (conditioned on it not being a bundle; the bundle added to / removed from its ``bundles``
set). Two saves racing to nest bundles (A into B while B into A) touch the same items: one of
them is cancelled, so nesting is impossible, not just checked (D162).

The kit item sits in the SKU's ``STOCK#`` partition beside its levels and listings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated
from oms.adapters.orders_table import from_attributes, to_attributes
from oms.domain.bundles import BundleDefinition
from oms.domain.errors import BundleConflictError, InventoryInvalidError
from oms.domain.sellable import Bundle

#: BatchGetItem takes at most 100 keys.
_BATCH = 100


def kit_key(sku: str) -> dict[str, str]:
    return {"PK": f"STOCK#{sku}", "SK": "KIT"}


class DynamoBundles:
    """:class:`~oms.services.ports.BundleCatalog` over the Inventory table."""

    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table = table
        self._db = dynamodb

    def definitions(self, skus: Iterable[str]) -> dict[str, BundleDefinition]:
        """The bundles among ``skus`` (one BatchGetItem per 100 SKUs, strongly consistent)."""
        found: dict[str, BundleDefinition] = {}
        for item in self._kits(skus).values():
            if item.get("role") == "bundle":
                definition = _definition_from(item)
                found[definition.sku] = definition
        return found

    def part_of(self, sku: str) -> list[str]:
        """The bundles ``sku`` is a component of."""
        item = self._kits([sku]).get(sku, {})
        return sorted(str(b) for b in item.get("bundles", ())) if item.get("role") == "component" else []

    def save(
        self,
        bundle: Bundle,
        formula: str | None,
        revision: int | None,
        *,
        actor: str,
        at: datetime,
    ) -> BundleDefinition:
        """Create (``revision`` None) or replace revision ``revision`` of the bundle."""
        kits = self._kits([bundle.sku, *bundle.components])
        current = kits.get(bundle.sku)
        if current is not None and current.get("role") == "component" and current.get("bundles"):
            raise InventoryInvalidError(
                "a component of another bundle cannot be a bundle (no nesting)",
                sku=bundle.sku,
                part_of=sorted(str(b) for b in current["bundles"]),
            )
        nested = sorted(sku for sku in bundle.components if kits.get(sku, {}).get("role") == "bundle")
        if nested:
            raise InventoryInvalidError(
                "a component cannot be a bundle (no nesting)", sku=bundle.sku, nested=nested
            )
        stored = int(current["revision"]) if current is not None and current.get("role") == "bundle" else None
        if stored != revision:
            raise BundleConflictError(
                "give the revision the bundle has now (GET /inventory/{sku})"
                if stored is not None
                else "the bundle does not exist: omit revision to create it",
                sku=bundle.sku,
                stored=stored,
                given=revision,
            )
        saved = BundleDefinition(bundle, formula, 1 if stored is None else stored + 1)
        before = {str(k) for k in current.get("components", {})} if stored is not None and current else set()
        items = [self._bundle_write(saved, stored, actor, at)]
        items += [self._component_write(bundle.sku, sku, add=True) for sku in sorted(bundle.components)]
        items += [
            self._component_write(bundle.sku, sku, add=False)
            for sku in sorted(before - set(bundle.components))
        ]
        with translated("save bundle", sku=bundle.sku):
            try:
                self._db.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error_code(error) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise
                raise BundleConflictError(
                    "another save changed the bundle or its components meanwhile: read again", sku=bundle.sku
                ) from error
        return saved

    # --- items ---------------------------------------------------------------------------------

    def _bundle_write(
        self, saved: BundleDefinition, stored: int | None, actor: str, at: datetime
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            ":bundle": "bundle",
            ":components": dict(saved.bundle.components),
            ":revision": saved.revision,
            ":actor": actor,
            ":at": at.isoformat(),
        }
        update = (
            "SET #role = :bundle, components = :components, revision = :revision,"
            " updated_by = :actor, updated_at = :at"
        )
        if saved.formula is None:
            update += " REMOVE formula"
        else:
            update = update.replace("SET ", "SET formula = :formula, ", 1)
            values[":formula"] = saved.formula
        if stored is None:
            # New: nothing there, or a SKU that was a component of bundles since redefined.
            condition = "attribute_not_exists(PK) OR (#role = :component AND attribute_not_exists(bundles))"
            values[":component"] = "component"
        else:
            condition = "#role = :bundle AND revision = :stored"
            values[":stored"] = stored
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attributes(kit_key(saved.sku)),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": to_attributes(values),
            }
        }

    def _component_write(self, bundle_sku: str, sku: str, *, add: bool) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attributes(kit_key(sku)),
                "UpdateExpression": "SET #role = :component ADD bundles :bundle"
                if add
                else "DELETE bundles :bundle",
                "ConditionExpression": "attribute_not_exists(PK) OR #role = :component"
                if add
                else "#role = :component",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": {
                    ":component": {"S": "component"},
                    ":bundle": {"SS": [bundle_sku]},
                },
            }
        }

    def _kits(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = [kit_key(sku) for sku in dict.fromkeys(skus)]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH):
            request: Mapping[str, Any] = {
                self._table: {
                    "Keys": [to_attributes(key) for key in keys[start : start + _BATCH]],
                    "ConsistentRead": True,
                }
            }
            while request:
                with translated("read bundle definitions"):
                    reply = self._db.batch_get_item(RequestItems=request)
                for item in reply.get("Responses", {}).get(self._table, []):
                    plain = from_attributes(item)
                    found[str(plain["PK"]).removeprefix("STOCK#")] = plain
                request = reply.get("UnprocessedKeys") or {}
        return found


def _definition_from(item: Mapping[str, Any]) -> BundleDefinition:
    components = {str(sku): int(units) for sku, units in item["components"].items()}
    formula = item.get("formula")
    return BundleDefinition(
        Bundle(str(item["PK"]).removeprefix("STOCK#"), components),
        None if formula is None else str(formula),
        int(item["revision"]),
    )
