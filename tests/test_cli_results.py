"""What `saga run` and friends tell a user: every result labelled, repeated orders reported, reasons given,
help without type names, executions listed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import EXECUTIONS, SEED
from saga_cli.commands.main import app

HAPPY = json.loads((EXECUTIONS / "happy.json").read_text())
COMMANDS = ["run", "describe", "history", "stock", "list", "seed", "reset", "redrive", "chaos", "bench", "graph"]


def saga(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def order_file(folder: Path, order_id: str, **changes: Any) -> Path:
    path = folder / f"{order_id}.json"
    path.write_text(json.dumps(HAPPY | {"orderId": order_id} | changes))
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_the_same_order_twice_in_one_run_starts_once(tmp_path: Path, concurrency: str) -> None:
    a, b = order_file(tmp_path, "ord-a"), order_file(tmp_path, "ord-b")
    state = tmp_path / "state"

    text = saga("run", "--input", a, "--input", a, "--input", b, "--concurrency", concurrency, "--state-dir", state)
    *runs, stock = json_lines(
        saga("run", "--input", b, "--concurrency", concurrency, "--json", "--state-dir", state).stdout
    )

    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert sum(line.startswith("Started:") and line.endswith(":ord-a") for line in lines) == 1
    assert sum(line.startswith("Exists:") and ":ord-a " in line for line in lines) == 1
    assert sum(line.startswith("Started:") and line.endswith(":ord-b") for line in lines) == 1
    assert lines.count(f"Input: {a}") == 2
    assert lines.count("Status: SUCCEEDED") == 3, "the repeated order shows the first one's outcome"
    assert runs == [runs[0]] and runs[0]["alreadyExists"] is True and runs[0]["input"] == str(b)
    assert stock["stock"]["WIDGET-1"] == SEED["WIDGET-1"] - 2 * 2, "two orders moved stock, once each"


def test_every_result_is_labelled_with_concurrency(tmp_path: Path) -> None:
    files = [order_file(tmp_path, f"ord-l{n}") for n in range(4)]
    args = [arg for path in files for arg in ("--input", path)]
    state = tmp_path / "state"

    text = saga("run", "happy", "out-of-stock", *args, "--concurrency", "4", "--state-dir", state)
    runs = json_lines(saga("run", "payment-declined", *args[:2], "--concurrency", "4", "--json",
                           "--state-dir", state).stdout)[:-1]  # fmt: skip

    blocks = [block.splitlines() for block in text.stdout.strip().split("\n\n")]
    assert len(blocks) == 6
    labels = {block[0] for block in blocks}
    assert labels == {"Scenario: happy", "Scenario: out-of-stock", *(f"Input: {path}" for path in files)}
    for block in blocks:
        started = block[1].removeprefix("Started: ").rsplit(":", 1)[1]
        if block[0].startswith("Input: "):
            assert block[0].endswith(f"{started}.json"), "each label sits on its own result"
    assert {r.get("scenario") or r.get("input") for r in runs} == {"payment-declined", str(files[0])}


def test_an_unknown_sku_says_which_in_a_reason_line(tmp_path: Path) -> None:
    nope = order_file(tmp_path, "ord-nope", items=[{"sku": "NOPE-9", "quantity": 1, "unitPrice": 5}])
    short = order_file(tmp_path, "ord-short", items=[{"sku": "GADGET-2", "quantity": 30, "unitPrice": 5}])
    state = tmp_path / "state"

    text = saga("run", "--input", nope, "--input", short, "--state-dir", state).stdout.splitlines()
    described = json.loads(saga("describe", "ord-nope", "--json", "--state-dir", state).stdout)

    assert "Cause: Inventory unavailable" in text, "the contract's fixed cause stays"
    assert "Reason: NOPE-9 is unknown" in text
    assert f"Reason: GADGET-2 has {SEED['GADGET-2']}, 30 wanted" in text
    assert described["cause"] == "Inventory unavailable"
    assert described["reason"] == "NOPE-9 is unknown"


def test_list_shows_recent_executions_newest_first(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for order_id in ("ord-1", "ord-2", "ord-3"):
        assert saga("run", "--input", order_file(tmp_path, order_id), "--state-dir", state).exit_code == 0

    listed = json_lines(saga("list", "--json", "--state-dir", state).stdout)
    two = saga("list", "--limit", "2", "--state-dir", state).stdout.splitlines()

    assert [s["name"] for s in listed] == ["ord-3", "ord-2", "ord-1"]
    assert {s["status"] for s in listed} == {"SUCCEEDED"}
    assert two[0].split() == ["started", "status", "error", "name"]
    assert [line.split()[-1] for line in two[1:]] == ["ord-3", "ord-2"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_no_type_names_and_whole_summaries(command: str | None) -> None:
    result = saga(*([command] if command else []), "--help")

    assert result.exit_code == 0
    for word in ("<str>", "<int", "<float", "<list", "<path>", "<Path>", "range>"):
        assert word not in result.stdout, f"{word} in saga {command} --help"
    assert "..." not in result.stdout.replace("[SCENARIO]...", "").replace("COMMAND [ARGS]...", "")


def test_top_level_help_says_where_state_is_kept() -> None:
    text = " ".join(saga("--help").stdout.split())
    assert ".saga in the current directory unless --state-dir or SAGA_STATE_DIR" in text


def test_concurrency_help_says_the_embedded_engine_is_not_faster() -> None:
    text = " ".join(saga("run", "--help").stdout.split())
    assert "is no faster" in text


def test_seed_counts_in_good_english(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"WIDGET-1": 5}))
    assert saga("seed", "--file", one, "--state-dir", tmp_path / "s").stdout.startswith("Seeded 1 SKU into ")


def test_graph_of_an_execution_writes_its_svg_in_the_state_folder(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    assert saga("run", "--input", order_file(tmp_path, "ord-g"), "--state-dir", state).exit_code == 0

    drawn = saga("graph", "ord-g", "--state-dir", state)

    assert drawn.exit_code == 0
    assert (state / "graphs" / "ord-g.svg").read_text().startswith("<svg")
    assert not (tmp_path / "ord-g.svg").exists()


def test_chaos_shows_progress_off_a_terminal() -> None:
    result = saga("chaos", "--sagas", "10", "--seed", "3")

    assert result.exit_code == 0, result.output
    assert "  10/10 sagas" in result.stderr.splitlines()


def test_history_names_the_state_of_every_task_event_in_one_json_spacing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert saga("run", "--input", order_file(tmp_path, "ord-h"), "--state-dir", state).exit_code == 0

    lines = saga("history", "ord-h", "--state-dir", state).stdout.splitlines()

    assert lines[0].split() == ["ms", "event", "state", "detail"]
    tasks = [line.split() for line in lines[1:] if line.split()[1].startswith("Task")]
    assert tasks and all(len(words) >= 3 for words in tasks), "every Task event names its state"
    assert ["TaskScheduled", "ReserveInventory"] in [words[1:3] for words in tasks]
    assert '": ' not in "\n".join(lines) and '", "' not in "\n".join(lines), "compact JSON throughout"
