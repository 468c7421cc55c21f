"""Customers across platforms: link orders to customers, raise duplicate reviews, answer timelines.

:class:`CustomerIdentity` consumes ``OrderChanged`` messages (at least once, unordered): every
step is idempotent (links and assignments are created once, a timeline entry is keyed by the
change, tags are set, review items are created once per pair), so a redelivered change has no
second effect. :class:`CustomerDesk` is the operators' side: the 90-day timeline, the review
queue and its decisions, manual merges and their undo. docs/customers.md describes the rules.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oms.domain.customers import (
    CustomerProfile,
    DuplicateRule,
    MergeRecord,
    OrderFacts,
    PhoneHasher,
    ReviewItem,
    TagMapping,
    TimelineEntry,
    customer_key_for,
    evaluate,
    identity_links,
    is_customer_key,
    link_kind,
    pair_id,
    phone_tail,
    window,
)
from oms.domain.errors import (
    BadRequestError,
    ConcurrentUpdateError,
    CustomerNotFoundError,
    LinkTakenError,
    MergeConflictError,
    OrderAmbiguousError,
    ReviewDecidedError,
    ReviewItemNotFoundError,
)
from oms.domain.ids import is_unified_order_id
from oms.domain.order_events import OrderChanged
from oms.services.ports import Clock, CustomerStore, OrdersRepository

TIMELINE_DAYS = 90
MAX_PAGE = 100
#: Link reads and writes race other orders of the same buyer; each lost race means one more read.
MAX_ATTEMPTS = 5
#: A merge chain longer than this is a bug (merges only ever go into customers that are not merged).
MAX_HOPS = 16


def root_of(store: CustomerStore, key: str) -> CustomerProfile:
    """The customer ``key`` is (or was merged into), following merges."""
    seen = []
    current = key
    for _ in range(MAX_HOPS):
        profile = store.profile(current)
        if profile is None:
            raise CustomerNotFoundError("no such customer", customer_key=current)
        if profile.merged_into is None:
            return profile
        seen.append(current)
        current = profile.merged_into
    raise MergeConflictError("merge chain too long", chain=seen)


@dataclass(frozen=True, slots=True)
class Consumed:
    """What one order change did to the customers (for metrics and tests)."""

    customer_key: str
    new_entry: bool
    reviews_raised: tuple[str, ...] = ()
    merges: tuple[str, ...] = field(default=())


class CustomerIdentity:
    """Links each changed order to a customer, keeps its timeline and tags, and raises duplicate reviews."""

    def __init__(
        self,
        store: CustomerStore,
        orders: OrdersRepository,
        *,
        phone_hash: PhoneHasher,
        rule: DuplicateRule,
        tags: TagMapping,
        clock: Clock,
    ) -> None:
        self._store = store
        self._orders = orders
        self._phone_hash = phone_hash
        self._rule = rule
        self._tags = tags
        self._clock = clock

    def consume(self, changed: OrderChanged) -> Consumed:
        order = changed.order
        now = self._clock()
        links = identity_links(order, self._phone_hash) or [f"order#{order.order_id}"]
        assigned = self._store.order_customer(order.order_id)
        key, merges = self._resolve(links, order.order_id, now, home=assigned)
        if assigned is None:
            key = self._store.assign_order(order.order_id, key, now)
        order_tags, customer_tags = self._tags.apply(str(order.platform), order.tags)
        entry = TimelineEntry.of(
            order,
            change_id=changed.change_id,
            at=changed.entry.event_time,
            event_type=changed.entry.event_type,
            status_before=None if changed.status_before is None else str(changed.status_before),
            refund_before=None if changed.refund_before is None else str(changed.refund_before),
            tags=order_tags,
        )
        new_entry = self._store.add_timeline_entry(key, entry)
        self._store.add_tags(key, customer_tags, str(order.platform))
        # Duplicates are looked for on the change that created the order (its receiver arrives with
        # it on every platform that sends one; a redelivery of it looks again, idempotently); later
        # changes add nothing the rule reads.
        raised = self._detect(changed, key, now) if changed.status_before is None else []
        return Consumed(
            customer_key=key, new_entry=new_entry, reviews_raised=tuple(raised), merges=tuple(merges)
        )

    # ----------------------------------------------------------------- identity

    def _resolve(
        self, links: Sequence[str], order_id: str, now: datetime, *, home: str | None
    ) -> tuple[str, list[str]]:
        """The customer these links name, creating or joining customers as the links demand.

        Every write is conditional, so two orders of one new buyer racing here end as one customer:
        the loser's create is cancelled by the winner's link and its next read finds the winner.
        """
        for _ in range(MAX_ATTEMPTS):
            found = self._store.links(links)
            owners = list(
                dict.fromkeys(([home] if home else []) + [found[link] for link in links if link in found])
            )
            if not owners:
                key = customer_key_for(links[0])
                try:
                    self._store.create_customer(key, links, now, order_id)
                except LinkTakenError:
                    continue
                return key, []
            try:
                merges = self._join(owners, found, now)
                missing = [link for link in links if link not in found]
                if missing:
                    self._store.add_links(owners[0], missing, now, order_id)
            except (LinkTakenError, MergeConflictError):
                continue
            return owners[0], merges
        raise ConcurrentUpdateError("identity links kept changing", order_id=order_id)

    def _join(self, owners: Sequence[str], found: Mapping[str, str], now: datetime) -> list[str]:
        """Merge the customers deterministic links say are one (unless a person kept them apart)."""
        if len(owners) < 2:
            return []  # one customer named: nothing to join (the usual case, no extra read)
        roots: dict[str, CustomerProfile] = {}
        kinds: dict[str, set[str]] = {}  # root → the kinds of link that named it
        for owner in owners:
            root = root_of(self._store, owner)
            roots.setdefault(root.key, root)
            named = kinds.setdefault(root.key, set())
            named.update(link_kind(link) for link, by in found.items() if by == owner)
        if len(roots) < 2:
            return []
        ordered = sorted(roots.values(), key=lambda profile: (profile.created_at, profile.key))
        survivor, merges = ordered[0], []
        for other in ordered[1:]:
            pair = pair_id(survivor.key, other.key)
            if self._store.is_kept_apart(pair):
                continue
            record = MergeRecord(
                merge_id=f"m_auto_{pair}",
                survivor=survivor.key,
                merged=other.key,
                moved=(other.key, *sorted(other.members)),
                by="system",
                why="deterministic link: same " + ", ".join(sorted(kinds[other.key])),
                at=now,
                automatic=True,
            )
            self._store.merge(record)
            merges.append(record.merge_id)
        return merges

    # ----------------------------------------------------------------- duplicate buyers

    def _detect(self, changed: OrderChanged, key: str, now: datetime) -> list[str]:
        order = changed.order
        tail = phone_tail(order.receiver.phone if order.receiver else None)
        if tail is None:
            return []
        tail_hash = self._phone_hash(f"tail:{tail}")
        placed_at = OrderFacts.of(order, key).placed_at
        start, end = window(self._rule, placed_at)
        candidates = [
            pair for pair in self._store.phone_tail_orders(tail_hash, start, end) if pair[0] != order.order_id
        ]
        self._store.index_phone_tail(tail_hash, placed_at, order.order_id, key)
        if not candidates:
            return []
        facts = OrderFacts.of(order, root_of(self._store, key).key)
        raised = []
        for other_order_id, other_key in candidates:
            if other_order_id == order.order_id:
                continue
            other_root = root_of(self._store, other_key).key
            if other_root == facts.customer_key:
                continue
            other = self._orders.get(other_order_id)
            if other is None:
                continue
            finding = evaluate(self._rule, facts, OrderFacts.of(other, other_root))
            if finding is None or self._store.is_kept_apart(finding.pair_id):
                continue
            if self._store.propose(ReviewItem.of(finding, now)):
                raised.append(finding.pair_id)
        return raised


# --------------------------------------------------------------------------- the operators' side


@dataclass(frozen=True, slots=True)
class TimelinePage:
    customer: CustomerProfile
    since: datetime
    entries: list[TimelineEntry]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        orders: dict[str, dict[str, Any]] = {}
        for entry in self.entries:  # newest first: the first entry of an order is its latest state
            orders.setdefault(
                entry.order_id,
                {
                    "order_id": entry.order_id,
                    "platform": entry.platform,
                    "platform_order_id": entry.platform_order_id,
                    "status": entry.status_after,
                    "refund_status": entry.refund_after,
                    "total_amount": entry.total_amount,
                    "currency": entry.currency,
                    "tags": entry.tags,
                },
            )
        return {
            "customer": {
                "customer_key": self.customer.key,
                "merged_keys": sorted(self.customer.members),
                "created_at": self.customer.created_at.isoformat(),
                "platforms": sorted(self.customer.platforms),
                "tags": self.customer.tags,
            },
            "since": self.since.isoformat(),
            "orders": list(orders.values()),
            "entries": [entry.model_dump(mode="json", exclude_none=True) for entry in self.entries],
            "next_cursor": self.next_cursor,
        }


class CustomerDesk:
    """Timelines, the review queue, merges and splits, for the admin API."""

    def __init__(self, store: CustomerStore, orders: OrdersRepository, *, clock: Clock) -> None:
        self._store = store
        self._orders = orders
        self._clock = clock

    # ----------------------------------------------------------------- timeline

    def timeline(self, ref: str, *, limit: int = 50, cursor: str | None = None) -> TimelinePage:
        """The customer behind ``ref`` and their last 90 days, newest first.

        One Query per customer merged into this one (usually one or two), each reading only the
        page it contributes, ``Limit`` bounded.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequestError(f"limit is 1..{MAX_PAGE}", limit=limit)
        before = _decode_cursor(cursor) if cursor else None
        root = root_of(self._store, self._customer_for(ref.strip()))
        since = self._clock() - timedelta(days=TIMELINE_DAYS)
        rows: list[tuple[str, TimelineEntry]] = []
        for key in (root.key, *sorted(root.members)):
            rows += self._store.timeline(key, since=since, before=before, limit=limit + 1)
        rows.sort(key=lambda row: row[0], reverse=True)
        page = rows[:limit]
        next_cursor = _encode_cursor(page[-1][0]) if len(rows) > limit and page else None
        return TimelinePage(
            customer=self._with_members(root),
            since=since,
            entries=[entry for _, entry in page],
            next_cursor=next_cursor,
        )

    def _with_members(self, root: CustomerProfile) -> CustomerProfile:
        """The customer's tags and platforms with those of every customer merged into it (its own win)."""
        tags, platforms = dict(root.tags), set(root.platforms)
        for key in sorted(root.members):
            member = self._store.profile(key)
            if member is not None:
                tags = {**member.tags, **tags}
                platforms |= member.platforms
        return root.model_copy(update={"tags": tags, "platforms": frozenset(platforms)})

    def _customer_for(self, ref: str) -> str:
        if not ref:
            raise BadRequestError(
                "ref is required: a platform order number, unified order id or customer key"
            )
        if is_customer_key(ref):
            return ref
        order_ids = [ref] if is_unified_order_id(ref) else self._orders.find_by_platform_order_id(ref)
        if len(order_ids) > 1:
            raise OrderAmbiguousError("several platforms or shops use this order number", ref=ref[:64])
        key = self._store.order_customer(order_ids[0]) if order_ids else None
        if key is None:
            raise CustomerNotFoundError("no customer is known for this reference", ref=ref[:64])
        return key

    # ----------------------------------------------------------------- review queue

    def open_reviews(
        self, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[ReviewItem], str | None]:
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequestError(f"limit is 1..{MAX_PAGE}", limit=limit)
        items, after = self._store.open_reviews(after=_decode_cursor(cursor) if cursor else None, limit=limit)
        return items, _encode_cursor(after) if after else None

    def decide(self, review_id: str, body: Mapping[str, Any], *, actor: str) -> ReviewItem:
        same, note = body.get("same_customer"), body.get("note")
        if not isinstance(same, bool):
            raise BadRequestError("same_customer must be true or false")
        if not isinstance(note, str) or not note.strip() or len(note) > 500:
            raise BadRequestError("note is required (1-500 characters): why you decided so")
        item = self._store.review(review_id)
        if item is None:
            raise ReviewItemNotFoundError("no such review item", review_id=review_id[:64])
        if item.status != "open":
            raise ReviewDecidedError(
                "the review item is decided already", review_id=review_id, status=item.status
            )
        now = self._clock()
        decided = item.model_copy(update={"decided_by": actor, "decided_at": now, "note": note.strip()})
        if not same:
            decided = decided.model_copy(update={"status": "rejected"})
            self._store.decide(decided)
            return decided
        first, second = (root_of(self._store, key) for key in item.customers)
        if first.key == second.key:
            decided = decided.model_copy(update={"status": "same_already"})
            self._store.decide(decided)
            return decided
        record = self._merge_record(
            first, second, merge_id=f"m_{review_id}", actor=actor, why=note.strip(), now=now
        )
        record = record.model_copy(update={"review_id": review_id})
        decided = decided.model_copy(update={"status": "merged", "merge_id": record.merge_id})
        self._store.merge(record, decide=decided)
        return decided

    # ----------------------------------------------------------------- merges

    def merge(self, body: Mapping[str, Any], *, actor: str) -> MergeRecord:
        customer, into, note = body.get("customer"), body.get("into"), body.get("note")
        if not (
            isinstance(customer, str)
            and isinstance(into, str)
            and is_customer_key(customer)
            and is_customer_key(into)
        ):
            raise BadRequestError("customer and into must be customer keys (c_...)")
        if not isinstance(note, str) or not note.strip() or len(note) > 500:
            raise BadRequestError("note is required (1-500 characters)")
        merged, survivor = root_of(self._store, customer), root_of(self._store, into)
        if merged.key == survivor.key:
            raise MergeConflictError("the customers are one already", customer_key=survivor.key)
        now = self._clock()
        digest = hashlib.blake2b(
            f"{merged.key}|{survivor.key}|{now.isoformat()}".encode(), digest_size=8
        ).hexdigest()
        record = MergeRecord(
            merge_id=f"m_manual_{digest}",
            survivor=survivor.key,
            merged=merged.key,
            moved=(merged.key, *sorted(merged.members)),
            by=actor,
            why=note.strip(),
            at=now,
        )
        self._store.merge(record)
        return record

    def split(self, key: str, body: Mapping[str, Any], *, actor: str) -> MergeRecord:
        """Undo the merge that put ``key`` into another customer; the pair is then kept apart."""
        note = body.get("note")
        if not isinstance(note, str) or not note.strip() or len(note) > 500:
            raise BadRequestError("note is required (1-500 characters)")
        profile = self._store.profile(key)
        if profile is None:
            raise CustomerNotFoundError("no such customer", customer_key=key[:64])
        if profile.merged_into is None or profile.merge_id is None:
            raise MergeConflictError("the customer is not merged into another", customer_key=key)
        record = self._store.merge_record(profile.merged_into, profile.merge_id)
        if record is None:
            raise MergeConflictError("the merge record is missing", merge_id=profile.merge_id)
        now = self._clock()
        self._store.split(
            record, by=actor, why=note.strip(), at=now, pair=pair_id(record.survivor, record.merged)
        )
        return record.model_copy(update={"undone_at": now, "undone_by": actor, "undo_note": note.strip()})

    def merges(self, key: str) -> list[MergeRecord]:
        return self._store.merges(root_of(self._store, key).key)

    @staticmethod
    def _merge_record(
        first: CustomerProfile, second: CustomerProfile, *, merge_id: str, actor: str, why: str, now: datetime
    ) -> MergeRecord:
        survivor, merged = sorted((first, second), key=lambda profile: (profile.created_at, profile.key))
        return MergeRecord(
            merge_id=merge_id,
            survivor=survivor.key,
            merged=merged.key,
            moved=(merged.key, *sorted(merged.members)),
            by=actor,
            why=why,
            at=now,
        )


def _encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadRequestError("cursor is not one this API gave out") from error
