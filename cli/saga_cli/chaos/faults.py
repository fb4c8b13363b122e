"""Seeded fault injection for the embedded engine.

Each order gets a fault script, decided from the seed and the order alone: which function fails, how, and
on which attempts. Scripts do not depend on timing or thread order, so a seed replays the same faults.

Kinds (all are things Lambda and Step Functions really do):
- ``transient``: Lambda's Invoke API fails (``Lambda.ServiceException``, ``Lambda.TooManyRequestsException``)
  before the handler runs; Retry absorbs it.
- ``timeout``: the task times out before the handler runs (``States.Timeout``).
- ``crash-after-write``: the handler did its writes, then the function died (``Sandbox.Timedout``) before
  Powertools stored its result: the idempotency record is gone and the retry must recognise its own write.
- ``duplicate``: the same event is delivered twice (Lambda is at-least-once); both deliveries must have
  one effect.
- ``compensation-flaky``: a compensation fails a few times (fewer than its retries).
- ``compensation-broken``: a compensation fails on every attempt, and once more after its failure is
  recorded: the execution fails at that compensation's Task. Then the fault is healed (``heal``, as an
  operator fixes the cause) and the execution redriven.
- ``hot-sku-conflict``: DynamoDB refuses a reservation's transaction because another transaction holds the
  same stock item (``TransactionCanceledException``, reason ``TransactionConflict``), as it does when many
  orders buy one SKU at once. Only transactions on a hot SKU's stock are struck: on a few attempts (the
  ASL's Retry absorbs them), or on every attempt until healed (the order has lost to contention: the
  execution fails ``StoreUnavailable`` at ReserveInventory, alerts, and is redriven).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from saga_cli.engine.invocations import Invocation, LambdaFault
from saga_cli.template import SagaTemplate

FORWARD_KINDS = ("transient", "timeout", "crash-after-write", "duplicate")
COMPENSATION_KINDS = ("compensation-flaky", "compensation-broken", "crash-after-write", "duplicate")
KINDS = (
    "transient",
    "timeout",
    "crash-after-write",
    "duplicate",
    "compensation-flaky",
    "compensation-broken",
    "hot-sku-conflict",
)
#: Reservation transactions of one order that a within-budget conflict refuses (ReserveInventory retries
#: StoreUnavailable 3 times, a budget it shares with Lambda's transient errors).
CONFLICT_TRIES = (1, 2)
#: "Every attempt" for a conflict that outlasts the retries: more than any execution makes before a redrive.
_ALWAYS = frozenset(range(1, 1000))
#: Attempts a compensation makes before it is caught: 1 + the ASL's MaxAttempts (6).
COMPENSATION_ATTEMPTS = 7


@dataclass(frozen=True)
class Fault:
    kind: str
    #: The attempts (1-based) it strikes on.
    attempts: frozenset[int]


def _order_id(event: dict[str, Any]) -> str | None:
    if isinstance(event.get("orderId"), str):
        return str(event["orderId"])
    order = event.get("order")
    return str(order["orderId"]) if isinstance(order, dict) and isinstance(order.get("orderId"), str) else None


@dataclass
class FaultPlan:
    """Decides and injects each order's faults; counts what it injected, by kind."""

    seed: int
    forward: list[str]
    compensations: list[str]
    #: Chance that a given function gets a fault for a given order.
    rate: float = 0.12
    #: Chance that a compensation's fault is the kind that outlasts its retries.
    broken_rate: float = 0.25
    #: Chance that a transient fault strikes two attempts in a row (still within the three retries).
    twice_rate: float = 0.5
    idempotency_cleaner: Any = None
    #: SKUs on flash sale: their reservations meet ``TransactionConflict``.
    hot_skus: frozenset[str] = frozenset()
    #: Chance that an order's reservations of a hot SKU conflict at all ...
    conflict_rate: float = 0.35
    #: ... and, if they do, that they conflict on every attempt (the order loses to contention).
    lost_rate: float = 0.2
    injected: Counter[str] = field(default_factory=Counter)
    #: Duplicate deliveries whose second answer differed from the first (an idempotency violation).
    mismatches: list[str] = field(default_factory=list)
    _scripts: dict[str, dict[str, Fault]] = field(default_factory=dict)
    _struck: set[tuple[str, str]] = field(default_factory=set)
    _conflicts: dict[str, Fault | None] = field(default_factory=dict)
    _transactions: Counter[str] = field(default_factory=Counter)
    _lost: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, order_id: str) -> dict[str, Fault]:
        """This order's faults by function: a pure function of the seed and the order id."""
        with self._lock:
            if order_id not in self._scripts:
                self._scripts[order_id] = self._decide(random.Random(f"{self.seed}/{order_id}"))  # noqa: S311
            return self._scripts[order_id]

    def _decide(self, rng: random.Random) -> dict[str, Fault]:
        faults: dict[str, Fault] = {}
        for function in self.forward:
            if rng.random() < self.rate:
                kind = rng.choice(FORWARD_KINDS)
                # Within the ASL's budget: 3 retries of transient errors, 2 of timeouts.
                twice = kind == "transient" and rng.random() < self.twice_rate
                strikes = frozenset({1, 2}) if twice else frozenset({1})
                faults[function] = Fault(kind, strikes)
        for function in self.compensations:
            if rng.random() < self.rate * 2:
                kind = rng.choice(COMPENSATION_KINDS)
                if kind == "compensation-broken" and rng.random() >= self.broken_rate:
                    kind = "compensation-flaky"
                if kind == "compensation-broken":
                    strikes = frozenset(range(1, COMPENSATION_ATTEMPTS + 1))
                elif kind == "compensation-flaky":
                    strikes = frozenset(range(1, rng.randint(1, 3) + 1))
                else:
                    strikes = frozenset({1})
                faults[function] = Fault(kind, strikes)
        return faults

    def conflict(self, order_id: str) -> Fault | None:
        """This order's hot-SKU conflicts: which of its reservation transactions DynamoDB refuses.

        Drawn from a generator of its own, so adding the kind left the other kinds' scripts as they were.
        """
        with self._lock:
            if order_id not in self._conflicts:
                rng = random.Random(f"{self.seed}/{order_id}/conflict")  # noqa: S311
                fault = None
                if rng.random() < self.conflict_rate:
                    strikes = (
                        _ALWAYS
                        if rng.random() < self.lost_rate
                        else frozenset(range(1, rng.choice(CONFLICT_TRIES) + 1))
                    )
                    fault = Fault("hot-sku-conflict", strikes)
                self._conflicts[order_id] = fault
            return self._conflicts[order_id]

    def lost_to_conflicts(self, order_id: str) -> bool:
        """Whether this order's reservations were refused on every attempt (until healed)."""
        with self._lock:
            return order_id in self._lost

    def heal(self, order_id: str) -> None:
        """The cause of this order's broken compensations, or of its lost reservations, is gone."""
        script = self.script(order_id)
        self.conflict(order_id)
        with self._lock:
            for function, fault in list(script.items()):
                if fault.kind == "compensation-broken":
                    del script[function]
            self._conflicts[order_id] = None

    def _fault(self, call: Invocation) -> Fault | None:
        order_id = _order_id(call.event)
        if order_id is None:
            return None
        fault = self.script(order_id).get(call.function.logical_id)
        return fault if fault is not None and call.attempt in fault.attempts else None

    def _count(self, kind: str, call: Invocation) -> None:
        """Count each fault once, however many attempts it strikes."""
        key = (_order_id(call.event) or "", call.function.logical_id)
        with self._lock:
            if key not in self._struck:
                self._struck.add(key)
                self.injected[kind] += 1

    # Hooks for InProcessLambda -------------------------------------------------------------------------

    def before(self, call: Invocation) -> None:
        fault = self._fault(call)
        if fault is None:
            return
        if fault.kind == "transient":
            self._count(fault.kind, call)
            code, status = ("ServiceException", 500) if call.attempt % 2 else ("TooManyRequestsException", 429)
            response: Any = {
                "Error": {"Code": code, "Message": "injected: Lambda could not run the function"},
                "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "-"},
            }
            raise ClientError(response, "Invoke")
        if fault.kind == "timeout":
            self._count(fault.kind, call)
            raise TimeoutError("injected: the task timed out")
        if fault.kind.startswith("compensation-"):
            self._count(fault.kind, call)
            raise RuntimeError(f"injected: {call.function.logical_id} failed")

    def after(self, call: Invocation) -> None:
        fault = self._fault(call)
        if fault is None:
            return
        if fault.kind == "duplicate":
            self._count(fault.kind, call)
            again = call.deliver_again()
            if again != call.result:
                with self._lock:
                    self.mismatches.append(f"{call.function.logical_id} answered a duplicate delivery differently")
        elif fault.kind == "crash-after-write":
            self._count(fault.kind, call)
            if self.idempotency_cleaner is not None:
                self.idempotency_cleaner(call)
            raise LambdaFault("Sandbox.Timedout", "injected: Task timed out after its writes")

    # Hook for the store's DynamoDB client ----------------------------------------------------------------

    def before_transaction(self, params: dict[str, Any], **_: Any) -> None:
        """``before-parameter-build.dynamodb.TransactWriteItems``: refuse a hot-SKU reservation as DynamoDB does."""
        updates = [item["Update"] for item in params.get("TransactItems", []) if "Update" in item]
        keys = [update["Key"]["pk"]["S"] for update in updates]
        hot = [key.removeprefix("SKU#").partition("#")[0] in self.hot_skus for key in keys]
        orders = [key.removeprefix("ORDER#") for key in keys if key.startswith("ORDER#")]
        taking = any("available >=" in update.get("ConditionExpression", "") for update in updates)
        if not (taking and any(hot) and orders):
            return
        order_id = orders[0]
        fault = self.conflict(order_id)
        with self._lock:
            self._transactions[order_id] += 1
            attempt = self._transactions[order_id]
        if fault is None or attempt not in fault.attempts:
            return
        with self._lock:
            if (order_id, "conflict") not in self._struck:
                self._struck.add((order_id, "conflict"))
                self.injected[fault.kind] += 1
            if fault.attempts == _ALWAYS:
                self._lost.add(order_id)
        codes = ["TransactionConflict" if is_hot else "None" for is_hot in hot]
        response: Any = {
            "Error": {
                "Code": "TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons"
                f" [{', '.join(codes)}]",
            },
            "CancellationReasons": [
                {"Code": code, "Message": "Transaction is ongoing for the item"} if code != "None" else {"Code": code}
                for code in codes
            ],
            "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "-"},
        }
        raise ClientError(response, "TransactWriteItems")


@dataclass(frozen=True)
class BrokenFunction:
    """A hook that fails every invocation of one function: ``saga run --break-compensation``, to make an
    execution whose compensation gives up, then try ``saga redrive`` on it (a later command, without it)."""

    logical_id: str

    def __call__(self, call: Invocation) -> None:
        if call.function.logical_id == self.logical_id:
            raise LambdaFault("InjectedFault", f"{self.logical_id} broken on purpose by saga run --break-compensation")


def compensation_states(template: SagaTemplate) -> dict[str, str]:
    """Compensation state -> its function: the Task states that retry everything (read from the ASL)."""
    machine = json.loads(template.definition_path.read_text(encoding="utf-8"))
    by_substitution = {f"${{{name}}}": logical_id for name, (logical_id, _) in template.substitutions.items()}
    found = {}
    for name, state in machine["States"].items():
        retries_all = any("States.ALL" in r["ErrorEquals"] for r in state.get("Retry", []))
        function = by_substitution.get(state.get("Parameters", {}).get("FunctionName", ""))
        if state["Type"] == "Task" and retries_all and function:
            found[name] = function
    return found
