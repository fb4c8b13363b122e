"""RefundPayment, ReleaseInventory and RecordCompensationFailure: each undoes once, and never un-ships."""

from __future__ import annotations

import pytest

from conftest import SEED, caught, clear_idempotency_records, execution_input, order_input
from order_saga.errors import InvalidOrder, InventoryUnavailable, OrderStateConflict, PaymentDeclined, ShippingFailed
from order_saga.models import OrderStatus, ReservationState

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

HELD = {"WIDGET-1": SEED["WIDGET-1"] - 2}
TO_ANTARCTICA = execution_input("shipping_failed")["shippingAddress"]


@pytest.fixture
def declined(tables, run_chain, invoke):
    """ReleaseInventory's event after ChargePayment declined: the reserved order with the caught error."""
    *_, reserved = run_chain(order_input(payment={"token": "tok_chargeDeclined"}), through="ReserveInventoryFunction")
    with pytest.raises(PaymentDeclined) as raised:
        invoke("ChargePaymentFunction", reserved)
    return caught(reserved, raised.value)


@pytest.fixture
def ship_failed(tables, run_chain, invoke):
    """RefundPayment's event after ShipOrder failed: the charged order with the caught error."""
    *_, charged = run_chain(order_input(shippingAddress=TO_ANTARCTICA), through="ChargePaymentFunction")
    with pytest.raises(ShippingFailed) as raised:
        invoke("ShipOrderFunction", charged)
    return caught(charged, raised.value)


def failure(compensation: str, order_id: str = "ord-1") -> dict:
    """RecordCompensationFailure's event, as the ASL's Record*Failure states build it."""
    error = {"Error": "States.TaskFailed", "Cause": "still failing"}
    return {"orderId": order_id, "compensation": compensation, "error": error}


# ReleaseInventory --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_release_twice_restores_stock_once(tables, invoke, declined, records):
    # Given a declined order whose stock was released once
    assert tables.stock(["WIDGET-1"]) == HELD
    first = invoke("ReleaseInventoryFunction", declined)
    assert tables.stock() == SEED
    stored_after_first = tables.get_order("ord-1")
    if records == "lost":
        clear_idempotency_records(tables)

    # When ReleaseInventory runs again with the same event
    second = invoke("ReleaseInventoryFunction", declined)

    # Then the output is the same and the stock went back exactly once
    assert second == first
    assert tables.stock() == SEED
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.INVENTORY_RELEASED
    assert stored.reservation_state == ReservationState.RELEASED
    assert stored.reservation_id == declined["reservationId"]
    if records == "kept":
        assert stored == stored_after_first


def test_release_of_a_shipped_order_is_a_conflict(tables, run_chain, invoke):
    # Given an order that shipped
    _, reserved, *_ = run_chain(order_input())
    shipped = tables.get_order("ord-1")

    # When a stray ReleaseInventory arrives for it
    with pytest.raises(OrderStateConflict, match="ord-1 is SHIPPED"):
        invoke("ReleaseInventoryFunction", reserved)

    # Then shipped stock does not come back and the order is untouched
    assert tables.stock(["WIDGET-1"]) == HELD
    assert tables.get_order("ord-1") == shipped


def test_release_of_an_order_that_never_reserved_is_a_conflict(tables, run_chain, invoke):
    # Given an order whose reservation failed, and an event claiming a reservation
    items = [
        {"sku": "WIDGET-1", "quantity": 2, "unitPrice": 1999},
        {"sku": "OUT-OF-STOCK-1", "quantity": 1, "unitPrice": 1},
    ]
    (created,) = run_chain(order_input(items=items), through="CreateOrderFunction")
    with pytest.raises(InventoryUnavailable):
        invoke("ReserveInventoryFunction", created)

    # When ReleaseInventory runs for it
    with pytest.raises(OrderStateConflict, match="INVENTORY_FAILED"):
        invoke("ReleaseInventoryFunction", created | {"reservationId": "res-ord-1"})

    # Then no stock is created out of nothing
    assert tables.stock() == SEED
    assert tables.get_order("ord-1").status == OrderStatus.INVENTORY_FAILED


def test_release_needs_a_reservation_id(tables, invoke, declined):
    # Given ReleaseInventory's event without the reservation id
    event = {k: v for k, v in declined.items() if k != "reservationId"}

    # When ReleaseInventory runs, Then the event is invalid and nothing moves
    with pytest.raises(InvalidOrder, match="reservationId"):
        invoke("ReleaseInventoryFunction", event)
    assert tables.stock(["WIDGET-1"]) == HELD
    assert tables.get_order("ord-1").status == OrderStatus.PAYMENT_FAILED


# RefundPayment ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_refund_twice_refunds_once(tables, invoke, ship_failed, records):
    # Given an order whose shipment failed, refunded once
    first = invoke("RefundPaymentFunction", ship_failed)
    stored_after_first = tables.get_order("ord-1")
    if records == "lost":
        clear_idempotency_records(tables)

    # When RefundPayment runs again with the same event
    second = invoke("RefundPaymentFunction", ship_failed)

    # Then the same refund id comes back and the order holds one refund
    assert second == first
    assert first["refundId"].startswith("ref_")
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.REFUNDED
    assert stored.refund_id == first["refundId"]
    if records == "kept":
        assert stored == stored_after_first
    # And the refund alone does not touch the stock
    assert tables.stock(["WIDGET-1"]) == HELD


def test_a_second_different_refund_is_never_written(tables, invoke, ship_failed):
    # Given a refunded order, and its idempotency records gone
    invoke("RefundPaymentFunction", ship_failed)
    refunded = tables.get_order("ord-1")
    clear_idempotency_records(tables)

    # When RefundPayment runs with another payment id (so the provider answers with another refund id)
    with pytest.raises(OrderStateConflict):
        invoke("RefundPaymentFunction", ship_failed | {"paymentId": "pay_other"})

    # Then the stored refund is the first one
    assert tables.get_order("ord-1") == refunded


def test_refund_of_a_shipped_order_is_a_conflict(tables, run_chain, invoke):
    # Given an order that shipped
    *_, charged, _ = run_chain(order_input())
    shipped = tables.get_order("ord-1")

    # When a stray RefundPayment arrives for it
    with pytest.raises(OrderStateConflict, match="ord-1 is SHIPPED"):
        invoke("RefundPaymentFunction", charged)

    # Then no refund is recorded
    assert tables.get_order("ord-1") == shipped
    assert tables.get_order("ord-1").refund_id is None


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_shipping_failure_compensation_replayed_restores_stock_once(tables, invoke, ship_failed, records):
    # Given a shipping failure compensated once: refund, then release
    refunded = invoke("RefundPaymentFunction", ship_failed)
    released = invoke("ReleaseInventoryFunction", refunded)
    assert tables.stock() == SEED
    if records == "lost":
        clear_idempotency_records(tables)

    # When both compensations run again
    assert invoke("RefundPaymentFunction", ship_failed) == refunded
    assert invoke("ReleaseInventoryFunction", refunded) == released

    # Then the order stays REFUNDED with one refund, and the stock was restored once
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.REFUNDED
    assert stored.refund_id == refunded["refundId"]
    assert stored.reservation_state == ReservationState.RELEASED
    assert tables.stock() == SEED


# RecordCompensationFailure and redrive --------------------------------------------------------------------------


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_recording_a_compensation_failure_twice_is_one_record(tables, invoke, ship_failed, records):
    # Given a refund failure recorded once
    first = invoke("RecordCompensationFailureFunction", failure("RefundPayment"))
    if records == "lost":
        clear_idempotency_records(tables)

    # When it is recorded again
    second = invoke("RecordCompensationFailureFunction", failure("RefundPayment"))

    # Then the output is the same, naming the compensation, and the order says which one failed
    assert second == first
    assert first["cause"] == (
        "RefundPayment failed after its retries (States.TaskFailed); the execution can be redriven"
    )
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.COMPENSATION_FAILED
    assert stored.failed_compensation == "RefundPayment"
    assert stored.payment_id == ship_failed["paymentId"]
    assert stored.refund_id is None


def test_compensation_failure_of_a_shipped_order_is_a_conflict(tables, run_chain, invoke):
    # Given an order that shipped
    run_chain(order_input())
    shipped = tables.get_order("ord-1")

    # When a stray RecordCompensationFailure arrives for it
    with pytest.raises(OrderStateConflict, match="ord-1 is SHIPPED"):
        invoke("RecordCompensationFailureFunction", failure("ReleaseInventory"))

    # Then the order is not marked COMPENSATION_FAILED
    assert tables.get_order("ord-1") == shipped


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(failure("ShipOrder"), id="not-a-compensation"),
        pytest.param({"orderId": "ord-1", "compensation": "RefundPayment"}, id="no-error"),
        pytest.param(failure("RefundPayment", order_id="bad id"), id="bad-order-id"),
    ],
)
def test_malformed_compensation_failure_is_invalid(tables, invoke, declined, event):
    # Given a RecordCompensationFailure event the ASL never builds
    # When it runs, Then it is refused and the order is not touched
    with pytest.raises(InvalidOrder):
        invoke("RecordCompensationFailureFunction", event)
    assert tables.get_order("ord-1").status == OrderStatus.PAYMENT_FAILED


def test_redriven_release_after_a_recorded_failure_restores_stock(tables, invoke, declined):
    # Given a declined order whose release kept failing and was recorded
    invoke("RecordCompensationFailureFunction", failure("ReleaseInventory"))
    assert tables.get_order("ord-1").status == OrderStatus.COMPENSATION_FAILED
    assert tables.stock(["WIDGET-1"]) == HELD

    # When the execution is redriven and ReleaseInventory runs again
    released = invoke("ReleaseInventoryFunction", declined)

    # Then the stock is back and the order is INVENTORY_RELEASED
    assert released["status"] == "INVENTORY_RELEASED"
    assert tables.get_order("ord-1").status == OrderStatus.INVENTORY_RELEASED
    assert tables.stock() == SEED


def test_redriven_refund_after_a_recorded_failure_completes_the_compensation(tables, invoke, ship_failed):
    # Given a failed shipment whose refund kept failing and was recorded
    invoke("RecordCompensationFailureFunction", failure("RefundPayment"))

    # When the execution is redriven: RefundPayment, then ReleaseInventory
    refunded = invoke("RefundPaymentFunction", ship_failed)
    released = invoke("ReleaseInventoryFunction", refunded)

    # Then the order is REFUNDED with its refund id, and the stock is back
    assert released["status"] == "REFUNDED"
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.REFUNDED
    assert stored.refund_id == refunded["refundId"]
    assert stored.reservation_state == ReservationState.RELEASED
    assert tables.stock() == SEED
