"""Start executions, follow them state by state, and gather what the contract says a run reports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from saga_cli.scenarios import Start
from saga_cli.targets.history import states_entered
from saga_cli.targets.result import ExecutionResult, OnState
from saga_cli.targets.target import Target

OnStarted = Callable[[Start, str], None]  # (what was started, execution ARN)


def run_one(
    target: Target,
    start: Start,
    on_started: OnStarted | None = None,
    on_state: OnState | None = None,
    with_history: bool = True,
) -> ExecutionResult:
    """Start one execution and wait for it. Without history the result's ``path`` is empty (cheaper)."""
    began = time.monotonic()
    try:
        arn = target.start(start.name, start.payload)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        return replace(existing(target, start), label=start.label)
    if on_started:
        on_started(start, arn)
    describe = target.wait(arn, start.name, on_state)
    history = target.history(arn) if with_history else []
    target.finished(arn, describe, history)
    return replace(result_of(target, describe, history, int((time.monotonic() - began) * 1000)), label=start.label)


def existing(target: Target, start: Start) -> ExecutionResult:
    """The execution that already holds this order's name, once it has ended; nothing is started."""
    arn = target.execution_arn(start.name)
    describe = target.describe(arn)
    if describe["status"] == "RUNNING":
        describe = target.wait(arn, start.name)
    return replace(result_of(target, describe, target.history(arn), 0), already_exists=True)


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
        reason=_reason(history, describe.get("error"), describe.get("cause")),
    )


def _reason(history: Sequence[dict[str, Any]], error: str | None, cause: str | None) -> str | None:
    """The failed task's own message (e.g. which SKU is unknown or short), unless the cause already says it."""
    failures = [
        details
        for event in history
        if event["type"] in ("TaskFailed", "LambdaFunctionFailed")
        for details in (event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails"),)
        if details
    ]
    matching = [d for d in failures if d.get("error") == error] or failures
    if not matching:
        return None
    try:
        message = json.loads(matching[-1].get("cause") or "{}").get("errorMessage")
    except (json.JSONDecodeError, AttributeError):
        message = matching[-1].get("cause")
    if not isinstance(message, str) or not message or message == cause:
        return None
    return message.removeprefix(f"{cause}: ") if cause else message


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
    stop: Callable[[], bool] = lambda: False,
) -> list[ExecutionResult]:
    """Run each start to its end: in order, or up to ``concurrency`` at once. Results keep the given order.

    Once ``stop()`` is true, or one of them raised, no further execution starts; those running finish. A
    start whose order id an earlier start of the same call holds waits for that one and is reported as
    already existing.
    """
    batch = _Batch(starts, lambda start: run_one(target, start, on_started, on_state, with_history))

    def worker() -> None:
        while not (stop() or batch.failed.is_set()):
            item = batch.take()
            if item is None:
                return
            index, start, first = item
            try:
                if first is not None:  # the same order id earlier in this call: report that execution
                    first.wait()
                    result = replace(existing(target, start), label=start.label)
                else:
                    result = batch.run(start)
                batch.results[index] = result
                if on_result:
                    on_result(result)
            except BaseException:
                batch.failed.set()
                raise

    if concurrency <= 1:
        worker()
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for future in [pool.submit(worker) for _ in range(min(concurrency, len(starts)))]:
                future.result()
    return [result for result in batch.results if result is not None]


class _Batch:
    """The starts of one ``run_many`` call, handed out one at a time; each order id runs once."""

    def __init__(self, starts: Sequence[Start], run: Callable[[Start], ExecutionResult]) -> None:
        self._starts = starts
        self._run = run
        self._next = iter(range(len(starts)))
        self._lock = threading.Lock()
        self._claimed: dict[str, threading.Event] = {}
        self.results: list[ExecutionResult | None] = [None] * len(starts)
        self.failed = threading.Event()

    def take(self) -> tuple[int, Start, threading.Event | None] | None:
        """The next start, and the event of an earlier start with the same order id (None if it is the first)."""
        with self._lock:
            index = next(self._next, None)
            if index is None:
                return None
            start = self._starts[index]
            first = self._claimed.get(start.name)
            if first is None:
                self._claimed[start.name] = threading.Event()
            return index, start, first

    def run(self, start: Start) -> ExecutionResult:
        try:
            return self._run(start)
        finally:
            self._claimed[start.name].set()
