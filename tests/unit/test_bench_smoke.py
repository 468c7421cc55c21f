"""The benchmark's pure parts: DynamoDB size and unit rules, and the cost model on fixed counts.

No timing is asserted: `make bench` measures, these check the arithmetic it relies on.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from bench.cost import PRICES_PATH, Prices, cost_report, example_usage, function_duration
from bench.dynamodb_units import (
    SecondaryIndex,
    TableSchema,
    failed_condition_cost,
    item_size,
    number_size,
    put_cost,
    read_units,
    stored_bytes,
    write_units,
)

SCHEMA = TableSchema(
    name="Orders",
    key_attributes=("PK", "SK"),
    indexes=(SecondaryIndex(name="GSI1", key_attributes=("GSI1PK", "GSI1SK")),),
)


def header(status: str, padding: int = 0) -> dict[str, dict[str, str]]:
    return {
        "PK": {"S": "ORDER#o_1"},
        "SK": {"S": "#ORDER"},
        "GSI1PK": {"S": f"STATUS#shopify#{status}"},
        "GSI1SK": {"S": "2026-11-11T00:00:00+00:00#o_1"},
        "note": {"S": "x" * padding},
    }


# ------------------------------------------------------------------------------ item sizes


@pytest.mark.parametrize(
    ("text", "size"),
    [("1", 2), ("12", 2), ("123", 3), ("199.00", 3), ("0.001", 2), ("-5", 3), ("100000", 2)],
)
def test_numbers_take_one_byte_per_two_significant_digits_plus_one(text: str, size: int) -> None:
    assert number_size(text) == size


def test_item_size_follows_the_documented_rules() -> None:
    # GIVEN one attribute of each kind (names count their UTF-8 bytes too)
    item: dict[str, Any] = {
        "s": {"S": "订单"},  # 1 + 6 UTF-8 bytes
        "n": {"N": "12345"},  # 1 + 3 + 1
        "b": {"B": b"\x00\x01\x02"},  # 1 + 3 raw bytes
        "t": {"BOOL": True},  # 1 + 1
        "z": {"NULL": True},  # 1 + 1
        "l": {"L": [{"S": "ab"}, {"N": "1"}]},  # 1 + 3 + (1 + 2) + (1 + 2)
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + (1 + 1 + 1)
        "ss": {"SS": ["a", "bc"]},  # 2 + 3
    }
    # THEN the size is the sum the Developer Guide describes
    assert item_size(item) == 7 + 5 + 4 + 2 + 2 + 10 + 7 + 5
    assert item_size(None) == 0


def test_binary_given_as_base64_counts_its_raw_length() -> None:
    assert item_size({"b": {"B": "AAEC"}}) == 1 + 3


# ------------------------------------------------------------------------------ request units


def test_read_and_write_units_round_up_per_item() -> None:
    assert write_units(1) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(1025, transactional=True) == 4
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(100) == 0.5
    assert read_units(100, transactional=True) == 2


def test_a_status_change_moves_the_index_entry_and_costs_two_index_writes() -> None:
    # GIVEN a header whose status (the GSI1 partition key) changes
    before, after = header("paid"), header("shipped")
    cost = put_cost(SCHEMA, before, after, transactional=True)
    # THEN the table write is transactional (2 per KB) and the index pays delete + put
    assert cost.table_units == 2
    assert cost.index_units == 2
    assert (cost.items_written, cost.index_entries_written) == (1, 1)


def test_an_unchanged_index_entry_costs_nothing_and_a_new_one_costs_one() -> None:
    same = header("paid")
    assert put_cost(SCHEMA, same, dict(same)).index_units == 0
    created = put_cost(SCHEMA, None, header("paid"))
    assert (created.table_units, created.index_units) == (1, 1)


def test_the_larger_of_before_and_after_decides_and_a_failed_condition_costs_the_existing_item() -> None:
    big, small = header("paid", padding=3000), header("paid")
    assert put_cost(SCHEMA, big, small).table_units == math.ceil(item_size(big) / 1024)
    assert failed_condition_cost(big).table_units == math.ceil(item_size(big) / 1024)
    assert failed_condition_cost(None).table_units == 1


def test_stored_bytes_add_100_bytes_per_item_and_per_index_entry() -> None:
    item = header("paid")
    assert stored_bytes(SCHEMA, [item]) == 2 * (item_size(item) + 100)


# ------------------------------------------------------------------------------ cost model


@pytest.fixture(scope="module")
def prices() -> Prices:
    return Prices.load()


def test_every_price_names_its_source_and_date() -> None:
    data = json.loads(PRICES_PATH.read_text(encoding="utf-8"))
    for name, entry in data["prices"].items():
        assert entry["source"].startswith("https://"), name
        assert entry["as_of"], name
        assert entry["usd"] > 0, name
        assert entry["per"] > 0, name
    assert data["exchange_rate"]["cny_per_usd"] > 0


def test_the_cost_model_on_fixed_counts(prices: Prices) -> None:
    # GIVEN the hand-made counts for 200 orders
    usage = example_usage()
    report = cost_report(usage, prices)
    lines = {line.name: line for line in report.lines}
    # THEN each request line is count x unit price, scaled to 1,000 orders (x5 here)
    assert lines["API Gateway HTTP API"].usd_per_1000_orders == pytest.approx(1050 * 5 * 1.0 / 1e6)
    assert lines["DynamoDB writes (on-demand)"].usd_per_1000_orders == pytest.approx(12000 * 5 * 0.625 / 1e6)
    assert lines["S3 PUT (raw archive)"].usd_per_1000_orders == pytest.approx(1050 * 5 * 0.005 / 1000)
    assert lines["X-Ray traces (Tracing: Active)"].usd_per_1000_orders == pytest.approx(2100 * 5 * 5.0 / 1e6)
    # AND a fixed monthly line is shared by the month's 30 x 1,000 orders
    assert lines["Secrets Manager secrets"].kind == "fixed"
    assert lines["Secrets Manager secrets"].usd_per_1000_orders == pytest.approx(3 * 0.40 / 30)
    assert lines["CloudWatch custom metrics (EMF)"].usd_per_1000_orders == pytest.approx(20 * 0.30 / 30)
    # AND the total is the sum of the lines, the month adds 12 months of storage
    assert report.per_1000_orders_usd == pytest.approx(sum(line.usd_per_1000_orders for line in report.lines))
    storage = lines["DynamoDB storage + PITR (per month kept)"].usd_per_1000_orders
    assert report.monthly_usd == pytest.approx((report.per_1000_orders_usd - storage + 12 * storage) * 30)
    low, high = report.saas_share
    assert low == pytest.approx(report.monthly_cny / 900)
    assert high == pytest.approx(report.monthly_cny / 800)


def test_durations_scale_cpu_to_the_vcpu_share_and_add_round_trips(prices: Prices) -> None:
    intake = example_usage().intake
    duration = function_duration(intake, prices)
    # 2 ms of CPU on a full core takes 1769/512 as long at 512 MB; one SQS call per invocation
    assert duration.cpu_ms == pytest.approx(2.0 * 1769 / 512)
    assert duration.io_ms == pytest.approx(12 + 20 * 3 / 1050)
    assert duration.billed_ms == math.ceil(duration.cpu_ms + duration.io_ms)


def test_more_write_units_cost_more_and_nothing_else_moves(prices: Prices) -> None:
    usage = example_usage()
    base = cost_report(usage, prices)
    doubled = cost_report(
        dataclasses.replace(usage, dynamodb_write_units=usage.dynamodb_write_units * 2), prices
    )
    delta = doubled.per_1000_orders_usd - base.per_1000_orders_usd
    assert delta == pytest.approx(12000 * 5 * 0.625 / 1e6)
