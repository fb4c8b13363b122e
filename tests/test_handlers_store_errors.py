"""DynamoDB refusing a request: throttling surfaces as StoreUnavailable, which the state machine retries.

The store's client is wrapped so that chosen operations fail; everything else reaches moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, EndpointConnectionError

from conftest import SEED, TABLE_NAMES, caught, idempotency_records, order_input
from order_saga.errors import PaymentDeclined, ShippingFailed, StoreUnavailable
from order_saga.store import default_store
from saga_cli.template import load

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

THROTTLED = "ProvisionedThroughputExceededException"


class FailingClient:
    """A DynamoDB client whose named operations on the saga table raise ``error()``; all else goes through.

    The idempotency layer may share the store's client: its calls (on the other table) are left alone.
    """

    def __init__(self, client: Any, table_name: str, operations: set[str], error: Callable[[str], Exception]) -> None:
        self._client = client
        self._table_name = table_name
        self.operations = operations
        self._error = error
        self.failed: list[str] = []

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name not in self.operations:
            return call

        def maybe_fail(**request: Any) -> Any:
            if request.get("TableName", self._table_name) == self._table_name:
                self.failed.append(name)
                raise self._error(name)
            return call(**request)

        return maybe_fail


def client_error(code: str, **response: Any) -> Callable[[str], ClientError]:
    return lambda operation: ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}, **response}, operation)


@pytest.fixture
def store_fails(monkeypatch):
    """Make the handlers' store fail the given operations until the returned client is told otherwise."""

    def install(operations: set[str], error: Callable[[str], Exception] | None = None) -> FailingClient:
        store = default_store()
        failing = FailingClient(store.client, store.table_name, operations, error or client_error(THROTTLED))
        monkeypatch.setattr(store, "client", failing)
        return failing

    return install


def _create(run_chain, invoke) -> dict:
    return {"order": order_input(), "executionName": "exec-1"}


def _reserve(run_chain, invoke) -> dict:
    return run_chain(order_input(), through="CreateOrderFunction")[-1]


def _charge(run_chain, invoke) -> dict:
    return run_chain(order_input(), through="ReserveInventoryFunction")[-1]


def _ship(run_chain, invoke) -> dict:
    return run_chain(order_input(), through="ChargePaymentFunction")[-1]


def _refund(run_chain, invoke) -> dict:
    *_, charged = run_chain(
        order_input(shippingAddress=order_input()["shippingAddress"] | {"country": "AQ"}), "ChargePaymentFunction"
    )
    with pytest.raises(ShippingFailed) as raised:
        invoke("ShipOrderFunction", charged)
    return caught(charged, raised.value)


def _release(run_chain, invoke) -> dict:
    *_, reserved = run_chain(order_input(payment={"token": "tok_chargeDeclined"}), through="ReserveInventoryFunction")
    with pytest.raises(PaymentDeclined) as raised:
        invoke("ChargePaymentFunction", reserved)
    return caught(reserved, raised.value)


def _record(run_chain, invoke) -> dict:
    _release(run_chain, invoke)
    return {"orderId": "ord-1", "compensation": "ReleaseInventory", "error": {"Error": "States.Timeout", "Cause": ""}}


# function id, the states that call it, how to reach its event, the write it makes
STEPS = [
    pytest.param("CreateOrderFunction", ["CreateOrder"], _create, "put_item", id="create"),
    pytest.param("ReserveInventoryFunction", ["ReserveInventory"], _reserve, "transact_write_items", id="reserve"),
    pytest.param("ChargePaymentFunction", ["ChargePayment"], _charge, "update_item", id="charge"),
    pytest.param("ShipOrderFunction", ["ShipOrder"], _ship, "update_item", id="ship"),
    pytest.param("RefundPaymentFunction", ["RefundPayment"], _refund, "update_item", id="refund"),
    pytest.param("ReleaseInventoryFunction", ["ReleaseInventory"], _release, "transact_write_items", id="release"),
    pytest.param(
        "RecordCompensationFailureFunction",
        ["RecordRefundFailure", "RecordReleaseFailure"],
        _record,
        "update_item",
        id="record-failure",
    ),
]


def _retried_on_store_unavailable(state_name: str) -> bool:
    definition = json.loads(load().definition_path.read_text())
    retries = definition["States"][state_name].get("Retry", [])
    return any({"StoreUnavailable", "States.ALL"} & set(retry["ErrorEquals"]) for retry in retries)


@pytest.mark.parametrize(("function_id", "states", "reach", "operation"), STEPS)
def test_throttled_write_is_store_unavailable_and_a_retry_has_one_effect(
    tables, run_chain, invoke, store_fails, function_id, states, reach, operation
):
    # Given the step's event, and DynamoDB throttling the step's write
    event = reach(run_chain, invoke)
    order_before = tables.get_order("ord-1")
    stock_before = tables.stock()
    records_before = idempotency_records(tables)
    throttled = store_fails({operation})

    # When the handler runs
    with pytest.raises(StoreUnavailable, match=THROTTLED):
        invoke(function_id, event)

    # Then the error is StoreUnavailable, which each state calling this function retries
    assert throttled.failed == [operation]
    assert all(_retried_on_store_unavailable(state) for state in states)
    # And nothing changed, and no result was stored that would stop the retry from running
    assert tables.get_order("ord-1") == order_before
    assert tables.stock() == stock_before
    assert idempotency_records(tables) == records_before

    # When DynamoDB recovers and the state machine retries with the same event
    throttled.operations.clear()
    result = invoke(function_id, event)

    # Then the step completes once, and a further retry changes nothing
    order_after = tables.get_order("ord-1")
    stock_after = tables.stock()
    assert order_after != order_before
    assert invoke(function_id, event) == result
    assert tables.get_order("ord-1") == order_after
    assert tables.stock() == stock_after


def test_transaction_cancelled_by_throttling_is_store_unavailable(tables, run_chain, invoke, store_fails):
    # Given a created order, and a reservation transaction cancelled for throttling, not for stock
    created = _reserve(run_chain, invoke)
    reasons = [{"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity"}, {"Code": "None"}]
    store_fails({"transact_write_items"}, client_error("TransactionCanceledException", CancellationReasons=reasons))

    # When ReserveInventory runs, Then it is StoreUnavailable (retried), not InventoryUnavailable (final)
    with pytest.raises(StoreUnavailable):
        invoke("ReserveInventoryFunction", created)
    assert tables.get_order("ord-1").status == "CREATED"
    assert tables.stock() == SEED


def test_a_reservation_that_loses_to_a_concurrent_one_is_store_unavailable_not_a_stock_out(
    tables, run_chain, invoke, store_fails
):
    # Given a created order, and its reservation refused because another transaction held the stock item
    # (what a flash sale on one SKU makes DynamoDB do)
    created = _reserve(run_chain, invoke)
    reasons = [
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
        {"Code": "None"},
    ]
    store_fails({"transact_write_items"}, client_error("TransactionCanceledException", CancellationReasons=reasons))

    # When ReserveInventory runs, Then it is StoreUnavailable (retried with jitter), never InventoryUnavailable,
    # and it names the conflict so an operator can tell it from a stock-out
    with pytest.raises(StoreUnavailable, match="TransactionConflict"):
        invoke("ReserveInventoryFunction", created)
    assert tables.get_order("ord-1").status == "CREATED"
    assert tables.stock() == SEED


def test_unreachable_dynamodb_is_store_unavailable(tables, run_chain, invoke, store_fails):
    # Given a reserved order, and DynamoDB's endpoint not answering
    reserved = _charge(run_chain, invoke)
    store_fails({"update_item"}, lambda _: EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-2"))

    # When ChargePayment runs, Then it is StoreUnavailable and the order stays RESERVED
    with pytest.raises(StoreUnavailable, match="unreachable"):
        invoke("ChargePaymentFunction", reserved)
    assert tables.get_order("ord-1").status == "RESERVED"


def test_a_refused_request_that_is_not_transient_is_not_retried_as_one(tables, run_chain, invoke, store_fails):
    # Given DynamoDB refusing the write for a reason a retry will not cure
    event = _create(run_chain, invoke)
    store_fails({"put_item"}, client_error("AccessDeniedException"))

    # When CreateOrder runs, Then the AWS error is raised as is, not as StoreUnavailable
    with pytest.raises(ClientError) as raised:
        invoke("CreateOrderFunction", event)
    assert not isinstance(raised.value, StoreUnavailable)
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert tables.orders() == []


@pytest.mark.parametrize(
    ("function_id", "reach"),
    [
        pytest.param("CreateOrderFunction", _create, id="create"),
        pytest.param("ReserveInventoryFunction", _reserve, id="reserve"),
        pytest.param("ReleaseInventoryFunction", _release, id="release"),
    ],
)
def test_throttled_idempotency_table_is_store_unavailable_too(
    tables, run_chain, invoke, monkeypatch, function_id, reach
):
    # Given the step's event, and DynamoDB throttling writes to the idempotency table (whichever client makes them)
    event = reach(run_chain, invoke)
    order_before = tables.get_order("ord-1")
    stock_before = tables.stock()
    make_api_call = BaseClient._make_api_call
    throttled = []

    def throttle_idempotency_writes(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "PutItem" and params.get("TableName") == TABLE_NAMES["IdempotencyTable"]:
            throttled.append(operation)
            raise client_error(THROTTLED)(operation)
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", throttle_idempotency_writes)

    # When the handler runs
    with pytest.raises(StoreUnavailable, match=THROTTLED):
        invoke(function_id, event)

    # Then it failed before its side effect, under the name the state machine retries
    assert throttled == ["PutItem"]
    assert tables.get_order("ord-1") == order_before
    assert tables.stock() == stock_before

    # When the table recovers and the state machine retries, Then the step runs once
    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    invoke(function_id, event)
    assert tables.get_order("ord-1") != order_before
