"""Start executions, follow them state by state, and gather what the contract says a run reports."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from saga_cli.engine import WAIT_LIMIT_SECONDS
from saga_cli.scenarios import Start
from saga_cli.targets import Target

OnState = Callable[[str, str], None]  # (execution name, state entered)
OnStarted = Callable[[Start, str], None]  # (what was started, execution ARN)


@dataclass(frozen=True)
class ExecutionResult:
    execution_arn: str
    name: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    path: list[str]
    order: dict[str, Any] | None
    duration_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "executionArn": self.execution_arn,
            "name": self.name,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
            "path": self.path,
            "order": self.order,
            "durationMs": self.duration_ms,
        }


def states_entered(history: Sequence[dict[str, Any]]) -> list[str]:
    """The names of the states entered, in order (a retried task is entered once)."""
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in history
        if event["type"].endswith("StateEntered") and "stateEnteredEventDetails" in event
    ]


def run_one(
    target: Target,
    start: Start,
    on_started: OnStarted | None = None,
    on_state: OnState | None = None,
    with_history: bool = True,
) -> ExecutionResult:
    """Start one execution and wait for it. Without history the result's ``path`` is empty (cheaper)."""
    began = time.monotonic()
    arn = target.start(start.name, start.payload)
    if on_started:
        on_started(start, arn)
    describe = wait(target, arn, start.name, on_state)
    history = target.history(arn) if with_history else []
    target.finished(arn, describe, history)
    return result_of(target, describe, history, int((time.monotonic() - began) * 1000))


def wait(target: Target, arn: str, name: str, on_state: OnState | None = None) -> dict[str, Any]:
    """Poll until the execution ends, reporting each state as it is entered."""
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    if on_state is None and target.engine is not None:
        # The embedded engine says when an execution ends: no polling needed.
        if not target.engine.completions.wait(arn, WAIT_LIMIT_SECONDS):
            raise TimeoutError(f"execution {name} still running after {WAIT_LIMIT_SECONDS} s")
        return target.describe(arn)
    seen = 0
    while True:
        describe = target.describe(arn)
        if on_state is not None:
            path = states_entered(target.history(arn))
            for state in path[seen:]:
                on_state(name, state)
            seen = len(path)
        if describe["status"] != "RUNNING":
            return describe
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {name} still running after {WAIT_LIMIT_SECONDS} s")
        time.sleep(target.poll_seconds)


def result_of(
    target: Target, describe: dict[str, Any], history: list[dict[str, Any]], duration_ms: int
) -> ExecutionResult:
    output = describe.get("output")
    order_id = _order_id(describe)
    return ExecutionResult(
        execution_arn=describe["executionArn"],
        name=describe["name"],
        status=describe["status"],
        output=json.loads(output) if output else None,
        error=describe.get("error"),
        cause=describe.get("cause"),
        path=states_entered(history),
        order=target.store.order_item(order_id) if order_id else None,
        duration_ms=duration_ms,
    )


def _order_id(describe: dict[str, Any]) -> str | None:
    """The order's id: the input's ``orderId`` if it has one, else the execution's name."""
    try:
        data = json.loads(describe.get("input") or "{}")
    except json.JSONDecodeError:
        data = None
    order_id = data.get("orderId") if isinstance(data, dict) else None
    return order_id if isinstance(order_id, str) and order_id else describe["name"]


def run_many(
    target: Target,
    starts: Sequence[Start],
    concurrency: int = 1,
    on_started: OnStarted | None = None,
    on_state: OnState | None = None,
    on_result: Callable[[ExecutionResult], None] | None = None,
    with_history: bool = True,
) -> list[ExecutionResult]:
    """Run each start to its end: in order, or up to ``concurrency`` at once. Results keep the given order."""

    def one(start: Start) -> ExecutionResult:
        result = run_one(target, start, on_started, on_state, with_history)
        if on_result:
            on_result(result)
        return result

    if concurrency <= 1:
        return [one(start) for start in starts]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, starts))
