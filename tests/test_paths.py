"""Every row of the contract's outcome table, run through the real ASL on the embedded engine.

Each test checks the execution (status, error, cause, the exact path of states) and then the data: the order
item, the stock, and the idempotency records the steps left.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from engine_support import order, run, scenario, steps_recorded
from order_saga.models import OrderStatus
from saga_cli.engine.alerts import AlertRule
from saga_cli.engine.invocations import Invocation, LambdaFault
from saga_cli.engine.redrive import unsuccessful_state
from saga_cli.targets.history import states_entered

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
    from saga_cli.targets.target import TargetOptions, open_target

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


def _broken_until_fixed(saga: Any, function: str) -> Callable[[], None]:
    """Make ``function`` fail on every attempt; call the result to fix it (as an operator fixes the cause)."""
    broken = {"now": True}

    def hook(call: Invocation) -> None:
        if call.function.logical_id == function and broken["now"]:
            raise RuntimeError("warehouse system down")

    saga.engine.lambda_.before.append(hook)
    return lambda: broken.update(now=False)


def test_compensation_that_keeps_failing_fails_the_execution_at_the_compensation_task(saga: Any) -> None:
    # Given ReleaseInventory failing on every attempt
    _broken_until_fixed(saga, "ReleaseInventoryFunction")
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]

    [result] = run(saga, scenario("payment-declined"))

    # Then the failure is recorded, the compensation tried once more, and the execution fails at that Task with
    # the compensation's own error: the unsuccessful step a redrive resumes
    assert (result.status, result.error) == ("FAILED", "RuntimeError")
    assert "warehouse system down" in result.cause
    assert result.path == [
        "CreateOrder",
        "ReserveInventory",
        "ChargePayment",
        "ReleaseInventory",
        "RecordReleaseFailure",
        "RetryReleaseInventory",
    ]
    history = saga.history(result.name)
    assert unsuccessful_state(history)[:2] == ("RetryReleaseInventory", "Task")
    # and the operator sees it gave up: the order, and the alert the template's rule sends
    assert result.order["status"] == OrderStatus.COMPENSATION_FAILED
    assert result.order["failedCompensation"] == "ReleaseInventory"
    assert result.order["reservationState"] == "HELD", "as far as it got: the stock is still reserved"
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before - 2
    rule = AlertRule(saga.engine.template, saga.state_machine_arn)
    assert [a.error for a in rule.alerts(saga.describe(result.name), history)] == ["RuntimeError"]
    releases = [c for c in saga.engine.lambda_.calls if c.function.logical_id == "ReleaseInventoryFunction"]
    assert len(releases) == 8, "one attempt, the six retries the ASL allows, and the one after the record"


def test_a_release_that_gave_up_is_redriven_from_its_task_and_finishes_the_saga(saga: Any) -> None:
    # Given a declined order whose ReleaseInventory gave up, then the fault is fixed
    fix = _broken_until_fixed(saga, "ReleaseInventoryFunction")
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]
    [failed] = run(saga, scenario("payment-declined"))
    assert failed.order["status"] == OrderStatus.COMPENSATION_FAILED
    calls_before = len(saga.engine.lambda_.calls)
    fix()

    # When it is redriven
    redriven = saga.redrive(failed.name)

    # Then it resumed at the compensation Task, ran nothing that had succeeded, and ends as a declined payment
    assert (redriven["status"], redriven["error"]) == ("FAILED", "PaymentDeclined")
    assert redriven["redriveCount"] == 1
    new_calls = [c.function.logical_id for c in saga.engine.lambda_.calls][calls_before:]
    assert new_calls == ["ReleaseInventoryFunction"]
    history = saga.history(failed.name)
    assert [e["type"] for e in history].count("ExecutionRedriven") == 1
    assert states_entered(history)[-3:] == ["RetryReleaseInventory", "CompensationDone", "PaymentDeclined"]
    # and the order carries no trace of the failure any more
    order = saga.store.order_item(failed.name)
    assert order["status"] == "INVENTORY_RELEASED"
    assert order["reservationState"] == "RELEASED"
    assert "failedCompensation" not in order
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before


def test_a_refund_that_gave_up_is_redriven_then_releases_the_stock(saga: Any) -> None:
    # Given an undeliverable order whose RefundPayment gave up, then the fault is fixed
    fix = _broken_until_fixed(saga, "RefundPaymentFunction")
    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]
    [failed] = run(saga, scenario("shipping-failed"))
    assert failed.path[-3:] == ["RefundPayment", "RecordRefundFailure", "RetryRefundPayment"]
    assert (failed.order["status"], failed.order["failedCompensation"]) == ("COMPENSATION_FAILED", "RefundPayment")
    assert "refundId" not in failed.order
    fix()

    # When it is redriven
    redriven = saga.redrive(failed.name)

    # Then the refund and the release ran, and the saga ends as the contract's shipping failure
    assert (redriven["status"], redriven["error"]) == ("FAILED", "ShippingFailed")
    assert states_entered(saga.history(failed.name))[-4:] == [
        "RetryRefundPayment",
        "ReleaseInventory",
        "CompensationDone",
        "ShippingFailed",
    ]
    order = saga.store.order_item(failed.name)
    assert (order["status"], order["reservationState"]) == ("REFUNDED", "RELEASED")
    assert order["refundId"].startswith("ref_")
    assert "failedCompensation" not in order
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before


def test_the_engine_redrives_a_business_outcome_as_aws_would_into_its_fail_state(saga: Any) -> None:
    # Given a declined payment (a Catch handled ChargePayment's error; the execution ended in a Fail state)
    [declined] = run(saga, scenario("payment-declined"))
    order_before = saga.store.order_item(declined.name)
    calls_before = len(saga.engine.lambda_.calls)

    # When the engine redrives it (what RedriveExecution does with this history)
    describe, history = saga.engine.redrive(saga.describe(declined.name), saga.history(declined.name))

    # Then only the Fail state, which never exited, is entered again: same outcome, no step rerun
    assert (describe["status"], describe["error"], describe["cause"]) == (
        "FAILED",
        "PaymentDeclined",
        "Payment declined and inventory released",
    )
    assert states_entered(history)[-2:] == ["PaymentDeclined", "PaymentDeclined"]
    assert len(saga.engine.lambda_.calls) == calls_before, "ChargePayment is not run again"
    assert saga.store.order_item(declined.name) == order_before


def test_saga_redrive_of_a_business_outcome_is_refused_in_one_line(saga: Any) -> None:
    from saga_cli.engine.redrive import NotRedrivable

    [declined] = run(saga, scenario("payment-declined"))
    order_before = saga.store.order_item(declined.name)

    with pytest.raises(NotRedrivable, match="ended in the Fail state PaymentDeclined, a business outcome"):
        saga.redrive(declined.name)

    assert saga.describe(declined.name).get("redriveCount", 0) == 0
    assert saga.store.order_item(declined.name) == order_before


def test_a_succeeded_execution_is_not_redrivable(saga: Any) -> None:
    from saga_cli.engine.redrive import NotRedrivable

    [done] = run(saga, scenario("happy"))

    with pytest.raises(NotRedrivable):
        saga.redrive(done.name)


def _entered(kind: str, name: str, state_input: str = "{}") -> dict[str, Any]:
    return {"type": f"{kind}StateEntered", "stateEnteredEventDetails": {"name": name, "input": state_input}}


def _exited(kind: str, name: str) -> dict[str, Any]:
    return {"type": f"{kind}StateExited", "stateExitedEventDetails": {"name": name, "output": "{}"}}


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # a Task still running when the execution timed out or was stopped
        (
            [
                _entered("Task", "CreateOrder"),
                _exited("Task", "CreateOrder"),
                _entered("Task", "ReserveInventory", "i"),
            ],
            ("ReserveInventory", "Task", "i"),
        ),
        # a caught Task exited: the Fail state it led to is the unsuccessful one
        (
            [
                _entered("Task", "ChargePayment"),
                {"type": "TaskFailed"},
                _exited("Task", "ChargePayment"),
                _entered("Fail", "PaymentDeclined", "f"),
                {"type": "ExecutionFailed"},
            ],
            ("PaymentDeclined", "Fail", "f"),
        ),
        # after a redrive, the state entered again and still not exited
        (
            [
                _entered("Task", "RetryRefundPayment", "a"),
                {"type": "ExecutionFailed"},
                {"type": "ExecutionRedriven"},
                _entered("Task", "RetryRefundPayment", "a"),
                {"type": "ExecutionFailed"},
            ],
            ("RetryRefundPayment", "Task", "a"),
        ),
    ],
    ids=["timed-out-in-a-task", "caught-then-fail-state", "failed-again-after-a-redrive"],
)
def test_the_unsuccessful_state_is_the_one_entered_and_never_exited(
    history: list[dict[str, Any]], expected: tuple[str, str, str]
) -> None:
    assert unsuccessful_state(history) == expected


def test_an_execution_whose_states_all_exited_has_nothing_to_redrive() -> None:
    from saga_cli.engine.redrive import NotRedrivable

    with pytest.raises(NotRedrivable, match="nothing to resume"):
        unsuccessful_state([_entered("Task", "ShipOrder"), _exited("Task", "ShipOrder")])
