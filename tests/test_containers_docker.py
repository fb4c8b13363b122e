"""The Docker branch of ``make containers``: what a hosted runner with Docker takes, driven by a fake engine.

``scripts/containers/up.sh`` takes that branch when a Docker API answers ``/_ping`` at ``DOCKER_HOST``; then
it must build nothing (no podman, no apt-get, no stand-in image) and let SAM pull AWS's own images: no
``--skip-pull-image`` in the flags ``make invoke`` and ``make saga-containers`` hand to ``sam local``. The
fake is a small HTTP server on a unix socket this test owns; the scripts run from a copy in a temporary
folder, so the files they write (``.containers/``) are the copy's, never the checkout's.
"""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from saga_cli.template import ROOT

#: An address only written to a file by the branch (it is the fake's answer, never dialled).
GATEWAY = "172.31.254.1"
#: What a real engine's API asks for besides a ping: anything here means the branch built or pulled.
BUILD_OR_PULL = ("/build", "/images/create", "/containers/create", "/images/load")
#: Programs of the podman branch: stand-ins on PATH record any call (none is expected).
PODMAN_BRANCH_TOOLS = ("podman", "apt-get", "debootstrap", "runc", "docker")


@dataclass
class FakeDocker:
    socket: Path
    requests: list[tuple[str, str]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _handler(fake: FakeDocker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            fake.requests.append((self.command, self.path))
            path = self.path.split("?", 1)[0]
            # Versioned paths (/v1.45/_ping) as a Docker client sends them, and the bare ones curl sends.
            parts = path.split("/", 2)
            if len(parts) == 3 and parts[1].startswith("v1."):
                path = "/" + parts[2]
            if path == "/_ping":
                self._send(200, b"OK", "text/plain")
            elif path == "/networks/bridge":
                body = {"Name": "bridge", "IPAM": {"Config": [{"Subnet": "172.31.254.0/24", "Gateway": GATEWAY}]}}
                self._send(200, json.dumps(body).encode(), "application/json")
            else:
                self._send(404, b'{"message": "not in this fake"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Api-Version", "1.45")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the requests are recorded in ``fake.requests`` instead."""

    return Handler


@pytest.fixture
def fake_docker() -> Iterator[FakeDocker]:
    # A short folder of its own: a unix socket's path is limited to about 100 bytes.
    folder = Path(tempfile.mkdtemp(prefix="fake-docker-"))
    fake = FakeDocker(folder / "docker.sock")
    server = _UnixHTTPServer(str(fake.socket), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def checkout_copy(tmp_path: Path) -> Path:
    """The container scripts as the Makefile runs them, in a copy whose .containers/ the test owns."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "scripts" / "containers", copy / "scripts" / "containers")
    return copy


@pytest.fixture
def recorded_tools(tmp_path: Path) -> Path:
    """Stand-ins for the podman branch's programs, first on PATH: each records its call and fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in PODMAN_BRANCH_TOOLS:
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >>"{tmp_path}/calls.log"\nexit 1\n')
        script.chmod(0o755)
    return bin_dir


def _environment(fake: FakeDocker, recorded_tools: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("MAKE", "MFLAGS"))}
    env["PATH"] = f"{recorded_tools}{os.pathsep}{env['PATH']}"
    env["DOCKER_HOST"] = fake.host
    return env


def _calls(recorded_tools: Path) -> str:
    log = recorded_tools.parent / "calls.log"
    return log.read_text() if log.exists() else ""


@pytest.mark.skipif(shutil.which("curl") is None, reason="the container scripts ask the Docker API with curl")
def test_make_containers_with_docker_answering_pings_it_reads_the_bridge_and_builds_nothing(
    fake_docker: FakeDocker, checkout_copy: Path, recorded_tools: Path
) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-C", str(checkout_copy), "containers"],
        env=_environment(fake_docker, recorded_tools),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"a Docker engine answers at {fake_docker.host}" in result.stdout

    paths = [path for _, path in fake_docker.requests]
    assert paths[0] == "/_ping", "the branch is chosen by a ping before anything else"
    assert "/networks/bridge" in paths, "the gateway comes from the engine's default bridge"
    assert {method for method, _ in fake_docker.requests} == {"GET"}, "the branch only reads from the engine"
    assert set(paths) <= {"/_ping", "/networks/bridge"}, f"asked more than the branch needs: {paths}"
    assert not [path for path in paths if path.startswith(BUILD_OR_PULL)]
    assert _calls(recorded_tools) == "", "the Docker branch ran a program of the podman branch"

    state = checkout_copy / ".containers"
    assert (state / "docker-host").read_text().strip() == fake_docker.host
    assert (state / "gateway").read_text().strip() == GATEWAY
    # The flags `sam local` gets: empty, so SAM pulls AWS's image (no --skip-pull-image, no project network).
    assert (state / "sam-flags").read_text().strip() == ""
    assert not (state / "service.pid").exists(), "no podman service was started"
    assert not (state / "image-build").exists(), "no stand-in image was built"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the container scripts ask the Docker API with curl")
def test_with_containers_hands_sam_the_docker_host_and_no_skip_pull_image_then_stops_nothing(
    fake_docker: FakeDocker, checkout_copy: Path, recorded_tools: Path
) -> None:
    # What `make invoke` and `make saga-containers` run their script under (WITH_CONTAINERS in the Makefile).
    probe = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ('DOCKER_HOST', " + (
        "'SAGA_CONTAINER_GATEWAY', 'SAGA_SAM_FLAGS')}))"
    )
    result = subprocess.run(
        ["bash", "scripts/containers/with.sh", "python3", "-c", probe],
        cwd=checkout_copy,
        env=_environment(fake_docker, recorded_tools),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"DOCKER_HOST": fake_docker.host, "SAGA_CONTAINER_GATEWAY": GATEWAY, "SAGA_SAM_FLAGS": ""}
    assert "--skip-pull-image" not in result.stdout + result.stderr
    assert _calls(recorded_tools) == "", "with.sh ran (or stopped) a podman it did not need"


def test_without_an_engine_answering_the_docker_branch_is_not_taken(
    checkout_copy: Path, recorded_tools: Path, tmp_path: Path
) -> None:
    # The control: the same scripts with nothing on the socket go to the podman branch (whose first
    # program, a stand-in here, fails), so the tests above passed because the fake answered.
    silent = FakeDocker(tmp_path / "nobody.sock")
    result = subprocess.run(
        ["bash", "scripts/containers/up.sh"],
        cwd=checkout_copy,
        env=_environment(silent, recorded_tools),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "a Docker engine answers" not in result.stdout
    assert _calls(recorded_tools).startswith("podman "), _calls(recorded_tools)
    assert not (checkout_copy / ".containers" / "docker-host").exists()
