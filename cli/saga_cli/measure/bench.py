"""``saga bench``: what the saga costs, measured side by side in one run on one machine.

- Throughput: the embedded engine end to end against the same handlers called directly, with no
  orchestrator, alternated saga by saga (``throughput``).
- Cold start and size: what ships, measured in ``packages`` (from source) and ``shipped_init`` (as built,
  the way Lambda runs it).
- Per scenario, one execution each: state transitions and Lambda invocations from its history, and the
  DynamoDB requests its handlers made (idempotency records included), counted on their DynamoDB client;
  then the AWS cost per million orders on Standard and on Express at the prices in ``prices``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saga_cli.engine import moto_speedups
from saga_cli.engine.embedded import table_name
from saga_cli.measure import prices, shipped_init
from saga_cli.measure.census import census
from saga_cli.measure.packages import ImportFailed, cold_starts, no_imports, package_sizes
from saga_cli.measure.report import goals
from saga_cli.measure.throughput import WARMUP_ROUNDS, WORKLOADS, BenchError, Direct, Sagas, throughput
from saga_cli.scenarios import SCENARIOS, read_input, scenario_path
from saga_cli.targets.target import TargetOptions, open_target
from saga_cli.template import SagaTemplate, load

Progress = Callable[[str], None]


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
