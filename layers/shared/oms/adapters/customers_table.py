"""The Customers table: identity links, customers, timelines, merges, review items.

====================  =====================================  ===================================
item                  PK / SK                                GSI1
====================  =====================================  ===================================
identity link         LINK#<link> / LINK                     –
customer              CUST#<key> / #PROFILE                  –
timeline entry        CUST#<key> / TL#<event time>#<order>#v<version>   –
merge record          CUST#<survivor> / MERGE#<merge id>     –
order's customer      ORDER#<order id> / CUSTOMER            –
phone-tail index      TAIL#<hmac of last 4 digits> / <placed>#<order>   –
review item           REVIEW#<pair id> / REVIEW              REVIEWS#open / <created>#<pair id> (while open)
kept apart            APART#<pair id> / APART                –
====================  =====================================  ===================================

docs/access-patterns.md has the patterns and the why. Every state change is conditional: links,
customers, assignments, timeline entries and review items are created with
``attribute_not_exists``; a merge moves only an unmerged customer into an unmerged one, a split
only undoes the merge it names, a decision only decides an open item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from oms.adapters.aws import error_code, translate, translated
from oms.adapters.orders_table import from_attributes, sortable_time, to_attributes
from oms.domain.customers import CustomerProfile, MergeRecord, ReviewItem, TimelineEntry
from oms.domain.errors import ConcurrentUpdateError, LinkTakenError, MergeConflictError, ReviewDecidedError

PROFILE_SK = "#PROFILE"
TIMELINE_PREFIX = "TL#"
OPEN_REVIEWS = "REVIEWS#open"
_KEYS = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "type"})


def link_pk(link: str) -> str:
    return f"LINK#{link}"


def customer_pk(key: str) -> str:
    return f"CUST#{key}"


def timeline_sk(entry: TimelineEntry) -> str:
    return f"{TIMELINE_PREFIX}{sortable_time(entry.at)}#{entry.order_id}#v{entry.version:08d}"


def _strip(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in _KEYS}


class DynamoCustomerStore:
    """:class:`~oms.services.ports.CustomerStore` over the Customers table (low-level client)."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    # ----------------------------------------------------------------- links and customers

    def links(self, links: Sequence[str]) -> dict[str, str]:
        if not links:
            return {}
        keys = [to_attributes({"PK": link_pk(link), "SK": "LINK"}) for link in dict.fromkeys(links)]
        found: dict[str, str] = {}
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            with translated("BatchGetItem"):
                response = self._dynamodb.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(self._table, []):
                item = from_attributes(raw)
                found[str(item["PK"]).removeprefix("LINK#")] = str(item["customer_key"])
            request = response.get("UnprocessedKeys") or {}
        return found

    def create_customer(self, key: str, links: Sequence[str], at: datetime, order_id: str) -> None:
        profile = {
            "PK": customer_pk(key),
            "SK": PROFILE_SK,
            "type": "customer",
            "customer_key": key,
            "created_at": sortable_time(at),
            "first_order_id": order_id,
            # Created empty so that a tag can be set inside it in one update (a path needs its map).
            "tags": {},
        }
        actions = [self._put_new(profile)] + [
            self._put_new(self._link_item(link, key, at, order_id)) for link in links
        ]
        self._transact(actions, on_cancel=lambda: LinkTakenError("a link or the customer exists already"))

    def add_links(self, key: str, links: Sequence[str], at: datetime, order_id: str) -> None:
        for link in links:
            if not self._create(self._link_item(link, key, at, order_id)):
                raise LinkTakenError("the link was taken meanwhile", link_kind=link.split("#", 1)[0])

    def profile(self, key: str) -> CustomerProfile | None:
        item = self._get(customer_pk(key), PROFILE_SK)
        if not item:
            return None
        data = item
        return CustomerProfile(
            key=str(data["customer_key"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            merged_into=data.get("merged_into"),
            merge_id=data.get("merge_id"),
            members=frozenset(data.get("members") or ()),
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            platforms=frozenset(data.get("platforms") or ()),
        )

    def add_tags(self, key: str, tags: Mapping[str, str], platform: str) -> None:
        """Set standard tags the customer does not have yet (first touch wins) and note the platform."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":platform": {str(platform)}}
        sets = []
        for index, (tag, value) in enumerate(sorted(tags.items())):
            names["#tags"], names[f"#t{index}"] = "tags", tag
            values[f":v{index}"] = value
            sets.append(f"#tags.#t{index} = if_not_exists(#tags.#t{index}, :v{index})")
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_attributes({"PK": customer_pk(key), "SK": PROFILE_SK}),
            "UpdateExpression": ("SET " + ", ".join(sets) + " " if sets else "") + "ADD platforms :platform",
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": to_attributes(values),
        }
        if names:
            request["ExpressionAttributeNames"] = names
        with translated("UpdateItem"):
            self._dynamodb.update_item(**request)

    # ----------------------------------------------------------------- orders and timeline

    def assign_order(self, order_id: str, key: str, at: datetime) -> str:
        item = {
            "PK": f"ORDER#{order_id}",
            "SK": "CUSTOMER",
            "customer_key": key,
            "assigned_at": sortable_time(at),
        }
        if self._create(item):
            return key
        existing = self.order_customer(order_id)
        if existing is None:  # it existed a moment ago: the table is being tampered with
            raise ConcurrentUpdateError("the order's customer vanished", order_id=order_id)
        return existing

    def order_customer(self, order_id: str) -> str | None:
        item = self._get(f"ORDER#{order_id}", "CUSTOMER")
        return str(item["customer_key"]) if item else None

    def add_timeline_entry(self, key: str, entry: TimelineEntry) -> bool:
        item = {"PK": customer_pk(key), "SK": timeline_sk(entry), "type": "timeline", **entry.as_item()}
        return self._create(item)  # False: this change is on the timeline already (a redelivery)

    def timeline(
        self, key: str, *, since: datetime, before: str | None, limit: int
    ) -> list[tuple[str, TimelineEntry]]:
        upper = before if before is not None else f"{TIMELINE_PREFIX}~"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            # BETWEEN is inclusive: the cursor's own entry is dropped below.
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": to_attributes(
                {":pk": customer_pk(key), ":low": f"{TIMELINE_PREFIX}{sortable_time(since)}", ":high": upper}
            ),
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        with translated("Query"):
            response = self._dynamodb.query(**kwargs)
        rows = [from_attributes(raw) for raw in response.get("Items", [])]
        return [
            (str(row["SK"]), TimelineEntry.from_item(_strip(row))) for row in rows if row["SK"] != before
        ][:limit]

    # ----------------------------------------------------------------- duplicate candidates

    def index_phone_tail(self, tail_hash: str, placed_at: datetime, order_id: str, key: str) -> None:
        item = {
            "PK": f"TAIL#{tail_hash}",
            "SK": f"{sortable_time(placed_at)}#{order_id}",
            "order_id": order_id,
            "customer_key": key,
        }
        self._create(item)  # the same order indexed again (a redelivery) is already there

    def phone_tail_orders(self, tail_hash: str, start: datetime, end: datetime) -> list[tuple[str, str]]:
        with translated("Query"):
            response = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :low AND :high",
                ExpressionAttributeValues=to_attributes(
                    {
                        ":pk": f"TAIL#{tail_hash}",
                        ":low": sortable_time(start),
                        ":high": f"{sortable_time(end)}~",
                    }
                ),
                Limit=50,
            )
        rows = [from_attributes(raw) for raw in response.get("Items", [])]
        return [(str(row["order_id"]), str(row["customer_key"])) for row in rows]

    def propose(self, review: ReviewItem) -> bool:
        item = {
            "PK": f"REVIEW#{review.pair_id}",
            "SK": "REVIEW",
            "type": "review",
            "GSI1PK": OPEN_REVIEWS,
            "GSI1SK": f"{sortable_time(review.created_at)}#{review.pair_id}",
            **review.as_item(),
        }
        # False: proposed before, open, merged or rejected (a rejected pair stays rejected)
        return self._create(item)

    def review(self, pair: str) -> ReviewItem | None:
        item = self._get(f"REVIEW#{pair}", "REVIEW")
        return ReviewItem.from_item(_strip(item)) if item else None

    def open_reviews(self, *, after: str | None, limit: int) -> tuple[list[ReviewItem], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": to_attributes({":pk": OPEN_REVIEWS}),
            "Limit": limit,
        }
        if after:
            kwargs["KeyConditionExpression"] += " AND GSI1SK > :after"
            kwargs["ExpressionAttributeValues"] = to_attributes({":pk": OPEN_REVIEWS, ":after": after})
        with translated("Query"):
            response = self._dynamodb.query(**kwargs)
        rows = [from_attributes(raw) for raw in response.get("Items", [])]
        items = [ReviewItem.from_item(_strip(row)) for row in rows]
        more = response.get("LastEvaluatedKey")
        return items, (str(rows[-1]["GSI1SK"]) if more and rows else None)

    def is_kept_apart(self, pair: str) -> bool:
        return self._get(f"APART#{pair}", "APART") is not None

    # ----------------------------------------------------------------- merges, splits, decisions

    def merge(self, record: MergeRecord, *, decide: ReviewItem | None = None) -> None:
        """Move ``record.merged`` (and every customer merged into it) into ``record.survivor``, atomically."""
        unmerged = "attribute_exists(PK) AND attribute_not_exists(merged_into)"
        actions: list[dict[str, Any]] = [
            self._update(
                customer_pk(record.merged),
                PROFILE_SK,
                "SET merged_into = :survivor, merge_id = :merge",
                unmerged,
                {":survivor": record.survivor, ":merge": record.merge_id},
            ),
            self._update(
                customer_pk(record.survivor),
                PROFILE_SK,
                "ADD members :moved",
                unmerged,
                {":moved": set(record.moved)},
            ),
            self._put_new(
                {
                    "PK": customer_pk(record.survivor),
                    "SK": f"MERGE#{record.merge_id}",
                    "type": "merge",
                    **record.as_item(),
                }
            ),
        ]
        if decide is not None:
            actions.append(self._decide_action(decide))
        self._transact(
            actions,
            on_cancel=lambda: MergeConflictError(
                "the customers changed meanwhile (merged, split or decided): read them again",
                survivor=record.survivor,
                merged=record.merged,
            ),
        )

    def merge_record(self, survivor: str, merge_id: str) -> MergeRecord | None:
        item = self._get(customer_pk(survivor), f"MERGE#{merge_id}")
        return MergeRecord.from_item(_strip(item)) if item else None

    def merges(self, survivor: str) -> list[MergeRecord]:
        with translated("Query"):
            response = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues=to_attributes({":pk": customer_pk(survivor), ":prefix": "MERGE#"}),
            )
        return [MergeRecord.from_item(_strip(from_attributes(raw))) for raw in response.get("Items", [])]

    def split(self, record: MergeRecord, *, by: str, why: str, at: datetime, pair: str) -> None:
        """Undo ``record``: the merged customer stands alone again and the pair is kept apart."""
        apart = {"PK": f"APART#{pair}", "SK": "APART", "by": by, "why": why, "at": sortable_time(at)}
        actions: list[dict[str, Any]] = [
            self._update(
                customer_pk(record.merged),
                PROFILE_SK,
                "REMOVE merged_into, merge_id",
                "merged_into = :survivor AND merge_id = :merge",
                {":survivor": record.survivor, ":merge": record.merge_id},
            ),
            self._update(
                customer_pk(record.survivor),
                PROFILE_SK,
                "DELETE members :moved",
                "attribute_exists(PK) AND attribute_not_exists(merged_into)",
                {":moved": set(record.moved)},
            ),
            self._update(
                customer_pk(record.survivor),
                f"MERGE#{record.merge_id}",
                "SET undone_at = :at, undone_by = :by, undo_note = :why",
                "attribute_exists(PK) AND attribute_not_exists(undone_at)",
                {":at": sortable_time(at), ":by": by, ":why": why},
            ),
            {"Put": {"TableName": self._table, "Item": to_attributes(apart | {"merge_id": record.merge_id})}},
        ]
        self._transact(
            actions,
            on_cancel=lambda: MergeConflictError(
                "the merge is undone already, or its survivor was merged since (undo that first)",
                merge_id=record.merge_id,
            ),
        )

    def decide(self, review: ReviewItem) -> None:
        """Record a decision that merges nothing (rejected, or the pair is one customer already)."""
        self._transact(
            [self._decide_action(review)],
            on_cancel=lambda: ReviewDecidedError(
                "the review item was decided meanwhile", review_id=review.pair_id
            ),
        )

    def _decide_action(self, review: ReviewItem) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attributes({"PK": f"REVIEW#{review.pair_id}", "SK": "REVIEW"}),
                "UpdateExpression": (
                    "SET #status = :status, decided_by = :by, decided_at = :at, note = :note"
                    + (", merge_id = :merge" if review.merge_id else "")
                    + " REMOVE GSI1PK, GSI1SK"
                ),
                "ConditionExpression": "#status = :open",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": to_attributes(
                    {
                        ":status": review.status,
                        ":by": review.decided_by,
                        ":at": sortable_time(review.decided_at) if review.decided_at else None,
                        ":note": review.note or "",
                        ":open": "open",
                        **({":merge": review.merge_id} if review.merge_id else {}),
                    }
                ),
            }
        }

    # ----------------------------------------------------------------- helpers

    def _create(self, item: Mapping[str, Any]) -> bool:
        """Put an item that must not exist yet; False (and nothing written) when it does."""
        try:
            with translated("PutItem"):
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item=to_attributes(dict(item)),
                    ConditionExpression="attribute_not_exists(PK)",
                )
        except ConcurrentUpdateError:
            return False
        return True

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item, strongly consistent (links and merges must see the write that just won a race)."""
        with translated("GetItem"):
            response = self._dynamodb.get_item(
                TableName=self._table, Key=to_attributes({"PK": pk, "SK": sk}), ConsistentRead=True
            )
        item = response.get("Item")
        return from_attributes(item) if item else None

    def _update(
        self, pk: str, sk: str, expression: str, condition: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One conditional Update action of a transaction."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attributes({"PK": pk, "SK": sk}),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": to_attributes(dict(values)),
            }
        }

    def _put_new(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_attributes(dict(item)),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _link_item(self, link: str, key: str, at: datetime, order_id: str) -> dict[str, Any]:
        return {
            "PK": link_pk(link),
            "SK": "LINK",
            "type": "link",
            "customer_key": key,
            "linked_at": sortable_time(at),
            "order_id": order_id,
        }

    def _transact(self, actions: list[dict[str, Any]], *, on_cancel: Any) -> None:
        try:
            self._dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException":
                raise on_cancel() from error
            raise translate(error, "TransactWriteItems") from error
        except BotoCoreError as error:
            raise translate(error, "TransactWriteItems") from error
