"""The hot-SKU and patrol-scaling benchmarks' own logic: per-item unit sums, the index shortcut, tables.

No timing is asserted: `make bench` measures; these check what its figures rest on.
"""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

from bench.dynamodb_units import WriteCost
from bench.harness import BenchContext, Options
from bench.hot_sku import HotSkuSuite, _PerItemCalls
from bench.patrol_scaling import PatrolScalingSuite, _index_partitions


def _item(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}, "type": {"S": "bucket"}}


def test_per_item_calls_sum_table_units_per_item_key_not_index_units() -> None:
    calls = _PerItemCalls()
    calls.add_item_write(
        "Inventory", _item("STOCK#HOT", "BUCKET#WH1#000"), WriteCost(table_units=3, index_units=1)
    )
    calls.add_item_write("Inventory", _item("STOCK#HOT", "BUCKET#WH1#000"), WriteCost(table_units=4))
    calls.add_item_write("Inventory", _item("STOCK#HOT", "BUCKET#WH1#001"), WriteCost(table_units=1))
    assert calls.units_by_item == {"STOCK#HOT|BUCKET#WH1#000": 7, "STOCK#HOT|BUCKET#WH1#001": 1}
    assert calls.item_types["Inventory:bucket"]["writes"] == 3


def test_index_partition_shortcut_returns_what_moto_returns() -> None:
    # GIVEN a table with a GSI holding items in three index partitions (and items outside it)
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "GSI1PK", "GSI1SK")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "GSI1",
                    "KeySchema": [
                        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
        )
        for n in range(30):
            item = {"PK": {"S": f"P{n}"}, "SK": {"S": "#"}}
            if n % 4:
                item |= {"GSI1PK": {"S": f"S{n % 3}"}, "GSI1SK": {"S": f"{n:03d}"}}
            db.put_item(TableName="t", Item=item)

        def query(**extra: Any) -> list[Any]:
            return [
                db.query(
                    TableName="t",
                    IndexName="GSI1",
                    KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :before",
                    ExpressionAttributeValues={":pk": {"S": f"S{p}"}, ":before": {"S": "020"}},
                    **extra,
                )["Items"]
                for p in range(3)
            ] + [
                db.query(
                    TableName="t",
                    KeyConditionExpression="PK = :pk",
                    ExpressionAttributeValues={":pk": {"S": "P5"}},
                )["Items"]
            ]

        plain = query()
        # WHEN the same queries run with the shortcut (also paged, descending)
        with _index_partitions():
            shortcut = query()
            paged = query(Limit=2, ScanIndexForward=False)
        # THEN the results are moto's own, in the same order
        assert shortcut == plain
        assert any(plain[:3])
        assert [page[:2] for page in paged[:3]] == [list(reversed(page))[:2] for page in plain[:3]]


def _hot_result(wcu_per_reservation: float) -> dict[str, Any]:
    throughput = {
        "reservations_per_s": 20.0,
        "latency_ms_median": 80.0,
        "optimistic_retries": 3,
        "sold": 60,
        "stock": 60,
        "oversell": 0,
    }
    return {
        "stock": 60,
        "threads": 8,
        "arrivals_per_s": [100, 1_000, 5_000],
        "partition_wcu_per_s": 1_000,
        "configurations": {
            "transactional (no buckets)": {
                "buckets": 0,
                "throughput_moto": throughput,
                "units": {
                    "hottest_item": "STOCK#HOT|WH#WH1",
                    "hottest_item_units_per_reservation": wcu_per_reservation,
                    "hottest_item_bytes_at_end": 300,
                    "write_units_per_reservation": 8.0,
                    "index_write_units_per_reservation": 1.0,
                    "oversell": 0,
                },
                "hottest_item_wcu_per_s": {
                    str(rate): rate * wcu_per_reservation for rate in (100, 1_000, 5_000)
                },
            }
        },
    }


def test_hot_sku_table_marks_rates_above_one_partition_and_reports_oversell() -> None:
    context = BenchContext(Options.quick_run())
    _, units = HotSkuSuite().tables(_hot_result(2.0), context)
    row = units.rows[0]
    assert row[3:6] == ["200", "2,000 ✗", "10,000 ✗"]
    throughput, _ = HotSkuSuite().tables(_hot_result(0.1), context)
    assert throughput.rows[0][-1] == "0"


def test_patrol_table_has_one_row_per_table_size() -> None:
    result = {
        "open_orders": 200,
        "runs": 5,
        "sizes": [
            {
                "total_orders": total,
                "queries": 54,
                "index_entries_read": 200,
                "read_units": 33.0,
                "scan_read_units": total / 8,
                "plan_ms_median_moto": 900.0,
            }
            for total in (1_000, 10_000)
        ],
    }
    (table,) = PatrolScalingSuite().tables(result, BenchContext(Options.quick_run()))
    assert [row[0] for row in table.rows] == ["1,000", "10,000"]
    assert [row[4] for row in table.rows] == ["125", "1,250"]
