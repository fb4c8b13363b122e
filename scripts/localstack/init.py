#!/var/lang/bin/python3.12
"""A stand-in for LocalStack 4.14.0's Lambda init binary (/var/rapid/init), which LocalStack downloads from
GitHub at first use: unreachable here. Standard library only, so it runs on the runtime image's Python.

It does the two halves of the real init's job, and nothing else (no extensions, no X-Ray daemon, no
dropping to an unprivileged user):
- towards LocalStack (localstack/services/lambda_/invocation/executor_endpoint.py): take invocations on
  POST :9563/invoke, and report on LOCALSTACK_RUNTIME_ENDPOINT: status/<id>/ready once the runtime asks for
  its first invocation (its init is done), status/<id>/error if it fails before that, and for each
  invocation its logs, then its response or error;
- towards the function: serve the Lambda Runtime API on 127.0.0.1:9001 to the runtime's bootstrap.
tests/test_localstack_init.py pins both halves against the pinned localstack-core.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOCALSTACK_VERSION = "4.14.0"
INVOKE_PORT = 9563  # LocalStack's INVOCATION_PORT
#: What LocalStack routes under LOCALSTACK_RUNTIME_ENDPOINT ({id}: the environment's LOCALSTACK_RUNTIME_ID).
ROUTES = {
    "ready": "/status/{id}/ready",
    "init_error": "/status/{id}/error",
    "logs": "/invocations/{id}/logs",
    "response": "/invocations/{id}/response",
    "error": "/invocations/{id}/error",
}
#: The keys of LocalStack's invoke payload, by what they mean to the Runtime API.
INVOKE_KEYS = ("invoke-id", "invoked-function-arn", "payload", "trace-id")

# Overridable so the test can run it on loopback with a fake runtime; LocalStack sets none of these.
LISTEN = os.environ.get("ORDER_SAGA_INIT_LISTEN", f"0.0.0.0:{INVOKE_PORT}")
RUNTIME_API = os.environ.get("ORDER_SAGA_INIT_RUNTIME_API", "127.0.0.1:9001")
BOOTSTRAP = os.environ.get("ORDER_SAGA_INIT_BOOTSTRAP", "/var/runtime/bootstrap")

invocations: queue.Queue[dict[str, str]] = queue.Queue()
started = threading.Event()  # the runtime has asked for its first invocation
in_flight: set[str] = set()  # handed to the runtime, not answered yet
logs: list[bytes] = []  # what the runtime wrote since the last invocation's logs were reported
logs_lock = threading.Lock()
output = -1  # the read end of the runtime's stdout and stderr (non-blocking)


def report(route: str, key: str, body: bytes) -> None:
    url = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"] + ROUTES[route].format(id=key)
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})  # noqa: S310 (LocalStack's own http URL)
    urllib.request.urlopen(request, timeout=30).close()  # noqa: S310


def drain() -> bool:
    """Move what the runtime has written so far into logs and the container's output; False once it closed."""
    with logs_lock:
        while True:
            try:
                chunk = os.read(output, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            logs.append(chunk)


def report_logs(request_id: str) -> None:
    # The runtime wrote its lines before it posted its answer, so they are in the pipe now: drain it here
    # rather than trust the reading loop to have got there first (else they land in the next invocation).
    drain()
    with logs_lock:
        text = b"".join(logs).decode(errors="replace")
        logs.clear()
    report("logs", request_id, json.dumps({"logs": text}).encode())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime keeps its connection open; awslambdaric crashes on 1.0

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: object) -> None:
        pass


class LocalStackSide(Handler):
    def do_POST(self) -> None:
        if self.path != "/invoke":
            return self.reply(404)
        invocations.put(json.loads(self.body()))
        self.reply(200)


class RuntimeApi(Handler):
    def do_GET(self) -> None:
        if not self.path.endswith("/runtime/invocation/next"):
            return self.reply(404)
        if not started.is_set():
            started.set()
            report("ready", os.environ["LOCALSTACK_RUNTIME_ID"], b"{}")
        invocation = invocations.get()
        in_flight.add(invocation["invoke-id"])
        timeout_ms = int(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")) * 1000
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation["invoke-id"],
            "Lambda-Runtime-Invoked-Function-Arn": invocation["invoked-function-arn"],
            "Lambda-Runtime-Trace-Id": invocation.get("trace-id") or "",
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + timeout_ms),
        }
        self.reply(200, invocation["payload"].encode(), headers)

    def do_POST(self) -> None:
        # 2018-06-01/runtime/init/error, or 2018-06-01/runtime/invocation/<id>/response|error
        _version, *parts = self.path.strip("/").split("/")
        body = self.body()
        match parts:
            case ["runtime", "init", "error"]:
                report("init_error", os.environ["LOCALSTACK_RUNTIME_ID"], body)
            case ["runtime", "invocation", request_id, ("response" | "error") as outcome]:
                in_flight.discard(request_id)
                report_logs(request_id)
                report(outcome, request_id, body)
            case _:
                return self.reply(404)
        self.reply(202, b'{"status":"OK"}')


def serve(address: str, handler: type[Handler]) -> None:
    host, port = address.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> int:
    global output  # noqa: PLW0603 (set once, before any request is served)
    for path in json.loads(os.environ.get("LOCALSTACK_CHMOD_PATHS") or "[]"):
        Path(path["path"]).chmod(int(path["mode"], 8))
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    output = read_end
    serve(RUNTIME_API, RuntimeApi)
    serve(LISTEN, LocalStackSide)
    runtime = subprocess.Popen(  # noqa: S603 (the image's own bootstrap)
        [BOOTSTRAP], env={**os.environ, "AWS_LAMBDA_RUNTIME_API": RUNTIME_API}, stdout=write_end, stderr=write_end
    )
    os.close(write_end)
    while True:  # keeps the container's output current between invocations
        select.select([output], [], [])
        if not drain():
            break
    code = runtime.wait()
    # Whatever LocalStack still waits for learns why, rather than waiting out its 905 s.
    error = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": f"the runtime exited with status {code}"})
    if not started.is_set():
        report("init_error", os.environ["LOCALSTACK_RUNTIME_ID"], error.encode())
    for request_id in list(in_flight):
        report_logs(request_id)
        report("error", request_id, error.encode())
    return code or 1


if __name__ == "__main__":
    sys.exit(main())
