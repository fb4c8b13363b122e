"""The hot SKU: DynamoDB's TransactionConflict on a flash sale, and stock split over shard items.

A reservation that loses to conflicts on every attempt must end StoreUnavailable (alerted, redrivable), never
InventoryUnavailable; with ``STOCK_SHARDS`` > 1 an order fails for stock only when the SKU's shards together
fall short, and a release gives back exactly the shards its reservation took.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import caught, order_input
from engine_support import order, run, scenario
from order_saga.errors import InventoryUnavailable, PaymentDeclined
from order_saga.models import LineItem, OrderStatus, ReservationState
from order_saga.store import SagaStore, default_store, plan_takes, split_evenly, stock_key
from saga_cli.chaos.faults import FaultPlan
from saga_cli.chaos.invariants import check, lost_to_conflicts
from saga_cli.commands.main import app
from saga_cli.engine.alerts import AlertRule
from saga_cli.engine.functions import reset_clients
from saga_cli.targets.runner import result_of

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

HOT = "HOT-1"


def _shards(store: SagaStore, sku: str) -> dict[int, int]:
    """A SKU's units by shard, straight from the items."""
    levels = {}
    for shard in range(10):
        item = store.client.get_item(TableName=store.table_name, Key=stock_key(sku, shard)).get("Item")
        if item:
            levels[shard] = int(item["available"]["N"])
    return levels


@pytest.fixture
def sharded(tables: SagaStore, monkeypatch: pytest.MonkeyPatch) -> SagaStore:
    """The functions with four stock shards per SKU, and 10 units of HOT-1 spread over them (3, 3, 2, 2)."""
    monkeypatch.setenv("STOCK_SHARDS", "4")
    reset_clients()
    store = SagaStore(tables.table_name, tables.client, stock_shards=4)
    store.put_stock({HOT: 10})
    return store


def _hot_order(quantity: int, **changes: Any) -> dict[str, Any]:
    return order_input(items=[{"sku": HOT, "quantity": quantity, "unitPrice": 999}], **changes)


# Shards, handler by handler ----------------------------------------------------------------------------------


def test_the_seed_spreads_a_skus_units_over_its_shards(sharded: SagaStore) -> None:
    assert _shards(sharded, HOT) == {0: 3, 1: 3, 2: 2, 3: 2}
    assert sharded.stock([HOT]) == {HOT: 10}
    assert sharded.stock()[HOT] == 10


def test_a_line_bigger_than_any_shard_takes_from_several_and_the_release_returns_exactly_them(
    sharded: SagaStore, run_chain: Any, invoke: Any
) -> None:
    # Given 10 units over four shards, none holding more than 3
    # When an order for 5 reserves
    *_, reserved = run_chain(_hot_order(5, payment={"token": "tok_chargeDeclined"}), through="ReserveInventoryFunction")

    # Then it took 5 units from at least two shards, and recorded which
    stored = sharded.get_order("ord-1")
    assert stored.status == OrderStatus.RESERVED
    assert stored.stock_taken is not None and len(stored.stock_taken) >= 2
    assert sum(take.quantity for take in stored.stock_taken) == 5
    after = _shards(sharded, HOT)
    assert sum(after.values()) == 5
    for take in stored.stock_taken:
        assert after[take.shard] == {0: 3, 1: 3, 2: 2, 3: 2}[take.shard] - take.quantity

    # And when its payment is declined and the stock released, every shard is back where it was
    with pytest.raises(PaymentDeclined) as raised:
        invoke("ChargePaymentFunction", reserved)
    invoke("ReleaseInventoryFunction", caught(reserved, raised.value))
    assert _shards(sharded, HOT) == {0: 3, 1: 3, 2: 2, 3: 2}
    assert sharded.get_order("ord-1").reservation_state == ReservationState.RELEASED


def test_an_order_fails_for_stock_only_when_the_shards_together_are_short(
    sharded: SagaStore, run_chain: Any, invoke: Any
) -> None:
    # Given 10 units over four shards
    (created,) = run_chain(_hot_order(11), through="CreateOrderFunction")

    # When an order wants 11
    with pytest.raises(InventoryUnavailable, match="HOT-1 has 10, 11 wanted"):
        invoke("ReserveInventoryFunction", created)

    # Then nothing was taken, and the order says why it failed
    assert _shards(sharded, HOT) == {0: 3, 1: 3, 2: 2, 3: 2}
    stored = sharded.get_order("ord-1")
    assert stored.status == OrderStatus.INVENTORY_FAILED
    assert stored.failure_reason == "Inventory unavailable: HOT-1 has 10, 11 wanted"


def test_stock_laid_out_in_one_item_is_still_found_after_shards_are_turned_on(
    tables: SagaStore, monkeypatch: pytest.MonkeyPatch, run_chain: Any
) -> None:
    # Given stock seeded in the one-item layout, then the functions switched to four shards
    tables.put_stock({HOT: 4})
    monkeypatch.setenv("STOCK_SHARDS", "4")
    reset_clients()

    # When an order for all 4 reserves
    run_chain(_hot_order(4), through="ReserveInventoryFunction")

    # Then it took them from the one item there is
    assert _shards(tables, HOT) == {0: 0}
    assert tables.get_order("ord-1").status == OrderStatus.RESERVED


@given(
    levels=st.dictionaries(st.integers(0, 9), st.integers(0, 20), max_size=10),
    quantity=st.integers(1, 60),
    order_id=st.text("abc-123", min_size=1, max_size=12),
)
def test_a_plan_takes_exactly_the_quantity_from_shards_that_have_it(
    levels: dict[int, int], quantity: int, order_id: str
) -> None:
    line = LineItem(sku=HOT, quantity=quantity, unit_price=1)
    takes = plan_takes(order_id, [line], {HOT: levels} if levels else {}, 4)
    if sum(levels.values()) < quantity:
        assert takes is None
        return
    assert takes is not None
    assert sum(take.quantity for take in takes) == quantity
    assert len({take.shard for take in takes}) == len(takes)
    assert all(0 < take.quantity <= levels[take.shard] for take in takes)


def test_the_seed_splits_units_evenly() -> None:
    assert split_evenly(10, 4) == [3, 3, 2, 2]
    assert split_evenly(7, 1) == [7]
    assert split_evenly(0, 3) == [0, 0, 0]


# The chaos kind on the embedded engine -----------------------------------------------------------------------


def _conflicts(lost_rate: float) -> FaultPlan:
    """Every reservation of GIZMO-3 meets TransactionConflict: on every attempt, or on the first few."""
    plan = FaultPlan(7, [], [], hot_skus=frozenset({"GIZMO-3"}), conflict_rate=1.0, lost_rate=lost_rate)
    default_store().client.meta.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems", plan.before_transaction
    )
    return plan


def _gizmo_order(order_id: str) -> Any:
    data = json.loads(scenario("happy").payload)
    return order(data | {"orderId": order_id, "items": [{"sku": "GIZMO-3", "quantity": 1, "unitPrice": 100}]})


def test_conflicts_within_the_retries_are_absorbed(saga: Any) -> None:
    # Given a flash sale whose reservations conflict on their first attempts
    plan = _conflicts(lost_rate=0.0)
    before = saga.store.stock(["GIZMO-3"])["GIZMO-3"]

    # When an order runs
    (result,) = run(saga, _gizmo_order("ord-hot-ok"))

    # Then the Retry absorbed the conflicts: it shipped, taking its unit once
    assert plan.injected["hot-sku-conflict"] == 1
    assert result.error is None
    assert saga.store.get_order("ord-hot-ok").status == OrderStatus.SHIPPED
    assert saga.store.stock(["GIZMO-3"]) == {"GIZMO-3": before - 1}


def test_a_reservation_lost_to_conflicts_is_told_from_a_stock_out_and_redriven(saga: Any) -> None:
    # Given a flash sale whose reservations of one order conflict on every attempt
    plan = _conflicts(lost_rate=1.0)
    initial = saga.store.stock(["GIZMO-3"])

    # When the order runs
    (result,) = run(saga, _gizmo_order("ord-hot-lost"))

    # Then it failed StoreUnavailable naming the conflict, took nothing, and the alert rule fired
    assert result.error == "StoreUnavailable"
    assert "TransactionConflict" in (result.cause or "")
    assert saga.store.get_order("ord-hot-lost").status == OrderStatus.CREATED
    assert saga.store.stock(["GIZMO-3"]) == initial
    rule = AlertRule(saga.engine.template, saga.engine.state_machine_arn)
    alert = rule.check(
        {"executionArn": result.execution_arn, "name": result.name},
        "FAILED",
        result.error,
        result.cause,
        datetime.now(UTC),
    )
    assert alert is not None
    assert lost_to_conflicts([result], [result], [alert]) == []

    # And when the contention is over and the operator redrives, the order ships, taking one unit
    plan.heal("ord-hot-lost")
    saga.redrive(result.execution_arn)
    redriven = result_of(saga, saga.describe(result.execution_arn), saga.history(result.execution_arn), 0)
    assert redriven.error is None
    assert saga.store.get_order("ord-hot-lost").status == OrderStatus.SHIPPED
    assert check(initial, saga.store.stock(["GIZMO-3"]), saga.store.orders(), [redriven]) == []


def test_the_checker_catches_a_lost_reservation_reported_as_a_stock_out(saga: Any) -> None:
    # Given an execution the conflicts made lose, that ended InventoryUnavailable instead
    plan = _conflicts(lost_rate=1.0)
    (result,) = run(saga, _gizmo_order("ord-hot-check"))
    assert plan.lost_to_conflicts("ord-hot-check")
    as_stock_out = result_of(saga, saga.describe(result.execution_arn), [], 0)
    object.__setattr__(as_stock_out, "error", "InventoryUnavailable")

    # Then the check names it
    violations = lost_to_conflicts([], [as_stock_out], [])
    assert [v.rule for v in violations] == ["a lost reservation is not a stock-out"]


def test_chaos_with_stock_shards_keeps_every_promise() -> None:
    result = CliRunner().invoke(app, ["chaos", "--sagas", "60", "--seed", "4", "--stock-shards", "4", "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["violations"] == 0, summary["firstViolations"]
    assert summary["stockShards"] == 4
    assert summary["orderKinds"]["flash-sale"] > 0
    assert summary["replay"].endswith("--stock-shards 4")
