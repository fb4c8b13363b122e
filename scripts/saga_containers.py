"""make saga-containers: the saga's scenarios on the embedded engine, every Lambda task in a Lambda container.

`sam local start-lambda` (warm containers) serves the functions as `sam build` left them; the embedded
engine runs the real ASL and sends each task there (`saga run --lambda-endpoint`); the tables are on a moto
server the containers reach. Prints what `saga run` prints and the stock, then runs the test that the
outcome table equals the in-process engine's (tests/test_saga_containers.py).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from saga_cli.engine.embedded import REGION, function_arn
from saga_cli.engine.lambda_endpoint import EndpointLambda
from saga_cli.targets.containers import ContainersError, Local, env_vars_file, free_port, moto_server, stop
from saga_cli.template import ROOT, load

SCENARIOS = ("happy", "out-of-stock", "payment-declined", "shipping-failed", "invalid")
BIN = Path(sys.executable).parent


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise ContainersError(f"sam local start-lambda stopped (exit {process.returncode}): {' / '.join(tail)}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise ContainersError(f"sam local start-lambda did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def warm_up(lambdas: str) -> None:
    """Invoke each function once with an empty event (refused before any write), so that the executions
    meet warm containers: a first invoke imports the handler, slower than a task's 15 s timeout on a busy
    machine. Prints each first invoke's time."""
    endpoint = EndpointLambda(lambdas, REGION, read_timeout=300)
    times = []
    for logical_id in load().functions:
        began = time.monotonic()
        answer = endpoint({"FunctionName": function_arn(logical_id), "Payload": "{}"}, REGION, None)
        if answer.get("Payload", {}).get("errorType") != "InvalidOrder":
            raise ContainersError(f"{logical_id} did not start in its container: {answer}")
        times.append(f"{logical_id} {time.monotonic() - began:.1f} s")
    print("First (cold) invokes: " + ", ".join(times))


def run(local: Local, scratch: Path) -> int:
    with moto_server(local.gateway) as tables:
        env_vars = env_vars_file(scratch, tables)
        port = free_port("127.0.0.1")
        log = scratch / "start-lambda.log"
        command = local.sam_command(
            "start-lambda", "--host", "127.0.0.1", "--port", str(port), "--warm-containers", "EAGER", env_vars=env_vars
        )
        started = time.monotonic()
        with log.open("wb") as out:
            server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=local.sam_environment())  # noqa: S603
        try:
            wait_for_port(port, server, log)
            lambdas = f"http://127.0.0.1:{port}"
            print(f"Functions in Lambda containers at {lambdas} ({time.monotonic() - started:.0f} s to start)")
            print(f"Tables on {tables}")
            warm_up(lambdas)
            target = [
                "--lambda-endpoint",
                lambdas,
                "--dynamodb-endpoint",
                tables,
                "--state-dir",
                str(scratch / "state"),
            ]
            saga = str(BIN / "saga")
            began = time.monotonic()
            code = subprocess.call([saga, "run", *SCENARIOS, *target])  # noqa: S603
            print(f"(the five executions took {time.monotonic() - began:.1f} s)")
            code = code or subprocess.call([saga, "stock", *target])  # noqa: S603
            if code:
                return code
            environment = os.environ | {"SAGA_LAMBDA_ENDPOINT": lambdas, "SAGA_DYNAMODB_ENDPOINT": tables}
            test = [
                str(BIN / "pytest"),
                "-q",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                "tests/test_saga_containers.py",
            ]
            return subprocess.call(test, env=environment, cwd=ROOT)  # noqa: S603
        finally:
            stop(server, timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, required=True, help="the template sam build wrote")
    parser.add_argument("--sam", type=Path, required=True, help="the sam command")
    args = parser.parse_args()
    try:
        local = Local.from_environment(args.sam, args.template)
        with tempfile.TemporaryDirectory() as scratch:
            return run(local, Path(scratch))
    except ContainersError as exc:
        print(f"make saga-containers: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
