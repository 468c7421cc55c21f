"""The Inventory table: stock levels, their ledger, reservations and hot-SKU buckets.

=====================  ==================================  ===================================
item                   PK / SK                             GSI1 (sparse)
=====================  ==================================  ===================================
stock level            STOCK#<sku> / WH#<warehouse>
hot-SKU bucket         STOCK#<sku> / BUCKET#<warehouse>#<n>
ledger entry           LEDGER#<sku>#<warehouse> / <seq>
formula version        FORMULA#<scope> / V#<version>
demand (surge window)  DEMAND#<sku> / <minute>
surge breaker          STOCK#<sku> / SURGE
reservation            ORDER#<order> / RESV#<line>         HELD#<shard> / <expires>#<order>#<line>
operation record       ORDER#<order> / OP#<line>#<action>  (operators: OP#<reference> / OP)
=====================  ==================================  ===================================

Every change of a level is one ``TransactWriteItems``: the level (conditioned on the ``seq`` it
was read at *and* on ``on_hand``/``reserved``/``available`` covering the deltas, so the stored
values can never go below zero or promise more than is on hand), one ledger entry per movement
(``attribute_not_exists``), the reservations it touches (conditioned on their state and expiry)
and one operation record per (order, line, action) (``attribute_not_exists``): a duplicate or a
redelivered change finds its record and writes nothing. ``docs/inventory.md`` has the why.

A hot SKU's buckets take reservations with one conditional ``UpdateItem`` each (no transaction:
the hold is recorded inside the bucket item by the same write), which is what a flash sale needs
(one item takes ~1,000 writes/s; a transaction on a contended level retries).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from oms.adapters.aws import error_code, translate, translated
from oms.adapters.orders_table import from_attributes, to_attributes
from oms.domain.errors import (
    ConcurrentUpdateError,
    InsufficientStockError,
    InventoryInvalidError,
    ReservationNotFoundError,
)
from oms.domain.formula import FormulaVersion, parse
from oms.domain.inventory import (
    Action,
    Bucket,
    Incoming,
    LedgerEntry,
    LineDemand,
    Movement,
    Reason,
    Reservation,
    ReservationState,
    StockLevel,
    adjustment,
    apply,
    bucket_order,
    deduct,
    deduct_unreserved,
    demand_by_level,
    plan_reservations,
    rebalance_targets,
    receipt,
    release,
    restock,
)
from oms.domain.surge import SurgeVerdict, slot

#: TransactWriteItems takes 100 actions; a line costs 3 (ledger, reservation, operation record)
#: plus one per level it draws on.
MAX_LINES_PER_ORDER = 30
#: Optimistic attempts on a contended level before giving up with CONCURRENT_UPDATE (retryable).
MAX_ATTEMPTS = 40
#: The sweeper's index is spread over this many partitions (a flash sale holds many at once).
HELD_SHARDS = 8


def level_key(sku: str, warehouse: str) -> dict[str, str]:
    return {"PK": f"STOCK#{sku}", "SK": f"WH#{warehouse}"}


def bucket_key(sku: str, warehouse: str, index: int) -> dict[str, str]:
    return {"PK": f"STOCK#{sku}", "SK": f"BUCKET#{warehouse}#{index:03d}"}


def ledger_pk(sku: str, warehouse: str) -> str:
    return f"LEDGER#{sku}#{warehouse}"


def reservation_key(order_id: str, line_id: str) -> dict[str, str]:
    return {"PK": f"ORDER#{order_id}", "SK": f"RESV#{line_id}"}


def operation_key(order_id: str, line_id: str, action: Action) -> dict[str, str]:
    return {"PK": f"ORDER#{order_id}", "SK": f"OP#{line_id}#{action}"}


def operator_key(reference: str) -> dict[str, str]:
    return {"PK": f"OP#{reference}", "SK": "OP"}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _held_shard(order_id: str) -> str:
    return f"HELD#{sum(order_id.encode('utf-8')) % HELD_SHARDS}"


@dataclass(frozen=True, slots=True)
class _Write:
    """One transaction's worth of writes, and the operation records that make it idempotent."""

    items: list[dict[str, Any]]
    operations: list[dict[str, str]]


class DynamoInventoryLedger:
    """Stock levels and reservations on the Inventory table (see the module docstring).

    Parameters
    ----------
    table:
        The table name.
    dynamodb:
        A low-level boto3 DynamoDB client.
    sleep:
        The pause between optimistic attempts (injectable for tests).
    """

    def __init__(self, table: str, dynamodb: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._db = dynamodb
        self._sleep = sleep
        #: Attempts that lost a race and were retried (a contention measure for benchmarks/tests)
        self.conflicts = 0

    # ------------------------------------------------------------------ reads

    def level(self, sku: str, warehouse: str) -> StockLevel:
        item = self._get(level_key(sku, warehouse))
        return _level_from(item) if item else StockLevel(sku=sku, warehouse=warehouse)

    def tracks(self, sku: str, warehouse: str) -> bool:
        """Whether the ledger keeps this SKU's stock here: its level was ever received, counted or planned."""
        return self._exists(level_key(sku, warehouse))

    def levels(self, sku: str) -> list[StockLevel]:
        items = self._query(f"STOCK#{sku}", "WH#")
        return [_level_from(item) for item in items]

    def ledger(self, sku: str, warehouse: str) -> list[LedgerEntry]:
        return [_entry_from(item) for item in self._query(ledger_pk(sku, warehouse), "")]

    def reservations(self, order_id: str) -> list[Reservation]:
        return [_reservation_from(item) for item in self._query(f"ORDER#{order_id}", "RESV#")]

    def buckets(self, sku: str, warehouse: str) -> list[Bucket]:
        holds: dict[int, dict[str, int]] = {}
        for item in self._query(f"STOCK#{sku}", f"BUCKETHOLD#{warehouse}#"):
            if item.get("state") == "held":
                reference = f"{item['order_id']}#{item['line_id']}"
                holds.setdefault(int(item["bucket_index"]), {})[reference] = int(item["quantity"])
        return [
            _bucket_from(item, holds.get(int(item["bucket_index"]), {}))
            for item in self._query(f"STOCK#{sku}", f"BUCKET#{warehouse}#")
        ]

    # ------------------------------------------------------------------ operators

    def receive(self, sku: str, warehouse: str, quantity: int, reference: str) -> bool:
        """Goods in. False when ``reference`` was applied before (nothing written)."""
        return self._move(sku, warehouse, receipt(quantity, reference), reference)

    def adjust(self, sku: str, warehouse: str, delta: int, reference: str) -> bool:
        """A counted correction (damage, stock take, transfer). False when already applied."""
        return self._move(sku, warehouse, adjustment(delta, reference), reference)

    def set_planning(
        self,
        sku: str,
        warehouse: str,
        *,
        safety_stock: int | None = None,
        incoming: Sequence[Incoming] | None = None,
    ) -> StockLevel:
        """Safety stock and incoming stock: inputs of the sellable formula, not ledger movements."""
        if safety_stock is not None and safety_stock < 0:
            raise InventoryInvalidError("safety stock cannot be negative", safety_stock=safety_stock)
        if incoming is not None and any(item.quantity <= 0 for item in incoming):
            raise InventoryInvalidError("incoming quantities must be positive")
        for _ in range(MAX_ATTEMPTS):
            level = self.level(sku, warehouse)
            updated = replace(
                level,
                safety_stock=level.safety_stock if safety_stock is None else safety_stock,
                incoming=level.incoming if incoming is None else tuple(incoming),
            )
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=to_attributes(_level_item(updated)),
                    **_seq_condition(level),
                )
                return updated
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise translate(error, "set planning", sku=sku) from error
                self._lost_race(0)
        raise ConcurrentUpdateError("stock level keeps changing", sku=sku, warehouse=warehouse)

    def _move(self, sku: str, warehouse: str, movement: Movement, reference: str) -> bool:
        operation = operator_key(reference)

        def plan() -> _Write:
            level = self.level(sku, warehouse)
            after, entries = apply(level, [movement])
            return _Write(
                [*self._level_writes(level, after, entries), _put_new(self._table, operation)],
                [operation],
            )

        return self._transact(plan, [operation])

    # ------------------------------------------------------------------ order lines

    def reserve(self, channel: str, lines: Sequence[LineDemand], now: datetime, expires_at: datetime) -> bool:
        """Hold stock for every line of one unpaid order, or for none (INSUFFICIENT_STOCK).

        False when the order's lines were reserved before (a duplicate change).
        """
        _check_size(lines)
        operations = [operation_key(x.order_id, x.line_id, Action.RESERVE) for x in lines]

        def plan() -> _Write:
            if self.reservations(lines[0].order_id):
                # The order was reserved, paid or cancelled before: a late "unpaid" change is stale.
                return _Write([], [])
            keys = list(demand_by_level(lines))
            before = {key: self.level(*key) for key in keys}
            planned = plan_reservations(before, lines)
            items: list[dict[str, Any]] = []
            for key, (after, entries) in planned.items():
                items += self._level_writes(before[key], after, entries, at=now)
            for line in lines:
                held = Reservation(
                    order_id=line.order_id,
                    line_id=line.line_id,
                    sku=line.sku,
                    warehouse=line.warehouse,
                    quantity=line.quantity,
                    state=ReservationState.HELD,
                    channel=channel,
                    expires_at=expires_at,
                )
                items.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_attributes(_reservation_item(held, now)),
                            # One reservation per line, ever: a line never holds two.
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    }
                )
            items += [_put_new(self._table, op, at=now) for op in operations]
            return _Write(items, operations)

        try:
            return self._transact(plan, operations)
        except InsufficientStockError as short:
            self.record_oversell(channel, lines, short, now, stage=Action.RESERVE)
            raise

    def convert(self, lines: Sequence[LineDemand], now: datetime) -> bool:
        """Paid: deduct every line from on_hand (its hold if still valid, else what is available).

        A hold past its expiry is never converted: it is expired and the line takes what is
        available, in the same transaction. All lines or none (INSUFFICIENT_STOCK when a channel
        sold what the ledger does not have). False when already converted.
        """
        _check_size(lines)
        operations = [operation_key(x.order_id, x.line_id, Action.CONVERT) for x in lines]

        def plan() -> _Write:
            held = {r.line_id: r for r in self.reservations(lines[0].order_id)} if lines else {}
            moves: dict[tuple[str, str], list[Movement]] = {}
            reservation_writes: list[dict[str, Any]] = []
            for line in lines:
                current = held.get(line.line_id)
                key = (line.sku, line.warehouse)
                if current is not None and current.bucket is not None:
                    raise InventoryInvalidError("bucket holds convert through convert_bucket_hold")
                if current is not None and current.state in (
                    ReservationState.CONVERTED,
                    ReservationState.RESTOCKED,
                    # Released means cancelled: a "paid" change arriving after it is stale.
                    ReservationState.RELEASED,
                ):
                    continue
                if current is not None and current.state is ReservationState.HELD:
                    if current.expired(now):
                        moves.setdefault(key, []).append(
                            release(current.quantity, line.reference, expired=True)
                        )
                        moves[key].append(deduct_unreserved(line.quantity, line.reference))
                    else:
                        moves.setdefault(key, []).append(deduct(current.quantity, line.reference))
                        if line.quantity != current.quantity:
                            raise InventoryInvalidError(
                                "a paid line's quantity differs from its hold",
                                line=line.reference,
                                held=current.quantity,
                                paid=line.quantity,
                            )
                else:
                    moves.setdefault(key, []).append(deduct_unreserved(line.quantity, line.reference))
                reservation_writes.append(
                    self._reservation_transition(current, line, ReservationState.CONVERTED, now)
                )
            return self._plan_moves(moves, reservation_writes, operations, now)

        try:
            return self._transact(plan, operations)
        except InsufficientStockError as short:
            held = {r.line_id: r.channel for r in self.reservations(lines[0].order_id)}
            self.record_oversell(held.get(lines[0].line_id, ""), lines, short, now, stage=Action.CONVERT)
            raise

    def release_order(
        self,
        order_id: str,
        now: datetime,
        *,
        shipped: bool = False,
        lines: Sequence[LineDemand] = (),
    ) -> bool:
        """Cancelled, closed or refunded: give back every line's hold; restock paid lines not shipped.

        ``lines`` without any reservation get a released record (no stock moves), so a "paid"
        or "unpaid" change arriving after the cancellation finds the line closed and does nothing.
        False when there was nothing (left) to release.
        """

        def plan() -> _Write:
            moves: dict[tuple[str, str], list[Movement]] = {}
            writes: list[dict[str, Any]] = []
            operations: list[dict[str, str]] = []
            existing = self.reservations(order_id)
            known = {r.line_id for r in existing}
            for line in lines:
                if line.line_id not in known:
                    tombstone = Reservation(
                        order_id=order_id,
                        line_id=line.line_id,
                        sku=line.sku,
                        warehouse=line.warehouse,
                        quantity=line.quantity,
                        state=ReservationState.RELEASED,
                        channel="",
                        expires_at=now,
                    )
                    writes.append(
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": to_attributes(_reservation_item(tombstone, now)),
                                "ConditionExpression": "attribute_not_exists(PK)",
                            }
                        }
                    )
            for current in existing:
                line = LineDemand(order_id, current.line_id, current.sku, current.warehouse, current.quantity)
                key = (current.sku, current.warehouse)
                if current.state is ReservationState.HELD:
                    moves.setdefault(key, []).append(release(current.quantity, current.reference))
                    target = ReservationState.RELEASED
                elif current.state is ReservationState.CONVERTED and not shipped:
                    moves.setdefault(key, []).append(restock(current.quantity, current.reference))
                    target = ReservationState.RESTOCKED
                else:
                    continue
                writes.append(self._reservation_transition(current, line, target, now))
                operations.append(operation_key(order_id, current.line_id, Action.RELEASE))
            return self._plan_moves(moves, writes, operations, now)

        return self._transact(plan, [])

    def sweep_expired(self, now: datetime, limit: int = 200) -> int:
        """Expire holds past their time (the schedule calls this; TTL never decides). Returns how many."""
        expired = 0
        for shard in range(HELD_SHARDS):
            with translated("query held reservations"):
                items = self._db.query(
                    TableName=self._table,
                    IndexName="GSI1",
                    KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :now",
                    ExpressionAttributeValues={
                        ":pk": {"S": f"HELD#{shard}"},
                        # "$" sorts right after "#": a hold expiring exactly now is expired too
                        # (``Reservation.expired``: now >= expires_at), as the stateful test found.
                        ":now": {"S": f"{now.isoformat()}$"},
                    },
                    Limit=limit,
                ).get("Items", [])
            for item in items:
                expired += self._expire(from_attributes(item), now)
        return expired

    def _expire(self, item: dict[str, Any], now: datetime) -> int:
        order_id, line_id = str(item["order_id"]), str(item["line_id"])

        def plan() -> _Write:
            current = self._reservation(order_id, line_id)
            if current is None or current.state is not ReservationState.HELD:
                return _Write([], [])
            if not current.expired(now):
                return _Write([], [])
            line = LineDemand(order_id, line_id, current.sku, current.warehouse, current.quantity)
            moves = {
                (current.sku, current.warehouse): [release(current.quantity, current.reference, expired=True)]
            }
            writes = [self._reservation_transition(current, line, ReservationState.EXPIRED, now)]
            return self._plan_moves(moves, writes, [], now)

        return 1 if self._transact(plan, []) else 0

    def record_oversell(
        self,
        channel: str,
        lines: Sequence[LineDemand],
        short: InsufficientStockError,
        now: datetime,
        *,
        stage: Action,
    ) -> int:
        """Keep the lines a channel sold that the ledger refused (the health report counts them).

        One item per (order, line, stage) beside the order's reservations, written once
        (``attribute_not_exists``): a redelivered change does not count twice. Returns how many
        were new.
        """
        skus = {str(item.get("sku")) for item in short.details.get("short") or [] if isinstance(item, dict)}
        written = 0
        for line in lines:
            if skus and line.sku not in skus:
                continue
            item = {
                "PK": f"ORDER#{line.order_id}",
                "SK": f"OVERSELL#{line.line_id}#{stage}",
                "type": "oversell_incident",
                "order_id": line.order_id,
                "line_id": line.line_id,
                "sku": line.sku,
                "warehouse": line.warehouse,
                "requested": line.quantity,
                "channel": channel,
                "stage": str(stage),
                "at": now.isoformat(),
            }
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=to_attributes(item),
                    ConditionExpression="attribute_not_exists(PK)",
                )
                written += 1
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise translate(error, "record oversell", sku=line.sku) from error
        return written

    # ------------------------------------------------------------------ hot-SKU buckets

    def allocate_buckets(self, sku: str, warehouse: str, count: int, reference: str) -> list[int]:
        """Hand the level's available units to ``count`` buckets (a ledgered BUCKET_ALLOCATE).

        Returns the units each bucket received. Enable only for SKUs that need more than one
        item's write rate (docs/inventory.md).
        """
        operation = operator_key(reference)
        shares: list[int] = []

        def plan() -> _Write:
            level = self.level(sku, warehouse)
            shares[:] = rebalance_targets(level.available, count)
            total = sum(shares)
            if total == 0:
                return _Write([], [])
            movement = Movement(Reason.BUCKET_ALLOCATE, reference, reserved_delta=total)
            after, entries = apply(level, [movement])
            items = [*self._level_writes(level, after, entries), _put_new(self._table, operation)]
            for index, units in enumerate(shares):
                items.append(
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": to_attributes(bucket_key(sku, warehouse, index)),
                            "UpdateExpression": "SET sku = :sku, warehouse = :wh, bucket_index = :n, "
                            "#type = :type ADD allocated :units, available :units",
                            "ExpressionAttributeNames": {"#type": "type"},
                            "ExpressionAttributeValues": to_attributes(
                                {
                                    ":sku": sku,
                                    ":wh": warehouse,
                                    ":n": index,
                                    ":units": units,
                                    ":type": "bucket",
                                }
                            ),
                        }
                    }
                )
            return _Write(items, [operation])

        self._transact(plan, [operation])
        return shares

    def reserve_from_buckets(
        self,
        line: LineDemand,
        count: int,
        channel: str,
        expires_at: datetime,
        *,
        now: datetime | None = None,
    ) -> int:
        """Hold ``line`` in one of the SKU's buckets, falling over in turn; returns the bucket index.

        Each attempt is one transaction of two items: the bucket's counter (``available >= q``)
        and the line's own hold item (``attribute_not_exists``), whose key does not name the
        bucket, so a line holds at most once across all buckets, even when two attempts of it
        run at the same moment. A line held (or finished) before returns its bucket. Raises
        INSUFFICIENT_STOCK when no bucket has enough.
        """
        hold = _bucket_hold_item(line, 0, channel, expires_at)
        for index in bucket_order(line.reference, count):
            hold["bucket_index"] = index
            hold["GSI1PK"] = _bucket_held_shard(line.sku, line.warehouse, index)
            items = [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_attributes(bucket_key(line.sku, line.warehouse, index)),
                        "UpdateExpression": "SET available = available - :q",
                        "ConditionExpression": "attribute_exists(PK) AND available >= :q",
                        "ExpressionAttributeValues": to_attributes({":q": line.quantity}),
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_attributes(hold),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
            for attempt in range(MAX_ATTEMPTS):
                outcome = self._transact_bucket(items, "reserve from bucket")
                if outcome == "written":
                    return index
                if outcome != "conflict":
                    break
                self._lost_race(attempt)
            existing = self._get(bucket_hold_key(line))
            if existing is not None:
                return int(existing["bucket_index"])
        short = InsufficientStockError(
            "no bucket has enough stock",
            short=[{"sku": line.sku, "warehouse": line.warehouse, "requested": line.quantity}],
        )
        self.record_oversell(channel, [line], short, now or datetime.now(UTC), stage=Action.RESERVE)
        raise short

    def bucket_hold(self, line: LineDemand) -> dict[str, Any] | None:
        """The line's hold item (any state), or None."""
        return self._get(bucket_hold_key(line))

    def release_bucket_hold(self, line: LineDemand, index: int, *, now: datetime | None = None) -> bool:
        """Give a bucket hold's units back to its bucket (cancel; or expiry when ``now`` is given).

        False when the line holds nothing (released, expired or converted before, or never held).
        """
        values: dict[str, Any] = {":q": line.quantity, ":n": index, ":held": "held"}
        condition = "#state = :held AND quantity = :q AND bucket_index = :n"
        values[":to"] = "expired" if now is not None else "released"
        if now is not None:
            condition += " AND expires_epoch <= :now"
            values[":now"] = _epoch(now)
        items = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_attributes(bucket_key(line.sku, line.warehouse, index)),
                    "UpdateExpression": "SET available = available + :q",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": to_attributes({":q": line.quantity}),
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_attributes(bucket_hold_key(line)),
                    # Kept as a closed record (a line never holds twice); out of the sweep's index.
                    "UpdateExpression": "SET #state = :to REMOVE GSI1PK, GSI1SK",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": to_attributes(values),
                }
            },
        ]
        for attempt in range(MAX_ATTEMPTS):
            outcome = self._transact_bucket(items, "release bucket hold")
            if outcome != "conflict":
                return outcome == "written"
            self._lost_race(attempt)
        raise ConcurrentUpdateError("bucket keeps changing; retry later", sku=line.sku)

    def convert_bucket_hold(self, line: LineDemand, index: int, now: datetime) -> bool:
        """Paid: the bucket gives up the hold and the level deducts it, in one transaction.

        The hold must not have expired (a condition on the hold item). False when converted before.
        """
        operation = operation_key(line.order_id, line.line_id, Action.CONVERT)

        def plan() -> _Write:
            hold = self._get(bucket_hold_key(line))
            if hold is None or hold.get("state") != "held" or int(hold["bucket_index"]) != index:
                raise ReservationNotFoundError("no bucket hold for this line", line=line.reference)
            if now >= datetime.fromisoformat(str(hold["expires_at"])):
                raise InsufficientStockError(
                    "the bucket hold expired before payment",
                    short=[{"sku": line.sku, "warehouse": line.warehouse, "requested": line.quantity}],
                )
            quantity = int(hold["quantity"])
            level = self.level(line.sku, line.warehouse)
            movement = Movement(
                Reason.BUCKET_DEDUCT, line.reference, on_hand_delta=-quantity, reserved_delta=-quantity
            )
            after, entries = apply(level, [movement])
            items = [
                *self._level_writes(level, after, entries, at=now),
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_attributes(bucket_key(line.sku, line.warehouse, index)),
                        "UpdateExpression": "SET allocated = allocated - :q",
                        "ConditionExpression": "allocated >= :q",
                        "ExpressionAttributeValues": to_attributes({":q": quantity}),
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_attributes(bucket_hold_key(line)),
                        "UpdateExpression": "SET #state = :to REMOVE GSI1PK, GSI1SK",
                        "ConditionExpression": "#state = :held AND quantity = :q AND bucket_index = :n "
                        "AND expires_epoch > :now",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": to_attributes(
                            {
                                ":to": "converted",
                                ":held": "held",
                                ":q": quantity,
                                ":n": index,
                                ":now": _epoch(now),
                            }
                        ),
                    }
                },
                _put_new(self._table, operation, at=now),
            ]
            return _Write(items, [operation])

        if self._exists(operation):
            return False
        return self._transact(plan, [operation])

    def sweep_bucket_holds(self, sku: str, warehouse: str, now: datetime) -> int:
        """Expire the bucket holds past their time, found by a query per bucket. Returns how many."""
        released = 0
        for bucket in self._query(f"STOCK#{sku}", f"BUCKET#{warehouse}#"):
            index = int(bucket["bucket_index"])
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "GSI1",
                "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK < :now",
                "ExpressionAttributeValues": to_attributes(
                    {":pk": _bucket_held_shard(sku, warehouse, index), ":now": now.isoformat()}
                ),
            }
            while True:
                with translated("query bucket holds", sku=sku):
                    page = self._db.query(**kwargs)
                for item in map(from_attributes, page.get("Items", [])):
                    line = LineDemand(
                        str(item["order_id"]), str(item["line_id"]), sku, warehouse, int(item["quantity"])
                    )
                    released += self.release_bucket_hold(line, index, now=now)
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return released

    def _transact_bucket(self, items: list[dict[str, Any]], what: str) -> str:
        """``written``, ``refused`` (a condition failed) or ``conflict`` (another transaction raced)."""
        try:
            self._db.transact_write_items(TransactItems=items)
            return "written"
        except ClientError as error:
            code = error_code(error)
            if code == "TransactionConflictException":
                return "conflict"
            if code != "TransactionCanceledException":
                raise translate(error, what) from error
            reasons = [str(r.get("Code") or "None") for r in error.response.get("CancellationReasons") or []]
            if "ConditionalCheckFailed" not in reasons and "TransactionConflict" in reasons:
                return "conflict"
            return "refused"
        except BotoCoreError as error:
            raise translate(error, what) from error

    def return_bucket_units(self, sku: str, warehouse: str, index: int, units: int, reference: str) -> bool:
        """Give ``units`` of a bucket's available stock back to the level (a ledgered BUCKET_RETURN)."""
        operation = operator_key(reference)

        def plan() -> _Write:
            level = self.level(sku, warehouse)
            movement = Movement(Reason.BUCKET_RETURN, reference, reserved_delta=-units)
            after, entries = apply(level, [movement])
            bucket_write = {
                "Update": {
                    "TableName": self._table,
                    "Key": to_attributes(bucket_key(sku, warehouse, index)),
                    "UpdateExpression": "SET available = available - :q, allocated = allocated - :q",
                    "ConditionExpression": "available >= :q",
                    "ExpressionAttributeValues": to_attributes({":q": units}),
                }
            }
            items = [*self._level_writes(level, after, entries), bucket_write]
            return _Write([*items, _put_new(self._table, operation)], [operation])

        return self._transact(plan, [operation])

    def rebalance(self, sku: str, warehouse: str, reference: str) -> list[int]:
        """Pool the buckets' unheld units and share them out again evenly (plus new receipts)."""
        buckets = self.buckets(sku, warehouse)
        for bucket in buckets:
            if bucket.available > 0:
                self.return_bucket_units(
                    sku, warehouse, bucket.index, bucket.available, f"{reference}#return#{bucket.index}"
                )
        return self.allocate_buckets(sku, warehouse, len(buckets), f"{reference}#allocate")

    # ------------------------------------------------------------------ formulas

    def formula_versions(self, scope: str) -> list[FormulaVersion]:
        return [
            FormulaVersion(scope=scope, version=int(item["version"]), source=str(item["source"]))
            for item in self._query(f"FORMULA#{scope}", "V#")
        ]

    def save_formula(self, scope: str, source: str, actor: str, now: datetime) -> FormulaVersion:
        """Store ``source`` as the scope's next version (a new item per version, never overwritten)."""
        parse(source)  # a bad formula is refused when saved, with the position of the problem
        versions = self.formula_versions(scope)
        saved = FormulaVersion(
            scope=scope, version=(versions[-1].version + 1) if versions else 1, source=source
        )
        item = {
            "PK": f"FORMULA#{scope}",
            "SK": f"V#{saved.version:06d}",
            "type": "formula",
            "scope": scope,
            "version": saved.version,
            "source": source,
            "actor": actor,
            "saved_at": now.isoformat(),
        }
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            raise translate(error, "save formula", scope=scope) from error
        return saved

    # ------------------------------------------------------------------ surge breaker

    def record_demand(self, sku: str, units: int, at: datetime, event_id: str) -> bool:
        """Count ``units`` of demand in ``at``'s minute slot, once per ``event_id`` (False: seen before)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=to_attributes({"PK": f"DEMAND#{sku}", "SK": slot(at)}),
                UpdateExpression="ADD units :units, event_ids :ids SET sku = :sku",
                ConditionExpression="attribute_not_exists(event_ids) OR NOT contains(event_ids, :id)",
                ExpressionAttributeValues=to_attributes({":units": units, ":sku": sku, ":id": event_id})
                | {":ids": {"SS": [event_id]}},
            )
            return True
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise translate(error, "record demand", sku=sku) from error

    def demand(self, sku: str, slots: Sequence[str]) -> dict[str, int]:
        if not slots:
            return {}
        with translated("query demand", sku=sku):
            items = self._db.query(
                TableName=self._table,
                ConsistentRead=True,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
                ExpressionAttributeValues=to_attributes(
                    {":pk": f"DEMAND#{sku}", ":first": slots[0], ":last": slots[-1]}
                ),
                ProjectionExpression="SK, units",
            ).get("Items", [])
        return {str(item["SK"]): int(item["units"]) for item in map(from_attributes, items)}

    def trip_breaker(self, sku: str, verdict: SurgeVerdict, at: datetime) -> bool:
        """Record a tripped breaker; False when it is already tripped (one alert per trip)."""
        item = {
            "PK": f"STOCK#{sku}",
            "SK": "SURGE",
            "type": "surge_breaker",
            "sku": sku,
            "demand": verdict.demand,
            "sellable": verdict.sellable,
            "protective_quantity": verdict.protective_quantity,
            "tripped_at": at.isoformat(),
        }
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(PK)",
            )
            return True
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise translate(error, "trip surge breaker", sku=sku) from error

    def breaker(self, sku: str) -> dict[str, Any] | None:
        return self._get({"PK": f"STOCK#{sku}", "SK": "SURGE"})

    def clear_breaker(self, sku: str) -> bool:
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=to_attributes({"PK": f"STOCK#{sku}", "SK": "SURGE"}),
                ConditionExpression="attribute_exists(PK)",
            )
            return True
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise translate(error, "clear surge breaker", sku=sku) from error

    # ------------------------------------------------------------------ the write machinery

    def _plan_moves(
        self,
        moves: Mapping[tuple[str, str], list[Movement]],
        reservation_writes: list[dict[str, Any]],
        operations: list[dict[str, str]],
        now: datetime,
    ) -> _Write:
        items: list[dict[str, Any]] = []
        for key, movements in moves.items():
            level = self.level(*key)
            after, entries = apply(level, movements)
            items += self._level_writes(level, after, entries, at=now)
        items += reservation_writes
        items += [_put_new(self._table, op, at=now) for op in operations]
        return _Write(items, operations)

    def _level_writes(
        self,
        before: StockLevel,
        after: StockLevel,
        entries: Sequence[LedgerEntry],
        *,
        at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        on_hand_drop = max(0, before.on_hand - after.on_hand)
        reserved_drop = max(0, before.reserved - after.reserved)
        available_drop = max(0, before.available - after.available)
        values = {
            ":on_hand": after.on_hand,
            ":reserved": after.reserved,
            ":available": after.available,
            ":seq": after.seq,
            ":sku": after.sku,
            ":wh": after.warehouse,
            ":type": "stock_level",
            ":on_hand_drop": on_hand_drop,
            ":reserved_drop": reserved_drop,
            ":available_drop": available_drop,
        }
        values[":read_seq"] = before.seq
        if before.seq == 0:
            # A new level (or one that only has planning data): nothing to fall below yet.
            condition = "attribute_not_exists(PK) OR seq = :read_seq"
            del values[":on_hand_drop"], values[":reserved_drop"], values[":available_drop"]
        else:
            # The seq pins the values the ledger's before/after were computed from; the rest are
            # the invariants themselves, checked against what is stored.
            condition = (
                "seq = :read_seq AND on_hand >= :on_hand_drop AND reserved >= :reserved_drop "
                "AND available >= :available_drop"
            )
        level_write = {
            "Update": {
                "TableName": self._table,
                "Key": to_attributes(level_key(after.sku, after.warehouse)),
                "UpdateExpression": "SET sku = :sku, warehouse = :wh, on_hand = :on_hand, "
                "reserved = :reserved, available = :available, seq = :seq, #type = :type",
                "ExpressionAttributeNames": {"#type": "type"},
                "ConditionExpression": condition,
                "ExpressionAttributeValues": to_attributes(values),
            }
        }
        ledger_writes = [
            {
                "Put": {
                    "TableName": self._table,
                    # Stamped with the operation's time (the clock the service was given), which
                    # is what the health report measures stockouts and velocity with.
                    "Item": to_attributes(_entry_item(entry, at or datetime.now(UTC))),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for entry in entries
        ]
        return [level_write, *ledger_writes]

    def _reservation_transition(
        self,
        current: Reservation | None,
        line: LineDemand,
        target: ReservationState,
        now: datetime,
    ) -> dict[str, Any]:
        key = to_attributes(reservation_key(line.order_id, line.line_id))
        if current is None or current.state is ReservationState.EXPIRED:
            # Paid without a (valid) hold: the record is (re)written as converted.
            record = Reservation(
                order_id=line.order_id,
                line_id=line.line_id,
                sku=line.sku,
                warehouse=line.warehouse,
                quantity=line.quantity,
                state=target,
                channel=current.channel if current else "",
                expires_at=now,
            )
            condition = "attribute_not_exists(PK)" if current is None else "#state = :from"
            put: dict[str, Any] = {
                "TableName": self._table,
                "Item": to_attributes(_reservation_item(record, now)),
                "ConditionExpression": condition,
            }
            if current is not None:
                put["ExpressionAttributeNames"] = {"#state": "state"}
                put["ExpressionAttributeValues"] = to_attributes({":from": str(current.state)})
            return {"Put": put}
        if not current.can_move(target):
            raise InventoryInvalidError(
                "reservation cannot move", line=current.reference, state=current.state, to=target
            )
        values: dict[str, Any] = {":from": str(current.state), ":to": str(target), ":at": now.isoformat()}
        condition = "#state = :from"
        if target is ReservationState.CONVERTED and current.state is ReservationState.HELD:
            # A hold past its expiry is never converted, whatever the sweeper has done so far: a
            # payment that finds it expired but not yet swept released it (expire) and deducts
            # what is available, so the condition checks the expiry the plan acted on.
            condition += " AND expires_epoch <= :now" if current.expired(now) else " AND expires_epoch > :now"
            values[":now"] = _epoch(now)
        if target is ReservationState.EXPIRED:
            condition += " AND expires_epoch <= :now"
            values[":now"] = _epoch(now)
        return {
            "Update": {
                "TableName": self._table,
                "Key": key,
                "UpdateExpression": "SET #state = :to, updated_at = :at REMOVE GSI1PK, GSI1SK",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": to_attributes(values),
            }
        }

    def _transact(self, plan: Callable[[], _Write], operations: Sequence[dict[str, str]]) -> bool:
        """Write ``plan()``'s items in one transaction; re-plan when a race was lost.

        False when the operation records already exist (a duplicate) or the plan is empty. The
        records are looked up only after a failed write: a first attempt costs no extra read.
        """
        for attempt in range(MAX_ATTEMPTS):
            write = plan()
            if not write.items:
                return False
            if len(write.items) > 100:
                raise InventoryInvalidError(
                    "too many stock writes for one transaction", writes=len(write.items)
                )
            try:
                self._db.transact_write_items(TransactItems=write.items)
                return True
            except ClientError as error:
                if error_code(error) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise translate(error, "stock transaction") from error
            except BotoCoreError as error:
                raise translate(error, "stock transaction") from error
            if write.operations and self._exists(write.operations[0]):
                return False
            self._lost_race(attempt)
        raise ConcurrentUpdateError("stock level keeps changing; retry later")

    def _lost_race(self, attempt: int) -> None:
        self.conflicts += 1
        # Full jitter: contenders spread out instead of colliding again in lockstep.
        self._sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))  # noqa: S311

    # ------------------------------------------------------------------ low level

    def _reservation(self, order_id: str, line_id: str) -> Reservation | None:
        item = self._get(reservation_key(order_id, line_id))
        return _reservation_from(item) if item else None

    def _exists(self, key: Mapping[str, str]) -> bool:
        return self._get(key) is not None

    def _get(self, key: Mapping[str, str], *, consistent: bool = True) -> dict[str, Any] | None:
        with translated("get inventory item", key=key.get("PK")):
            item = self._db.get_item(
                TableName=self._table, Key=to_attributes(dict(key)), ConsistentRead=consistent
            ).get("Item")
        return from_attributes(item) if item else None

    def _query(self, pk: str, sk_prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk" + (" AND begins_with(SK, :prefix)" if sk_prefix else ""),
            "ExpressionAttributeValues": to_attributes(
                {":pk": pk, **({":prefix": sk_prefix} if sk_prefix else {})}
            ),
        }
        while True:
            with translated("query inventory", pk=pk):
                page = self._db.query(**kwargs)
            items += [from_attributes(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---------------------------------------------------------------------- item mapping


def _check_size(lines: Sequence[LineDemand]) -> None:
    if not lines:
        raise InventoryInvalidError("an order needs at least one line")
    if len(lines) > MAX_LINES_PER_ORDER:
        raise InventoryInvalidError(
            "too many lines for one all-or-none reservation", lines=len(lines), limit=MAX_LINES_PER_ORDER
        )
    if len({line.order_id for line in lines}) != 1:
        raise InventoryInvalidError("lines of one order only")


def _seq_condition(level: StockLevel) -> dict[str, Any]:
    return {
        "ConditionExpression": "attribute_not_exists(PK) OR seq = :seq",
        "ExpressionAttributeValues": to_attributes({":seq": level.seq}),
    }


def _put_new(table: str, key: Mapping[str, str], *, at: datetime | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {**key, "type": "operation"}
    if at is not None:
        item["at"] = at.isoformat()
    return {
        "Put": {
            "TableName": table,
            "Item": to_attributes(item),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def _level_item(level: StockLevel) -> dict[str, Any]:
    return {
        **level_key(level.sku, level.warehouse),
        "type": "stock_level",
        "sku": level.sku,
        "warehouse": level.warehouse,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
        "safety_stock": level.safety_stock,
        "seq": level.seq,
        "incoming": [
            {"quantity": item.quantity, "expected": item.expected.isoformat(), "reference": item.reference}
            for item in level.incoming
        ],
    }


def _level_from(item: Mapping[str, Any]) -> StockLevel:
    return StockLevel(
        sku=str(item["sku"]),
        warehouse=str(item["warehouse"]),
        on_hand=int(item.get("on_hand", 0)),
        reserved=int(item.get("reserved", 0)),
        safety_stock=int(item.get("safety_stock", 0)),
        seq=int(item.get("seq", 0)),
        incoming=tuple(
            Incoming(int(x["quantity"]), date.fromisoformat(str(x["expected"])), str(x.get("reference", "")))
            for x in item.get("incoming") or []
        ),
    )


def _entry_item(entry: LedgerEntry, at: datetime) -> dict[str, Any]:
    return {
        "PK": ledger_pk(entry.sku, entry.warehouse),
        "SK": f"{entry.seq:012d}",
        "type": "ledger_entry",
        "sku": entry.sku,
        "warehouse": entry.warehouse,
        "seq": entry.seq,
        "reason": str(entry.reason),
        "reference": entry.reference,
        "on_hand_delta": entry.on_hand_delta,
        "reserved_delta": entry.reserved_delta,
        "on_hand_before": entry.on_hand_before,
        "reserved_before": entry.reserved_before,
        "on_hand_after": entry.on_hand_after,
        "reserved_after": entry.reserved_after,
        "at": at.isoformat(),
    }


def _entry_from(item: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        sku=str(item["sku"]),
        warehouse=str(item["warehouse"]),
        seq=int(item["seq"]),
        reason=Reason(str(item["reason"])),
        reference=str(item["reference"]),
        on_hand_delta=int(item["on_hand_delta"]),
        reserved_delta=int(item["reserved_delta"]),
        on_hand_before=int(item["on_hand_before"]),
        reserved_before=int(item["reserved_before"]),
        on_hand_after=int(item["on_hand_after"]),
        reserved_after=int(item["reserved_after"]),
    )


def _reservation_item(reservation: Reservation, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        **reservation_key(reservation.order_id, reservation.line_id),
        "type": "reservation",
        "order_id": reservation.order_id,
        "line_id": reservation.line_id,
        "sku": reservation.sku,
        "warehouse": reservation.warehouse,
        "quantity": reservation.quantity,
        "state": str(reservation.state),
        "channel": reservation.channel,
        "expires_at": reservation.expires_at.isoformat(),
        "expires_epoch": _epoch(reservation.expires_at),
        "updated_at": now.isoformat(),
    }
    if reservation.state is ReservationState.HELD:
        item["GSI1PK"] = _held_shard(reservation.order_id)
        item["GSI1SK"] = f"{reservation.expires_at.isoformat()}#{reservation.order_id}#{reservation.line_id}"
    return item


def _reservation_from(item: Mapping[str, Any]) -> Reservation:
    return Reservation(
        order_id=str(item["order_id"]),
        line_id=str(item["line_id"]),
        sku=str(item["sku"]),
        warehouse=str(item["warehouse"]),
        quantity=int(item["quantity"]),
        state=ReservationState(str(item["state"])),
        channel=str(item.get("channel", "")),
        expires_at=datetime.fromisoformat(str(item["expires_at"])),
    )


def _bucket_from(item: Mapping[str, Any], holds: Mapping[str, int]) -> Bucket:
    return Bucket(
        sku=str(item["sku"]),
        warehouse=str(item["warehouse"]),
        index=int(item["bucket_index"]),
        allocated=int(item.get("allocated", 0)),
        available=int(item.get("available", 0)),
        holds=dict(holds),
    )


def bucket_hold_key(line: LineDemand) -> dict[str, str]:
    """One item per line, whichever bucket holds it: the key is the line-level marker."""
    return {"PK": f"STOCK#{line.sku}", "SK": f"BUCKETHOLD#{line.warehouse}#{line.order_id}#{line.line_id}"}


def _bucket_held_shard(sku: str, warehouse: str, index: int) -> str:
    # One index partition per bucket: the holds' index writes spread like the buckets' writes.
    return f"BUCKETHELD#{sku}#{warehouse}#{index:03d}"


def _bucket_hold_item(line: LineDemand, index: int, channel: str, expires_at: datetime) -> dict[str, Any]:
    return {
        **bucket_hold_key(line),
        "type": "bucket_hold",
        "order_id": line.order_id,
        "line_id": line.line_id,
        "sku": line.sku,
        "warehouse": line.warehouse,
        "quantity": line.quantity,
        "bucket_index": index,
        "channel": channel,
        "state": "held",
        "expires_at": expires_at.isoformat(),
        "expires_epoch": _epoch(expires_at),
        "GSI1PK": _bucket_held_shard(line.sku, line.warehouse, index),
        "GSI1SK": f"{expires_at.isoformat()}#{line.order_id}#{line.line_id}",
    }


def held_lines(reservations: Iterable[Reservation]) -> list[Reservation]:
    return [r for r in reservations if r.state is ReservationState.HELD]
