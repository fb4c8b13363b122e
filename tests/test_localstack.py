"""The stack as deployed on LocalStack, and the same `saga` command against it.

Runs when LocalStack answers at SAGA_LOCALSTACK_URL (default http://localhost:4566) and the order-saga stack
is deployed there (README: "Deploy"); skipped, with the reason, otherwise. Where LocalStack can deploy the
functions but not run them (the host LocalStack of `make localstack`, which writes the reason in
.localstack/no-executions; or SAGA_LOCALSTACK_NO_EXECUTIONS), the execution tests skip with that reason;
the deploy check still runs.
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

from saga_cli.commands.main import app
from saga_cli.engine.embedded import function_arn
from saga_cli.template import ROOT, load

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
            f"no LocalStack answers at {URL} "
            "(start it with `make localstack` or `docker compose up -d`, or set SAGA_LOCALSTACK_URL)"
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


#: Written by `make localstack` (host LocalStack, no init binary): why executions cannot run there.
NO_EXECUTIONS = ROOT / ".localstack" / "no-executions"


@pytest.fixture
def executions(localstack: str) -> str:
    reason = os.environ.get("SAGA_LOCALSTACK_NO_EXECUTIONS") or (
        NO_EXECUTIONS.read_text(encoding="utf-8").strip() if NO_EXECUTIONS.exists() else ""
    )
    if reason:
        pytest.skip(f"executions cannot run on this LocalStack: {reason}")
    return localstack


def client(service: str) -> Any:
    return boto3.client(
        service, endpoint_url=URL, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def test_the_deployed_stack_holds_the_templates_tables_functions_roles_and_state_machine(localstack: str) -> None:
    # Given the deployed stack and template.yaml
    template = load()
    stack = client("cloudformation").describe_stacks(StackName="order-saga")["Stacks"][0]
    resources = {
        r["LogicalResourceId"]: r
        for r in client("cloudformation").describe_stack_resources(StackName="order-saga")["StackResources"]
    }
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    # Then it is complete, every resource of the template is there, and the outputs name them
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert set(template.tables) | set(template.functions) <= set(resources)
    assert all(r["ResourceStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE") for r in resources.values())
    # And each table has the template's keys
    for logical_id, table in template.tables.items():
        described = client("dynamodb").describe_table(TableName=resources[logical_id]["PhysicalResourceId"])["Table"]
        assert described["KeySchema"] == table.key_schema, logical_id
    assert outputs["SagaTableName"] == resources["SagaTable"]["PhysicalResourceId"]
    # And each function runs the template's handler on python3.12, with its own role and the stack's tables
    arns = {}
    for logical_id, function in template.functions.items():
        config = client("lambda").get_function(FunctionName=resources[logical_id]["PhysicalResourceId"])[
            "Configuration"
        ]
        arns[logical_id] = config["FunctionArn"]
        assert (config["Runtime"], config["Handler"]) == ("python3.12", function.handler), logical_id
        role = client("iam").get_role(RoleName=resources[f"{logical_id}Role"]["PhysicalResourceId"])["Role"]
        assert config["Role"] == role["Arn"], logical_id
        assert config["Environment"]["Variables"]["SAGA_TABLE_NAME"] == outputs["SagaTableName"], logical_id
    # And the state machine's definition is the ASL with each substitution's function ARN
    definition = template.definition_path.read_text(encoding="utf-8")
    for name, (logical_id, _attribute) in template.substitutions.items():
        definition = definition.replace("${" + name + "}", arns[logical_id])
    deployed = client("stepfunctions").describe_state_machine(stateMachineArn=outputs["StateMachineArn"])
    assert json.loads(deployed["definition"]) == json.loads(definition)
    assert function_arn("CreateOrderFunction") not in deployed["definition"], "the engine's ARNs leaked in"


def saga(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_every_business_scenario_ends_as_the_contract_says(executions: str) -> None:
    localstack = executions
    assert saga("seed", "--endpoint-url", localstack).exit_code == 0

    result = saga("run", *OUTCOMES, "--json", "--endpoint-url", localstack)

    assert result.exit_code == 0, result.output
    *runs, stock = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    for name, run in zip(OUTCOMES, runs, strict=True):
        status, error, cause, order_status = OUTCOMES[name]
        assert (run["status"], run["error"], run["cause"]) == (status, error, cause), name
        assert run["order"]["status"] == order_status, name
    assert all(level >= 0 for level in stock["stock"].values())


def test_history_of_a_deployed_execution(executions: str) -> None:
    localstack = executions
    [run, _stock] = [
        json.loads(line) for line in saga("run", "happy", "--json", "--endpoint-url", localstack).stdout.splitlines()
    ]

    history = saga("history", run["executionArn"], "--endpoint-url", localstack)

    assert history.exit_code == 0
    for state in ("CreateOrder", "ReserveInventory", "ChargePayment", "ShipOrder"):
        assert state in history.stdout
