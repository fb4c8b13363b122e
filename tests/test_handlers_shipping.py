"""ShipOrderFunction and the simulated carrier: a tracking number once per order, AQ not served."""

from __future__ import annotations

import re

import pytest

from conftest import SEED, clear_idempotency_records, execution_input, idempotency_records, order_input
from order_saga.errors import OrderStateConflict, ShippingFailed
from order_saga.models import Address, OrderStatus, ReservationState
from order_saga.providers import SimulatedCarrier

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

TRACKING_NUMBER = re.compile(r"^TRK-[0-9A-F]{8}$")
ADDRESS = execution_input("happy")["shippingAddress"]


def shipping_to(country: str, order_id: str = "ord-1") -> dict:
    return order_input(order_id=order_id, shippingAddress=ADDRESS | {"country": country})


def test_ship_books_a_tracking_number_and_the_stock_leaves(tables, run_chain, invoke):
    # Given a charged order
    *_, charged = run_chain(order_input(), through="ChargePaymentFunction")

    # When ShipOrder runs
    shipped = invoke("ShipOrderFunction", charged)

    # Then the order is SHIPPED with a tracking number of the contract's shape
    assert shipped["status"] == "SHIPPED"
    assert TRACKING_NUMBER.match(shipped["trackingNumber"])
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.SHIPPED
    assert stored.tracking_number == shipped["trackingNumber"]
    # And the reservation became shipped stock: it is never released again
    assert stored.reservation_state == ReservationState.SHIPPED
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}


def test_tracking_numbers_differ_per_order(tables, run_chain):
    # Given two orders with the same content but different ids
    *_, first = run_chain(order_input(order_id="ord-a"))
    *_, second = run_chain(order_input(order_id="ord-b"))

    # Then each has its own well-formed tracking number
    assert first["trackingNumber"] != second["trackingNumber"]
    assert all(TRACKING_NUMBER.match(shipped["trackingNumber"]) for shipped in (first, second))


@pytest.mark.parametrize("country", ["GB", "US", "FR", "JP", "AU", "AR"])
def test_carrier_serves_every_country_but_antarctica(country):
    # Given the simulated carrier and an address outside Antarctica
    address = Address.model_validate(ADDRESS | {"country": country})

    # When a shipment is booked, Then it gets a tracking number, the same one for the same order
    tracking_number = SimulatedCarrier().ship(order_id="ord-1", address=address)
    assert TRACKING_NUMBER.match(tracking_number)
    assert SimulatedCarrier().ship(order_id="ord-1", address=address) == tracking_number


def test_shipping_to_antarctica_fails_the_order(tables, run_chain, invoke):
    # Given a charged order bound for AQ
    *_, charged = run_chain(shipping_to("AQ"), through="ChargePaymentFunction")

    # When ShipOrder runs
    with pytest.raises(ShippingFailed) as raised:
        invoke("ShipOrderFunction", charged)

    # Then the error is ShippingFailed naming the destination
    assert type(raised.value).__name__ == "ShippingFailed"
    assert "AQ" in str(raised.value)
    # And the order is SHIPPING_FAILED, still charged and reserved: compensation undoes both
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.SHIPPING_FAILED
    assert stored.tracking_number is None
    assert stored.payment_id == charged["paymentId"]
    assert stored.reservation_state == ReservationState.HELD
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_ship_twice_ships_once(tables, run_chain, invoke, records):
    # Given an order shipped once
    *_, charged, first = run_chain(order_input())
    stored_after_first = tables.get_order("ord-1")
    if records == "lost":
        clear_idempotency_records(tables)

    # When ShipOrder runs again with the same event
    second = invoke("ShipOrderFunction", charged)

    # Then the same tracking number comes back and the order item holds it once
    assert second == first
    stored = tables.get_order("ord-1")
    assert stored.tracking_number == first["trackingNumber"]
    assert stored.status == OrderStatus.SHIPPED
    if records == "kept":
        assert stored == stored_after_first
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}
    assert any(record["id"]["S"].startswith("ship_order#") for record in idempotency_records(tables))


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_shipping_failure_twice_fails_the_same_way(tables, run_chain, invoke, records):
    # Given an order whose shipment failed once
    *_, charged = run_chain(shipping_to("AQ"), through="ChargePaymentFunction")
    with pytest.raises(ShippingFailed):
        invoke("ShipOrderFunction", charged)
    if records == "lost":
        clear_idempotency_records(tables)

    # When ShipOrder runs again, Then it fails again and the order stays SHIPPING_FAILED
    with pytest.raises(ShippingFailed):
        invoke("ShipOrderFunction", charged)
    assert tables.get_order("ord-1").status == OrderStatus.SHIPPING_FAILED
    assert tables.get_order("ord-1").tracking_number is None


def test_ship_before_charge_is_a_conflict(tables, run_chain, invoke):
    # Given a reserved order, and a ShipOrder event claiming a payment it does not have
    *_, reserved = run_chain(order_input(), through="ReserveInventoryFunction")
    event = reserved | {"status": "CHARGED", "paymentId": "pay_forged"}

    # When ShipOrder runs
    with pytest.raises(OrderStateConflict, match="ord-1 is RESERVED"):
        invoke("ShipOrderFunction", event)

    # Then nothing is shipped: no tracking number, the reservation still held
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.RESERVED
    assert stored.tracking_number is None
    assert stored.reservation_state == ReservationState.HELD


def test_late_ship_of_a_refunded_order_is_a_conflict(tables, run_chain, invoke):
    # Given an order whose shipment failed and was refunded (the event still says CHARGED)
    *_, charged = run_chain(shipping_to("AQ"), through="ChargePaymentFunction")
    with pytest.raises(ShippingFailed):
        invoke("ShipOrderFunction", charged)
    invoke("RefundPaymentFunction", charged)
    refunded = tables.get_order("ord-1")
    clear_idempotency_records(tables)

    # When a late ShipOrder arrives, now to a served country
    with pytest.raises(OrderStateConflict, match="ord-1 is REFUNDED"):
        invoke("ShipOrderFunction", charged | {"shippingAddress": ADDRESS})

    # Then the refunded order is not shipped
    assert tables.get_order("ord-1") == refunded
