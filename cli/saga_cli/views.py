"""How the ``saga`` command prints: the contract's lines, JSON lines, a live status on a terminal."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from saga_cli.runner import ExecutionResult, OnState
from saga_cli.scenarios import Start

if TYPE_CHECKING:
    from saga_cli.alerts import Alert
    from saga_cli.chaos import ChaosReport


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class RunPrinter:
    """Prints each execution as the contract says; progress goes to stderr so stdout stays parseable."""

    def __init__(self, *, as_json: bool, concurrent: bool) -> None:
        self.as_json = as_json
        self.concurrent = concurrent
        self._lock = threading.Lock()
        self._labels: dict[str, str] = {}
        # A live status line only when stdout is a terminal: lines are then printed through the same
        # console, above the status, and never re-wrapped.
        self._console = Console(soft_wrap=True, markup=False, highlight=False, emoji=False)
        self._live = self._console.is_terminal and not as_json

    def _say(self, line: str) -> None:
        if self._live:
            self._console.print(line)
        else:
            print(line, flush=True)

    def started(self, start: Start, arn: str) -> None:
        self._labels[start.name] = start.label
        if self.as_json or self.concurrent:
            return  # printed whole when it ends, so lines of concurrent runs don't interleave
        with self._lock:
            self._say(f"Scenario: {start.label}" if start.label in _scenario_names() else f"Input: {start.label}")
            self._say(f"Started: {arn}")

    def finished(self, result: ExecutionResult) -> None:
        with self._lock:
            if self.as_json:
                self._say(_compact(result.to_json()))
                return
            if self.concurrent:
                self._say(f"Started: {result.execution_arn}")
            self._outcome(result)

    def exists(self, start: Start, result: ExecutionResult) -> None:
        """The order already has an execution: say so, show it, start nothing."""
        with self._lock:
            if self.as_json:
                self._say(_compact(result.to_json() | {"alreadyExists": True}))
                return
            self._say(f"Exists: {result.execution_arn} (order {start.name} already has an execution; nothing started)")
            self._outcome(result)

    def _outcome(self, result: ExecutionResult) -> None:
        self._say(f"Status: {result.status}")
        if result.status == "SUCCEEDED":
            self._say(f"Output: {_compact(result.output)}")
        else:
            self._say(f"Error: {result.error}")
            self._say(f"Cause: {result.cause}")
        self._say("")

    @contextmanager
    def progress(self) -> Iterator[OnState | None]:
        """A live status line on a terminal, plain lines otherwise, nothing with --json."""
        if self.as_json:
            yield None
            return
        if not self._live:

            def line(name: str, state: str) -> None:
                with self._lock:
                    print(f"  {self._labels.get(name, name)}: {state}", file=sys.stderr, flush=True)

            yield line
            return
        with self._console.status("starting") as status:

            def update(name: str, state: str) -> None:
                status.update(f"{self._labels.get(name, name)}: {state}")

            yield update


def _scenario_names() -> set[str]:
    from saga_cli.scenarios import SCENARIOS  # noqa: PLC0415

    return set(SCENARIOS)


def describe(result: ExecutionResult, as_json: bool) -> None:
    if as_json:
        typer.echo(_compact(result.to_json()))
        return
    typer.echo(f"Execution: {result.execution_arn}")
    typer.echo(f"Status: {result.status}")
    if result.status == "SUCCEEDED":
        typer.echo(f"Output: {_compact(result.output)}")
    elif result.error or result.cause:
        typer.echo(f"Error: {result.error}")
        typer.echo(f"Cause: {result.cause}")
    typer.echo(f"Path: {' -> '.join(result.path)}")
    typer.echo(f"Order: {_compact(result.order)}")


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _detail(event: dict[str, Any]) -> tuple[str, str]:
    """(state name, what happened) for one history event."""
    for key, details in event.items():
        if not key.endswith("EventDetails") or not isinstance(details, dict):
            continue
        state = details.get("name", "")
        if "error" in details or "cause" in details:
            return state, f"{details.get('error', '')}: {details.get('cause', '')}".strip(": ")
        for field in ("output", "input"):
            if field in details:
                return state, f"{field} {details[field]}"
        return state, ""
    return "", ""


def history(events: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(_compact(events))
        return
    start = _when(events[0]["timestamp"]) if events else None
    rows = []
    for event in events:
        elapsed = (_when(event["timestamp"]) - start).total_seconds() * 1000 if start else 0.0
        state, detail = _detail(event)
        rows.append((f"{elapsed:8.1f}", event["type"], state, detail))
    console = Console(width=max(Console().width, 120), soft_wrap=False)
    if not console.is_terminal:
        for row in rows:
            typer.echo("  ".join((row[0], f"{row[1]:<28}", f"{row[2]:<22}", _truncate(row[3], 160))).rstrip())
        return
    table = Table("ms", "event", "state", "detail", show_lines=False)
    for row in rows:
        table.add_row(row[0], row[1], row[2], _truncate(row[3], 160))
    console.print(table)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ChaosProgress:
    """A progress bar on a terminal; silent otherwise (a chaos run prints its report at the end)."""

    def __init__(self, total: int, quiet: bool) -> None:
        self._console = Console(stderr=True)
        self._enabled = self._console.is_terminal and not quiet
        self._progress = Progress(console=self._console, transient=True) if self._enabled else None
        self._task: Any = None
        self._total = total

    def __enter__(self) -> ChaosProgress:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("sagas", total=self._total)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, _result: ExecutionResult) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)


def chaos(report: ChaosReport, as_json: bool) -> None:
    summary = report.to_json()
    if as_json:
        typer.echo(_compact(summary))
    else:
        typer.echo(
            f"Sagas: {report.sagas} (seed {report.seed}, {summary['sagasPerSecond']}/s,"
            f" {report.stock_shards} stock shard{'s' if report.stock_shards > 1 else ''} per SKU)"
        )
        typer.echo("Orders: " + ", ".join(f"{kind} {n}" for kind, n in summary["orderKinds"].items()))
        typer.echo("Outcomes: " + ", ".join(f"{kind} {n}" for kind, n in summary["outcomes"].items()))
        typer.echo("Faults injected: " + ", ".join(f"{kind} {n}" for kind, n in summary["faultsInjected"].items()))
        typer.echo(f"Compensations that gave up or reservations lost to conflicts, then redriven: {report.redriven}")
        typer.echo("Alerts: " + (", ".join(f"{error} {n}" for error, n in report.alerts.items()) or "none"))
        if not report.violations:
            typer.echo("Violations: 0 (stock conserved and never negative, every charge shipped or refunded,")
            typer.echo("  every reservation shipped or released, statuses match outcomes, no execution left running,")
            typer.echo("  every stock-out a real shortage, every reservation lost to conflicts StoreUnavailable)")
    if report.violations:
        typer.echo(f"saga: {len(report.violations)} violations; replay with: {report.replay}", err=True)
        for violation in report.violations[:5]:
            typer.echo(f"  {violation}", err=True)


def stock(levels: dict[str, int], as_json: bool) -> None:
    if as_json:
        typer.echo(_compact({"stock": levels}))
        return
    for sku in sorted(levels):
        typer.echo(f"{sku:<20} {levels[sku]:>8}")


def alerts(sent: list[Alert], counts: dict[str, int], as_json: bool) -> None:
    """One line per alert, then the count by error name."""
    if as_json:
        for alert in sent:
            typer.echo(_compact(alert.to_json()))
        typer.echo(_compact({"alerts": counts}))
        return
    for alert in sent:
        typer.echo(f"{alert.time}  {alert.status:<9}  {alert.error or '-':<22}  {alert.name}")
    summary = ", ".join(f"{error} {n}" for error, n in counts.items())
    typer.echo(f"Alerts: {len(sent)}" + (f" ({summary})" if summary else " (nothing needed a human)"))
