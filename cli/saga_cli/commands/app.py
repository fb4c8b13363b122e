"""The ``saga`` command's Typer plumbing: the app, how a command is registered, the options shared by every
command that talks to a target, and how a failure becomes one line and an exit status (never a traceback).
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from typer.core import TyperGroup

from saga_cli.engine.embedded import DEFAULT_CLOCK
from saga_cli.scenarios import InputError
from saga_cli.targets.target import ExecutionNotFound, Target, TargetError, TargetOptions, open_target


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
