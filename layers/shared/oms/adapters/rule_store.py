"""Cleaning rules in the Ops table: one item per version, an audit trail, and the rule set in force.

===================  ==================================  ======================================
item                 PK / SK                             GSI1
===================  ==================================  ======================================
rule version         RULE#<id> / VERSION#<v, 6 digits>   RULES / <id>#<v, 6 digits>
rule change (audit)  RULE#<id> / CHANGE#<revision, 8>    -
rule set in force    RULESET / CURRENT                   -
===================  ==================================  ======================================

The sanitizer reads only ``RULESET / CURRENT`` (one GetItem, cached). Every change writes the
version, the version it supersedes, the audit entry and the new rule set in one transaction,
conditional on the rule set's revision, so two operators changing rules at once cannot lose an
update, and the set the sanitizer reads always matches the versions' own items.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from oms.adapters.aws import error_code, translate, translated
from oms.adapters.orders_table import from_attributes, to_attributes
from oms.domain.errors import RuleConflictError
from oms.domain.rules import ManagedRule, RuleAudit, RuleChange, RuleSet

RULESET_KEY = {"PK": "RULESET", "SK": "CURRENT"}
VERSION_PREFIX = "VERSION#"
CHANGE_PREFIX = "CHANGE#"
RULES_INDEX_PK = "RULES"


def rule_pk(rule_id: str) -> str:
    return f"RULE#{rule_id}"


def version_item(rule: ManagedRule) -> dict[str, Any]:
    return {
        "PK": rule_pk(rule.rule_id),
        "SK": f"{VERSION_PREFIX}{rule.version:06d}",
        "type": "rule_version",
        "GSI1PK": RULES_INDEX_PK,
        "GSI1SK": f"{rule.rule_id}#{rule.version:06d}",
        "rule": rule.model_dump_json(),
    }


def audit_item(audit: RuleAudit) -> dict[str, Any]:
    return {
        "PK": rule_pk(audit.rule_id),
        "SK": f"{CHANGE_PREFIX}{audit.revision:08d}",
        "type": "rule_change",
        "change": audit.model_dump_json(),
    }


def ruleset_item(ruleset: RuleSet) -> dict[str, Any]:
    # The set travels as one JSON string: it is read whole, and a string keeps the item small.
    return {
        **RULESET_KEY,
        "type": "ruleset",
        "revision": ruleset.revision,
        "ruleset": ruleset.model_dump_json(),
    }


class DynamoRuleStore:
    """:class:`~oms.services.ports.RuleStore` over the Ops table (low-level client)."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def ruleset(self) -> RuleSet:
        with translated("GetItem", item="ruleset"):
            item = self._dynamodb.get_item(TableName=self._table, Key=to_attributes(RULESET_KEY)).get("Item")
        if item is None:
            return RuleSet()
        return RuleSet.model_validate_json(str(from_attributes(item)["ruleset"]))

    def latest_version(self, rule_id: str) -> ManagedRule | None:
        with translated("Query", rule_id=rule_id):
            page = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues=to_attributes({":pk": rule_pk(rule_id), ":prefix": VERSION_PREFIX}),
                ScanIndexForward=False,
                Limit=1,
            )
        items = page.get("Items", [])
        return ManagedRule.model_validate_json(str(from_attributes(items[0])["rule"])) if items else None

    def versions(self, rule_id: str) -> list[ManagedRule]:
        items = self._query_all(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=to_attributes({":pk": rule_pk(rule_id), ":prefix": VERSION_PREFIX}),
        )
        return [ManagedRule.model_validate_json(str(item["rule"])) for item in items]

    def all_versions(self) -> list[ManagedRule]:
        items = self._query_all(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues=to_attributes({":pk": RULES_INDEX_PK}),
        )
        return [ManagedRule.model_validate_json(str(item["rule"])) for item in items]

    def audit(self, rule_id: str) -> list[RuleAudit]:
        items = self._query_all(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=to_attributes({":pk": rule_pk(rule_id), ":prefix": CHANGE_PREFIX}),
        )
        return [RuleAudit.model_validate_json(str(item["change"])) for item in items]

    def save(self, change: RuleChange) -> None:
        ruleset_put: dict[str, Any] = {
            "TableName": self._table,
            "Item": to_attributes(ruleset_item(change.ruleset)),
        }
        if change.expected_revision == 0:
            ruleset_put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            ruleset_put["ConditionExpression"] = "revision = :expected"
            ruleset_put["ExpressionAttributeValues"] = to_attributes({":expected": change.expected_revision})
        version_put: dict[str, Any] = {
            "TableName": self._table,
            "Item": to_attributes(version_item(change.rule)),
        }
        if change.created:
            version_put["ConditionExpression"] = "attribute_not_exists(PK)"
        actions: list[dict[str, Any]] = [
            {"Put": ruleset_put},
            {"Put": version_put},
            {"Put": {"TableName": self._table, "Item": to_attributes(audit_item(change.audit))}},
        ]
        if change.superseded is not None:
            actions.append(
                {"Put": {"TableName": self._table, "Item": to_attributes(version_item(change.superseded))}}
            )
        try:
            self._dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException":
                reasons = [
                    reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])
                ]
                raise RuleConflictError(
                    "the rules changed while this change was made; read them again and retry",
                    rule_id=change.rule.rule_id,
                    reasons=json.dumps(reasons),
                ) from error
            raise translate(error, "TransactWriteItems", rule_id=change.rule.rule_id) from error
        except BotoCoreError as error:
            raise translate(error, "TransactWriteItems", rule_id=change.rule.rule_id) from error

    def _query_all(self, **request: Any) -> list[dict[str, Any]]:
        request["TableName"] = self._table
        items: list[dict[str, Any]] = []
        with translated("Query"):
            while True:
                page = self._dynamodb.query(**request)
                items += [from_attributes(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    return items
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
