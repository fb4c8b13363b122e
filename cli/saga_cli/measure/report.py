"""``saga bench``'s report: the goals it is judged against, and the figures as a person reads them.

The goals, each given with its limit, the measured value and whether it is met: the engine's
``overheadRatio`` on the happy path and on the mix (regression limits), every function's cold init as built
against the runtime's ``import boto3`` (``shipped_init``), and the unzipped size of the layers ``sam build``
produced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from saga_cli.measure import shipped_init_report

#: ``overheadRatio`` (direct throughput / engine throughput) at most this on the happy path, and on the mix:
#: regression limits, since runs minutes apart on a shared VM differ by more than 0.05.
GOAL_OVERHEAD = 1.20
GOAL_MIX_OVERHEAD = 1.20
#: Every function's cold init as built at most this many times the runtime's ``import boto3``.
GOAL_SHIPPED_INIT = shipped_init_report.GOAL_SHIPPED_INIT
#: The layers' unzipped bytes, together, at most this (arm64, bytecode included).
GOAL_LAYER_BYTES = 16_000_000
#: Below this many sagas per side the overhead ratios are noise: the report gives them but no verdict.
MIN_SAGAS_FOR_VERDICT = 100


def goals(report: dict[str, Any], layers: Iterable[str]) -> dict[str, Any]:
    """Each goal's limit, value and verdict (``met`` None when there is none); ``layers`` are the logical ids
    of the template's layers, the entries of ``packageBytes`` that count towards the layer size.

    The overhead ratios are judged from ``MIN_SAGAS_FOR_VERDICT`` sagas per side (``judged``), the imports
    when they were timed, the layers when ``sam build``'s output was there to measure.
    """
    judged = report["sagas"] >= MIN_SAGAS_FOR_VERDICT
    slowest, slowest_ratio = shipped_init_report.slowest(report)
    sizes: dict[str, int | None] = report.get("packageBytes") or {}
    layer_sizes = {name: sizes[name] for name in layers if name in sizes}
    measured = [size for size in layer_sizes.values() if size is not None]
    layer_bytes = sum(measured) if measured and len(measured) == len(layer_sizes) else None
    return {
        "judged": judged,
        "overheadRatio": _goal(GOAL_OVERHEAD, report["overheadRatio"], judged),
        "mixOverheadRatio": _goal(GOAL_MIX_OVERHEAD, report["workloads"]["mix"]["overheadRatio"], judged),
        "shippedInitRatio": _goal(GOAL_SHIPPED_INIT, slowest_ratio) | {"slowest": slowest},
        "layerBytes": _goal(GOAL_LAYER_BYTES, layer_bytes) | {"layers": layer_sizes},
    }


def _goal(limit: float, value: float | None, judged: bool = True) -> dict[str, Any]:
    return {"limit": limit, "value": value, "met": value <= limit if judged and value is not None else None}


# Printing ------------------------------------------------------------------------------------------------


def render(report: dict[str, Any]) -> list[str]:
    """The report as a person reads it."""
    m = report["machine"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpuModel']}), Python {m['python']}, {m['system']}, "
        f"load {m['loadAverage']}; moto speed-ups {'on' if report['speedups'] else 'off'}",
        "",
        f"Throughput: {report['sagas']} sagas per side and workload, engine and direct alternating",
        f"{'workload':<9}{'engine/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'cpu ms':>9}"
        f"{'direct/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'cpu ms':>9}{'overhead':>10}{'(cpu)':>8}",
    ]
    for name, w in report["workloads"].items():
        e, d = w["engine"], w["direct"]
        lines.append(
            f"{name:<9}{e['perSecond']:>10.1f}{e['p50Ms']:>9.1f}{e['p95Ms']:>9.1f}{e['cpuMsPerSaga']:>9.1f}"
            f"{d['perSecond']:>10.1f}{d['p50Ms']:>9.1f}{d['p95Ms']:>9.1f}{d['cpuMsPerSaga']:>9.1f}"
            f"{w['overheadRatio']:>10.2f}{w['overheadRatioCpu']:>8.2f}"
        )
    for name, w in report["workloads"].items():
        spread = w["overheadRatioBlocks"]
        if spread:
            lines.append(
                f"  {name}: overhead of each of {spread['blocks']} blocks: {spread['min']:.2f} to {spread['max']:.2f}"
                f" (median {spread['median']:.2f}); garbage collector ms/saga: engine "
                f"{w['engine']['gcMsPerSaga']:.1f} ({w['engine']['fullCollections']} full), direct "
                f"{w['direct']['gcMsPerSaga']:.1f} ({w['direct']['fullCollections']} full)"
            )
    lines += [
        "",
        *_cold_start_title(report),
        f"{'function / layer':<36}{'import ms':>10}{'x boto3':>9}{'libraries':>11}{'ours ms':>9}{'bytes':>12}",
    ]
    sizes = report["packageBytes"] or {}
    for name in dict.fromkeys([*(report["importMs"] or {}), *sizes]):
        ms = (report["importMs"] or {}).get(name)
        ratio = (report["importRatio"] or {}).get(name)
        library_ms = (report["libraryImportMs"] or {}).get(name)
        library_ratio = (report["libraryImportRatio"] or {}).get(name)
        ours = None if ms is None or library_ms is None else round(ms - library_ms)  # an int: no "-0"
        size = sizes.get(name)
        lines.append(
            f"{name:<36}{'' if ms is None else f'{ms:.0f}':>10}{'' if ratio is None else f'{ratio:.2f}':>9}"
            f"{'' if library_ratio is None else f'{library_ratio:.2f}':>11}{'' if ours is None else ours:>9}"
            f"{'' if size is None else f'{size:,}':>12}"
        )
    lines.append(f"({report['packageNote']})")
    lines += ["", *shipped_init_report.render(report)]
    lines += [
        "",
        "Per scenario: one execution each",
        f"{'scenario':<18}{'transitions':>12}{'invocations':>12}{'ddb writes':>11}{'(idem)':>7}{'reads':>6}"
        f"{'WRU':>6}{'RRU':>6}{'$/M Standard':>14}{'$/M Express':>13}",
    ]
    for scenario, cost in report["costPerMillion"].items():
        lines.append(
            f"{scenario:<18}{report['transitions'][scenario]:>12}{report['lambdaInvocations'][scenario]:>12}"
            f"{report['dynamodbWrites'][scenario]:>11}{report['idempotencyWrites'][scenario]:>7}"
            f"{report['dynamodbReads'][scenario]:>6}{report['writeUnits'][scenario]:>6g}"
            f"{report['readUnits'][scenario]:>6g}{cost['standard']:>14.2f}{cost['express']:>13.2f}"
        )
    p = report["prices"]
    lines += [
        f"Largest item written: {report['largestItemBytes']} bytes.",
        f"Prices: {p['region']} list prices checked {p['checked']} ({p['source']}); "
        f"Lambda duration assumed {p['assumedInvocationMs']} ms per invocation.",
        "",
        _goal_line(report["goals"]),
    ]
    return lines


def _cold_start_title(report: dict[str, Any]) -> list[str]:
    if report["importBoto3Ms"] is None:
        return ["Cold start: not measured (--import-runs 0)"]
    return [
        f"Cold start from source: import in a fresh interpreter, no .pyc, median of {report['importRuns']}; "
        f"import boto3 {report['importBoto3Ms']:.0f} ms",
        "(libraries: the third-party modules the function loads, imported alone, x boto3; ours: import ms less theirs)",
    ]


def _goal_line(goals: dict[str, Any]) -> str:
    happy, mix = goals["overheadRatio"], goals["mixOverheadRatio"]
    imports, layers = goals["shippedInitRatio"], goals["layerBytes"]
    parts = [
        f"overheadRatio {happy['value']:.3f} on the happy path {_verdict(happy, '{:.2f}')}, "
        f"{mix['value']:.3f} on the mix {_verdict(mix, '{:.2f}')}",
        f"slowest init as built {imports['value']:.2f} x boto3, {imports['slowest']} "
        f"{_verdict(imports, '{:.2f} x boto3')}"
        if imports["value"] is not None
        else f"init as built not measured (goal <= {imports['limit']:.2f} x boto3)",
        f"layers {layers['value']:,} bytes {_verdict(layers, '{:,} bytes')}"
        if layers["value"] is not None
        else f"layers not measured (goal <= {layers['limit']:,} bytes; no sam build output)",
    ]
    return "Goals: " + "; ".join(parts)


def _verdict(goal: dict[str, Any], limit_format: str) -> str:
    limit = limit_format.format(goal["limit"])
    if goal["met"] is None:
        return f"(goal <= {limit}: not judged under --sagas {MIN_SAGAS_FOR_VERDICT})"
    return f"(goal <= {limit}: {'met' if goal['met'] else 'NOT met'})"
