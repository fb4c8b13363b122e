"""The functions as `sam build` ships them, in Lambda containers, give the in-process engine's outcome table.

Run by `make saga-containers`, which starts `sam local start-lambda` and a moto server the containers reach
and sets SAGA_LAMBDA_ENDPOINT and SAGA_DYNAMODB_ENDPOINT; skipped, with that reason, anywhere else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from saga_cli.commands.main import app
from saga_cli.targets.containers import reset

pytestmark = pytest.mark.containers

SCENARIOS = ("happy", "out-of-stock", "payment-declined", "shipping-failed", "invalid")


@pytest.fixture(scope="module")
def endpoints() -> tuple[str, str]:
    lambdas, tables = os.environ.get("SAGA_LAMBDA_ENDPOINT"), os.environ.get("SAGA_DYNAMODB_ENDPOINT")
    if not lambdas or not tables:
        pytest.skip("needs the functions in Lambda containers: run by `make saga-containers`")
    return lambdas, tables


def outcome_table(state_dir: Path, *target: str) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """(status, error, cause, order status) per scenario, and the stock afterwards."""
    result = CliRunner().invoke(app, ["run", *SCENARIOS, "--json", "--state-dir", str(state_dir), *target])
    assert result.exit_code == 0, result.output
    *runs, stock = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    rows = [(run["status"], run["error"], run["cause"], (run["order"] or {}).get("status")) for run in runs]
    return rows, stock["stock"]


def test_the_outcome_table_in_containers_is_the_in_process_engines(endpoints: tuple[str, str], tmp_path: Path) -> None:
    lambdas, tables = endpoints
    # Given fresh tables on the endpoint the containers use (the engine seeds them)
    reset(tables)

    # When the five scenarios run in-process, then with every task in a Lambda container
    in_process = outcome_table(tmp_path / "in-process")
    in_containers = outcome_table(tmp_path / "containers", "--lambda-endpoint", lambdas, "--dynamodb-endpoint", tables)

    # Then every row (status, error, cause, order status) and the stock are the same
    assert in_containers == in_process
    rows, _stock = in_containers
    assert [row[:2] for row in rows] == [
        ("SUCCEEDED", None),
        ("FAILED", "InventoryUnavailable"),
        ("FAILED", "PaymentDeclined"),
        ("FAILED", "ShippingFailed"),
        ("FAILED", "InvalidOrder"),
    ]
