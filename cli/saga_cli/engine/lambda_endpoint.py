"""The embedded engine's Lambda tasks sent to a Lambda endpoint instead of the in-process handlers.

``sam local start-lambda`` serves Lambda's Invoke API for the functions as ``sam build`` left them, each in
a Lambda container: with ``saga run --lambda-endpoint URL`` the real ASL on moto's interpreter drives them
there (AWS's documented local pattern, a local Step Functions engine over ``start-lambda``). The answer is
handed to the interpreter as Lambda's Invoke returns it, so a function's ``errorType`` is the error that
``Catch``/``Retry`` see, as with ``InProcessLambda``.

One correction: SAM's endpoint tells a function error from a result by the payload's keys alone, and does
not know the ``requestId`` that Python's runtime adds to an error (errorMessage, errorType, requestId,
stackTrace): it answers such an error without ``X-Amz-Function-Error``, as a success. AWS's Invoke sets it,
so an answer in exactly that shape is taken as the ``Unhandled`` error it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

#: The keys of the error payload a Lambda runtime reports (Python's adds requestId).
_ERROR_KEYS = frozenset({"errorMessage", "errorType", "requestId", "stackTrace", "cause"})


@dataclass
class EndpointLambda:
    """Stands in for Lambda's Invoke API inside moto's interpreter, forwarding to ``endpoint``."""

    endpoint: str
    region: str
    #: A cold container may take a while; a Step Functions task's own timeout still applies.
    read_timeout: int = 120
    _client: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._client = boto3.client(
            "lambda",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106  (a local endpoint takes any)
            config=Config(read_timeout=self.read_timeout, retries={"max_attempts": 0}),
        )

    def __call__(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        # The definition names functions by ARN; the endpoint knows them by the ARN's last part, the
        # template's logical id.
        name = str(parameters["FunctionName"]).rsplit(":", 1)[-1]
        payload = parameters.get("Payload")
        text = payload.decode() if isinstance(payload, bytes) else (payload or "{}")
        response = self._client.invoke(FunctionName=name, Payload=text.encode())
        body = response["Payload"].read()
        answer: dict[str, Any] = {"StatusCode": response["StatusCode"], "Payload": json.loads(body) if body else None}
        if response.get("FunctionError"):
            answer["FunctionError"] = response["FunctionError"]
        elif is_runtime_error(answer["Payload"]):
            answer["FunctionError"] = "Unhandled"
        return answer


def is_runtime_error(payload: Any) -> bool:
    """An error as a Lambda runtime reports it: errorType and errorMessage, and nothing but error keys."""
    return (
        isinstance(payload, dict) and {"errorType", "errorMessage"} <= payload.keys() and payload.keys() <= _ERROR_KEYS
    )
