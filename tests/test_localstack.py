"""The stack as deployed on LocalStack, and the same `saga` command against it.

Runs when LocalStack answers at SAGA_LOCALSTACK_URL (default http://localhost:4566) with the order-saga stack
deployed (`make localstack localstack-deploy`, or the README's Docker path); skipped, with the reason,
otherwise, except where SAGA_LOCALSTACK_REQUIRED is set (.ci/run): there a missing LocalStack or stack fails.

What it holds LocalStack to: every scenario ends as on the embedded engine (status, error, cause, states
entered, the order as read from DynamoDB, the stock); a repeated order id moves nothing; a multi-line order
reserves every line; a throttled Lambda is absorbed by the Retry. Where LocalStack differs from AWS
(RedriveExecution answers 501), the test below says so by name.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from typer.testing import CliRunner

from order_saga.store import order_key
from saga_cli.commands.main import app
from saga_cli.engine.embedded import function_arn
from saga_cli.template import ROOT, load

pytestmark = pytest.mark.localstack

URL = os.environ.get("SAGA_LOCALSTACK_URL", "http://localhost:4566")
EXECUTIONS = ROOT / "events" / "executions"


def unavailable(reason: str) -> None:
    if os.environ.get("SAGA_LOCALSTACK_REQUIRED"):
        pytest.fail(f"SAGA_LOCALSTACK_REQUIRED is set, but {reason}")
    pytest.skip(reason)


def client(service: str) -> Any:
    return boto3.client(
        service, endpoint_url=URL, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


@pytest.fixture(scope="module")
def stack() -> dict[str, str]:
    """The deployed stack's resources (logical id -> physical id) and outputs."""
    try:
        urllib.request.urlopen(f"{URL}/_localstack/health", timeout=2)
    except OSError:
        unavailable(
            f"no LocalStack answers at {URL} "
            "(start it with `make localstack` or `docker compose up -d`, or set SAGA_LOCALSTACK_URL)"
        )
    cfn = client("cloudformation")
    try:
        described = cfn.describe_stacks(StackName="order-saga")["Stacks"][0]
    except (ClientError, BotoCoreError):
        unavailable("the order-saga stack is not deployed on LocalStack (`make localstack-deploy`)")
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="order-saga")["StackResources"]
    }
    return resources | {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


def saga(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def stored_order(stack: dict[str, str], order_id: str) -> dict[str, Any] | None:
    """The order's item, read from LocalStack's DynamoDB, not from what saga reports."""
    item = client("dynamodb").get_item(TableName=stack["SagaTable"], Key=order_key(order_id)).get("Item")
    return None if item is None else {k: next(iter(v.values())) for k, v in item.items()}


def new_order(scenario: str = "happy.json", **changes: Any) -> dict[str, Any]:
    """A sample execution input under an order id of its own (the stack outlives each test)."""
    data = json.loads((EXECUTIONS / scenario).read_text(encoding="utf-8"))
    return data | {"orderId": f"ls-{uuid.uuid4().hex[:12]}"} | changes


def order_input(tmp_path: Path, **changes: Any) -> Path:
    data = new_order(**changes)
    path = tmp_path / f"{data['orderId']}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_the_deployed_stack_holds_the_templates_tables_functions_roles_and_state_machine(stack) -> None:  # type: ignore[no-untyped-def]
    # Given the deployed stack and template.yaml
    template = load()
    statuses = {
        r["LogicalResourceId"]: r["ResourceStatus"]
        for r in client("cloudformation").describe_stack_resources(StackName="order-saga")["StackResources"]
    }
    described = client("cloudformation").describe_stacks(StackName="order-saga")["Stacks"][0]

    # Then it is complete, and every resource of the template is there
    assert described["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert set(template.tables) | set(template.functions) <= set(statuses)
    assert set(statuses.values()) <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    # And each table has the template's keys
    for logical_id, table in template.tables.items():
        described_table = client("dynamodb").describe_table(TableName=stack[logical_id])["Table"]
        assert described_table["KeySchema"] == table.key_schema, logical_id
    assert stack["SagaTableName"] == stack["SagaTable"]
    # And each function runs the template's handler on python3.12, with its own role and the stack's tables
    arns = {}
    for logical_id, function in template.functions.items():
        config = client("lambda").get_function(FunctionName=stack[logical_id])["Configuration"]
        arns[logical_id] = config["FunctionArn"]
        assert (config["Runtime"], config["Handler"]) == ("python3.12", function.handler), logical_id
        role = client("iam").get_role(RoleName=stack[f"{logical_id}Role"])["Role"]
        assert config["Role"] == role["Arn"], logical_id
        assert config["Environment"]["Variables"]["SAGA_TABLE_NAME"] == stack["SagaTableName"], logical_id
    # And the state machine's definition is the ASL with each substitution's function ARN
    definition = template.definition_path.read_text(encoding="utf-8")
    for name, (logical_id, _attribute) in template.substitutions.items():
        definition = definition.replace("${" + name + "}", arns[logical_id])
    deployed = client("stepfunctions").describe_state_machine(stateMachineArn=stack["StateMachineArn"])
    assert json.loads(deployed["definition"]) == json.loads(definition)
    assert function_arn("CreateOrderFunction") not in deployed["definition"], "the engine's ARNs leaked in"


def outcome_table(runs: list[dict[str, Any]], orders: list[dict[str, Any] | None]) -> list[tuple[Any, ...]]:
    return [
        (
            run["scenario"],
            run["status"],
            run["error"],
            run["cause"],
            tuple(run["path"]),
            order and order["status"],
            order is not None and "reservationId" in order,
        )
        for run, order in zip(runs, orders, strict=True)
    ]


def test_every_scenario_ends_on_localstack_as_on_the_embedded_engine(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Given the seed's stock on both
    assert saga("seed", "--endpoint-url", URL).exit_code == 0

    # When every scenario runs on LocalStack and on the embedded engine
    on_localstack = saga("run", "--all", "--json", "--endpoint-url", URL)
    embedded = saga("run", "--all", "--json", "--state-dir", tmp_path / "state")

    # Then the outcome tables are the same: status, error, cause, states entered, the order, the stock
    assert on_localstack.exit_code == embedded.exit_code == 0, on_localstack.output
    *ls_runs, ls_stock = json_lines(on_localstack.stdout)
    *em_runs, em_stock = json_lines(embedded.stdout)
    ls_orders = [stored_order(stack, run["name"]) for run in ls_runs]
    assert outcome_table(ls_runs, ls_orders) == outcome_table(em_runs, [run["order"] for run in em_runs])
    assert ls_stock == em_stock
    # And the table holds what the contract says, read from LocalStack's DynamoDB itself
    by_scenario = dict(zip([run["scenario"] for run in ls_runs], ls_orders, strict=True))
    assert by_scenario["happy"]["status"] == "SHIPPED"
    assert by_scenario["happy"]["trackingNumber"].startswith("TRK-")
    assert by_scenario["payment-declined"]["status"] == "INVENTORY_RELEASED"
    assert by_scenario["payment-declined"]["reservationId"]
    assert by_scenario["shipping-failed"]["status"] == "REFUNDED"
    assert by_scenario["shipping-failed"]["refundId"]
    assert by_scenario["out-of-stock"]["status"] == "INVENTORY_FAILED"
    assert by_scenario["invalid"] is None, "an invalid order writes no item"
    assert ls_stock["stock"]["WIDGET-1"] == 100 - 2, "only the happy order keeps its two widgets"


def test_history_of_a_deployed_execution_comes_from_localstack(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    [run, _stock] = json_lines(saga("run", "--input", order_input(tmp_path), "--json", "--endpoint-url", URL).stdout)

    printed = saga("history", run["executionArn"], "--endpoint-url", URL)

    assert printed.exit_code == 0
    events = history(run["executionArn"])
    states = entered(events)
    assert states == ["CreateOrder", "ReserveInventory", "ChargePayment", "ShipOrder"]
    for state in states:
        assert state in printed.stdout
    assert printed.stdout.count("\n") >= len(events), "a line per event"


def test_the_same_order_id_again_moves_nothing(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    order = order_input(tmp_path)
    [first, stock_after_first] = json_lines(saga("run", "--input", order, "--json", "--endpoint-url", URL).stdout)

    again = saga("run", "--input", order, "--json", "--endpoint-url", URL)

    assert again.exit_code == 0
    [second, stock_after_second] = json_lines(again.stdout)
    assert second["alreadyExists"] is True
    assert second["executionArn"] == first["executionArn"]
    assert stock_after_second == stock_after_first, "no second reservation"
    assert stored_order(stack, first["name"])["paymentId"] == first["output"]["paymentId"]


def test_a_multi_line_order_reserves_every_line(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert saga("seed", "--endpoint-url", URL).exit_code == 0
    lines = [
        {"sku": "WIDGET-1", "quantity": 3, "unitPrice": 1999},
        {"sku": "GADGET-2", "quantity": 2, "unitPrice": 4999},
    ]

    result = saga("run", "--input", order_input(tmp_path, items=lines), "--json", "--endpoint-url", URL)

    [run, stock] = json_lines(result.stdout)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["amount"] == 3 * 1999 + 2 * 4999
    assert stored_order(stack, run["name"])["status"] == "SHIPPED"
    assert (stock["stock"]["WIDGET-1"], stock["stock"]["GADGET-2"]) == (100 - 3, 25 - 2)


def wait_for(predicate: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.5)
    raise AssertionError(f"not seen within {seconds} s")


def history(arn: str) -> list[dict[str, Any]]:
    return client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]


def entered(events: list[dict[str, Any]]) -> list[str]:
    """The names of the states an execution entered, in order."""
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def start(stack: dict[str, str], scenario: str = "happy.json") -> tuple[str, str]:
    """Start an execution through boto3 (not saga, which waits for it): its order id and ARN."""
    data = new_order(scenario)
    started = client("stepfunctions").start_execution(
        stateMachineArn=stack["StateMachineArn"], name=data["orderId"], input=json.dumps(data)
    )
    return data["orderId"], started["executionArn"]


def finished(arn: str) -> dict[str, Any] | None:
    described = client("stepfunctions").describe_execution(executionArn=arn)
    return None if described["status"] == "RUNNING" else described


def test_a_throttled_lambda_is_absorbed_by_the_retry(stack) -> None:  # type: ignore[no-untyped-def]
    # Given ShipOrder's function may not run at all (reserved concurrency 0: Lambda throttles every call)
    functions = client("lambda")
    functions.put_function_concurrency(FunctionName=stack["ShipOrderFunction"], ReservedConcurrentExecutions=0)
    try:
        name, arn = start(stack)
        # When the execution's first attempt at ShipOrder is throttled
        throttled = wait_for(
            lambda: [e for e in history(arn) if e["type"] == "TaskFailed"],
            30,
        )
    finally:
        functions.delete_function_concurrency(FunctionName=stack["ShipOrderFunction"])

    # Then it is Lambda's throttle, retried once the function may run again, and the order ships once
    assert throttled[0]["taskFailedEventDetails"]["error"] == "Lambda.TooManyRequestsException"
    assert wait_for(lambda: finished(arn), 60)["status"] == "SUCCEEDED"
    order = stored_order(stack, name)
    assert order is not None and order["status"] == "SHIPPED"
    assert entered(history(arn)).count("ShipOrder") == 1, "a Retry, not a second entry into the state"


def test_redrive_is_where_localstack_differs_from_aws_it_answers_501(stack) -> None:  # type: ignore[no-untyped-def]
    # Given an execution that failed at a compensation's Task (ReleaseInventory may not run, so every attempt
    # is throttled until the Retry gives up): on AWS, the execution a redrive resumes
    functions = client("lambda")
    functions.put_function_concurrency(FunctionName=stack["ReleaseInventoryFunction"], ReservedConcurrentExecutions=0)
    try:
        name, arn = start(stack, "payment_declined.json")
        failed = wait_for(lambda: finished(arn), 180)
    finally:
        functions.delete_function_concurrency(FunctionName=stack["ReleaseInventoryFunction"])
    assert failed["status"] == "FAILED"
    assert stored_order(stack, name)["status"] == "COMPENSATION_FAILED"

    # When it is redriven, through boto3 and through saga
    with pytest.raises(ClientError) as refused:
        client("stepfunctions").redrive_execution(executionArn=arn)
    result = CliRunner().invoke(app, ["redrive", arn, "--endpoint-url", URL])

    # Then LocalStack answers 501 (AWS would resume the compensation), and saga passes its words on in one line
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert "RedriveExecution" in result.output and "not yet been emulated by LocalStack" in result.output
