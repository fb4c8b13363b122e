"""What the container runs share (``make invoke``, ``make saga-containers``): a DynamoDB endpoint the
containers can reach, and SAM CLI's command lines for the functions as ``sam build`` left them.

``scripts/containers/with.sh`` starts the container engine and says where the containers reach the host
(``SAGA_CONTAINER_GATEWAY``: the gateway of the project's own bridge, the only host address they reach),
which Docker API to use (``DOCKER_HOST``) and SAM's extra options (``SAGA_SAM_FLAGS``).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from saga_cli.engine.embedded import REGION, table_name
from saga_cli.template import ROOT

#: Fake credentials for the local endpoints; SAM hands the caller's to the containers.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class ContainersError(Exception):
    """The container engine or a local endpoint cannot be used."""


@dataclass(frozen=True)
class Local:
    """Where the containers run and how SAM is called."""

    sam: Path
    template: Path
    gateway: str
    sam_flags: tuple[str, ...]

    @classmethod
    def from_environment(cls, sam: Path, template: Path) -> Local:
        gateway = os.environ.get("SAGA_CONTAINER_GATEWAY")
        if not gateway or not os.environ.get("DOCKER_HOST"):
            raise ContainersError("no container engine: run this through `make invoke` or `make saga-containers`")
        return cls(sam, template, gateway, tuple(shlex.split(os.environ.get("SAGA_SAM_FLAGS", ""))))

    def sam_command(self, *args: str, env_vars: Path) -> list[str]:
        """``sam local ...`` for the built functions, as x86_64, with the table endpoint in their environment."""
        return [
            str(self.sam),
            "local",
            *args,
            "--template",
            str(self.template),
            "--parameter-overrides",
            "Architecture=x86_64",
            "--env-vars",
            str(env_vars),
            "--region",
            REGION,
            *self.sam_flags,
        ]

    def sam_environment(self) -> dict[str, str]:
        return os.environ | CREDENTIALS | {"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": REGION}


def env_vars_file(directory: Path, dynamodb_endpoint: str) -> Path:
    """SAM's ``--env-vars``: every function's tables, on the endpoint (the template declares each name)."""
    variables = {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "SAGA_TABLE_NAME": table_name("SagaTable"),
        "IDEMPOTENCY_TABLE_NAME": table_name("IdempotencyTable"),
    }
    path = directory / "env-vars.json"
    path.write_text(json.dumps({"Parameters": variables}), encoding="utf-8")
    return path


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def moto_server(host: str) -> Iterator[str]:
    """moto's server on ``host`` (the bridge's gateway, never a wider address) until the block ends."""
    port = free_port(host)
    log = tempfile.TemporaryFile()  # noqa: SIM115  (closed below, after the server)
    server = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).parent / "moto_server"), "-H", host, "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ | CREDENTIALS,
    )
    url = f"http://{host}:{port}"
    try:
        _wait_for(url, server)
        yield url
    finally:
        stop(server, timeout=10)
        log.close()


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Ask a server to stop, and kill it if it has not within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def reset(url: str) -> None:
    """Empty every table of the moto server (its own API)."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)  # noqa: S310


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ContainersError(f"moto's server stopped at start (exit {process.returncode})")
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1)  # noqa: S310
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise ContainersError(f"moto's server did not answer at {url} within {timeout:.0f} s")


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
