"""The commands that run sagas and look at them: run, describe, history, stock, list, seed, reset, redrive,
alerts, chaos and graph (registered in ``main``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from order_saga.settings import MAX_STOCK_SHARDS
from saga_cli.commands import views
from saga_cli.commands.app import ExecutionName, Json, StateDir, fail, target_for
from saga_cli.engine import interrupts
from saga_cli.engine.embedded import SEED_FILE, EngineError
from saga_cli.engine.redrive import NotRedrivable
from saga_cli.engine.state import StateFolder
from saga_cli.scenarios import SCENARIOS, InputError, read_input, scenario_path
from saga_cli.targets.runner import result_of, run_many
from saga_cli.targets.target import Target, TargetError, TargetOptions


def run(
    scenarios: Annotated[
        list[str] | None, typer.Argument(metavar="SCENARIO", help=f"Scenarios: {', '.join(SCENARIOS)}.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Run every scenario.")] = False,
    inputs: Annotated[
        list[Path] | None, typer.Option("--input", metavar="FILE", help="An execution input file (repeatable).")
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            max=64,
            metavar="N",
            help=(
                "Executions at once. On LocalStack/AWS this runs them in parallel; the embedded engine "
                "interleaves them in one process, which tests contention but is no faster."
            ),
        ),
    ] = 1,
    as_json: Json = False,
    break_compensation: Annotated[
        str | None,
        typer.Option(
            "--break-compensation",
            metavar="STATE",
            help="Embedded engine: this compensation (RefundPayment, ReleaseInventory) fails on every attempt "
            "of this command, so it gives up; a later saga redrive finds it working.",
        ),
    ] = None,
    *,
    options: TargetOptions,
) -> None:
    """Start one execution per scenario or input file and wait for each to finish."""
    try:
        names = list(SCENARIOS) if all_ else list(scenarios or [])
        starts = [read_input(scenario_path(name), name) for name in names]
        starts += [read_input(path) for path in inputs or []]
    except InputError as exc:
        raise fail(str(exc), 2) from None
    if not starts:
        raise fail("nothing to run: name a scenario, --all or --input FILE", 2)
    with target_for(options) as target:
        if break_compensation is not None:
            _break(target, break_compensation)
        printer = views.RunPrinter(as_json=as_json, concurrent=concurrency > 1)
        with printer.progress() as on_state:
            results = run_many(
                target, starts, concurrency, printer.started, on_state, printer.finished, stop=interrupts.requested
            )
        if as_json:
            views.stock_line(target.store.stock())
    if interrupts.requested():
        kept = f"kept in {options.state_dir}" if target.engine is not None else "still on the target"
        raise fail(
            f"interrupted: {len(results)} of {len(starts)} executions ran ({kept}), "
            f"{len(starts) - len(results)} not started",
            interrupts.EXIT_INTERRUPTED,
        )


def _break(target: Target, compensation: str) -> None:
    from saga_cli.chaos.faults import BrokenFunction, compensation_states  # noqa: PLC0415  (only this option needs it)

    if target.engine is None:
        raise fail("--break-compensation works on the embedded engine only", 2)
    functions = compensation_states(target.engine.template)
    if compensation not in functions:
        raise fail(f"--break-compensation takes one of {', '.join(functions)}, not {compensation!r}", 2)
    target.engine.lambda_.before.append(BrokenFunction(functions[compensation]))


def describe(
    execution: ExecutionName,
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """Show an execution: status, output or error, the states it went through, and its order."""
    with target_for(options) as target:
        result = result_of(target, target.describe(execution), target.history(execution), 0)
        views.describe(result, as_json)


def history(
    execution: ExecutionName,
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """The execution's events: each state transition with its time, input or output, and errors."""
    with target_for(options) as target:
        views.history(target.history(execution), as_json)


def stock(
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """Available units of every SKU."""
    with target_for(options) as target:
        levels = target.store.stock()
        if not levels:
            raise fail(f"{target.store.table_name} holds no stock: load the seed with saga seed", 1)
        views.stock(levels, as_json)


def list_(
    limit: Annotated[int, typer.Option("--limit", min=0, metavar="N", help="Show at most N (0: all).")] = 20,
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """Recent executions, newest first: start time, status, error and name."""
    with target_for(options) as target:
        views.executions(target.executions(limit), as_json)


def seed(
    file: Annotated[Path, typer.Option("--file", metavar="FILE", help="SKU -> available units, as JSON.")] = SEED_FILE,
    *,
    options: TargetOptions,
) -> None:
    """Load the inventory seed into the target's table (sets each SKU's available units)."""
    levels = read_seed(file)
    with target_for(options) as target:
        target.store.put_stock(levels)
        skus = "1 SKU" if len(levels) == 1 else f"{len(levels)} SKUs"
        typer.echo(f"Seeded {skus} into {target.store.table_name} ({target.kind}).")


def read_seed(path: Path) -> dict[str, int]:
    """A seed file: a JSON object of SKU -> non-negative integer."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}", 2) from None
    except json.JSONDecodeError as exc:
        raise fail(f"{path} is not JSON: {exc.msg} at line {exc.lineno}", 2) from None
    from order_saga.models import LineItem  # noqa: PLC0415

    ok = isinstance(data, dict) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in data.values()
    )
    bad_sku = [sku for sku in data if not _valid_sku(sku, LineItem)] if isinstance(data, dict) else []
    if not ok or bad_sku:
        raise fail(f"{path} must map SKUs to non-negative integers{': bad SKU ' + bad_sku[0] if bad_sku else ''}", 2)
    levels: dict[str, int] = data
    return levels


def _valid_sku(sku: str, model: Any) -> bool:
    from pydantic import ValidationError  # noqa: PLC0415

    try:
        model(sku=sku, quantity=1, unit_price=0)
    except ValidationError:
        return False
    return True


def reset(
    state_dir: StateDir = Path(".saga"),
) -> None:
    """Forget the embedded engine's executions and stock (the next command starts from the seed)."""
    if state_dir.exists():
        state = StateFolder(state_dir)
        if not state.looks_like_one():
            raise fail(f"{state_dir} does not look like a saga state folder; not removing it", 2)
        with state.locked(lambda line: typer.echo(f"saga: {line}", err=True)):
            state.clear()
    typer.echo(f"Reset {state_dir}: the next run starts from the seed.")


def redrive(
    execution: ExecutionName,
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """Resume a failed execution from the state that failed, without re-running the states that succeeded."""
    with target_for(options) as target:
        try:
            described = target.redrive(execution)
        except NotRedrivable as exc:
            raise fail(str(exc), 2) from None
        views.describe(result_of(target, described, target.history(execution), 0), as_json)


def alerts(
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """What the template's NeedsAHumanRule would have sent for the embedded engine's executions."""
    from saga_cli.engine import alerts as rule  # noqa: PLC0415  (only this command needs it)

    with target_for(options) as target:
        if target.engine is None:
            raise fail("saga alerts reads the embedded engine's executions; a stack sends its own to AlertTopicArn", 2)
        sent = rule.sent(target.engine)
        views.alerts(sent, rule.by_error(sent), as_json)


def chaos(
    sagas: Annotated[
        int, typer.Option("--sagas", min=1, max=1_000_000, metavar="N", help="How many random orders.")
    ] = 1000,
    seed: Annotated[
        int, typer.Option("--seed", metavar="S", help="Decides the orders and the faults: replay with the same.")
    ] = 1,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, metavar="N", help="Executions at once in each worker.")
    ] = 8,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            metavar="N",
            help=(
                "Processes, each with its own engine and a share of the orders. Default: one per CPU, "
                "at most one per 250 sagas."
            ),
            show_default=False,
        ),
    ] = None,
    stock_shards: Annotated[
        int,
        typer.Option(
            "--stock-shards", min=1, max=MAX_STOCK_SHARDS, metavar="N", help="Stock items per SKU (the hot-SKU layout)."
        ),
    ] = 1,
    as_json: Json = False,
) -> None:
    """Run random orders with injected faults on the embedded engine, then check every promise."""
    from saga_cli.chaos.parallel import WorkerDied  # noqa: PLC0415
    from saga_cli.chaos.run import default_workers, run_chaos  # noqa: PLC0415  (only this command needs it)

    try:
        with views.ChaosProgress(sagas, quiet=as_json) as progress:
            report = run_chaos(
                sagas,
                seed,
                concurrency,
                on_result=progress.advance,
                stock_shards=stock_shards,
                workers=workers or default_workers(sagas),
            )
    except (TargetError, EngineError, WorkerDied) as exc:
        raise fail(str(exc), 1) from None
    views.chaos(report, as_json)
    if report.violations:
        raise typer.Exit(1)


def graph(
    execution: Annotated[
        str | None, typer.Argument(metavar="NAME|ARN", help="An execution whose path to draw.")
    ] = None,
    svg: Annotated[
        Path | None,
        typer.Option(
            "--svg",
            metavar="FILE",
            help="Also write an SVG here (for an execution, by default: graphs/NAME.svg in the state folder).",
        ),
    ] = None,
    *,
    options: TargetOptions,
) -> None:
    """Print the state machine as a Mermaid flowchart; with an execution, its path drawn on it."""
    from saga_cli.graph import flow as flowchart  # noqa: PLC0415  (only this command needs it)
    from saga_cli.graph.svg import svg as drawing  # noqa: PLC0415

    flow = flowchart.load_flow()
    run_ = None
    if execution is not None:
        with target_for(options) as target:
            run_ = flowchart.run_of(target.describe(execution), target.history(execution))
        svg = svg or options.state_dir / "graphs" / f"{run_.name}.svg"
    typer.echo(flowchart.mermaid(flow, run_), nl=False)
    if svg is not None:
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(drawing(flow, run_), encoding="utf-8")
        typer.echo(f"Wrote {svg}", err=True)
