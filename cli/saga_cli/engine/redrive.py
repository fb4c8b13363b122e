"""Redrive for the embedded engine, which moto lacks, by AWS's documented rules and no others.

- RedriveExecution "continues the failed execution from the unsuccessful step and uses the same input",
  keeps the execution's ARN and history, and does not rerun the steps that succeeded.
- A state is unsuccessful when its ``<stateType>Entered`` event has no matching ``<stateType>Exited`` event
  at the end of the execution. A Task whose error a Catch handled did exit (``TaskStateExited``): it is not
  rerun. A Fail state never exits: an execution that ended in one is redriven into it again, and fails the
  same way.
- FAILED, TIMED_OUT and ABORTED executions are redrivable; RUNNING and SUCCEEDED ones are not.

(Sources and quotes: README, "Operating it".) The resumed states run as a separate moto execution of the
same definition started at the unsuccessful state, then are appended to the execution's record after an
``ExecutionRedriven`` event.
"""

from __future__ import annotations

import json
from typing import Any

REDRIVABLE = {"FAILED", "TIMED_OUT", "ABORTED"}


class NotRedrivable(Exception):
    """The execution cannot be redriven (it succeeded, is running, or has no unsuccessful state)."""


def unsuccessful_state(history: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(state, its type, the input it was entered with) of the state entered last and never exited."""
    open_states: dict[str, tuple[str, str]] = {}
    last = ""
    for event in history:
        kind = event["type"]
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if details is None:
            continue
        if kind.endswith("StateEntered"):
            open_states[details["name"]] = (kind.removesuffix("StateEntered"), details.get("input", "{}"))
            last = details["name"]
        elif kind.endswith("StateExited"):
            open_states.pop(details["name"], None)
    if last not in open_states:
        raise NotRedrivable("every state it entered exited: nothing to resume")
    state_type, state_input = open_states[last]
    return last, state_type, state_input


def ended_in_fail_state(history: list[dict[str, Any]]) -> str | None:
    """The Fail state the execution ended in (a business outcome), if it did."""
    try:
        state, state_type, _ = unsuccessful_state(history)
    except NotRedrivable:
        return None
    return state if state_type == "Fail" else None


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
    status = "REDRIVABLE" if merged.get("status") in REDRIVABLE else "NOT_REDRIVABLE"
    merged |= {"redriveCount": count, "redriveDate": started["timestamp"], "redriveStatus": status}
    return merged, history + appended
