"""Bundles (kits) on moto: definitions as data, and order changes that move the components' stock.

The scenario test hands the inventory_events handler SQS batches as the topic subscription
delivers them; the property test drives the same service with random bundles and orders.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.resources import Deployed
from oms import composition
from oms.adapters.inventory_table import DynamoInventoryLedger
from oms.domain.errors import BundleConflictError, FormulaInvalidError, InventoryInvalidError
from oms.domain.inventory import ReservationState, replay
from oms.domain.status import OrderStatus
from tests.functional.test_inventory_events import change, deliver

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger(stack: Deployed, monkeypatch: pytest.MonkeyPatch) -> DynamoInventoryLedger:
    monkeypatch.setattr(composition, "utc_now", lambda: T0)
    composition.reset()
    return DynamoInventoryLedger(stack.names["InventoryTable"], boto3.client("dynamodb"))


def save(sku: str, body: dict[str, object]) -> dict[str, object]:
    return composition.bundle_admin().save(sku, body, "arn:aws:iam::123456789012:user/ops")


def test_definitions_refuse_nesting_self_zero_units_bad_formulas_and_stale_revisions(ledger):
    ledger.receive("A", "main", 10, "po-a")
    ledger.receive("B", "main", 5, "po-b")
    view = save("KIT", {"components": {"A": 2, "B": 1}})
    assert view["bundle"] == {
        "components": [{"sku": "A", "units": 2, "sellable": 10}, {"sku": "B", "units": 1, "sellable": 5}],
        "formula": None,
        "revision": 1,
        "sellable": 5,
    }
    assert composition.bundle_admin().view("A") == {"bundle": None, "part_of": ["KIT"]}
    refusals = [
        ("KIT2", {"components": {"KIT": 1}}, InventoryInvalidError),  # a component that is a bundle
        ("A", {"components": {"B": 1}}, InventoryInvalidError),  # a component becoming a bundle
        ("KIT3", {"components": {"KIT3": 1, "A": 1}}, InventoryInvalidError),  # itself
        ("KIT3", {"components": {"A": 0}}, InventoryInvalidError),  # zero units
        ("KIT3", {"components": {"A": 1}, "formula": "kits - on_hand_x"}, FormulaInvalidError),
        ("KIT", {"components": {"A": 1}}, BundleConflictError),  # exists: give the revision
        ("KIT", {"components": {"A": 1}, "revision": 7}, BundleConflictError),  # stale revision
    ]
    for sku, body, error in refusals:
        with pytest.raises(error):
            save(sku, body)
    # a revision replaces the definition: B is no longer a component, so it may become a bundle
    changed = save("KIT", {"components": {"A": 3}, "formula": "MIN(kits, 2)", "revision": 1})
    assert (changed["bundle"]["revision"], changed["bundle"]["sellable"]) == (2, 2)  # type: ignore[index]
    assert save("B", {"components": {"C": 1}})["bundle"]["revision"] == 1  # type: ignore[index]
    with pytest.raises(FormulaInvalidError) as bad:
        save("KIT4", {"components": {"A": 1}, "formula": "MIN(kits, on_hand) - locked"})
    assert bad.value.details["position"] == 21


def test_a_bundle_line_holds_converts_and_releases_its_components(stack: Deployed, ledger):
    ledger.receive("SKU-1", "main", 10, "po-1")
    ledger.receive("SKU-2", "main", 3, "po-2")
    save("KIT-1", {"components": {"SKU-1": 2, "SKU-2": 1}})
    # WHEN an unpaid order for 2 kits and 1 loose SKU-1 arrives (twice)
    unpaid = change(OrderStatus.PENDING_PAYMENT, version=1, lines=(("KIT-1", 2), ("SKU-1", 1)))
    assert deliver(stack, unpaid, unpaid) == {"batchItemFailures": []}
    # THEN the components hold 2×2 + 1 and 2×1 units, once, each component line its own reservation
    assert (ledger.level("SKU-1", "main").reserved, ledger.level("SKU-2", "main").reserved) == (5, 2)
    assert sorted((r.line_id, r.quantity) for r in ledger.reservations("o-1")) == [
        ("1/SKU-1", 4),
        ("1/SKU-2", 2),
        ("2", 1),
    ]
    # WHEN the kit is redefined before payment THEN the payment converts what was reserved
    save("KIT-1", {"components": {"SKU-1": 1}, "revision": 1})
    lines = (("KIT-1", 2), ("SKU-1", 1))
    paid = change(OrderStatus.PAID, version=2, before=OrderStatus.PENDING_PAYMENT, lines=lines)
    deliver(stack, paid, paid)
    one, two = ledger.level("SKU-1", "main"), ledger.level("SKU-2", "main")
    assert (one.on_hand, one.reserved, two.on_hand, two.reserved) == (5, 0, 1, 0)
    assert {r.state for r in ledger.reservations("o-1")} == {ReservationState.CONVERTED}
    # WHEN an order wants more kits than a component makes THEN nothing is held (all or none)
    greedy = change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-2", lines=(("KIT-1", 6),))
    assert deliver(stack, greedy) == {"batchItemFailures": []}
    assert (ledger.reservations("o-2"), ledger.level("SKU-1", "main").reserved) == ([], 0)
    # WHEN a kit order is cancelled THEN its components are released
    deliver(stack, change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-3", lines=(("KIT-1", 2),)))
    assert ledger.level("SKU-1", "main").reserved == 2
    cancelled = change(
        OrderStatus.CANCELLED,
        version=2,
        before=OrderStatus.PENDING_PAYMENT,
        order_id="o-3",
        lines=(("KIT-1", 2),),
    )
    deliver(stack, cancelled)
    assert ledger.level("SKU-1", "main").reserved == 0
    assert replay(ledger.ledger("SKU-1", "main")) == (5, 0)


def test_an_order_exploding_beyond_one_transaction_is_refused_whole(ledger):
    parts = {f"P{n}": 1 for n in range(10)}
    for sku in parts:
        ledger.receive(sku, "main", 10, f"po-{sku}")
    save("BIG", {"components": parts})
    huge = change(OrderStatus.PENDING_PAYMENT, version=1, order_id="o-big", lines=(("BIG", 1),) * 4)
    with pytest.raises(InventoryInvalidError) as refused:
        composition.inventory_events().handle(huge)
    assert refused.value.details == {"lines": 40, "limit": 30}
    assert all(ledger.level(sku, "main").reserved == 0 for sku in parts)


_examples = itertools.count()
COMPONENTS = ("C0", "C1", "C2", "C3")
bundles_strategy = st.lists(
    st.dictionaries(st.sampled_from(COMPONENTS), st.integers(1, 3), min_size=1, max_size=3),
    min_size=1,
    max_size=3,
)
orders_strategy = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(0, 6), st.integers(1, 3)), min_size=1, max_size=3),
        st.sampled_from(["pay", "cancel", "hold"]),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bundles=bundles_strategy,
    orders=orders_strategy,
    stock=st.lists(st.integers(0, 12), min_size=4, max_size=4),
)
def test_for_random_bundles_and_orders_the_ledger_holds_exactly_the_exploded_demand(
    ledger, bundles, orders, stock
):
    # Each example has its own SKUs and orders in the one table (a fresh table per example is slow).
    ns = f"x{next(_examples)}-"
    skus = [f"{ns}{c}" for c in COMPONENTS]
    for sku, units in zip(skus, stock, strict=True):
        if units:
            ledger.receive(sku, "main", units, f"po-{sku}")
    kits = {f"{ns}K{n}": {f"{ns}{c}": units for c, units in parts.items()} for n, parts in enumerate(bundles)}
    for kit, parts in kits.items():
        save(kit, {"components": parts})
    sellables = list(kits) + skus  # a line's index picks a kit or a plain component
    events = composition.inventory_events()
    held: Counter[str] = Counter()
    sold: Counter[str] = Counter()
    for number, (wanted, action) in enumerate(orders):
        lines = tuple((sellables[index % len(sellables)], quantity) for index, quantity in wanted)
        order_id = f"{ns}o{number}"
        demand: Counter[str] = Counter()
        for sku, quantity in lines:
            for part, units in kits.get(sku, {sku: 1}).items():
                demand[part] += quantity * units
        # a component never received is not tracked by the ledger (D191): no line holds it
        demand = Counter({part: need for part, need in demand.items() if stock[skus.index(part)] > 0})
        events.handle(change(OrderStatus.PENDING_PAYMENT, version=1, order_id=order_id, lines=lines))
        reserved = ledger.reservations(order_id)
        fits = all(
            ledger_available_before(held, sold, stock, skus, part) >= need for part, need in demand.items()
        )
        # all or none: held exactly the exploded demand per component, or nothing
        holds: Counter[str] = Counter()
        for reservation in reserved:
            holds[reservation.sku] += reservation.quantity
        assert holds == (demand if fits else Counter())
        if not fits:
            continue
        if action == "pay":
            events.handle(
                change(
                    OrderStatus.PAID,
                    version=2,
                    before=OrderStatus.PENDING_PAYMENT,
                    order_id=order_id,
                    lines=lines,
                )
            )
            sold.update(demand)
        elif action == "cancel":
            events.handle(
                change(
                    OrderStatus.CANCELLED,
                    version=2,
                    before=OrderStatus.PENDING_PAYMENT,
                    order_id=order_id,
                    lines=lines,
                )
            )
        else:
            held.update(demand)
    for sku, units in zip(skus, stock, strict=True):
        level = ledger.level(sku, "main")
        assert 0 <= level.reserved <= level.on_hand
        assert (level.on_hand, level.reserved) == (units - sold[sku], held[sku])
        assert replay(ledger.ledger(sku, "main")) == (level.on_hand, level.reserved)


def ledger_available_before(
    held: Counter[str], sold: Counter[str], stock: list[int], skus: list[str], sku: str
) -> int:
    return stock[skus.index(sku)] - sold[sku] - held[sku]


def test_the_bundle_lookup_costs_one_batch_read_per_change(ledger):
    """What bundles add to the consumer's DynamoDB calls (docs/inventory.md "Bundles": the cost)."""
    ledger.receive("P-1", "main", 10, "po-p1")
    save("KIT-P", {"components": {"P-1": 2}})
    calls: Counter[str] = Counter()
    client = composition.bundle_catalog()._db

    def count(operation_name: str, **_: object) -> None:
        calls[operation_name] += 1

    client.meta.events.register("before-call.dynamodb.*", lambda model, **kw: count(model.name))
    events = composition.inventory_events()
    costs = {}
    for order_id, lines in (("o-plain", (("P-1", 1),)), ("o-kit", (("KIT-P", 1),))):
        for status, version in ((OrderStatus.PENDING_PAYMENT, 1), (OrderStatus.PAID, 2)):
            calls.clear()
            events.handle(change(status, version=version, order_id=order_id, lines=lines))
            costs[(order_id, status)] = (calls["BatchGetItem"], calls["Query"])
    # one BatchGetItem per change for the definitions; a kit's payment also queries the order's
    # reservations once more (what it reserved wins over a redefinition)
    plain_reserve, plain_convert = (
        costs[("o-plain", OrderStatus.PENDING_PAYMENT)],
        costs[("o-plain", OrderStatus.PAID)],
    )
    kit_reserve, kit_convert = (
        costs[("o-kit", OrderStatus.PENDING_PAYMENT)],
        costs[("o-kit", OrderStatus.PAID)],
    )
    assert (plain_reserve[0], plain_convert[0], kit_reserve[0], kit_convert[0]) == (1, 1, 1, 1)
    assert (kit_reserve[1] - plain_reserve[1], kit_convert[1] - plain_convert[1]) == (0, 1)
