"""The engine's Lambda tasks sent to an Invoke API (sam local start-lambda): names, payloads, errors.

A stub Invoke API on loopback answers as SAM's does; `make saga-containers` runs the real thing
(tests/test_saga_containers.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from saga_cli.commands.main import app
from saga_cli.engine.embedded import function_arn
from saga_cli.engine.lambda_endpoint import EndpointLambda, is_runtime_error

#: Python's runtime error, as SAM's endpoint answers it: no X-Amz-Function-Error header.
RUNTIME_ERROR = {
    "errorMessage": "Payment declined",
    "errorType": "PaymentDeclined",
    "requestId": "r-1",
    "stackTrace": [],
}


class StubInvokeApi(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, Any]]] = []

    def do_POST(self) -> None:
        name = self.path.split("/functions/", 1)[1].split("/", 1)[0]
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((name, event))
        answers = {"Works": {"echo": event}, "FailsLikeSam": RUNTIME_ERROR, "FailsWithHeader": RUNTIME_ERROR}
        body = json.dumps(answers[name]).encode()
        self.send_response(200)
        if name == "FailsWithHeader":
            self.send_header("X-Amz-Function-Error", "Handled")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def endpoint() -> Iterator[EndpointLambda]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubInvokeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StubInvokeApi.calls.clear()
    try:
        yield EndpointLambda(f"http://127.0.0.1:{server.server_address[1]}", "eu-west-2")
    finally:
        server.shutdown()
        thread.join()


def test_a_task_reaches_the_function_named_by_the_arns_last_part_with_its_payload(endpoint: EndpointLambda) -> None:
    answer = endpoint({"FunctionName": function_arn("Works"), "Payload": '{"orderId": "o-1"}'}, "eu-west-2", None)

    assert StubInvokeApi.calls == [("Works", {"orderId": "o-1"})]
    assert answer == {"StatusCode": 200, "Payload": {"echo": {"orderId": "o-1"}}}


@pytest.mark.parametrize(("function", "expected"), [("FailsLikeSam", "Unhandled"), ("FailsWithHeader", "Handled")])
def test_a_runtime_error_is_a_function_error_with_or_without_the_header(
    endpoint: EndpointLambda, function: str, expected: str
) -> None:
    answer = endpoint({"FunctionName": function_arn(function), "Payload": b"{}"}, "eu-west-2", None)

    assert answer["FunctionError"] == expected
    assert answer["Payload"]["errorType"] == "PaymentDeclined"


@pytest.mark.parametrize(
    ("payload", "is_error"),
    [
        (RUNTIME_ERROR, True),
        ({"errorMessage": "x", "errorType": "Y"}, True),
        ({"errorMessage": "x", "errorType": "Y", "orderId": "o-1"}, False),
        ({"status": "SHIPPED"}, False),
        (["errorType", "errorMessage"], False),
        (None, False),
    ],
)
def test_only_the_runtimes_error_shape_counts_as_an_error(payload: Any, is_error: bool) -> None:
    assert is_runtime_error(payload) is is_error


def test_a_lambda_endpoint_without_a_table_endpoint_is_one_line_and_exit_1(tmp_path: Any) -> None:
    result = CliRunner().invoke(
        app, ["run", "happy", "--lambda-endpoint", "http://127.0.0.1:9", "--state-dir", str(tmp_path)]
    )

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "saga: --lambda-endpoint needs --dynamodb-endpoint: functions elsewhere cannot see in-process tables"
    ]
