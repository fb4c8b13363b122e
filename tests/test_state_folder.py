"""The state folder between real `saga` processes: two at once, Ctrl-C at any moment, a closed pipe.

Each test runs the console script as a user would and then checks every order against its execution
and the stock, reading the folder back through the command itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import EXECUTIONS, SEED
from saga_cli.commands.main import app
from saga_cli.engine.state import StateFolder

SAGA = Path(sys.executable).with_name("saga")
HAPPY = json.loads((EXECUTIONS / "happy.json").read_text())
UNITS = HAPPY["items"][0]["quantity"]  # WIDGET-1 taken by each happy order


def orders(folder: Path, prefix: str, count: int) -> list[str]:
    """``--input`` arguments for ``count`` happy orders with distinct ids."""
    folder.mkdir(parents=True, exist_ok=True)
    args = []
    for n in range(count):
        path = folder / f"{prefix}{n:02d}.json"
        path.write_text(json.dumps(HAPPY | {"orderId": f"{prefix}{n:02d}"}))
        args += ["--input", str(path)]
    return args


def saga(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAGA), *args, "--state-dir", str(state)], capture_output=True, text=True, check=False, timeout=300
    )


def start(*args: str, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SAGA), *args, "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float = 120) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(prefix):
            return
        assert line, f"ended before {prefix!r}: {process.stderr.read() if process.stderr else ''}"
    pytest.fail(f"no {prefix!r} line within {timeout} s")


def in_process(*args: str, state: Path) -> str:
    """The command run in this process (reading a folder back is the same code, without a start-up each)."""
    result = CliRunner().invoke(app, [*args, "--state-dir", str(state)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def said_lines(stderr: str) -> list[str]:
    """The command's own lines on stderr (off a terminal, progress lines are indented)."""
    return [line for line in stderr.splitlines() if not line.startswith("  ")]


def kept(state: Path) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Every execution the folder lists (name -> describe --json), and the stock, as the command reports them."""
    listed = [json.loads(line) for line in in_process("list", "--json", "--limit", "0", state=state).splitlines()]
    described = {s["name"]: json.loads(in_process("describe", s["name"], "--json", state=state)) for s in listed}
    for summary in listed:
        assert summary["status"] == described[summary["name"]]["status"]
    return described, json.loads(in_process("stock", "--json", state=state))["stock"]


def stored_orders(state: Path) -> dict[str, str]:
    """order id -> status, straight from the committed tables file."""
    data = json.loads((state / "tables.json").read_text())
    return {
        item["pk"]["S"].removeprefix("ORDER#"): item["status"]["S"]
        for item in data["tables"]["order-saga-SagaTable"]
        if item["sk"]["S"] == "ORDER"
    }


def assert_consistent(state: Path) -> dict[str, dict[str, Any]]:
    """Every order has its execution and every execution its order; stock moved by the shipped ones only."""
    executions, stock = kept(state)
    table = stored_orders(state)
    assert set(table) == set(executions), "an order without its execution, or the other way round"
    for name, result in executions.items():
        assert result["status"] == "SUCCEEDED", result
        assert result["order"] is not None and result["order"]["status"] == "SHIPPED" == table[name]
    assert stock["WIDGET-1"] == SEED["WIDGET-1"] - UNITS * len(executions)
    return executions


def test_two_runs_at_once_lose_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start("run", *orders(tmp_path / "a", "ord-a", 10), state=state)
    second = start("run", *orders(tmp_path / "b", "ord-b", 10), state=state)
    _, err_a = first.communicate(timeout=300)
    _, err_b = second.communicate(timeout=300)

    assert first.returncode == second.returncode == 0, err_a + err_b
    executions = assert_consistent(state)
    assert sorted(executions) == [f"ord-a{n:02d}" for n in range(10)] + [f"ord-b{n:02d}" for n in range(10)]
    shown = dict(line.split() for line in saga("stock", state=state).stdout.splitlines())
    assert shown["WIDGET-1"] == str(SEED["WIDGET-1"] - 20 * UNITS)


def test_a_command_waits_for_the_one_holding_the_folder_and_names_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = StateFolder(state)
    with holder.locked(pytest.fail):
        waiting = start("stock", state=state)
        assert waiting.stderr is not None
        line = waiting.stderr.readline()
        assert waiting.poll() is None, "it waits while the folder is held"
    out, err = waiting.communicate(timeout=120)

    assert line == f"saga: another saga command (pid {os.getpid()}) is using {state}; waiting for it to finish\n"
    assert waiting.returncode == 0, err
    assert "WIDGET-1" in out


@pytest.mark.parametrize("after", [1.0, 3.0])
def test_ctrl_c_exits_130_with_one_line_and_every_order_keeps_its_execution(tmp_path: Path, after: float) -> None:
    state = tmp_path / "state"
    run = start("run", *orders(tmp_path, "ord-i", 20), state=state)
    time.sleep(after)
    run.send_signal(signal.SIGINT)
    _out, err = run.communicate(timeout=120)

    assert run.returncode == 130
    assert "Traceback" not in err
    said = said_lines(err)
    assert len(said) == 1, err
    assert said[0].startswith("saga: interrupted"), err
    if state.joinpath("tables.json").exists():
        executions = assert_consistent(state)
        assert len(executions) < 20, "Ctrl-C stopped the run early"


def test_a_second_ctrl_c_stops_at_once_and_the_folder_is_still_whole(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = start("run", *orders(tmp_path, "ord-j", 20), state=state)
    wait_for_line(run, "Started:")
    wait_for_line(run, "Started:")
    run.send_signal(signal.SIGINT)
    time.sleep(0.05)  # two signals sent together may arrive as one
    run.send_signal(signal.SIGINT)
    _out, err = run.communicate(timeout=120)

    assert run.returncode == 130
    assert "Traceback" not in err
    assert len(said_lines(err)) == 1, err
    assert_consistent(state)


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert saga("run", *orders(tmp_path, "ord-p", 1), state=state).returncode == 0
    reader = subprocess.Popen(
        [str(SAGA), "history", "ord-p00", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # as `| head -1` does once it has its line
    err = reader.stderr.read()
    reader.wait(timeout=120)

    assert reader.returncode == 0
    assert err == ""


def test_history_into_head_prints_no_error_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert saga("run", *orders(tmp_path, "ord-h", 1), state=state).returncode == 0
    done = subprocess.run(
        f"'{SAGA}' history ord-h00 --state-dir '{state}' | head -1",
        shell=True,  # the pipe is the point
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"COLUMNS": "80"},
    )
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout.split() == ["ms", "event", "state", "detail"]
