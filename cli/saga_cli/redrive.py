"""Redrive for the embedded engine, which moto lacks: resume a failed execution at the state that failed,
with the input that state was entered with, without re-running the states that succeeded.

Step Functions' RedriveExecution keeps the execution's name and ARN and appends to its history, after an
``ExecutionRedriven`` event; the engine does the same to its record of the execution. The states from the
failed one on run as a separate moto execution of the same definition started at that state.
"""

from __future__ import annotations

import json
from typing import Any

_FAILED_OUTCOMES = {"TaskFailed", "TaskTimedOut", "LambdaFunctionFailed", "LambdaFunctionTimedOut"}
_SUCCEEDED_OUTCOMES = {"TaskSucceeded", "LambdaFunctionSucceeded"}
REDRIVABLE = {"FAILED", "TIMED_OUT", "ABORTED"}


class NotRedrivable(Exception):
    """The execution cannot be redriven (it succeeded, is running, or never failed in a task)."""


def resume_point(history: list[dict[str, Any]]) -> tuple[str, str]:
    """The last Task state whose final attempt failed, and the input it was entered with.

    A compensation that gave up is caught (then recorded and failed), a forward step that gave up fails
    the execution in place: either way, that Task is where the saga stopped making progress.
    """
    entered: list[tuple[str, str, bool]] = []  # (state, input, last attempt failed)
    for event in history:
        kind = event["type"]
        if kind == "TaskStateEntered":
            details = event["stateEnteredEventDetails"]
            entered.append((details["name"], details.get("input", "{}"), False))
        elif entered and kind in _FAILED_OUTCOMES | _SUCCEEDED_OUTCOMES:
            name, state_input, _ = entered[-1]
            entered[-1] = (name, state_input, kind in _FAILED_OUTCOMES)
    for name, state_input, failed in reversed(entered):
        if failed:
            return name, state_input
    raise NotRedrivable("no task failed in this execution: nothing to resume")


def definition_from(definition: str, state: str) -> str:
    """The same state machine, started at ``state``."""
    machine = json.loads(definition)
    if state not in machine["States"]:
        raise NotRedrivable(f"state {state} is not in the definition")
    machine["StartAt"] = state
    return json.dumps(machine)


def merge(
    describe: dict[str, Any],
    history: list[dict[str, Any]],
    resumed_describe: dict[str, Any],
    resumed_history: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One record for the execution: its first attempt, an ``ExecutionRedriven`` event, then the rest."""
    count = int(describe.get("redriveCount", 0)) + 1
    started, *rest = resumed_history
    next_id = max((int(e.get("id", 0)) for e in history), default=0) + 1
    redriven = {
        "timestamp": started["timestamp"],
        "type": "ExecutionRedriven",
        "id": next_id,
        "previousEventId": next_id - 1,
        "executionRedrivenEventDetails": {"redriveCount": count},
    }
    appended = [redriven]
    for offset, event in enumerate(rest, start=1):
        appended.append(event | {"id": next_id + offset, "previousEventId": next_id + offset - 1})
    merged = dict(describe)
    for key in ("status", "output", "error", "cause", "stopDate"):
        merged.pop(key, None)
        if key in resumed_describe:
            merged[key] = resumed_describe[key]
    merged |= {"redriveCount": count, "redriveDate": started["timestamp"], "redriveStatus": "REDRIVABLE"}
    return merged, history + appended
