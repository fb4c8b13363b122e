"""The same `saga` command against a stack deployed on LocalStack.

Runs when LocalStack answers at SAGA_LOCALSTACK_URL (default http://localhost:4566) and the order-saga stack
is deployed there (README: "Deploy to LocalStack"); skipped, with the reason, otherwise.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from typer.testing import CliRunner

from saga_cli.main import app

pytestmark = pytest.mark.localstack

URL = os.environ.get("SAGA_LOCALSTACK_URL", "http://localhost:4566")
OUTCOMES = {
    "happy": ("SUCCEEDED", None, None, "SHIPPED"),
    "out-of-stock": ("FAILED", "InventoryUnavailable", "Inventory unavailable", "INVENTORY_FAILED"),
    "payment-declined": ("FAILED", "PaymentDeclined", "Payment declined and inventory released", "INVENTORY_RELEASED"),
    "shipping-failed": (
        "FAILED",
        "ShippingFailed",
        "Shipping failed, payment refunded and inventory released",
        "REFUNDED",
    ),
}


@pytest.fixture(scope="module")
def localstack() -> str:
    try:
        urllib.request.urlopen(f"{URL}/_localstack/health", timeout=2)
    except OSError:
        pytest.skip(
            f"no LocalStack answers at {URL} (start it with `docker compose up -d`, or set SAGA_LOCALSTACK_URL)"
        )
    cfn = boto3.client(
        "cloudformation",
        endpoint_url=URL,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    try:
        cfn.describe_stacks(StackName="order-saga")
    except (ClientError, BotoCoreError):
        pytest.skip("the order-saga stack is not deployed on LocalStack (README: Deploy to LocalStack)")
    return URL


def saga(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_every_business_scenario_ends_as_the_contract_says(localstack: str) -> None:
    assert saga("seed", "--endpoint-url", localstack).exit_code == 0

    result = saga("run", *OUTCOMES, "--json", "--endpoint-url", localstack)

    assert result.exit_code == 0, result.output
    *runs, stock = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    for name, run in zip(OUTCOMES, runs, strict=True):
        status, error, cause, order_status = OUTCOMES[name]
        assert (run["status"], run["error"], run["cause"]) == (status, error, cause), name
        assert run["order"]["status"] == order_status, name
    assert all(level >= 0 for level in stock["stock"].values())


def test_history_of_a_deployed_execution(localstack: str) -> None:
    [run, _stock] = [
        json.loads(line) for line in saga("run", "happy", "--json", "--endpoint-url", localstack).stdout.splitlines()
    ]

    history = saga("history", run["executionArn"], "--endpoint-url", localstack)

    assert history.exit_code == 0
    for state in ("CreateOrder", "ReserveInventory", "ChargePayment", "ShipOrder"):
        assert state in history.stdout
