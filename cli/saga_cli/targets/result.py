"""What one execution gave, as the contract reports it: plain data, for whatever prints or checks it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OnState = Callable[[str, str], None]  # (execution name, state entered)


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
    #: Why the failed task failed, as its handler said (the Fail state's cause is fixed by the contract).
    reason: str | None = None
    #: The scenario name or input file this result came from ("" when not started by ``run_many``).
    label: str = ""
    #: The order already had an execution: this is that one, and nothing was started.
    already_exists: bool = False

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
            "reason": self.reason,
        }
