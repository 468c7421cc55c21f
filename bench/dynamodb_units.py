"""DynamoDB item sizes and on-demand request units, by the documented rules.

moto reports a placeholder ``ConsumedCapacity``, so the benchmark computes units itself from the
items it sees in requests and in the table, following the DynamoDB Developer Guide:

- item size ("DynamoDB item sizes and formats", CapacityUnitCalculations.html): attribute name
  bytes plus value bytes; strings are UTF-8 bytes, numbers 1 byte per two significant digits plus
  1, binary the raw bytes, null and booleans 1 byte, lists and maps 3 bytes plus 1 byte per
  element plus the elements;
- reads ("read-write-operations.html"): a strongly consistent read costs one unit per 4 KB of the
  item (rounded up, at least one), an eventually consistent read half that, a transactional read
  twice that; a Query rounds the *sum* of the item sizes it read;
- writes: one unit per 1 KB (rounded up, at least one) of the larger of the item before and after
  a Put or Update, of the deleted item for a Delete; a failed conditional write still costs the
  existing item's size (at least one); a transactional write costs two units per KB;
- global secondary indexes: a write that puts an item into an index, or changes a projected
  attribute of an item in it, costs one write on the index per KB of the index entry; a write that
  changes the index key costs two (delete the old entry, put the new one); removing an item from
  an index costs one. Index entries are propagated after a transaction commits, as standard writes.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

KB = 1024
READ_UNIT_BYTES = 4 * KB
WRITE_UNIT_BYTES = KB
#: Storage overhead DynamoDB adds to every item (and every index entry) for indexing.
STORAGE_OVERHEAD_BYTES = 100

#: A low-level attribute value: ``{"S": "x"}``, ``{"N": "1"}``, ``{"M": {...}}``...
AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]


def number_size(text: str) -> int:
    """Bytes of a number value: one per two significant digits, plus one (plus one if negative)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return len(text.encode("utf-8"))
    sign, digits, _ = value.as_tuple()
    significant = "".join(str(digit) for digit in digits).strip("0")
    return math.ceil(len(significant) / 2) + 1 + (1 if sign and significant else 0)


def _binary_length(value: bytes | bytearray | str) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    # Serialised requests carry binary as base64 text; the raw length is what counts.
    return len(base64.b64decode(value))


def value_size(value: AttributeValue) -> int:
    """Bytes of one attribute value (without its name)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return _binary_length(inner)
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + value_size(element) for name, element in inner.items())
    if kind == "SS":
        return sum(len(element.encode("utf-8")) for element in inner)
    if kind == "NS":
        return sum(number_size(element) for element in inner)
    if kind == "BS":
        return sum(_binary_length(element) for element in inner)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: Item | None) -> int:
    """Bytes of an item: every attribute's name plus its value. ``None`` (no item) is 0."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def read_units(size: int, *, consistent: bool = False, transactional: bool = False) -> float:
    """Read request units for reading ``size`` bytes in one item (or one Query page)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


def write_units(size: int, *, transactional: bool = False) -> int:
    """Write request units for writing an item of ``size`` bytes (at least one)."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


@dataclass(frozen=True)
class SecondaryIndex:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    key_attributes: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    included: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    """What unit accounting needs to know about a table."""

    name: str
    key_attributes: tuple[str, ...]
    indexes: tuple[SecondaryIndex, ...] = ()

    def key_of(self, item: Item) -> dict[str, AttributeValue]:
        return {name: item[name] for name in self.key_attributes}

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> TableSchema:
        """From a DescribeTable ``Table`` structure."""
        indexes = tuple(
            SecondaryIndex(
                name=index["IndexName"],
                key_attributes=tuple(element["AttributeName"] for element in index["KeySchema"]),
                projection=index.get("Projection", {}).get("ProjectionType", "ALL"),
                included=tuple(index.get("Projection", {}).get("NonKeyAttributes", ())),
            )
            for index in table.get("GlobalSecondaryIndexes", ())
        )
        return cls(
            name=table["TableName"],
            key_attributes=tuple(element["AttributeName"] for element in table["KeySchema"]),
            indexes=indexes,
        )


def index_entry(schema: TableSchema, index: SecondaryIndex, item: Item | None) -> dict[str, Any] | None:
    """The entry ``item`` has in ``index``, or None when it lacks one of the index key attributes."""
    if not item or any(name not in item for name in index.key_attributes):
        return None
    if index.projection == "ALL":
        return dict(item)
    kept = set(index.key_attributes) | set(schema.key_attributes)
    if index.projection == "INCLUDE":
        kept |= set(index.included)
    return {name: value for name, value in item.items() if name in kept}


@dataclass
class WriteCost:
    """Units and volumes of one write (or one failed conditional write)."""

    table_units: float = 0.0
    index_units: float = 0.0
    items_written: int = 0
    index_entries_written: int = 0
    bytes_written: int = 0
    index_bytes_written: int = 0

    @property
    def units(self) -> float:
        return self.table_units + self.index_units

    def __iadd__(self, other: WriteCost) -> WriteCost:
        self.table_units += other.table_units
        self.index_units += other.index_units
        self.items_written += other.items_written
        self.index_entries_written += other.index_entries_written
        self.bytes_written += other.bytes_written
        self.index_bytes_written += other.index_bytes_written
        return self


def index_write_cost(schema: TableSchema, before: Item | None, after: Item | None) -> WriteCost:
    """What propagating one item change to the table's global secondary indexes costs."""
    cost = WriteCost()
    for index in schema.indexes:
        old, new = index_entry(schema, index, before), index_entry(schema, index, after)
        if old is None and new is None:
            continue
        if old is not None and new is not None:
            same_key = all(old[name] == new[name] for name in index.key_attributes)
            if same_key and old == new:
                continue
            writes = [item_size(new)] if same_key else [item_size(old), item_size(new)]
        else:
            writes = [item_size(new if new is not None else old)]
        for size in writes:
            cost.index_units += write_units(size)
        if new is not None:
            cost.index_entries_written += 1
            cost.index_bytes_written += item_size(new)
    return cost


def put_cost(
    schema: TableSchema, before: Item | None, after: Item | None, *, transactional: bool = False
) -> WriteCost:
    """A successful Put/Update (``after`` set) or Delete (``after`` None) of one item."""
    larger = max(item_size(before), item_size(after))
    cost = WriteCost(table_units=write_units(larger, transactional=transactional))
    if after is not None:
        cost.items_written = 1
        cost.bytes_written = item_size(after)
    cost += index_write_cost(schema, before, after)
    return cost


def failed_condition_cost(before: Item | None, *, transactional: bool = False) -> WriteCost:
    """A conditional write whose condition failed: the existing item's size, at least one unit.

    For a cancelled transaction only the prepare phase ran; it is charged like a standard
    failed conditional write (one unit per KB), an assumption the Developer Guide does not spell out.
    """
    del transactional  # same charge either way, see above
    return WriteCost(table_units=write_units(item_size(before)))


@dataclass
class CapacityTotals:
    """Running totals of request units and volumes, per table."""

    read_units: dict[str, float] = field(default_factory=dict)
    write_units: dict[str, float] = field(default_factory=dict)
    index_write_units: dict[str, float] = field(default_factory=dict)
    items_written: dict[str, int] = field(default_factory=dict)
    index_entries_written: dict[str, int] = field(default_factory=dict)
    bytes_written: dict[str, int] = field(default_factory=dict)
    index_bytes_written: dict[str, int] = field(default_factory=dict)
    items_read: dict[str, int] = field(default_factory=dict)

    def add_read(self, table: str, units: float, items: int) -> None:
        self.read_units[table] = self.read_units.get(table, 0.0) + units
        self.items_read[table] = self.items_read.get(table, 0) + items

    def add_write(self, table: str, cost: WriteCost) -> None:
        self.write_units[table] = self.write_units.get(table, 0.0) + cost.table_units
        self.index_write_units[table] = self.index_write_units.get(table, 0.0) + cost.index_units
        self.items_written[table] = self.items_written.get(table, 0) + cost.items_written
        self.index_entries_written[table] = (
            self.index_entries_written.get(table, 0) + cost.index_entries_written
        )
        self.bytes_written[table] = self.bytes_written.get(table, 0) + cost.bytes_written
        self.index_bytes_written[table] = self.index_bytes_written.get(table, 0) + cost.index_bytes_written

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            "read_units": dict(self.read_units),
            "write_units": dict(self.write_units),
            "index_write_units": dict(self.index_write_units),
            "items_written": {k: float(v) for k, v in self.items_written.items()},
            "index_entries_written": {k: float(v) for k, v in self.index_entries_written.items()},
            "bytes_written": {k: float(v) for k, v in self.bytes_written.items()},
            "index_bytes_written": {k: float(v) for k, v in self.index_bytes_written.items()},
            "items_read": {k: float(v) for k, v in self.items_read.items()},
        }


def stored_bytes(schema: TableSchema, items: Iterable[Item]) -> int:
    """Billable storage of ``items`` in the table and its indexes (100 bytes overhead each)."""
    total = 0
    for item in items:
        total += item_size(item) + STORAGE_OVERHEAD_BYTES
        for index in schema.indexes:
            entry = index_entry(schema, index, item)
            if entry is not None:
                total += item_size(entry) + STORAGE_OVERHEAD_BYTES
    return total


def query_read_units(items: Sequence[Item], *, consistent: bool) -> float:
    """A Query page: the summed size of the items read, rounded up once."""
    return read_units(sum(item_size(item) for item in items), consistent=consistent)
