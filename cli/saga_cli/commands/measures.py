"""The commands that measure the saga: ``saga bench`` (throughput, cold starts, sizes, cost per order) and
``saga capacity`` (which AWS quota binds first), registered in ``main``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from order_saga.settings import MAX_STOCK_SHARDS
from saga_cli.commands.app import Json, fail
from saga_cli.engine.embedded import EngineError
from saga_cli.scenarios import SCENARIOS
from saga_cli.targets.target import TargetError


def bench(
    sagas: Annotated[
        int, typer.Option("--sagas", min=1, max=100_000, metavar="N", help="Sagas per side and workload.")
    ] = 200,
    import_runs: Annotated[
        int,
        typer.Option("--import-runs", min=0, max=50, metavar="N", help="Fresh interpreters per function (0 skips)."),
    ] = 5,
    chart: Annotated[
        Path | None, typer.Option("--chart", metavar="FILE", help="Also draw the figures as an SVG chart here.")
    ] = None,
    save: Annotated[
        Path | None, typer.Option("--save", metavar="FILE", help="Also write the JSON report to this file.")
    ] = None,
    speedups: Annotated[
        bool, typer.Option("--speedups/--no-speedups", help="moto speed-ups on (as saga run) or off, to compare.")
    ] = True,
    as_json: Json = False,
) -> None:
    """Measure the engine against direct calls, cold starts, package sizes, and the AWS cost per order."""
    from saga_cli.measure import bench as measure  # noqa: PLC0415  (only this command needs it)
    from saga_cli.measure.chart import chart_svg  # noqa: PLC0415
    from saga_cli.measure.report import render  # noqa: PLC0415
    from saga_cli.measure.throughput import BenchError  # noqa: PLC0415

    try:
        report = measure.run(measure.BenchOptions(sagas, import_runs, speedups), lambda m: typer.echo(m, err=True))
    except (BenchError, TargetError, EngineError) as exc:
        raise fail(str(exc), 1) from None
    for path, text in ((chart, chart_svg(report)), (save, json.dumps(report, indent=1) + "\n")):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            typer.echo(f"Wrote {path}", err=True)
    if as_json:
        typer.echo(json.dumps(report, separators=(",", ":")))
    else:
        typer.echo("\n".join(render(report)))


def capacity(
    orders_per_second: Annotated[
        float,
        typer.Option("--orders-per-second", min=0.001, max=1e9, metavar="N", help="The order rate to check."),
    ],
    hot_sku_share: Annotated[
        float,
        typer.Option(
            "--hot-sku-share",
            min=0.0,
            max=1.0,
            metavar="F",
            help="Share of the orders that buy one SKU (a flash sale).",
        ),
    ] = 0.0,
    region: Annotated[
        str | None,
        typer.Option(
            "--region", metavar="REGION", help="The stack's region (quotas depend on it); samconfig's by default."
        ),
    ] = None,
    scenario: Annotated[
        str,
        typer.Option("--scenario", metavar="NAME", help="Which scenario's order to measure: happy is the usual order."),
    ] = "happy",
    stock_shards: Annotated[
        int | None,
        typer.Option(
            "--stock-shards",
            min=1,
            max=MAX_STOCK_SHARDS,
            metavar="N",
            help="Stock items per SKU; template.yaml's STOCK_SHARDS by default.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Which AWS quota binds first at an order rate, from one measured order and AWS's published quotas."""
    from saga_cli.measure import capacity as plan  # noqa: PLC0415  (only this command needs it)
    from saga_cli.measure.bench import figures_per_scenario  # noqa: PLC0415
    from saga_cli.measure.throughput import BenchError  # noqa: PLC0415
    from saga_cli.template import deploy_region, load  # noqa: PLC0415
    from saga_cli.template import stock_shards as template_shards  # noqa: PLC0415

    if scenario not in SCENARIOS:
        raise fail(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}", 2)
    try:
        figures = figures_per_scenario([scenario])[scenario]
    except (BenchError, TargetError, EngineError) as exc:
        raise fail(str(exc), 1) from None
    shards = stock_shards or template_shards(load())
    result = plan.report(figures, orders_per_second, hot_sku_share, region or deploy_region(), scenario, shards)
    if as_json:
        typer.echo(json.dumps(result, separators=(",", ":")))
    else:
        typer.echo("\n".join(plan.render(result)))
