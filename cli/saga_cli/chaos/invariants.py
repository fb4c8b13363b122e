"""The saga's promises as checks over the final state of the table and the executions.

One reusable checker for the chaos run, the contention tests and anything else that wants to know that
nothing was lost, oversold, double-charged or left half-done.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from order_saga.models import OrderRecord, OrderStatus, ReservationState
from saga_cli.targets.result import ExecutionResult

#: The contract's outcome table: execution error -> the order's status afterwards (None: no order item). A
#: compensation that gave up ends in no Fail state but at its Task, with its own error; it must be redriven to
#: one of these ends, so any other error is a saga left half-done.
EXPECTED_STATUS: dict[str | None, OrderStatus | None] = {
    None: OrderStatus.SHIPPED,
    "InventoryUnavailable": OrderStatus.INVENTORY_FAILED,
    "PaymentDeclined": OrderStatus.INVENTORY_RELEASED,
    "ShippingFailed": OrderStatus.REFUNDED,
    "InvalidOrder": None,
}


@dataclass
class Ledger:
    """What the payment provider did, effect by effect (filled by a recording provider)."""

    charges: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    refunds: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.detail}"


def check(
    initial_stock: Mapping[str, int],
    stock: Mapping[str, int],
    orders: Iterable[OrderRecord],
    executions: Iterable[ExecutionResult],
    ledger: Ledger | None = None,
) -> list[Violation]:
    """Every violated promise; an empty list means every promise held."""
    orders = list(orders)
    by_id = {order.order_id: order for order in orders}
    found: list[Violation] = []
    found += _stock(initial_stock, stock, orders)
    found += _money_and_reservations(orders, ledger)
    found += _outcomes(by_id, list(executions))
    found += _stock_outs(orders)
    found += [
        Violation(
            "no stale failedCompensation", order.order_id, f"{order.failed_compensation} on a {order.status} order"
        )
        for order in orders
        if order.failed_compensation and order.status != OrderStatus.COMPENSATION_FAILED
    ]
    return found


def _stock(initial: Mapping[str, int], stock: Mapping[str, int], orders: list[OrderRecord]) -> list[Violation]:
    found = []
    held: dict[str, int] = defaultdict(int)
    shipped: dict[str, int] = defaultdict(int)
    for order in orders:
        if order.reservation_state in (ReservationState.HELD, ReservationState.SHIPPED):
            bucket = held if order.reservation_state == ReservationState.HELD else shipped
            for line in order.items:
                bucket[line.sku] += line.quantity
    for sku in sorted(set(initial) | set(stock)):
        available = stock.get(sku, 0)
        if available < 0:
            found.append(Violation("stock never negative", sku, f"available is {available}"))
        accounted = available + held[sku] + shipped[sku]
        if accounted != initial.get(sku, 0):
            found.append(
                Violation(
                    "stock conserved",
                    sku,
                    f"initial {initial.get(sku, 0)} != available {available} + reserved {held[sku]}"
                    f" + shipped {shipped[sku]}",
                )
            )
    return found


#: One SKU's part of an ``InventoryUnavailable`` reason, as the store words it.
_SHORT = re.compile(r"(?P<sku>\S+) has (?P<has>-?\d+), (?P<wanted>\d+) wanted")


def _stock_outs(orders: list[OrderRecord]) -> list[Violation]:
    """An order refused for stock was refused because the stock was really short at that moment: each SKU its
    reason names had fewer units than the order wanted (or was unknown), as DynamoDB returned the item."""
    found = []
    for order in orders:
        if order.status != OrderStatus.INVENTORY_FAILED or not order.failure_reason:
            continue
        parts = order.failure_reason.removeprefix("Inventory unavailable: ").split("; ")
        for part in parts:
            short = _SHORT.fullmatch(part)
            really = short is not None and int(short["has"]) < int(short["wanted"])
            if not (really or part.endswith(" is unknown")):
                found.append(Violation("a stock-out is a real shortage", order.order_id, order.failure_reason))
    return found


def lost_to_conflicts(
    ended: list[ExecutionResult], scripted: list[ExecutionResult], alerts: Iterable[Any]
) -> list[Violation]:
    """Orders whose reservations lost to ``TransactionConflict`` on every attempt.

    ``ended``: the executions that failed ``StoreUnavailable``; ``scripted``: those the faults made lose.
    Each must end ``StoreUnavailable`` naming the conflict (never ``InventoryUnavailable``), the order still
    CREATED with no stock taken (so a redrive can finish it), and an alert sent (``alerts`` hold ``.name``).
    """
    alerted = {alert.name for alert in alerts}
    names = {result.name for result in ended}
    found = [
        Violation("a lost reservation is not a stock-out", r.name, f"ended {r.error or r.status}")
        for r in scripted
        if r.name not in names
    ]
    for result in ended:
        status = result.order.get("status") if result.order else None
        if "TransactionConflict" not in (result.cause or ""):
            found.append(Violation("a lost reservation names the conflict", result.name, str(result.cause)))
        if status != OrderStatus.CREATED or (result.order or {}).get("reservationId"):
            found.append(Violation("a lost reservation takes nothing", result.name, f"order {status}"))
        if result.name not in alerted:
            found.append(Violation("a lost reservation alerts", result.name, "no alert"))
    return found


def _money_and_reservations(orders: list[OrderRecord], ledger: Ledger | None) -> list[Violation]:
    found = []
    for order in orders:
        oid = order.order_id
        if order.payment_id and order.status != OrderStatus.SHIPPED and not order.refund_id:
            found.append(Violation("a charge is shipped or refunded", oid, f"charged, status {order.status}"))
        if order.reservation_id and order.reservation_state not in (
            ReservationState.SHIPPED,
            ReservationState.RELEASED,
        ):
            found.append(
                Violation("a reservation is shipped or released", oid, f"reservation {order.reservation_state}")
            )
        if order.status == OrderStatus.SHIPPED and order.refund_id:
            found.append(Violation("a shipped order is not refunded", oid, "shipped and refunded"))
        if ledger is None:
            continue
        charges = set(ledger.charges.get(oid, []))
        refunds = set(ledger.refunds.get(oid, []))
        if len(charges) > 1:
            found.append(Violation("charged at most once", oid, f"{len(charges)} charges"))
        if len(refunds) > 1:
            found.append(Violation("refunded at most once", oid, f"{len(refunds)} refunds"))
        if charges and order.payment_id not in charges:
            found.append(Violation("every charge is recorded", oid, "the provider charged, the order has no charge"))
        if refunds and order.refund_id not in refunds:
            found.append(Violation("every refund is recorded", oid, "the provider refunded, the order has no refund"))
    return found


def _outcomes(orders: Mapping[str, OrderRecord], executions: list[ExecutionResult]) -> list[Violation]:
    found = []
    for execution in executions:
        if execution.status == "RUNNING":
            found.append(Violation("every execution ends", execution.name, "still RUNNING"))
            continue
        error = None if execution.status == "SUCCEEDED" else execution.error
        if error not in EXPECTED_STATUS:
            found.append(Violation("executions end as the contract says", execution.name, f"ended {error}"))
            continue
        order = orders.get(_order_id(execution))
        expected = EXPECTED_STATUS[error]
        if expected is None and order is not None:
            found.append(Violation("invalid orders leave nothing", execution.name, f"an order item is {order.status}"))
        elif expected is not None and (order is None or order.status != expected):
            actual = order.status if order else "missing"
            found.append(
                Violation("order status matches the outcome", execution.name, f"{error or 'SUCCEEDED'}, order {actual}")
            )
    return found


def _order_id(execution: ExecutionResult) -> str:
    order: Any = execution.order
    return str(order["orderId"]) if isinstance(order, dict) and "orderId" in order else execution.name
