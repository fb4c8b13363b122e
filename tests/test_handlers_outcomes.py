"""The contract's outcome table, one row per test, at handler level against moto's DynamoDB.

Each test calls the handlers in the order the state machine would (a caught error is passed on as the
ASL's Catch does) and checks the order item, the stock and the raised error afterwards.
"""

from __future__ import annotations

import pytest

from conftest import SEED, caught, execution_input, idempotency_records, order_input
from order_saga.errors import InvalidOrder, InventoryUnavailable, PaymentDeclined, ShippingFailed
from order_saga.models import OrderStatus, ReservationState

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

HAPPY_OUTPUT_FIELDS = {"orderId", "status", "reservationId", "paymentId", "amount", "currency", "trackingNumber"}


def test_happy_chain_ships_the_order_and_takes_its_stock(tables, run_chain):
    # Given an order for two lines
    order = order_input(
        items=[
            {"sku": "WIDGET-1", "quantity": 2, "unitPrice": 1999},
            {"sku": "GADGET-2", "quantity": 3, "unitPrice": 450},
        ]
    )

    # When CreateOrder, ReserveInventory, ChargePayment and ShipOrder run in turn
    *_, shipped = run_chain(order)

    # Then the output carries everything the contract promises
    assert shipped.keys() >= HAPPY_OUTPUT_FIELDS
    assert shipped["orderId"] == "ord-1"
    assert shipped["status"] == "SHIPPED"
    assert shipped["amount"] == 2 * 1999 + 3 * 450
    assert shipped["currency"] == "GBP"
    # And, its work done once charged, the payment token is not carried to the end
    assert "payment" not in shipped
    # And the stored order agrees with it
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.SHIPPED
    assert stored.reservation_state == ReservationState.SHIPPED
    assert (stored.reservation_id, stored.payment_id, stored.tracking_number) == (
        shipped["reservationId"],
        shipped["paymentId"],
        shipped["trackingNumber"],
    )
    assert stored.amount == shipped["amount"]
    # And exactly the ordered quantities left the stock
    assert tables.stock(["WIDGET-1", "GADGET-2", "GIZMO-3"]) == {
        "WIDGET-1": SEED["WIDGET-1"] - 2,
        "GADGET-2": SEED["GADGET-2"] - 3,
        "GIZMO-3": SEED["GIZMO-3"],
    }


def test_sample_happy_input_without_order_id_uses_the_execution_name(tables, run_chain):
    # Given the sample happy input, which has no orderId
    order = execution_input("happy")
    assert "orderId" not in order

    # When the chain runs under an execution name
    *_, shipped = run_chain(order, execution_name="exec-42")

    # Then the execution name is the order id, in the output and in the table
    assert shipped["orderId"] == "exec-42"
    assert tables.get_order("exec-42").status == OrderStatus.SHIPPED
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}


@pytest.mark.parametrize(
    ("items", "short_sku"),
    [
        pytest.param([{"sku": "OUT-OF-STOCK-1", "quantity": 1, "unitPrice": 500}], "OUT-OF-STOCK-1", id="out-of-stock"),
        pytest.param([{"sku": "NO-SUCH-SKU", "quantity": 1, "unitPrice": 500}], "NO-SUCH-SKU", id="unknown-sku"),
        pytest.param(
            [
                {"sku": "WIDGET-1", "quantity": 5, "unitPrice": 100},
                {"sku": "GIZMO-3", "quantity": 11, "unitPrice": 100},
                {"sku": "GADGET-2", "quantity": 1, "unitPrice": 100},
            ],
            "GIZMO-3",
            id="one-line-of-three-short",
        ),
    ],
)
def test_unavailable_inventory_fails_the_order_and_reserves_nothing(tables, run_chain, invoke, items, short_sku):
    # Given a created order with a line the stock cannot cover
    (created,) = run_chain(order_input(items=items), through="CreateOrderFunction")

    # When ReserveInventory runs
    with pytest.raises(InventoryUnavailable) as raised:
        invoke("ReserveInventoryFunction", created)

    # Then the state machine sees InventoryUnavailable, naming the short line
    assert type(raised.value).__name__ == "InventoryUnavailable"
    assert short_sku in str(raised.value)
    # And the order failed without a reservation, and no line took any stock
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.INVENTORY_FAILED
    assert stored.reservation_id is None
    assert tables.stock() == SEED


def test_sample_out_of_stock_input_fails_reservation(tables, run_chain, invoke):
    # Given the sample out-of-stock input, created
    (created,) = run_chain(execution_input("out_of_stock"), through="CreateOrderFunction", execution_name="oos")

    # When ReserveInventory runs, Then it raises InventoryUnavailable and stock stays as seeded
    with pytest.raises(InventoryUnavailable, match="OUT-OF-STOCK-1"):
        invoke("ReserveInventoryFunction", created)
    assert tables.get_order("oos").status == OrderStatus.INVENTORY_FAILED
    assert tables.stock() == SEED


def test_payment_declined_releases_the_reservation(tables, run_chain, invoke):
    # Given the sample declined-payment order, reserved
    *_, reserved = run_chain(execution_input("payment_declined"), through="ReserveInventoryFunction")
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}

    # When ChargePayment is declined
    with pytest.raises(PaymentDeclined) as declined:
        invoke("ChargePaymentFunction", reserved)
    assert tables.get_order("exec-1").status == OrderStatus.PAYMENT_FAILED
    # And ReleaseInventory gets the state with the caught error, as the Catch passes it
    released = invoke("ReleaseInventoryFunction", caught(reserved, declined.value))

    # Then the order is INVENTORY_RELEASED, its reservation id kept, and the stock is back
    assert released["status"] == "INVENTORY_RELEASED"
    stored = tables.get_order("exec-1")
    assert stored.status == OrderStatus.INVENTORY_RELEASED
    assert stored.reservation_id == reserved["reservationId"]
    assert stored.reservation_state == ReservationState.RELEASED
    assert stored.payment_id is None
    assert tables.stock() == SEED


def test_shipping_failure_refunds_and_releases(tables, run_chain, invoke):
    # Given the sample shipping-failure order (country AQ), charged
    *_, charged = run_chain(execution_input("shipping_failed"), through="ChargePaymentFunction")

    # When ShipOrder fails, and RefundPayment then ReleaseInventory compensate
    with pytest.raises(ShippingFailed) as failed:
        invoke("ShipOrderFunction", charged)
    assert tables.get_order("exec-1").status == OrderStatus.SHIPPING_FAILED
    refunded = invoke("RefundPaymentFunction", caught(charged, failed.value))
    released = invoke("ReleaseInventoryFunction", refunded)

    # Then the order stays REFUNDED with its refund and reservation ids, and the stock is back
    assert released["status"] == "REFUNDED"
    assert released["refundId"] == refunded["refundId"]
    stored = tables.get_order("exec-1")
    assert stored.status == OrderStatus.REFUNDED
    assert stored.refund_id == refunded["refundId"]
    assert stored.reservation_id == charged["reservationId"]
    assert stored.payment_id == charged["paymentId"]
    assert stored.reservation_state == ReservationState.RELEASED
    assert stored.tracking_number is None
    assert tables.stock() == SEED


def test_invalid_sample_input_names_each_bad_field_and_writes_nothing(tables, invoke):
    # Given the sample invalid input
    order = execution_input("invalid")

    # When CreateOrder runs
    with pytest.raises(InvalidOrder) as raised:
        invoke("CreateOrderFunction", {"order": order, "executionName": "bad-1"})

    # Then the message names every offending field
    message = str(raised.value)
    for field in ("customerId", "items.0.sku", "items.0.quantity", "items.0.unitPrice", "currency"):
        assert field in message
    assert "shippingAddress" not in message
    # And nothing was written: no order, no idempotency record, stock as seeded
    assert tables.get_order("bad-1") is None
    assert tables.orders() == []
    assert idempotency_records(tables) == []
    assert tables.stock() == SEED


@pytest.mark.parametrize("compensation", ["RefundPayment", "ReleaseInventory"])
def test_a_compensation_failing_for_good_is_recorded(tables, run_chain, invoke, compensation):
    # Given an order whose shipment failed
    *_, charged = run_chain(
        order_input(shippingAddress=execution_input("shipping_failed")["shippingAddress"]),
        through="ChargePaymentFunction",
    )
    with pytest.raises(ShippingFailed):
        invoke("ShipOrderFunction", charged)

    # When the compensation's retries are used up and RecordCompensationFailure runs with the caught error
    event = {
        "orderId": "ord-1",
        "compensation": compensation,
        "error": {"Error": "StoreUnavailable", "Cause": "DynamoDB ThrottlingException"},
    }
    recorded = invoke("RecordCompensationFailureFunction", event)

    # Then the order is COMPENSATION_FAILED with the compensation named, and the cause names it too
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.COMPENSATION_FAILED
    assert stored.failed_compensation == compensation
    assert recorded["status"] == "COMPENSATION_FAILED"
    assert recorded["compensation"] == compensation
    assert recorded["cause"].startswith(compensation)
    assert "StoreUnavailable" in recorded["cause"]
    # And the stock is as far as the saga got: still reserved
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}
