"""A damaged state folder is named, with what to do, in one line and exit 1: never a silent empty stock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import SEED
from saga_cli.commands.main import app


def saga(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A folder holding one finished happy order."""
    folder = tmp_path / "state"
    assert saga("run", "happy", "--state-dir", folder).exit_code == 0
    return folder


def one_line(result: Any, *words: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    return str(lines[0])


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (lambda text: text[: len(text) // 2], "not JSON"),
        (lambda _text: "[]", "not a saga state file"),
        (lambda _text: "{}", "not a saga state file"),
        (lambda _text: json.dumps({"format": 2, "tables": {"order-saga-SagaTable": 3}, "executions": {}}), "tables"),
        (lambda text: text.replace('{"S": "ORDER"}', '{"Q": "ORDER"}', 1), "not a DynamoDB item"),
    ],
    ids=["truncated", "a list", "empty object", "tables not lists", "a bad item"],
)
def test_damaged_tables_file_is_one_line_naming_it(state: Path, damage: Any, what: str) -> None:
    tables = state / "tables.json"
    tables.write_text(damage(tables.read_text()))

    for command in (["stock"], ["run", "happy"], ["list"]):
        line = one_line(saga(*command, "--state-dir", state), str(tables), what, "saga reset")
        assert line.startswith("saga: ")
    assert not (state / "tables.json.tmp").exists()


def test_damaged_file_is_left_alone_for_the_user(state: Path) -> None:
    tables = state / "tables.json"
    tables.write_text("{")
    saga("run", "happy", "--state-dir", state)
    assert tables.read_text() == "{"


def test_damaged_execution_file_is_one_line_naming_it(state: Path) -> None:
    [name] = [json.loads(line)["name"] for line in saga("list", "--json", "--state-dir", state).stdout.splitlines()]
    record = state / "executions" / f"{name}.json"
    record.write_text(record.read_text()[:100])

    one_line(saga("describe", name, "--state-dir", state), str(record), "not JSON", "saga reset")
    one_line(saga("history", name, "--state-dir", state), str(record), "saga reset")


def test_a_missing_execution_file_is_named_too(state: Path) -> None:
    [name] = [json.loads(line)["name"] for line in saga("list", "--json", "--state-dir", state).stdout.splitlines()]
    (state / "executions" / f"{name}.json").unlink()

    one_line(saga("describe", name, "--state-dir", state), f"{name}.json is missing", "saga reset")


def test_a_table_without_stock_says_to_seed(state: Path) -> None:
    tables = state / "tables.json"
    data = json.loads(tables.read_text())
    data["tables"]["order-saga-SagaTable"] = [
        item for item in data["tables"]["order-saga-SagaTable"] if item["sk"]["S"] != "STOCK"
    ]
    tables.write_text(json.dumps(data))

    one_line(saga("stock", "--state-dir", state), "holds no stock", "saga seed")
    assert saga("seed", "--state-dir", state).exit_code == 0
    assert json.loads(saga("stock", "--json", "--state-dir", state).stdout)["stock"] == SEED


def test_an_uncommitted_execution_file_is_dropped(state: Path) -> None:
    """A command stopped between writing an execution and the index naming it: no order holds it."""
    stray = state / "executions" / "never-committed.json"
    stray.write_text("{}")

    result = saga("describe", "never-committed", "--state-dir", state)

    assert result.exit_code == 2, "no such execution"
    assert not stray.exists()


def test_reset_recovers_a_damaged_folder(state: Path) -> None:
    (state / "tables.json").write_text("{")
    assert saga("reset", "--state-dir", state).exit_code == 0
    assert json.loads(saga("stock", "--json", "--state-dir", state).stdout)["stock"] == SEED
    assert saga("list", "--json", "--state-dir", state).stdout == ""


def test_the_folder_before_the_index_still_loads(state: Path) -> None:
    """A folder written by the previous layout (a bare {table: items} object) keeps its orders and executions."""
    tables = state / "tables.json"
    tables.write_text(json.dumps(json.loads(tables.read_text())["tables"]))

    listed = saga("list", "--json", "--state-dir", state).stdout.splitlines()
    stock = json.loads(saga("stock", "--json", "--state-dir", state).stdout)["stock"]

    assert len(listed) == 1
    assert stock["WIDGET-1"] == SEED["WIDGET-1"] - 2
