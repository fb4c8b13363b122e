"""Lambda's Invoke API in-process, for the embedded engine: the template's handlers called as Lambda calls them.

``InProcessLambda`` calls the handler with a Lambda context and reports a raised exception as Lambda does
(``FunctionError`` with ``errorType`` = the class name), so ``Catch``/``Retry`` see the same names as on AWS.
Hooks run before and after each invocation: fault injection (``chaos.faults``) raises or changes results there.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from saga_cli.engine.functions import LambdaContext, load_handler
from saga_cli.template import Function

#: Called before and after each in-process invocation; a fault injector may raise or change the result.
InvocationHook = Callable[["Invocation"], None]


class LambdaFault(Exception):
    """Raised by a hook to fail an invocation the way Lambda itself would, under Lambda's error name.

    ``LambdaFault("Sandbox.Timedout", "Task timed out after 10.00 seconds")`` is what Step Functions sees
    when a function runs out of time.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class Invocation:
    function: Function
    event: dict[str, Any]
    #: 1 for the first delivery of this event to this function, 2 for its first retry, and so on.
    attempt: int
    context: LambdaContext | None = None
    result: Any = None
    error: BaseException | None = None

    def deliver_again(self) -> Any:
        """Run the handler once more with the same event (a duplicate delivery)."""
        return load_handler(self.function)(json.loads(json.dumps(self.event)), self.context)


@dataclass
class InProcessLambda:
    """Stands in for Lambda's Invoke API inside moto's interpreter."""

    #: Function ARN -> the function it names.
    functions: dict[str, Function]
    before: list[InvocationHook] = field(default_factory=list)
    after: list[InvocationHook] = field(default_factory=list)
    #: Every invocation, in order; off for long runs (it holds every event).
    record_calls: bool = True
    calls: list[Invocation] = field(default_factory=list)
    _attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        arn = parameters["FunctionName"]
        function = self.functions.get(arn)
        if function is None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ResourceNotFoundException",
                        "Message": f"No function {arn}",
                    }
                },
                "Invoke",
            )
        payload = parameters.get("Payload")
        text = payload.decode() if isinstance(payload, bytes) else (payload or "{}")
        event = json.loads(text)
        with self._lock:
            key = (function.logical_id, json.dumps(event, sort_keys=True))
            self._attempts[key] += 1
            invocation = Invocation(function, event, self._attempts[key])
            if self.record_calls:
                self.calls.append(invocation)
        try:
            for hook in self.before:
                hook(invocation)
            invocation.context = LambdaContext(
                function.logical_id,
                function.timeout_seconds,
                function.memory_mb,
                invoked_function_arn=arn,
            )
            # A round trip through JSON, as Lambda's payload takes.
            invocation.result = json.loads(json.dumps(load_handler(function)(json.loads(text), invocation.context)))
            for hook in self.after:
                hook(invocation)
        except (ClientError, TimeoutError):
            # An Invoke API error (throttling, service fault) is Lambda.<Code> in the state machine; a
            # TimeoutError is the task's own timeout, States.Timeout.
            raise
        except Exception as exc:
            invocation.error = exc
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": {"errorType": getattr(exc, "error_type", type(exc).__name__), "errorMessage": str(exc)},
            }
        return {"StatusCode": 200, "Payload": invocation.result}
