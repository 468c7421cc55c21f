""" "Never push stale over newer": overlapping passes of one listing, in any interleaving, on moto.

Each pass computed its target at its own time (pass i at T + i s) and goes claim → push → record.
Whatever order their steps land in, the channel receives pushes in strictly increasing computation
time, and the stored state ends at the newest pass that pushed. Dropping either condition of the
claim (``computed_at <`` or the lease) makes hypothesis find an interleaving that breaks this.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from oms.adapters.stock_sync_table import DynamoStockSync
from oms.domain.stock_sync import Listing, SyncState, may_claim

T = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
TABLE = "inventory-claims"
_skus = count()


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def store() -> Iterator[DynamoStockSync]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "GSI1PK", "GSI1SK")
            ],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
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
        yield DynamoStockSync(TABLE, dynamodb)


def interleavings() -> st.SearchStrategy[list[int]]:
    return st.integers(min_value=2, max_value=5).flatmap(
        lambda n: st.permutations([index for index in range(n) for _ in range(3)])
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=interleavings(), quantities=st.lists(st.integers(0, 500), min_size=5, max_size=5))
def test_overlapping_passes_never_push_stale_over_newer(
    store: DynamoStockSync, order: list[int], quantities: list[int]
) -> None:
    # GIVEN a fresh listing and passes computed at T+0s, T+1s, ... arriving in `order`
    listing = Listing(
        sku=f"CLAIM-{next(_skus)}", platform="douyin", shop_id="1", channel_sku_id="9", product_id="8"
    )
    store.put_listing(listing, "test", T)
    now = stamp(T + timedelta(seconds=10))
    lease_until = stamp(T + timedelta(seconds=40))
    step = dict.fromkeys(range(len(order)), 0)
    claimed: dict[int, bool] = {}
    channel: list[int] = []
    # WHEN each pass takes its steps: claim (read state first, as the service does), push, record
    for index in order:
        computed_at = stamp(T + timedelta(seconds=index))
        if step[index] == 0:
            state = _state(store, listing)
            claimed[index] = may_claim(state, computed_at, now) and store.claim(
                listing, computed_at, now, lease_until
            )
        elif step[index] == 1 and claimed[index]:
            channel.append(index)
        elif step[index] == 2 and claimed[index]:
            assert store.record_push(
                listing,
                computed_at,
                quantity=quantities[index],
                pushed_seq={"main": index},
                recent=[],
                at=now,
            )
        step[index] += 1
    # THEN the channel saw strictly newer targets only, and the state holds the newest pushed
    assert channel == sorted(set(channel))
    assert channel, "the first claim always succeeds"
    final = _state(store, listing)
    assert final.last_pushed == quantities[channel[-1]]
    assert final.lease_until == ""


def _state(store: DynamoStockSync, listing: Listing) -> SyncState:
    ((_, state, _),) = store.snapshot(listing.sku).listings
    return state
