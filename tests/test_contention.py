"""Concurrent orders competing for the same stock: no overselling, no partial reservation, no deadlock.

Each test runs with the one-item stock layout and with four stock shards per SKU (``STOCK_SHARDS``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_support import order, run, scenario
from saga_cli.chaos.invariants import check
from saga_cli.targets.target import TargetOptions, open_target


@pytest.fixture(params=[1, 4], ids=["one-stock-item", "four-stock-shards"])
def saga(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("STOCK_SHARDS", str(request.param))
    with open_target(TargetOptions(state_dir=tmp_path / "state")) as target:
        assert target.store.stock_shards == request.param
        yield target


def _orders(saga: Any, lines_per_order: list[list[tuple[str, int]]]) -> list[Any]:
    base = json.loads(scenario("happy").payload)
    return [
        order(
            base
            | {"orderId": f"ord-race-{n}", "items": [{"sku": s, "quantity": q, "unitPrice": 100} for s, q in lines]}
        )
        for n, lines in enumerate(lines_per_order)
    ]


class StockWatcher:
    """Samples a SKU's stock while executions run, to catch it below zero at any moment."""

    def __init__(self, saga: Any, skus: list[str]) -> None:
        self.saga, self.skus, self.lowest = saga, skus, dict.fromkeys(skus, 10**9)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for sku, level in self.saga.store.stock(self.skus).items():
                self.lowest[sku] = min(self.lowest[sku], level)
            # A busy loop would hold the GIL from the executions it watches; 2 ms still samples each step.
            self._stop.wait(0.002)

    def __enter__(self) -> StockWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_fifty_orders_for_ten_units_ship_exactly_ten(saga: Any) -> None:
    # Given 10 units of one SKU, and 50 orders of one unit each
    saga.store.put_stock({"GIZMO-3": 10})
    starts = _orders(saga, [[("GIZMO-3", 1)]] * 50)

    # When they all run at once
    with StockWatcher(saga, ["GIZMO-3"]) as watcher:
        results = run(saga, *starts, concurrency=50)

    # Then exactly ten ship, forty are refused, and the stock ends at zero without ever going below
    errors = [r.error for r in results]
    assert errors.count(None) == 10
    assert errors.count("InventoryUnavailable") == 40
    assert saga.store.stock(["GIZMO-3"]) == {"GIZMO-3": 0}
    assert watcher.lowest["GIZMO-3"] >= 0
    assert sorted(o.status for o in saga.store.orders()) == ["INVENTORY_FAILED"] * 40 + ["SHIPPED"] * 10
    assert check({"GIZMO-3": 10}, saga.store.stock(["GIZMO-3"]), saga.store.orders(), results) == []


def test_orders_sharing_several_skus_reserve_all_lines_or_none(saga: Any) -> None:
    # Given three scarce SKUs and orders taking two of them, in every order of lines
    initial = {"WIDGET-1": 9, "GADGET-2": 9, "GIZMO-3": 9}
    saga.store.put_stock(initial)
    shapes = [
        [("WIDGET-1", 2), ("GADGET-2", 1)],
        [("GADGET-2", 2), ("WIDGET-1", 1)],
        [("GADGET-2", 1), ("GIZMO-3", 2)],
        [("GIZMO-3", 1), ("WIDGET-1", 2)],
    ]
    starts = _orders(saga, [shapes[n % 4] for n in range(32)])

    # When they run at once (a deadlock would leave the run hanging: it must end)
    finished: list[Any] = []
    runner = threading.Thread(target=lambda: finished.extend(run(saga, *starts, concurrency=32)), daemon=True)
    with StockWatcher(saga, list(initial)) as watcher:
        runner.start()
        runner.join(timeout=120)
    assert not runner.is_alive(), "the executions did not all end"

    # Then every order either holds all its lines (and shipped) or none, and stock is conserved
    assert len(finished) == 32
    assert {r.error for r in finished} <= {None, "InventoryUnavailable"}
    assert 0 < [r.error for r in finished].count(None) < 32, "some shipped, some were refused"
    orders = saga.store.orders()
    for stored in orders:
        if stored.status == "INVENTORY_FAILED":
            assert stored.reservation_id is None
    assert all(level >= 0 for level in watcher.lowest.values())
    assert check(initial, saga.store.stock(list(initial)), orders, finished) == []
