"""The ``saga`` command: run the order saga on the embedded engine, LocalStack or AWS, and look inside it."""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from typer.core import TyperGroup

from saga_cli import interrupts, views
from saga_cli.engine import DEFAULT_CLOCK, SEED_FILE, EngineError
from saga_cli.redrive import NotRedrivable
from saga_cli.runner import result_of, run_many
from saga_cli.scenarios import SCENARIOS, InputError, read_input, scenario_path
from saga_cli.state import StateFolder
from saga_cli.targets import ExecutionNotFound, Target, TargetError, TargetOptions, open_target


class _Commands(TyperGroup):
    """Every command ends quietly when its reader goes away (``saga history X | head -1``), and its help
    names arguments by their metavar alone (typer 0.29 appends ``<str>``-style type names)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        for param in getattr(found, "params", []):
            if param.param_type_name == "argument" and param.metavar:
                param.display_type_rich = lambda ctx: None  # tests/test_cli.py checks every help page
        return found

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Later writes, and the interpreter's own flush at exit, go nowhere instead of failing again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            raise typer.Exit(0) from None


app = typer.Typer(
    cls=_Commands,
    help=(
        "Run the order saga: on the embedded engine by default, or on LocalStack/AWS.\n\n"
        "The embedded engine keeps its tables and executions in a state folder: .saga in the current "
        "directory unless --state-dir or SAGA_STATE_DIR names another. One command at a time uses it; "
        "a second one waits."
    ),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def register(function: Command) -> Command:
    """Register a command; the list of commands shows its whole first docstring line, never cut."""
    summary = (function.__doc__ or "").strip().splitlines()[0]
    app.command(name=function.__name__.rstrip("_").replace("_", "-"), short_help=summary)(function)
    return function


# Target options, shared by every command ----------------------------------------------------------------
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        metavar="URL",
        help="LocalStack's URL, e.g. http://localhost:4566.",
        envvar="SAGA_ENDPOINT_URL",
    ),
]
Region = Annotated[str | None, typer.Option("--region", metavar="REGION", help="AWS region of the deployed stack.")]
Profile = Annotated[
    str | None, typer.Option("--profile", metavar="NAME", help="AWS profile to use (drives the deployed stack).")
]
StackName = Annotated[
    str | None, typer.Option("--stack-name", metavar="NAME", help="Deployed stack's name (default order-saga).")
]
StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="Embedded engine: the folder holding its tables and executions (relative to where you run saga).",
        envvar="SAGA_STATE_DIR",
    ),
]
DynamoEndpoint = Annotated[
    str | None,
    typer.Option("--dynamodb-endpoint", metavar="URL", help="Embedded engine: use this DynamoDB endpoint, not moto's."),
]
LambdaEndpoint = Annotated[
    str | None,
    typer.Option(
        "--lambda-endpoint",
        metavar="URL",
        help="Embedded engine: run the Lambda tasks at this Invoke API (sam local start-lambda), not in-process.",
    ),
]
Clock = Annotated[
    float,
    typer.Option(
        "--clock", min=0.0, metavar="SCALE", help="Embedded engine: scale of Retry waits (1.0 waits as AWS does)."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ExecutionName = Annotated[str, typer.Argument(metavar="NAME|ARN", help="Execution name (the order id) or ARN.")]


#: The options every command that talks to a target takes, with their defaults.
_TARGET_OPTIONS: dict[str, tuple[Any, Any]] = {
    "endpoint_url": (EndpointUrl, None),
    "region": (Region, None),
    "profile": (Profile, None),
    "stack_name": (StackName, None),
    "state_dir": (StateDir, Path(".saga")),
    "dynamodb_endpoint": (DynamoEndpoint, None),
    "lambda_endpoint": (LambdaEndpoint, None),
    "clock": (Clock, DEFAULT_CLOCK),
}
Command = TypeVar("Command", bound=Callable[..., None])


def target_command(command: Command) -> Command:
    """Register a command with the target options; it gets them as one ``options: TargetOptions``."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "options"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in _TARGET_OPTIONS.items()
    ]

    @functools.wraps(command)
    def with_options(*args: Any, **kwargs: Any) -> None:
        chosen = {name: kwargs.pop(name) for name in _TARGET_OPTIONS}
        command(*args, options=TargetOptions(**chosen), **kwargs)

    with_options.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    register(with_options)
    return command


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"saga: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def target_for(options: TargetOptions) -> Iterator[Target]:
    """Open the target; every way it can fail becomes one line and an exit status, never a traceback."""
    try:
        with open_target(options) as target:
            yield target
    except (typer.Exit, BrokenPipeError):
        raise
    except (InputError, ExecutionNotFound) as exc:
        raise fail(str(exc), 2) from None
    except TargetError as exc:
        raise fail(str(exc), 1) from None
    except (ClientError, BotoCoreError) as exc:
        raise fail(f"the target failed: {exc}", 1) from None
    except Exception as exc:
        if os.environ.get("SAGA_DEBUG"):
            raise
        raise fail(f"unexpected {type(exc).__name__}: {exc} (SAGA_DEBUG=1 shows the traceback)", 1) from None


# Commands --------------------------------------------------------------------------------------------------


@target_command
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
    from saga_cli.faults import BrokenFunction, compensation_states  # noqa: PLC0415  (only this option needs it)

    if target.engine is None:
        raise fail("--break-compensation works on the embedded engine only", 2)
    functions = compensation_states(target.engine.template)
    if compensation not in functions:
        raise fail(f"--break-compensation takes one of {', '.join(functions)}, not {compensation!r}", 2)
    target.engine.lambda_.before.append(BrokenFunction(functions[compensation]))


@target_command
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


@target_command
def history(
    execution: ExecutionName,
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """The execution's events: each state transition with its time, input or output, and errors."""
    with target_for(options) as target:
        views.history(target.history(execution), as_json)


@target_command
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


@target_command
def list_(
    limit: Annotated[int, typer.Option("--limit", min=0, metavar="N", help="Show at most N (0: all).")] = 20,
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """Recent executions, newest first: start time, status, error and name."""
    with target_for(options) as target:
        views.executions(target.executions(limit), as_json)


@target_command
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


@register
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


@target_command
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


@target_command
def alerts(
    as_json: Json = False,
    *,
    options: TargetOptions,
) -> None:
    """What the template's NeedsAHumanRule would have sent for the embedded engine's executions."""
    from saga_cli import alerts as rule  # noqa: PLC0415  (only this command needs it)

    with target_for(options) as target:
        if target.engine is None:
            raise fail("saga alerts reads the embedded engine's executions; a stack sends its own to AlertTopicArn", 2)
        sent = rule.sent(target.engine)
        views.alerts(sent, rule.by_error(sent), as_json)


@register
def chaos(
    sagas: Annotated[
        int, typer.Option("--sagas", min=1, max=1_000_000, metavar="N", help="How many random orders.")
    ] = 1000,
    seed: Annotated[
        int, typer.Option("--seed", metavar="S", help="Decides the orders and the faults: replay with the same.")
    ] = 1,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, metavar="N", help="Executions at once.")
    ] = 8,
    stock_shards: Annotated[
        int,
        typer.Option("--stock-shards", min=1, max=10, metavar="N", help="Stock items per SKU (the hot-SKU layout)."),
    ] = 1,
    as_json: Json = False,
) -> None:
    """Run random orders with injected faults on the embedded engine, then check every promise."""
    from saga_cli.chaos import run_chaos  # noqa: PLC0415  (only this command needs it)

    try:
        with views.ChaosProgress(sagas, quiet=as_json) as progress:
            report = run_chaos(sagas, seed, concurrency, on_result=progress.advance, stock_shards=stock_shards)
    except (TargetError, EngineError) as exc:
        raise fail(str(exc), 1) from None
    views.chaos(report, as_json)
    if report.violations:
        raise typer.Exit(1)


# Performance, cost and the flow: saga bench, saga graph ------------------------------------------------------


@register
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
    from saga_cli import bench as measure  # noqa: PLC0415  (only this command needs it)
    from saga_cli.bench_chart import chart_svg  # noqa: PLC0415
    from saga_cli.bench_report import render  # noqa: PLC0415

    try:
        report = measure.run(measure.BenchOptions(sagas, import_runs, speedups), lambda m: typer.echo(m, err=True))
    except (measure.BenchError, TargetError, EngineError) as exc:
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


@register
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
            max=10,
            metavar="N",
            help="Stock items per SKU; template.yaml's STOCK_SHARDS by default.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Which AWS quota binds first at an order rate, from one measured order and AWS's published quotas."""
    from saga_cli import capacity as plan  # noqa: PLC0415  (only this command needs it)
    from saga_cli.bench import BenchError, figures_per_scenario  # noqa: PLC0415
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


@target_command
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
    from saga_cli import graph as flowchart  # noqa: PLC0415  (only this command needs it)

    flow = flowchart.load_flow()
    run_ = None
    if execution is not None:
        with target_for(options) as target:
            run_ = flowchart.run_of(target.describe(execution), target.history(execution))
        svg = svg or options.state_dir / "graphs" / f"{run_.name}.svg"
    typer.echo(flowchart.mermaid(flow, run_), nl=False)
    if svg is not None:
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(flowchart.svg(flow, run_), encoding="utf-8")
        typer.echo(f"Wrote {svg}", err=True)


def main() -> None:  # pragma: no cover - ``python -m saga_cli.main``; the console script is console.main
    interrupts.install()
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
