"""One DynamoDB fixture and one Lambda context for every test; tables come from template.yaml."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from order_saga.store import SagaStore
from saga_cli.functions import LambdaContext, load_handler, reset_clients
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
