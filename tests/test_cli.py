"""The `saga` command as a user meets it: the contract's lines, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from saga_cli.commands.main import app
from saga_cli.targets.containers import stop

SEED = json.loads((Path(__file__).parents[1] / "data" / "inventory.json").read_text())


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def saga(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result: Any, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {result.stderr!r}"
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_run_all_json_gives_every_field_and_a_stock_line_that_adds_up(state: Path) -> None:
    result = saga("run", "--all", "--json", "--state-dir", state)

    assert result.exit_code == 0, result.output
    *executions, last = json_lines(result.stdout)
    assert [e["status"] for e in executions] == ["SUCCEEDED", "FAILED", "FAILED", "FAILED", "FAILED"]
    assert [e["error"] for e in executions] == [
        None,
        "InventoryUnavailable",
        "PaymentDeclined",
        "ShippingFailed",
        "InvalidOrder",
    ]
    fields = {"executionArn", "name", "status", "output", "error", "cause", "path", "order", "durationMs"}
    for execution in executions:
        assert fields <= execution.keys()
        assert execution["executionArn"].endswith(":" + execution["name"])
        assert execution["path"][0] == "CreateOrder"
    assert [e["order"]["status"] if e["order"] else None for e in executions] == [
        "SHIPPED",
        "INVENTORY_FAILED",
        "INVENTORY_RELEASED",
        "REFUNDED",
        None,
    ]
    shipped = executions[0]["output"]["items"][0]
    assert last == {"stock": SEED | {shipped["sku"]: SEED[shipped["sku"]] - shipped["quantity"]}}


def test_run_prints_the_contract_lines_and_progress(state: Path) -> None:
    result = saga("run", "happy", "out-of-stock", "--state-dir", state)

    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert [line.split(":", 1)[0] for line in out if line] == [
        "Scenario",
        "Started",
        "Status",
        "Output",
        "Scenario",
        "Started",
        "Status",
        "Error",
        "Cause",
        "Reason",
    ]
    assert "Status: SUCCEEDED" in out
    assert "Error: InventoryUnavailable" in out
    assert "Cause: Inventory unavailable" in out
    assert "Reason: OUT-OF-STOCK-1 has 0, 1 wanted" in out
    assert json.loads(next(line for line in out if line.startswith("Output: "))[8:])["status"] == "SHIPPED"
    # not a terminal: plain progress lines on stderr, one per state entered
    assert "happy: ReserveInventory" in result.stderr
    assert "out-of-stock: InventoryUnavailable" in result.stderr


def test_a_later_command_finds_the_execution_and_the_stock(state: Path) -> None:
    [run] = json_lines(saga("run", "payment-declined", "--json", "--state-dir", state).stdout)[:1]

    history = saga("history", run["name"], "--state-dir", state)
    described = saga("describe", run["name"], "--json", "--state-dir", state)
    events = json.loads(saga("history", run["executionArn"], "--json", "--state-dir", state).stdout)
    stock = json.loads(saga("stock", "--json", "--state-dir", state).stdout)

    assert history.exit_code == 0, history.output
    for state_name in run["path"]:
        assert state_name in history.stdout
    assert "PaymentDeclined" in history.stdout
    assert run.pop("scenario") == "payment-declined", "run labels each result; describe has no label"
    assert json.loads(described.stdout) | {"durationMs": 0} == run | {"durationMs": 0}
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionFailed"
    assert stock == {"stock": SEED}, "the declined order's stock was released"


def test_the_same_order_id_is_reported_not_run_again(state: Path, tmp_path: Path) -> None:
    data = json.loads((Path(__file__).parents[1] / "events" / "executions" / "happy.json").read_text())
    order = tmp_path / "order.json"
    order.write_text(json.dumps(data | {"orderId": "ord-twice"}))

    first = saga("run", "--input", order, "--state-dir", state)
    second = saga("run", "--input", order, "--json", "--state-dir", state)

    assert first.exit_code == second.exit_code == 0
    *runs, stock = json_lines(second.stdout)
    assert runs[0]["alreadyExists"] is True
    assert runs[0]["status"] == "SUCCEEDED"
    assert stock["stock"]["WIDGET-1"] == SEED["WIDGET-1"] - 2, "stock moved once"


def test_concurrent_runs_each_finish(state: Path, tmp_path: Path) -> None:
    data = json.loads((Path(__file__).parents[1] / "events" / "executions" / "happy.json").read_text())
    files = []
    for n in range(4):
        path = tmp_path / f"o{n}.json"
        path.write_text(json.dumps(data | {"orderId": f"ord-c{n}"}))
        files += ["--input", path]

    result = saga("run", *files, "--concurrency", "4", "--json", "--state-dir", state)

    *runs, stock = json_lines(result.stdout)
    assert sorted(r["name"] for r in runs) == [f"ord-c{n}" for n in range(4)]
    assert {r["status"] for r in runs} == {"SUCCEEDED"}
    assert stock["stock"]["WIDGET-1"] == SEED["WIDGET-1"] - 8


def test_seed_and_reset(state: Path, tmp_path: Path) -> None:
    levels = tmp_path / "levels.json"
    levels.write_text(json.dumps({"WIDGET-1": 3, "NEW-SKU-9": 7}))

    seeded = saga("seed", "--file", levels, "--state-dir", state)
    after_seed = json.loads(saga("stock", "--json", "--state-dir", state).stdout)["stock"]
    reset = saga("reset", "--state-dir", state)
    after_reset = json.loads(saga("stock", "--json", "--state-dir", state).stdout)["stock"]

    assert seeded.exit_code == reset.exit_code == 0
    assert after_seed == SEED | {"WIDGET-1": 3, "NEW-SKU-9": 7}
    assert after_reset == SEED


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "no-such-scenario"], ["unknown scenario", "happy"]),
        (["run", "--input", "/nonexistent/order.json"], ["cannot read", "/nonexistent/order.json"]),
        (["run"], ["nothing to run"]),
        (["describe", "never-ran"], ["no execution", "never-ran"]),
        (["history", "never-ran"], ["no execution"]),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(state: Path, args: list[str], words: list[str]) -> None:
    one_line_error(saga(*args, "--state-dir", state), 2, *words)


def test_malformed_and_oversized_inputs_are_refused_before_start(state: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"customerId": ')
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"customerId": "x" * (300 * 1024)}))
    bad_seed = tmp_path / "seed.json"
    bad_seed.write_text(json.dumps({"WIDGET-1": -1}))

    one_line_error(saga("run", "--input", broken, "--state-dir", state), 2, "not JSON", "line 1")
    one_line_error(saga("run", "--input", huge, "--state-dir", state), 2, "bytes", "262144")
    one_line_error(saga("seed", "--file", bad_seed, "--state-dir", state), 2, "non-negative")
    assert not (state / "executions").exists() or not list((state / "executions").iterdir())


def test_unreachable_endpoint_is_one_line_and_exit_1(state: Path) -> None:
    result = saga("run", "happy", "--endpoint-url", "http://127.0.0.1:9", "--state-dir", state)
    one_line_error(result, 1, "cannot reach", "127.0.0.1:9")


@pytest.fixture
def loopback_aws() -> Iterator[str]:
    """moto's server in its own process on loopback: an endpoint that answers but has no stack deployed.

    Its own process, because an in-process server shares (and the engine's mock resets) moto's state.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("moto server did not start on loopback")
        yield url
    finally:
        stop(server, timeout=10)


def test_a_stack_that_is_not_deployed_is_one_line_and_exit_1(state: Path, loopback_aws: str) -> None:
    result = saga("stock", "--endpoint-url", loopback_aws, "--state-dir", state)
    one_line_error(result, 1, "order-saga", "not deployed")


def test_embedded_engine_can_use_an_external_dynamodb(state: Path, loopback_aws: str) -> None:
    import boto3

    result = saga("run", "happy", "--json", "--dynamodb-endpoint", loopback_aws, "--state-dir", state)

    assert result.exit_code == 0, result.output
    [run, stock] = json_lines(result.stdout)
    assert run["status"] == "SUCCEEDED"
    client = boto3.client("dynamodb", endpoint_url=loopback_aws, region_name="eu-west-2")
    item = client.get_item(
        TableName="order-saga-SagaTable", Key={"pk": {"S": f"ORDER#{run['name']}"}, "sk": {"S": "ORDER"}}
    )["Item"]
    assert item["status"]["S"] == "SHIPPED", "the order lives in the external store"
    assert stock["stock"]["WIDGET-1"] == SEED["WIDGET-1"] - 2


def test_console_script_never_shows_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [Path(sys.executable).with_name("saga"), "run", "nope", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "saga: unknown scenario 'nope': choose from happy, out-of-stock, payment-declined, shipping-failed, invalid"
    )


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("payment-declined", ["ended in the Fail state PaymentDeclined", "business outcome"]),
        ("happy", ["is SUCCEEDED", "nothing to redrive"]),
    ],
)
def test_redriving_a_finished_outcome_is_refused_in_one_line_and_changes_nothing(
    state: Path, scenario: str, words: list[str]
) -> None:
    # Given a finished business outcome (or a success)
    [ran, _stock] = json_lines(saga("run", scenario, "--json", "--state-dir", state).stdout)

    # When a user redrives it
    refused = saga("redrive", ran["name"], "--state-dir", state)

    # Then one line, exit 2, and the execution and its order are as they were
    one_line_error(refused, 2, *words)
    [after] = json_lines(saga("describe", ran["name"], "--json", "--state-dir", state).stdout)
    assert (after["status"], after["error"], after["path"], after["order"]) == (
        ran["status"],
        ran["error"],
        ran["path"],
        ran["order"],
    )
