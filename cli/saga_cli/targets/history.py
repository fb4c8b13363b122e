"""Reading an execution's history: the states it went through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def states_entered(history: Sequence[dict[str, Any]]) -> list[str]:
    """The names of the states entered, in order (a retried task is entered once)."""
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in history
        if event["type"].endswith("StateEntered") and "stateEnteredEventDetails" in event
    ]
