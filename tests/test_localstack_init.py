"""The Lambda init stand-in (scripts/localstack/init.py), on its own.

Two halves. On loopback, with a fake runtime and a fake LocalStack endpoint, it must say ready only when
the runtime asks for work, hand each invocation over as the Runtime API does, and report logs then the
response or error where LocalStack routes them. Against the pinned localstack-core (in .venv-localstack,
which `make localstack` installs), every route, port, payload key and variable it relies on must still be
LocalStack's: a test fails if LocalStack's side of the protocol moves.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from types import ModuleType

import pytest

from saga_cli.template import ROOT
from script_support import load_script

INIT = ROOT / "scripts" / "localstack" / "init.py"
LOCALSTACK_VENV = ROOT / ".venv-localstack"
ENV_ID = "a1b2c3"

#: A runtime as awslambdaric behaves: next, then a response or an error, forever; or it exits when told.
FAKE_RUNTIME = f"""#!{sys.executable}
import json, os, sys, time, urllib.request
if os.environ.get("FAIL_INIT"):
    sys.exit(7)
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
while True:
    with urllib.request.urlopen(api + "/invocation/next") as r:
        request_id, event = r.headers["Lambda-Runtime-Aws-Request-Id"], json.loads(r.read())
        arn, deadline = r.headers["Lambda-Runtime-Invoked-Function-Arn"], int(r.headers["Lambda-Runtime-Deadline-Ms"])
    print("handling", request_id, flush=True)
    if event.get("exit"):
        sys.exit(3)
    if event.get("fail"):
        outcome, body = "error", {{"errorType": "PaymentDeclined", "errorMessage": "declined"}}
    else:
        seconds_left = round((deadline - time.time() * 1000) / 1000)
        outcome, body = "response", {{"echo": event, "arn": arn, "seconds_left": seconds_left}}
    req = urllib.request.Request(f"{{api}}/invocation/{{request_id}}/{{outcome}}", data=json.dumps(body).encode())
    urllib.request.urlopen(req).close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Init:
    invoke_url: str
    reports: queue.Queue[tuple[str, bytes]]
    process: subprocess.Popen[str]

    def next_report(self) -> tuple[str, bytes]:
        return self.reports.get(timeout=10)

    def invoke(self, request_id: str, event: dict[str, object]) -> None:
        body = {
            "invoke-id": request_id,
            "invoked-function-arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
            "payload": json.dumps(event),
            "trace-id": "Root=1-0-0;Parent=0;Sampled=0",
        }
        request = urllib.request.Request(self.invoke_url, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def answer(self, request_id: str, event: dict[str, object]) -> tuple[str, bytes]:
        """Invoke, pass over the logs report, and return the report of the response or error."""
        self.invoke(request_id, event)
        self.next_report()  # logs
        return self.next_report()


@pytest.fixture
def start_init(tmp_path: Path) -> Iterator[object]:
    reports: queue.Queue[tuple[str, bytes]] = queue.Queue()

    class FakeLocalStack(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            reports.put((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLocalStack)
    Thread(target=server.serve_forever, daemon=True).start()
    runtime = tmp_path / "bootstrap"
    runtime.write_text(FAKE_RUNTIME)
    runtime.chmod(0o755)
    started: list[subprocess.Popen[str]] = []

    def start(**env: str) -> Init:
        listen = f"127.0.0.1:{free_port()}"
        process = subprocess.Popen(
            [sys.executable, str(INIT)],
            env={
                **os.environ,
                "LOCALSTACK_RUNTIME_ENDPOINT": f"http://127.0.0.1:{server.server_port}/_localstack_lambda/{ENV_ID}",
                "LOCALSTACK_RUNTIME_ID": ENV_ID,
                "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
                "ORDER_SAGA_INIT_LISTEN": listen,
                "ORDER_SAGA_INIT_RUNTIME_API": f"127.0.0.1:{free_port()}",
                "ORDER_SAGA_INIT_BOOTSTRAP": str(runtime),
                **env,
            },
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return Init(f"http://{listen}/invoke", reports, process)

    yield start
    for process in started:
        process.kill()
        process.communicate()
    server.shutdown()


def test_it_says_ready_once_the_runtime_asks_for_work_then_hands_over_each_invocation(start_init) -> None:  # type: ignore[no-untyped-def]
    init = start_init()
    assert init.next_report() == (f"/_localstack_lambda/{ENV_ID}/status/{ENV_ID}/ready", b"{}")

    init.invoke("req-1", {"orderId": "o-1"})

    logs_path, logs = init.next_report()
    assert logs_path == f"/_localstack_lambda/{ENV_ID}/invocations/req-1/logs"
    assert json.loads(logs) == {"logs": "handling req-1\n"}
    path, body = init.next_report()
    assert path == f"/_localstack_lambda/{ENV_ID}/invocations/req-1/response"
    answer = json.loads(body)
    assert answer["echo"] == {"orderId": "o-1"}
    assert answer["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:f"
    assert 28 <= answer["seconds_left"] <= 30  # the deadline is the function's timeout from now


def test_a_function_error_goes_to_the_error_route_with_the_runtimes_body(start_init) -> None:  # type: ignore[no-untyped-def]
    init = start_init()
    init.next_report()  # ready

    path, body = init.answer("req-2", {"fail": True})

    assert path == f"/_localstack_lambda/{ENV_ID}/invocations/req-2/error"
    assert json.loads(body)["errorType"] == "PaymentDeclined"
    # And the next invocation is served by the same runtime
    assert init.answer("req-3", {"n": 3})[0].endswith("/invocations/req-3/response")


def test_a_runtime_that_dies_at_init_is_reported_as_a_failed_start(start_init) -> None:  # type: ignore[no-untyped-def]
    init = start_init(FAIL_INIT="1")

    path, body = init.next_report()

    assert path == f"/_localstack_lambda/{ENV_ID}/status/{ENV_ID}/error"
    assert json.loads(body)["errorType"] == "Runtime.ExitError"
    assert init.process.wait(timeout=10) == 7


def test_a_runtime_that_dies_mid_invocation_answers_that_invocation_with_an_error(start_init) -> None:  # type: ignore[no-untyped-def]
    init = start_init()
    init.next_report()  # ready

    path, body = init.answer("req-4", {"exit": True})

    assert path.endswith("/invocations/req-4/error")
    assert "exited with status 3" in json.loads(body)["errorMessage"]


def test_it_applies_the_permissions_localstack_asks_for(start_init, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "tmp-like"
    target.mkdir(mode=0o755)

    init = start_init(LOCALSTACK_CHMOD_PATHS=json.dumps([{"path": str(target), "mode": "0700"}]))
    init.next_report()  # ready: chmod happens before the runtime starts

    assert target.stat().st_mode & 0o777 == 0o700


def stand_in() -> ModuleType:
    return load_script(INIT)


def test_it_is_pinned_to_the_localstack_the_project_installs() -> None:
    pins = (ROOT / "requirements-localstack.txt").read_text(encoding="utf-8")
    assert f"localstack-core[runtime]=={stand_in().LOCALSTACK_VERSION}\n" in pins


@pytest.fixture(scope="module")
def localstack_source() -> dict[str, str]:
    """The pinned localstack-core's own files that define its side of the protocol."""
    python = LOCALSTACK_VENV / "bin" / "python"
    if not python.exists():
        if os.environ.get("SAGA_LOCALSTACK_REQUIRED"):
            pytest.fail(f"{python} is missing: `make localstack` installs it")
        pytest.skip("no .venv-localstack (`make localstack` installs it); .ci/run checks this after it")
    found = subprocess.run(
        [str(python), "-c", LIST_SOURCES],
        capture_output=True,
        text=True,
        check=True,
    )
    listed = json.loads(found.stdout)
    return {"version": listed.pop("version")} | {
        name: Path(path).read_text(encoding="utf-8") for name, path in listed.items()
    }


LIST_SOURCES = """
import importlib.metadata, importlib.util, json
base = "localstack.services.lambda_."
names = ("packages",) + tuple(
    "invocation." + name for name in ("executor_endpoint", "execution_environment", "docker_runtime_executor")
)
files = {name.rpartition(".")[2]: importlib.util.find_spec(base + name).origin for name in names}
print(json.dumps({"version": importlib.metadata.version("localstack-core"), **files}))
"""


def test_localstacks_routes_port_and_payload_are_the_ones_the_stand_in_speaks(localstack_source) -> None:  # type: ignore[no-untyped-def]
    init = stand_in()
    endpoint = localstack_source["executor_endpoint"]
    environment = localstack_source["execution_environment"]
    executor = localstack_source["docker_runtime_executor"]

    assert localstack_source["version"] == init.LOCALSTACK_VERSION
    # Routes: LOCALSTACK_RUNTIME_ENDPOINT ends in {NAMESPACE}/<executor id>; each route is under it
    assert 'return f"{NAMESPACE}/{self.executor_id}"' in endpoint
    assert 'NAMESPACE = "/_localstack_lambda"' in endpoint
    routes = {
        re.sub(r"<\w+>", "{id}", path)
        for path in re.findall(r'@route\(f"\{NAMESPACE\}/<\w+>(/[^"]+)", methods=\["POST"\]\)', endpoint)
    }
    assert routes == set(init.ROUTES.values())
    assert f"INVOCATION_PORT = {init.INVOKE_PORT}\n" in endpoint
    assert 'invocation_url = f"http://{self.container_address}:{self.container_port}/invoke"' in endpoint
    # The invoke payload's keys, and the variables the stand-in reads
    payload = re.search(r"invoke_payload = \{(.*?)\n        \}", environment, re.S)
    assert payload, "LocalStack no longer builds invoke_payload in execution_environment.py"
    assert tuple(re.findall(r'"([a-z-]+)":', payload.group(1))) == init.INVOKE_KEYS
    for variable in ("LOCALSTACK_RUNTIME_ID", "LOCALSTACK_RUNTIME_ENDPOINT", "AWS_LAMBDA_FUNCTION_TIMEOUT", "_HANDLER"):
        assert f'"{variable}"' in environment, variable
    assert 'container_config.env_vars["LOCALSTACK_CHMOD_PATHS"]' in executor
    # And where it must stand: the container's entrypoint, which LocalStack takes from the folder it installs
    # its init into (up.sh puts the stand-in there, which also marks it installed), copied whole to /
    assert 'RAPID_ENTRYPOINT = "/var/rapid/init"' in executor
    assert 'self.container_name, f"{str(get_runtime_client_path())}/.", "/"' in executor
    assert 'return os.path.join(install_dir, "var", "rapid", "init")' in localstack_source["packages"]
