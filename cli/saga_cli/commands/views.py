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

from saga_cli.scenarios import SCENARIOS, Start
from saga_cli.targets.result import ExecutionResult, OnState

if TYPE_CHECKING:
    from saga_cli.chaos.report import ChaosReport
    from saga_cli.engine.alerts import Alert


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
            self._say(_label_line(start.label))
            self._say(f"Started: {arn}")

    def finished(self, result: ExecutionResult) -> None:
        """One result, labelled with its scenario or file; an order that already had an execution is ``Exists:``."""
        with self._lock:
            if self.as_json:
                extra = {"alreadyExists": True} if result.already_exists else {}
                self._say(_compact(result.to_json() | _label_json(result.label) | extra))
                return
            if result.already_exists:
                self._say(_label_line(result.label))
                self._say(
                    f"Exists: {result.execution_arn} (order {result.name} already has an execution; nothing started)"
                )
            elif self.concurrent:
                self._say(_label_line(result.label))
                self._say(f"Started: {result.execution_arn}")
            self._outcome(result)

    def _outcome(self, result: ExecutionResult) -> None:
        for line in _outcome_lines(result):
            self._say(line)
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


def _label_line(label: str) -> str:
    return f"Scenario: {label}" if label in SCENARIOS else f"Input: {label}"


def _label_json(label: str) -> dict[str, str]:
    return {"scenario": label} if label in SCENARIOS else {"input": label}


def _outcome_lines(result: ExecutionResult) -> list[str]:
    """Status, then the output or the error, its cause and the failed task's own reason."""
    lines = [f"Status: {result.status}"]
    if result.status == "SUCCEEDED":
        lines.append(f"Output: {_compact(result.output)}")
    elif result.error or result.cause:
        lines += [f"Error: {result.error}", f"Cause: {result.cause}"]
        if result.reason:
            lines.append(f"Reason: {result.reason}")
    return lines


def stock_line(levels: dict[str, int]) -> None:
    """``saga run --json``'s last line."""
    typer.echo(_compact({"stock": levels}))


def describe(result: ExecutionResult, as_json: bool) -> None:
    if as_json:
        typer.echo(_compact(result.to_json()))
        return
    typer.echo(f"Execution: {result.execution_arn}")
    for line in _outcome_lines(result):
        typer.echo(line)
    typer.echo(f"Path: {' -> '.join(result.path)}")
    typer.echo(f"Order: {_compact(result.order)}")


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _detail(event: dict[str, Any]) -> tuple[str | None, str]:
    """(the state it names, if any; what happened) for one history event."""
    for key, details in event.items():
        if not key.endswith("EventDetails") or not isinstance(details, dict):
            continue
        state = details.get("name")
        if "error" in details or "cause" in details:
            return state, f"{details.get('error', '')}: {details.get('cause', '')}".strip(": ")
        for field in ("output", "input", "parameters"):
            if field in details:
                return state, f"{field} {_compact_text(details[field])}"
        return state, ""
    return None, ""


def _compact_text(text: Any) -> str:
    """A JSON document in the one spacing the command prints (moto and AWS space theirs differently)."""
    try:
        return _compact(json.loads(text))
    except (TypeError, ValueError):
        return str(text)


def history(events: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(_compact(events))
        return
    start = _when(events[0]["timestamp"]) if events else None
    rows = []
    current = ""  # Task and Lambda events belong to the state last entered
    for event in events:
        elapsed = (_when(event["timestamp"]) - start).total_seconds() * 1000 if start else 0.0
        state, detail = _detail(event)
        if state is not None and event["type"].endswith("StateEntered"):
            current = state
        rows.append((f"{elapsed:.1f}", event["type"], state or current, _truncate(detail, 160)))
    header = ("ms", "event", "state", "detail")
    console = Console(width=max(Console().width, 120), soft_wrap=False)
    if not console.is_terminal:
        typer.echo(f"{header[0]:>8}  {header[1]:<28}  {header[2]:<22}  {header[3]}")
        for row in rows:
            typer.echo(f"{row[0]:>8}  {row[1]:<28}  {row[2]:<22}  {row[3]}".rstrip())
        return
    table = Table(*header, show_lines=False)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ChaosProgress:
    """A progress bar on a terminal; off one, a line on stderr at each tenth (``make chaos`` runs for minutes)."""

    def __init__(self, total: int, quiet: bool) -> None:
        self._console = Console(stderr=True)
        self._quiet = quiet
        self._enabled = self._console.is_terminal and not quiet
        self._progress = Progress(console=self._console, transient=True) if self._enabled else None
        self._task: Any = None
        self._total = total
        self._done = 0
        self._lock = threading.Lock()

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
            return
        with self._lock:
            self._done += 1
            tenth = max(self._total // 10, 1)
            if not self._quiet and (self._done % tenth == 0 or self._done == self._total):
                print(f"  {self._done}/{self._total} sagas", file=sys.stderr, flush=True)


def chaos(report: ChaosReport, as_json: bool) -> None:
    summary = report.to_json()
    if as_json:
        typer.echo(_compact(summary))
    else:
        typer.echo(
            f"Sagas: {report.sagas} (seed {report.seed}, {summary['sagasPerSecond']}/s,"
            f" {report.workers} worker{'s' if report.workers > 1 else ''} of {report.concurrency} at once,"
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


def executions(found: list[dict[str, Any]], as_json: bool) -> None:
    """``saga list``: one line per execution, newest first."""
    if as_json:
        for summary in found:
            typer.echo(_compact(summary))
        return
    if not found:
        typer.echo("No executions yet.", err=True)
        return
    typer.echo(f"{'started':<26} {'status':<10} {'error':<22} name")
    for summary in found:
        started = str(summary.get("startDate") or "")[:23]
        typer.echo(f"{started:<26} {summary['status']:<10} {summary.get('error') or '-':<22} {summary['name']}")


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
