"""Throughput: the embedded engine end to end against the same handlers called directly, no orchestrator.

Engine and direct sagas alternate one by one, so a change in the machine's load hits both alike;
``overheadRatio`` = direct throughput / engine throughput.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from order_saga.errors import DuplicateOrder, InvalidOrder, InventoryUnavailable, PaymentDeclined, ShippingFailed
from saga_cli.engine.functions import LambdaContext, load_handler
from saga_cli.scenarios import SCENARIOS
from saga_cli.template import SagaTemplate

#: The scenarios whose outcome each bench saga must reach: (status, error).
EXPECTED = {
    "happy": ("SUCCEEDED", None),
    "out-of-stock": ("FAILED", "InventoryUnavailable"),
    "payment-declined": ("FAILED", "PaymentDeclined"),
    "shipping-failed": ("FAILED", "ShippingFailed"),
    "invalid": ("FAILED", "InvalidOrder"),
}
#: The workloads timed: the happy path alone, and every scenario in turn.
WORKLOADS = {"happy": ["happy"], "mix": list(SCENARIOS)}
#: Sagas of each scenario run (and not timed) before timing starts: imports, caches, pooled threads.
WARMUP_ROUNDS = 2
#: Blocks the timed sagas are cut into to show the spread of the ratio.
BLOCKS = 6
#: Every so many pairs of sagas a full garbage collection runs between them, untimed. One process holds the
#: whole simulated cloud (moto's tables, every execution), so a full collection takes 0.1-0.2 s; Python
#: starts one by itself about every 250 sagas here, and it would land on whichever saga triggered it, one
#: side or the other by chance. Collecting every 50 pairs keeps them out of the timings (the time they
#: took is reported as ``fullCollectionsUntimed``); younger collections stay in.
FULL_COLLECTION_EVERY = 50
_OLDEST_GENERATION = 2
WAIT_SECONDS = 60.0


class BenchError(Exception):
    """The bench cannot run, or a saga did not end as its scenario says."""


# Direct calls: the handlers in sequence, the state machine's data flow written out --------------------


@dataclass
class Direct:
    """The saga without an orchestrator: each handler called in turn, as the ASL would, in this process."""

    template: SagaTemplate
    handlers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.handlers = {logical_id: load_handler(f) for logical_id, f in self.template.functions.items()}

    def _call(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        function = self.template.functions[logical_id]
        context = LambdaContext(logical_id, function.timeout_seconds, function.memory_mb)
        result: dict[str, Any] = self.handlers[logical_id](event, context)
        return result

    def run(self, order: dict[str, Any], name: str) -> str | None:
        """Run one order; the error it ends with (None when shipped)."""
        try:
            created = self._call("CreateOrderFunction", {"order": order, "executionName": name})
            reserved = self._call("ReserveInventoryFunction", created)
        except (InvalidOrder, DuplicateOrder, InventoryUnavailable) as exc:
            return type(exc).__name__
        try:
            charged = self._call("ChargePaymentFunction", reserved)
        except PaymentDeclined as exc:
            self._call("ReleaseInventoryFunction", _caught(reserved, exc))
            return "PaymentDeclined"
        try:
            self._call("ShipOrderFunction", charged)
        except ShippingFailed as exc:
            refunded = self._call("RefundPaymentFunction", _caught(charged, exc))
            self._call("ReleaseInventoryFunction", refunded)
            return "ShippingFailed"
        return None


def _caught(state: dict[str, Any], exc: Exception) -> dict[str, Any]:
    """``state`` as a Catch with ``ResultPath: $.error`` hands it on."""
    cause = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    return state | {"error": {"Error": type(exc).__name__, "Cause": json.dumps(cause)}}


# Throughput ----------------------------------------------------------------------------------------------


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    #: Seconds the cyclic garbage collector ran during these sagas, and its full collections.
    gc_seconds: float = 0.0
    full_collections: int = 0

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.wall)
        return {
            "perSecond": round(len(ordered) / sum(ordered), 2),
            "p50Ms": round(_percentile(ordered, 0.50) * 1000, 2),
            "p95Ms": round(_percentile(ordered, 0.95) * 1000, 2),
            "cpuMsPerSaga": round(statistics.fmean(self.cpu) * 1000, 2),
            "gcMsPerSaga": round(self.gc_seconds / len(ordered) * 1000, 2),
            "fullCollections": self.full_collections,
        }


class _GcClock:
    """Charges the garbage collector's pauses to the saga that is running (whichever thread triggers it)."""

    def __init__(self) -> None:
        self.current: Timings | None = None
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self.current is not None:
            self.current.gc_seconds += time.perf_counter() - self._began
            self.current.full_collections += info["generation"] == _OLDEST_GENERATION

    @contextlib.contextmanager
    def on(self) -> Iterator[_GcClock]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


def _percentile(ordered: list[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


@dataclass
class Sagas:
    """Runs one saga of a scenario on the engine or directly, and checks that it ends as it should."""

    target: Any
    direct: Direct
    inputs: dict[str, dict[str, Any]]
    count: int = 0

    def order(self, scenario: str) -> tuple[dict[str, Any], str]:
        self.count += 1
        name = f"bench-{self.count}-{uuid.uuid4().hex[:12]}"
        return self.inputs[scenario] | {"orderId": name}, name

    def engine(self, scenario: str) -> dict[str, Any]:
        order, name = self.order(scenario)
        arn = self.target.start(name, json.dumps(order))
        if not self.target.engine.completions.wait(arn, WAIT_SECONDS):
            raise BenchError(f"execution {name} did not finish in {WAIT_SECONDS:.0f} s")
        describe: dict[str, Any] = self.target.sfn.describe_execution(executionArn=arn)
        _check(scenario, describe["status"], describe.get("error"))
        return describe

    def directly(self, scenario: str) -> None:
        order, name = self.order(scenario)
        error = self.direct.run(order, name)
        _check(scenario, "SUCCEEDED" if error is None else "FAILED", error)


def _check(scenario: str, status: str, error: str | None) -> None:
    if (status, error) != EXPECTED[scenario]:
        raise BenchError(f"a {scenario} saga ended {status} {error or ''}, not as expected {EXPECTED[scenario]}")


def _timed(run: Callable[[str], Any], scenario: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run(scenario)
    return time.perf_counter() - wall, time.process_time() - cpu


def throughput(sagas: Sagas, workload: list[str], count: int) -> dict[str, Any]:
    """Time ``count`` engine sagas and ``count`` direct ones, alternating which goes first."""
    engine, direct = Timings(), Timings()
    untimed = Timings()
    with _GcClock().on() as gc_clock:
        for index in range(count):
            if index % FULL_COLLECTION_EVERY == 0:
                gc_clock.current = untimed
                gc.collect()
            scenario = workload[index % len(workload)]
            pair = [(engine, sagas.engine), (direct, sagas.directly)]
            for timings, run in pair if index % 2 == 0 else reversed(pair):
                gc_clock.current = timings
                timings.add(*_timed(run, scenario))
            gc_clock.current = None
    on_engine, directly = engine.summary(), direct.summary()
    # The ratio within each block of consecutive sagas: how steady it is over the run.
    size = max(len(workload) * 2, count // BLOCKS)
    blocks = sorted(
        sum(engine.wall[i : i + size]) / sum(direct.wall[i : i + size]) for i in range(0, count - size + 1, size)
    )
    return {
        "engine": on_engine,
        "direct": directly,
        "overheadRatio": round(directly["perSecond"] / on_engine["perSecond"], 3),
        "overheadRatioCpu": round(on_engine["cpuMsPerSaga"] / directly["cpuMsPerSaga"], 3),
        "fullCollectionsUntimed": {"count": untimed.full_collections, "ms": round(untimed.gc_seconds * 1000, 1)},
        "overheadRatioBlocks": {
            "blocks": len(blocks),
            "min": round(blocks[0], 3),
            "median": round(statistics.median(blocks), 3),
            "max": round(blocks[-1], 3),
        }
        if blocks
        else None,
    }
