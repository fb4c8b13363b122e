"""``saga bench``: what the saga costs, measured side by side in one run on one machine.

- Throughput: the embedded engine end to end (StartExecution, the real ASL on moto's interpreter,
  DescribeExecution) against the same handlers called directly in sequence on the same DynamoDB, with no
  orchestrator: the limit the engine is held against. Engine and direct sagas alternate one by one, so a
  change in the machine's load hits both alike. ``overheadRatio`` = direct throughput / engine throughput.
- Cold start and size: what ships, measured in ``bench_packages`` (from source) and ``shipped_init`` (as built,
  the way Lambda runs it).
- Per scenario, one execution each: state transitions and Lambda invocations from its history, and the
  DynamoDB requests its handlers made (idempotency records included), counted on their DynamoDB client;
  then the AWS cost per million orders on Standard and on Express at the prices in ``prices``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from order_saga.errors import DuplicateOrder, InvalidOrder, InventoryUnavailable, PaymentDeclined, ShippingFailed
from saga_cli import moto_speedups, prices, shipped_init
from saga_cli.bench_packages import ImportFailed, cold_starts, no_imports, package_sizes
from saga_cli.bench_report import goals
from saga_cli.census import census
from saga_cli.engine import table_name
from saga_cli.functions import LambdaContext, load_handler
from saga_cli.scenarios import SCENARIOS, read_input, scenario_path
from saga_cli.targets import TargetOptions, open_target
from saga_cli.template import SagaTemplate, load

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


Progress = Callable[[str], None]


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


# Cost per order --------------------------------------------------------------------------------------


def cost_per_million(figures: dict[str, Any], memory_gb: float) -> dict[str, Any]:
    """USD per million orders of one scenario, on Standard and on Express, with the parts."""
    invocations = figures["lambdaInvocations"]
    lambda_ms = invocations * prices.ASSUMED_INVOCATION_MS
    lambda_cost = (
        invocations * prices.LAMBDA_PER_REQUEST + lambda_ms / 1000 * memory_gb * prices.LAMBDA_PER_GB_SECOND_ARM64
    )
    dynamodb = (
        figures["writeUnits"] * prices.DYNAMODB_PER_WRITE_UNIT + figures["readUnits"] * prices.DYNAMODB_PER_READ_UNIT
    )
    standard = figures["transitions"] * prices.STANDARD_PER_TRANSITION
    step = prices.EXPRESS_DURATION_STEP_MS
    billed_ms = max(step, math.ceil(lambda_ms / step) * step)
    express = prices.EXPRESS_PER_REQUEST + billed_ms / 1000 * prices.EXPRESS_MEMORY_GB * prices.EXPRESS_PER_GB_SECOND
    million = 1_000_000
    return {
        "standard": round((standard + lambda_cost + dynamodb) * million, 2),
        "express": round((express + lambda_cost + dynamodb) * million, 2),
        "parts": {
            "standardStepFunctions": round(standard * million, 2),
            "expressStepFunctions": round(express * million, 2),
            "lambda": round(lambda_cost * million, 2),
            "dynamodb": round(dynamodb * million, 2),
        },
    }


# The whole bench -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchOptions:
    sagas: int = 200
    import_runs: int = 5
    speedups: bool = True


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpuModel": model or platform.processor(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "loadAverage": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _inputs() -> dict[str, dict[str, Any]]:
    inputs: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        data = json.loads(read_input(scenario_path(scenario), scenario).payload)
        data.pop("orderId", None)
        inputs[scenario] = data
    return inputs


def _plenty_of_stock(target: Any, inputs: dict[str, dict[str, Any]]) -> None:
    """Thousands of happy orders must not run the seed dry; a SKU the seed has none of stays at none."""
    skus = {line["sku"] for data in inputs.values() for line in data.get("items", []) if isinstance(line, dict)}
    levels = target.store.stock(sorted(s for s in skus if isinstance(s, str) and s.isupper() and " " not in s))
    target.store.put_stock({sku: 10**9 for sku, level in levels.items() if level > 0})


@contextlib.contextmanager
def _throwaway_engine(speedups: bool, inputs: dict[str, dict[str, Any]]) -> Iterator[Any]:
    """An embedded engine in a temporary folder, with stock none of the ``inputs`` can run dry."""
    installed = moto_speedups.installed() if speedups else moto_speedups.disabled()
    with (
        tempfile.TemporaryDirectory(prefix="saga-bench-") as state,
        installed,
        open_target(TargetOptions(state_dir=Path(state) / "engine", keep_state=False)) as target,
    ):
        _plenty_of_stock(target, inputs)
        yield target


def _census_each(sagas: Sagas, template: SagaTemplate, scenarios: list[str]) -> dict[str, dict[str, Any]]:
    from order_saga.store import default_store  # noqa: PLC0415  (built inside the engine's environment)

    keys = {
        table_name(logical_id): [k["AttributeName"] for k in table.key_schema]
        for logical_id, table in template.tables.items()
    }
    return {
        scenario: census(sagas, scenario, default_store().client, sagas.target.store.client, keys)
        for scenario in scenarios
    }


def figures_per_scenario(scenarios: list[str]) -> dict[str, dict[str, Any]]:
    """One saga of each scenario on a throwaway engine, and what each cost in requests (``census``)."""
    template, inputs = load(), _inputs()
    with _throwaway_engine(True, inputs) as target:
        sagas = Sagas(target, Direct(template), inputs)
        for scenario in scenarios:  # warm: the first saga pays for imports and caches, not requests
            sagas.engine(scenario)
        return _census_each(sagas, template, scenarios)


def _on_the_engine(options: BenchOptions, template: SagaTemplate, progress: Progress) -> tuple[dict[str, Any], ...]:
    """Throughput per workload and the figures per scenario, from one engine in a throwaway folder."""
    inputs = _inputs()
    with _throwaway_engine(options.speedups, inputs) as target:
        sagas = Sagas(target, Direct(template), inputs)
        progress("warming up")
        for _ in range(WARMUP_ROUNDS):
            for scenario in SCENARIOS:
                sagas.engine(scenario)
                sagas.directly(scenario)
        workloads = {}
        for name, workload in WORKLOADS.items():
            progress(f"throughput: {options.sagas} {name} sagas on the engine and {options.sagas} direct")
            workloads[name] = throughput(sagas, workload, options.sagas)
        progress("per scenario: history and DynamoDB requests")
        scenarios = _census_each(sagas, template, list(SCENARIOS))
    return workloads, scenarios


#: Per-scenario figures reported as ``{scenario: value}`` under their own key.
PER_SCENARIO = (
    "transitions",
    "lambdaInvocations",
    "dynamodbRequests",
    "dynamodbWrites",
    "idempotencyWrites",
    "dynamodbReads",
    "writeUnits",
    "readUnits",
)


def run(options: BenchOptions, progress: Progress) -> dict[str, Any]:
    """Measure everything; the figures ``saga bench --json`` prints."""
    template = load()
    report: dict[str, Any] = {"sagas": options.sagas, "machine": machine(), "speedups": options.speedups}
    workloads, scenarios = _on_the_engine(options, template, progress)
    happy = workloads["happy"]
    report |= {
        "sagasPerSecond": happy["engine"]["perSecond"],
        "directPerSecond": happy["direct"]["perSecond"],
        "overheadRatio": happy["overheadRatio"],
        "workloads": workloads,
    }
    try:
        report |= cold_starts(template, options.import_runs, progress) if options.import_runs else no_imports()
    except ImportFailed as exc:
        raise BenchError(str(exc)) from None
    report |= shipped_init.measured_or_why(template, options.import_runs, progress)
    report |= package_sizes(template)
    memory_gb = max(f.memory_mb for f in template.functions.values()) / 1024
    for key in PER_SCENARIO:
        report[key] = {scenario: figures[key] for scenario, figures in scenarios.items()}
    report["dynamodbOperations"] = {scenario: figures["operations"] for scenario, figures in scenarios.items()}
    report["largestItemBytes"] = max(figures["largestItemBytes"] for figures in scenarios.values())
    report["costPerMillion"] = {scenario: cost_per_million(f, memory_gb) for scenario, f in scenarios.items()}
    report["prices"] = prices.as_json()
    report["goals"] = goals(report, list(template.layers))
    return report
