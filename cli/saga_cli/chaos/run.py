"""``saga chaos``: many random orders under injected faults, then every promise checked.

Everything random comes from the seed: the orders (a mix of happy, declined, undeliverable, short of stock
and invalid) and each order's fault script. A failing run is replayed with the same ``--sagas`` and
``--seed``.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from pydantic import SecretStr

from order_saga import providers
from order_saga.models import OrderStatus
from order_saga.providers import SimulatedPayments
from order_saga.store import default_store
from saga_cli.chaos import parallel
from saga_cli.chaos.faults import FaultPlan, compensation_states
from saga_cli.chaos.invariants import Ledger, Violation, check, lost_to_conflicts
from saga_cli.chaos.report import ChaosReport, World
from saga_cli.engine.alerts import Alert, AlertRule, business_outcomes, by_error
from saga_cli.engine.invocations import Invocation
from saga_cli.scenarios import Start
from saga_cli.targets.result import ExecutionResult
from saga_cli.targets.runner import result_of, run_many
from saga_cli.targets.target import TargetOptions, open_target

SKUS = ("WIDGET-1", "GADGET-2", "GIZMO-3")
#: The SKU on flash sale: many orders at once for little stock, its reservations meeting TransactionConflict.
HOT_SKU = "FLASH-1"
#: Business outcomes mixed into the run, with their weights.
MIX = {"happy": 62, "declined": 8, "undeliverable": 7, "out-of-stock": 6, "scarce": 4, "flash-sale": 8, "invalid": 5}
#: Orders a worker process must have to be worth its start-up (a fresh interpreter and engine: a few seconds).
SAGAS_PER_WORKER = 250
_ADDRESS = {"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "postcode": "SW1Y 4JH"}


def initial_stock(sagas: int) -> dict[str, int]:
    """Enough of most things; GIZMO-3 and the flash sale's SKU run out part-way, so stock-outs also come from
    contention."""
    return {
        "WIDGET-1": 6 * sagas,
        "GADGET-2": 6 * sagas,
        "GIZMO-3": max(3, sagas // 20),
        HOT_SKU: max(5, sagas // 20),
        "OUT-OF-STOCK-1": 0,
    }


def random_order(rng: random.Random, seed: int, index: int) -> tuple[str, dict[str, Any]]:
    """One order of the mix: (kind, execution input)."""
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    lines = rng.sample(SKUS[:2], rng.randint(1, 2))
    items = [{"sku": sku, "quantity": rng.randint(1, 3), "unitPrice": rng.randint(0, 50_000)} for sku in lines]
    order: dict[str, Any] = {
        "orderId": f"chaos-{seed}-{index:06d}",
        "customerId": f"cust-{rng.randint(1, 500)}",
        "items": items,
        "currency": "GBP",
        "payment": {"token": "tok_chargeDeclined" if kind == "declined" else "tok_visa"},
        "shippingAddress": _ADDRESS | {"country": "AQ" if kind == "undeliverable" else "GB"},
    }
    if kind == "out-of-stock":
        order["items"].append({"sku": rng.choice(["OUT-OF-STOCK-1", "NO-SUCH-SKU"]), "quantity": 1, "unitPrice": 100})
    elif kind == "scarce":
        order["items"] = [{"sku": "GIZMO-3", "quantity": rng.randint(1, 2), "unitPrice": 2_500}]
    elif kind == "flash-sale":
        order["items"] = [{"sku": HOT_SKU, "quantity": rng.randint(1, 2), "unitPrice": 999}]
    elif kind == "invalid":
        defect = rng.choice(["quantity", "currency", "extra", "customer", "duplicate"])
        if defect == "quantity":
            order["items"][0]["quantity"] = 0
        elif defect == "currency":
            order["currency"] = "gbp"
        elif defect == "extra":
            order["coupon"] = "FREE"
        elif defect == "customer":
            order["customerId"] = ""
        else:
            order["items"].append(dict(order["items"][0]))
    return kind, order


class RecordingPayments(SimulatedPayments):
    """The simulated provider, keeping a ledger of what it charged and refunded."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.calls: Counter[str] = Counter()
        self._order_of: dict[str, str] = {}
        self._lock = threading.Lock()

    def charge(self, *, order_id: str, amount: int, currency: str, token: SecretStr) -> str:
        payment_id = super().charge(order_id=order_id, amount=amount, currency=currency, token=token)
        with self._lock:
            self.calls["charge"] += 1
            self._order_of[payment_id] = order_id
            if payment_id not in self.ledger.charges[order_id]:
                self.ledger.charges[order_id].append(payment_id)
        return payment_id

    def refund(self, *, payment_id: str, amount: int, currency: str) -> str:
        refund_id = super().refund(payment_id=payment_id, amount=amount, currency=currency)
        with self._lock:
            self.calls["refund"] += 1
            order_id = self._order_of.get(payment_id, payment_id)
            if refund_id not in self.ledger.refunds[order_id]:
                self.ledger.refunds[order_id].append(refund_id)
        return refund_id


class IdempotencyRecords:
    """Remembers the idempotency records each invocation writes, so a crash can lose them as Lambda would."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._local = threading.local()

    def capture(self, params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == self.table and "Item" in params:
            self._written().append(params["Item"]["id"])

    def start(self, _call: Invocation) -> None:
        self._local.written = []

    def lose(self, _call: Invocation) -> None:
        client = default_store().client
        for key in self._written():
            client.delete_item(TableName=self.table, Key={"id": key})

    def _written(self) -> list[Any]:
        if not hasattr(self._local, "written"):
            self._local.written = []
        written: list[Any] = self._local.written
        return written


def default_workers(sagas: int) -> int:
    """One process per usable CPU, but at most one per ``SAGAS_PER_WORKER`` orders (each costs a start-up)."""
    return max(1, min(parallel.usable_cpus(), sagas // SAGAS_PER_WORKER))


def run_chaos(
    sagas: int,
    seed: int,
    concurrency: int = 1,
    on_result: Callable[[ExecutionResult], None] | None = None,
    state_dir: Path | None = None,
    stock_shards: int = 1,
    workers: int = 1,
) -> ChaosReport:
    """``sagas`` random orders from ``seed``; with ``workers`` > 1, order i goes to process i mod workers, each
    process with its own engine and tables (stock in proportion to its share), ``concurrency`` at once in
    each. Faults depend only on the seed and the order, so every order meets the same faults either way.
    ``state_dir`` is for one engine only; workers' engines live in throwaway folders."""
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not security)
    orders = [random_order(rng, seed, index) for index in range(sagas)]
    workers = min(workers, sagas)
    began = time.monotonic()
    if workers == 1:
        worlds = [run_world(seed, orders, concurrency, stock_shards, on_result, state_dir)]
    else:
        shares = [(seed, orders[index::workers], concurrency, stock_shards) for index in range(workers)]
        worlds = parallel.run(run_share, shares, on_result or (lambda _result: None))
    return ChaosReport(
        sagas=sagas,
        seed=seed,
        concurrency=concurrency,
        workers=workers,
        outcomes=sum((w.outcomes for w in worlds), Counter()),
        faults=sum((w.faults for w in worlds), Counter()),
        redriven=sum(w.redriven for w in worlds),
        alerts=dict(sorted(sum((w.alerts for w in worlds), Counter()).items())),
        violations=[violation for w in worlds for violation in w.violations],
        provider_calls=sum((w.provider_calls for w in worlds), Counter()),
        # One engine: its sagas' time. Several: the wall clock, each process's start-up included.
        seconds=worlds[0].seconds if workers == 1 else time.monotonic() - began,
        stock_shards=stock_shards,
        replay=f"saga chaos --sagas {sagas} --seed {seed} --concurrency {concurrency} --workers {workers}"
        + (f" --stock-shards {stock_shards}" if stock_shards > 1 else ""),
        by_kind=Counter(kind for kind, _ in orders),
    )


def run_share(seed: int, orders: list[tuple[str, dict[str, Any]]], concurrency: int, stock_shards: int) -> World:
    """One worker's share of a run (in a spawned process): each result goes back as it ends."""
    return run_world(seed, orders, concurrency, stock_shards, on_result=parallel.send)


def run_world(
    seed: int,
    orders: list[tuple[str, dict[str, Any]]],
    concurrency: int,
    stock_shards: int,
    on_result: Callable[[ExecutionResult], None] | None = None,
    state_dir: Path | None = None,
) -> World:
    """Run ``orders`` on a new embedded engine under their faults, redrive what needs a human, check."""
    stock = initial_stock(len(orders))
    with tempfile.TemporaryDirectory(prefix="saga-chaos-") as scratch:
        options = TargetOptions(state_dir=state_dir or Path(scratch), keep_state=False)
        shards = mock.patch.dict(os.environ, {"STOCK_SHARDS": str(stock_shards)})
        with shards, open_target(options) as target:
            assert target.engine is not None and target.idempotency_table is not None
            engine = target.engine
            target.store.put_stock(stock)
            payments = RecordingPayments()
            records = IdempotencyRecords(target.idempotency_table)
            default_store().client.meta.events.register("before-call.dynamodb.PutItem", records.capture)
            compensations = list(dict.fromkeys(compensation_states(engine.template).values()))
            forward = [f for f in engine.template.functions if f not in compensations]
            plan = FaultPlan(
                seed, forward, compensations, idempotency_cleaner=records.lose, hot_skus=frozenset({HOT_SKU})
            )
            default_store().client.meta.events.register(
                "before-parameter-build.dynamodb.TransactWriteItems", plan.before_transaction
            )
            engine.lambda_.record_calls = False
            engine.lambda_.before[:0] = [records.start, plan.before]
            engine.lambda_.after.append(plan.after)
            began = time.monotonic()
            with mock.patch.object(providers, "payments", lambda: payments):
                starts = [Start(kind, order["orderId"], json.dumps(order)) for kind, order in orders]
                results = run_many(target, starts, concurrency, on_result=on_result, with_history=False)
                rule = AlertRule(engine.template, engine.state_machine_arn)
                alerts = [alert for result in results if (alert := _alert(rule, result)) is not None]
                gave_up = [r for r in results if r.order and r.order["status"] == OrderStatus.COMPENSATION_FAILED]
                gave_up_names = {r.name for r in gave_up}
                lost = [r for r in results if r.error == "StoreUnavailable" and r.name not in gave_up_names]
                violations = lost_to_conflicts(lost, [r for r in results if plan.lost_to_conflicts(r.name)], alerts)
                for result in gave_up + lost:
                    # The operator's side: read the alert, fix the cause, redrive.
                    plan.heal(result.name)
                    target.redrive(result.execution_arn)
                    index = results.index(result)
                    results[index] = result_of(
                        target, target.describe(result.execution_arn), target.history(result.execution_arn), 0
                    )
                    alert = _alert(rule, results[index])
                    alerts += [alert] if alert is not None else []
            seconds = time.monotonic() - began
            violations += check(stock, target.store.stock(), target.store.orders(), results, payments.ledger)
            violations += [Violation("duplicate delivery has one answer", "-", m) for m in plan.mismatches]
            violations += _alert_violations(gave_up, alerts, business_outcomes(engine.template))
    return World(
        outcomes=Counter(r.error or r.status for r in results),
        faults=plan.injected,
        redriven=len(gave_up) + len(lost),
        violations=violations,
        provider_calls=payments.calls,
        alerts=Counter(by_error(alerts)),
        seconds=seconds,
    )


def _alert(rule: AlertRule, result: ExecutionResult) -> Alert | None:
    """What the rule sends for this end of the execution, if anything."""
    describe = {"executionArn": result.execution_arn, "name": result.name}
    return rule.check(describe, result.status, result.error, result.cause, datetime.now(UTC))


def _alert_violations(gave_up: list[ExecutionResult], alerts: list[Alert], business: set[str]) -> list[Violation]:
    """Every compensation that gave up alerted someone; no business outcome did."""
    alerted = {alert.name for alert in alerts}
    found = [
        Violation("a compensation that gave up alerts", r.name, "no alert") for r in gave_up if r.name not in alerted
    ]
    found += [
        Violation("a business outcome never alerts", a.name, f"alerted on {a.error}")
        for a in alerts
        if a.error in business
    ]
    return found
