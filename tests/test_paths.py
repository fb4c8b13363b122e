"""Every row of the contract's outcome table, run through the real ASL on the embedded engine.

Each test checks the execution (status, error, cause, the exact path of states) and then the data: the order
item, the stock, and the idempotency records the steps left.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from engine_support import order, run, scenario, steps_recorded
from order_saga.models import OrderStatus
from saga_cli.engine import Invocation, LambdaFault

HAPPY_PATH = ["CreateOrder", "ReserveInventory", "ChargePayment", "ShipOrder"]


def test_happy_path_ships_and_takes_stock(saga: Any) -> None:
    # Given the seeded stock
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]

    # When the happy order runs
    [result] = run(saga, scenario("happy"))

    # Then it succeeded along the four forward steps
    assert result.status == "SUCCEEDED"
    assert result.path == HAPPY_PATH
    out = result.output
    assert out["status"] == "SHIPPED"
    assert out["amount"] == 2 * 1999
    assert out["currency"] == "GBP"
    assert out["trackingNumber"].startswith("TRK-")
    assert {"orderId", "reservationId", "paymentId"} <= out.keys()
    assert "payment" not in out, "the token is not carried past the charge"
    # and the table agrees
    assert result.order["status"] == "SHIPPED"
    assert result.order["trackingNumber"] == out["trackingNumber"]
    assert result.order["reservationState"] == "SHIPPED"
    assert "payment" not in result.order
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before - 2
    assert steps_recorded(saga) == ["charge_payment", "create_order", "reserve_inventory", "ship_order"]


@pytest.mark.parametrize(
    ("items", "short"),
    [
        ([{"sku": "OUT-OF-STOCK-1", "quantity": 1, "unitPrice": 500}], "OUT-OF-STOCK-1"),
        ([{"sku": "NO-SUCH-SKU", "quantity": 1, "unitPrice": 500}], "NO-SUCH-SKU"),
        (
            [
                {"sku": "WIDGET-1", "quantity": 3, "unitPrice": 100},
                {"sku": "GADGET-2", "quantity": 26, "unitPrice": 100},
            ],
            "GADGET-2",
        ),
    ],
    ids=["out-of-stock", "unknown-sku", "one-line-short"],
)
def test_unavailable_inventory_reserves_nothing(saga: Any, items: list[dict[str, Any]], short: str) -> None:
    # Given stock before, and an order with a line that cannot be served
    skus = [line["sku"] for line in items]
    before = saga.store.stock(skus)
    start = scenario("out-of-stock")
    data = json.loads(start.payload) | {"items": items}

    # When it runs
    [result] = run(saga, order(data))

    # Then it fails at the reservation, with no compensation needed
    assert (result.status, result.error, result.cause) == ("FAILED", "InventoryUnavailable", "Inventory unavailable")
    assert result.path == ["CreateOrder", "ReserveInventory", "InventoryUnavailable"]
    assert result.order["status"] == "INVENTORY_FAILED"
    assert "reservationId" not in result.order
    assert saga.store.stock(skus) == before, "not one line was reserved"
    assert steps_recorded(saga) == ["create_order"]


def test_payment_declined_releases_inventory(saga: Any) -> None:
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]

    [result] = run(saga, scenario("payment-declined"))

    assert (result.status, result.error, result.cause) == (
        "FAILED",
        "PaymentDeclined",
        "Payment declined and inventory released",
    )
    assert result.path == [
        "CreateOrder",
        "ReserveInventory",
        "ChargePayment",
        "ReleaseInventory",
        "CompensationDone",
        "PaymentDeclined",
    ]
    assert result.order["status"] == "INVENTORY_RELEASED"
    assert result.order["reservationId"] == f"res-{result.name}"
    assert result.order["reservationState"] == "RELEASED"
    assert "paymentId" not in result.order
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before
    assert steps_recorded(saga) == ["create_order", "release_inventory", "reserve_inventory"]


def test_shipping_failure_refunds_and_releases(saga: Any) -> None:
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]

    [result] = run(saga, scenario("shipping-failed"))

    assert (result.status, result.error, result.cause) == (
        "FAILED",
        "ShippingFailed",
        "Shipping failed, payment refunded and inventory released",
    )
    assert result.path == [
        *HAPPY_PATH,
        "RefundPayment",
        "ReleaseInventory",
        "CompensationDone",
        "ShippingFailed",
    ]
    stored = result.order
    assert stored["status"] == "REFUNDED"
    assert stored["refundId"].startswith("ref_")
    assert stored["reservationId"] == f"res-{result.name}"
    assert stored["paymentId"].startswith("pay_")
    assert stored["reservationState"] == "RELEASED"
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before
    assert steps_recorded(saga) == [
        "charge_payment",
        "create_order",
        "refund_payment",
        "release_inventory",
        "reserve_inventory",
    ]


def test_invalid_input_names_the_fields_and_writes_nothing(saga: Any) -> None:
    stock_before = saga.store.stock()

    [result] = run(saga, scenario("invalid"))

    assert (result.status, result.error) == ("FAILED", "InvalidOrder")
    for field in ("customerId", "items.0.sku", "items.0.quantity", "items.0.unitPrice", "currency"):
        assert field in result.cause
    assert result.path == ["CreateOrder", "DescribeInvalidOrder", "InvalidOrder"]
    assert result.order is None
    assert saga.store.orders() == []
    assert saga.store.stock() == stock_before
    assert steps_recorded(saga) == []


def test_order_without_id_takes_the_execution_name(saga: Any) -> None:
    start = scenario("happy")
    data = json.loads(start.payload)
    del data["orderId"]
    from saga_cli.scenarios import Start

    [result] = run(saga, Start("no-id", "exec-name-as-order-id", json.dumps(data)))

    assert result.status == "SUCCEEDED"
    assert result.output["orderId"] == "exec-name-as-order-id"
    assert result.order["orderId"] == "exec-name-as-order-id"


def test_transient_lambda_error_is_retried_with_one_effect(saga: Any) -> None:
    # Given Lambda's Invoke API failing once for ChargePayment, before the handler runs
    def flaky(call: Invocation) -> None:
        if call.function.logical_id == "ChargePaymentFunction" and call.attempt == 1:
            raise ClientError(
                {
                    "Error": {"Code": "ServiceException", "Message": "Lambda hiccup"},
                    "ResponseMetadata": {"HTTPStatusCode": 500, "RequestId": "req-1"},
                },
                "Invoke",
            )

    saga.engine.lambda_.before.append(flaky)
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]

    # When the happy order runs
    [result] = run(saga, scenario("happy"))

    # Then the ASL's Retry absorbed it: one state entry, two attempts, one charge, stock taken once
    assert result.status == "SUCCEEDED"
    assert result.path == HAPPY_PATH
    history = saga.history(result.execution_arn)
    failed = [e for e in history if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failed] == ["Lambda.ServiceException"]
    charges = [c for c in saga.engine.lambda_.calls if c.function.logical_id == "ChargePaymentFunction"]
    assert len(charges) == 2
    assert result.order["paymentId"] == result.output["paymentId"]
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before - 2
    assert saga.engine.scaled_clock.waits, "the Retry waited (scaled by the engine's clock)"
    assert all(0 <= wait <= 8 for wait in saga.engine.scaled_clock.waits), "full jitter, capped by MaxDelaySeconds"


def test_handler_crash_after_its_write_is_retried_with_one_effect(saga: Any) -> None:
    # Given ReserveInventory's first attempt dies after its transaction committed (a Lambda timeout, say)
    def crash_after_write(call: Invocation) -> None:
        if call.function.logical_id == "ReserveInventoryFunction" and call.attempt == 1:
            raise LambdaFault("Sandbox.Timedout", "Task timed out after 10.00 seconds")

    saga.engine.lambda_.after.append(crash_after_write)
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]

    [result] = run(saga, scenario("happy"))

    # Then the retry finds the reservation already made and the stock is taken once
    assert result.status == "SUCCEEDED", result.cause
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before - 2
    reserves = [c for c in saga.engine.lambda_.calls if c.function.logical_id == "ReserveInventoryFunction"]
    assert len(reserves) == 2


def test_same_order_id_twice_starts_nothing_new(saga: Any) -> None:
    start = scenario("happy", "ord-only-once")
    [first] = run(saga, start)
    stock_after_first = saga.store.stock(["WIDGET-1"])

    with pytest.raises(ClientError) as refused:
        saga.start(start.name, start.payload)
    [again] = run(saga, start)

    assert refused.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert again.already_exists and again.execution_arn == first.execution_arn, "reported, not run again"
    assert again.status == "SUCCEEDED"
    assert saga.store.stock(["WIDGET-1"]) == stock_after_first
    assert [o.order_id for o in saga.store.orders()] == ["ord-only-once"]
    assert first.order["status"] == "SHIPPED"


def test_same_order_id_in_a_later_command_is_refused_too(tmp_path: Any) -> None:
    from saga_cli.targets import TargetOptions, open_target

    options = TargetOptions(state_dir=tmp_path / "state")
    start = scenario("happy", "ord-across-commands")
    with open_target(options) as target:
        run(target, start)
        stock = target.store.stock()
    with open_target(options) as target:
        with pytest.raises(ClientError) as refused:
            target.start(start.name, start.payload)
        [again] = run(target, start)
    assert refused.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert again.already_exists and again.status == "SUCCEEDED"
    with open_target(options) as target:
        assert target.store.stock() == stock
        assert target.describe("ord-across-commands")["status"] == "SUCCEEDED"


def test_compensation_that_keeps_failing_ends_compensation_failed(saga: Any) -> None:
    # Given ReleaseInventory failing on every attempt
    def broken(call: Invocation) -> None:
        if call.function.logical_id == "ReleaseInventoryFunction":
            raise RuntimeError("warehouse system down")

    saga.engine.lambda_.before.append(broken)
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]

    [result] = run(saga, scenario("payment-declined"))

    assert (result.status, result.error) == ("FAILED", "CompensationFailed")
    assert "ReleaseInventory" in result.cause
    assert result.path == [
        "CreateOrder",
        "ReserveInventory",
        "ChargePayment",
        "ReleaseInventory",
        "RecordReleaseFailure",
        "CompensationFailed",
    ]
    assert result.order["status"] == OrderStatus.COMPENSATION_FAILED
    assert result.order["failedCompensation"] == "ReleaseInventory"
    assert result.order["reservationState"] == "HELD", "as far as it got: the stock is still reserved"
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before - 2
    releases = [c for c in saga.engine.lambda_.calls if c.function.logical_id == "ReleaseInventoryFunction"]
    assert len(releases) == 7, "one attempt and the six retries the ASL allows"


def test_a_compensation_failure_is_redriven_from_the_failed_state(saga: Any) -> None:
    # Given a declined order whose ReleaseInventory kept failing, then the fault is fixed
    fixed = False

    def broken_until_fixed(call: Invocation) -> None:
        if call.function.logical_id == "ReleaseInventoryFunction" and not fixed:
            raise RuntimeError("warehouse system down")

    saga.engine.lambda_.before.append(broken_until_fixed)
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]
    [failed] = run(saga, scenario("payment-declined"))
    assert failed.error == "CompensationFailed"
    calls_before = [c.function.logical_id for c in saga.engine.lambda_.calls]
    fixed = True

    # When it is redriven
    redriven = saga.redrive(failed.name)

    # Then it resumed at ReleaseInventory, ran nothing that had succeeded, and ends as a declined payment
    assert (redriven["status"], redriven["error"]) == ("FAILED", "PaymentDeclined")
    assert redriven["redriveCount"] == 1
    new_calls = [c.function.logical_id for c in saga.engine.lambda_.calls][len(calls_before) :]
    assert new_calls == ["ReleaseInventoryFunction"]
    history = saga.history(failed.name)
    assert [e["type"] for e in history].count("ExecutionRedriven") == 1
    from saga_cli.runner import states_entered

    assert states_entered(history)[-3:] == ["ReleaseInventory", "CompensationDone", "PaymentDeclined"]
    order = saga.store.order_item(failed.name)
    assert order["status"] == "INVENTORY_RELEASED"
    assert order["reservationState"] == "RELEASED"
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before


def test_a_succeeded_execution_is_not_redrivable(saga: Any) -> None:
    from saga_cli.redrive import NotRedrivable

    [done] = run(saga, scenario("happy"))

    with pytest.raises(NotRedrivable):
        saga.redrive(done.name)
