"""One DynamoDB fixture and one Lambda context for every test; tables come from template.yaml."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from order_saga.store import SagaStore
from saga_cli.engine.functions import LambdaContext, load_handler, reset_clients
from saga_cli.template import ROOT, load

REGION = "eu-west-2"
TABLE_NAMES = {"SagaTable": "test-saga", "IdempotencyTable": "test-idempotency"}
SEED = json.loads((ROOT / "data" / "inventory.json").read_text())
EXECUTIONS = ROOT / "events" / "executions"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, a region, and nothing that could reach a real account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[SagaStore]:
    """moto's DynamoDB with the template's tables, the functions' environment, and the seed stock."""
    template = load()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for logical_id, table in template.tables.items():
            client.create_table(**table.create_table_request(TABLE_NAMES[logical_id]))
            if table.ttl_attribute:
                client.update_time_to_live(
                    TableName=TABLE_NAMES[logical_id],
                    TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
                )
        for name, value in template.environment("CreateOrderFunction", TABLE_NAMES).items():
            monkeypatch.setenv(name, value)
        reset_clients()
        store = SagaStore(TABLE_NAMES["SagaTable"], client)
        store.put_stock(SEED)
        yield store
        reset_clients()


@pytest.fixture
def invoke(tables: SagaStore) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """Call a function of the template by logical id, with a fresh context, as Lambda would."""

    def call(function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        function = load().functions[function_id]
        result: dict[str, Any] = load_handler(function)(copy.deepcopy(event), LambdaContext(function_id, 10))
        return result

    return call


def execution_input(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXECUTIONS / f"{name}.json").read_text())
    return data


def idempotency_records(tables: SagaStore) -> list[dict[str, Any]]:
    client = tables.client
    return list(client.scan(TableName=TABLE_NAMES["IdempotencyTable"])["Items"])


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


# Handler tests: the happy chain, caught errors and lost idempotency records --------------------------------

#: The handlers of the happy path, in the order the state machine calls them.
HAPPY_CHAIN = ("CreateOrderFunction", "ReserveInventoryFunction", "ChargePaymentFunction", "ShipOrderFunction")


def order_input(name: str = "happy", order_id: str = "ord-1", **changes: Any) -> dict[str, Any]:
    """A sample execution input with its ``orderId`` set and top-level fields replaced by ``changes``."""
    return execution_input(name) | {"orderId": order_id} | changes


_shared_loader = functools.cache(botocore.loaders.create_loader)


@pytest.fixture
def shared_botocore_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let every boto3 session share one loader of botocore's JSON models (opt in with ``usefixtures``).

    ``mock_aws`` gives each test a fresh default session, and Powertools builds its own: each would parse
    botocore's service and endpoint files again (about 50-100 ms a session). Outside moto every client of a
    process shares one loader anyway; this restores that, and nothing else.
    """
    monkeypatch.setattr(botocore.session, "create_loader", _shared_loader)


def clear_idempotency_records(tables: SagaStore) -> None:
    """Forget every step's stored result: a crash after the write, or the records' TTL has passed."""
    for record in idempotency_records(tables):
        tables.client.delete_item(TableName=TABLE_NAMES["IdempotencyTable"], Key={"id": record["id"]})


def caught(state: dict[str, Any], exc: BaseException, result_path: str = "error") -> dict[str, Any]:
    """``state`` as a Catch with ``ResultPath: $.<result_path>`` passes it on after a Lambda raised ``exc``."""
    cause = {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": "req-1", "stackTrace": []}
    return state | {result_path: {"Error": type(exc).__name__, "Cause": json.dumps(cause)}}


@pytest.fixture
def run_chain(
    invoke: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> Callable[..., list[dict[str, Any]]]:
    """Run the happy chain's handlers on an execution input, from CreateOrder through ``through``.

    Returns each handler's output in order; each output is the next handler's event, as in the ASL.
    """

    def run(order: dict[str, Any], through: str = "ShipOrderFunction", execution_name: str = "exec-1") -> list[Any]:
        outputs = [invoke(HAPPY_CHAIN[0], {"order": order, "executionName": execution_name})]
        for function_id in HAPPY_CHAIN[1 : HAPPY_CHAIN.index(through) + 1]:
            outputs.append(invoke(function_id, outputs[-1]))
        return outputs

    return run


@pytest.fixture
def saga(tmp_path: Path) -> Iterator[Any]:
    """The embedded engine on a fresh state folder: the real ASL, the real handlers, moto underneath."""
    from saga_cli.targets.target import TargetOptions, open_target

    with open_target(TargetOptions(state_dir=tmp_path / "state")) as target:
        yield target
