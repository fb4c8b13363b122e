"""Random orders under injected faults keep every promise; and the checks can fail when a promise breaks."""

from __future__ import annotations

import json
import random
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from order_saga.models import LineItem, OrderRecord, OrderStatus, ReservationState
from order_saga.store import SagaStore
from saga_cli.chaos import parallel
from saga_cli.chaos.faults import KINDS, FaultPlan
from saga_cli.chaos.invariants import Violation, check
from saga_cli.chaos.run import SAGAS_PER_WORKER, default_workers, random_order, run_chaos
from saga_cli.commands.main import app
from saga_cli.targets.result import ExecutionResult


def test_a_thousand_sagas_under_faults_keep_every_promise() -> None:
    report = run_chaos(sagas=1000, seed=1, concurrency=16)

    summary = report.to_json()
    assert summary["violations"] == 0, summary["firstViolations"]
    assert all(summary["faultsInjected"][kind] > 0 for kind in KINDS), summary["faultsInjected"]
    assert {"SUCCEEDED", "InventoryUnavailable", "PaymentDeclined", "ShippingFailed", "InvalidOrder"} <= set(
        summary["outcomes"]
    )
    assert report.redriven > 0, "a compensation failed for good and was redriven"
    # every redrive ended the saga in a business outcome (the checker also flags any other end)
    assert set(summary["outcomes"]) <= {"SUCCEEDED", *BUSINESS}
    # every compensation that gave up alerted, and no business outcome did
    assert sum(summary["alerts"].values()) >= report.redriven
    assert not set(summary["alerts"]) & BUSINESS, summary["alerts"]
    assert sum(summary["outcomes"].values()) == 1000


BUSINESS = {"InvalidOrder", "DuplicateOrder", "InventoryUnavailable", "PaymentDeclined", "ShippingFailed"}


def test_the_seed_decides_the_faults() -> None:
    def scripts(seed: int) -> list[Any]:
        plan = FaultPlan(seed, ["CreateOrderFunction", "ReserveInventoryFunction"], ["ReleaseInventoryFunction"])
        return [plan.script(f"chaos-{n}") for n in range(200)]

    assert scripts(5) == scripts(5)
    assert scripts(5) != scripts(6)


def test_chaos_reports_a_broken_promise(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a release that forgets its "at most once" condition
    original = SagaStore.release

    def release_without_the_guard(self: SagaStore, order_id: str, lines: Any, to: OrderStatus) -> None:
        original(self, order_id, lines, to)
        self.put_stock({line.sku: self.stock([line.sku])[line.sku] + line.quantity for line in lines})

    monkeypatch.setattr(SagaStore, "release", release_without_the_guard)

    report = run_chaos(sagas=120, seed=3, concurrency=8)

    assert any(v.rule == "stock conserved" for v in report.violations), [str(v) for v in report.violations]


HELD = ReservationState.HELD


def test_workers_share_the_orders_and_every_promise_is_checked_in_each() -> None:
    seen: list[str] = []

    split = run_chaos(sagas=300, seed=4, concurrency=8, workers=2, on_result=lambda r: seen.append(r.name))

    summary = split.to_json()
    assert summary["workers"] == 2 and "--workers 2" in summary["replay"]
    assert summary["violations"] == 0, summary["firstViolations"]
    assert sorted(seen) == sorted(f"chaos-4-{n:06d}" for n in range(300)), "every result reached the caller"
    rng = random.Random(4)
    kinds = Counter(random_order(rng, 4, n)[0] for n in range(300))
    assert summary["orderKinds"] == dict(sorted(kinds.items())), "the same orders as one engine would run"
    assert sum(summary["outcomes"].values()) == 300
    assert summary["faultsInjected"]["duplicate"] > 0 and summary["faultsInjected"]["hot-sku-conflict"] > 0


def test_violations_found_by_any_worker_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the broken release of the test above, and workers run here (a spawned process would not see it)
    original = SagaStore.release

    def release_twice(self: SagaStore, order_id: str, lines: Any, to: OrderStatus) -> None:
        original(self, order_id, lines, to)
        self.put_stock({line.sku: self.stock([line.sku])[line.sku] + line.quantity for line in lines})

    def in_this_process(job: Any, arguments: list[tuple[Any, ...]], on_item: Any) -> list[Any]:
        monkeypatch.setattr(parallel, "_outbox", SimpleNamespace(send=lambda message: on_item(message[1])))
        return [job(*args) for args in arguments]

    monkeypatch.setattr(SagaStore, "release", release_twice)
    monkeypatch.setattr(parallel, "run", in_this_process)

    report = run_chaos(sagas=160, seed=3, concurrency=8, workers=2)

    conserved = Counter(v.subject for v in report.violations if v.rule == "stock conserved")
    assert conserved and max(conserved.values()) == 2, f"each worker checks its own stock: {conserved}"


def test_a_worker_that_dies_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(*_args: Any) -> list[Any]:
        raise parallel.WorkerDied("worker 1 ended with exit code -9 and no result")

    monkeypatch.setattr(parallel, "run", killed)

    result = CliRunner().invoke(app, ["chaos", "--sagas", "2", "--workers", "2"])

    assert result.exit_code == 1
    assert result.stderr == "saga: worker 1 ended with exit code -9 and no result\n"


def test_default_workers_one_per_cpu_and_per_250_sagas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)

    assert [default_workers(n) for n in (1, 40, 499, 500, 1000, 10_000)] == [1, 1, 1, 2, 4, 4]
    assert str(SAGAS_PER_WORKER) in CliRunner().invoke(app, ["chaos", "--help"]).stdout


def _order(order_id: str, **fields: Any) -> OrderRecord:
    base: dict[str, Any] = {
        "order_id": order_id,
        "status": OrderStatus.SHIPPED,
        "customer_id": "c",
        "items": [LineItem(sku="A", quantity=2, unit_price=1)],
        "currency": "GBP",
        "amount": 2,
        "shipping_address": {"name": "n", "line1": "l", "city": "c", "postcode": "p", "country": "GB"},
        "reservation_id": f"res-{order_id}",
        "reservation_state": ReservationState.SHIPPED,
        "payment_id": "pay_1",
        "created_at": "t",
        "updated_at": "t",
    }
    return OrderRecord(**(base | fields))


def _execution(name: str, status: str = "SUCCEEDED", error: str | None = None) -> ExecutionResult:
    return ExecutionResult(f"arn:{name}", name, status, None, error, None, [], {"orderId": name}, 0)


@pytest.mark.parametrize(
    ("stock", "orders", "executions", "rule"),
    [
        ({"A": -1}, [], [], "stock never negative"),
        ({"A": 10}, [_order("o1")], [_execution("o1")], "stock conserved"),  # released twice: 2 too many
        (
            {"A": 8},
            [_order("o1", status=OrderStatus.PAYMENT_FAILED, reservation_state=ReservationState.RELEASED)],
            [],
            "a charge is shipped or refunded",
        ),
        (
            {"A": 8},
            [
                _order(
                    "o1",
                    status=OrderStatus.INVENTORY_RELEASED,
                    payment_id=None,
                    reservation_state=ReservationState.HELD,
                )
            ],
            [],
            "a reservation is shipped or released",
        ),
        ({"A": 8}, [_order("o1")], [_execution("o1", "FAILED", "PaymentDeclined")], "order status matches the outcome"),
        ({"A": 8}, [_order("o1")], [_execution("o1", "FAILED", "InvalidOrder")], "invalid orders leave nothing"),
        ({"A": 8}, [_order("o1")], [_execution("o1", "RUNNING")], "every execution ends"),
        (
            {"A": 8},
            [_order("o1", failed_compensation="RefundPayment")],
            [_execution("o1")],
            "no stale failedCompensation",
        ),
        (
            {"A": 8},
            [_order("o1")],
            [_execution("o1", "FAILED", "States.Timeout")],
            "executions end as the contract says",
        ),
        (
            {"A": 10},
            [
                _order(
                    "o1",
                    status=OrderStatus.INVENTORY_FAILED,
                    reservation_id=None,
                    reservation_state=None,
                    payment_id=None,
                    failure_reason="Inventory unavailable: A has 5, 2 wanted",
                )
            ],
            [_execution("o1", "FAILED", "InventoryUnavailable")],
            "a stock-out is a real shortage",
        ),
    ],
)
def test_the_checker_finds_each_kind_of_violation(
    stock: dict[str, int], orders: list[OrderRecord], executions: list[ExecutionResult], rule: str
) -> None:
    # Given 10 units of A at the start
    violations = check({"A": 10}, stock, orders, executions)

    assert rule in {v.rule for v in violations}


def test_a_consistent_state_has_no_violation() -> None:
    assert check({"A": 10}, {"A": 8}, [_order("o1")], [_execution("o1")]) == []


def test_chaos_command_prints_one_json_summary_last() -> None:
    result = CliRunner().invoke(app, ["chaos", "--sagas", "40", "--seed", "2", "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["sagas"] == 40
    assert summary["seed"] == 2
    assert summary["violations"] == 0
    assert set(summary["faultsInjected"]) == set(KINDS)
    assert list(summary)[-1] == "alerts"
    assert all(isinstance(n, int) and n > 0 for n in summary["alerts"].values())


def test_chaos_command_exits_1_and_names_the_replay_on_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "saga_cli.chaos.run.check",
        lambda *args: [Violation("r", "s", "d")],
    )

    result = CliRunner().invoke(app, ["chaos", "--sagas", "5", "--seed", "9"])

    assert result.exit_code == 1
    assert "saga chaos --sagas 5 --seed 9" in result.stderr
    assert "r: s: d" in result.stderr
