"""ChargePaymentFunction and the simulated payment provider: one charge per order, declines recorded."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr

from conftest import SEED, clear_idempotency_records, idempotency_records, order_input
from order_saga.errors import OrderStateConflict, PaymentDeclined
from order_saga.models import OrderStatus, ReservationState
from order_saga.providers import SimulatedPayments

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

DECLINED = "tok_chargeDeclined"


def test_charge_records_the_payment_id(tables, run_chain, invoke):
    # Given a reserved order
    *_, reserved = run_chain(order_input(), through="ReserveInventoryFunction")

    # When ChargePayment runs
    charged = invoke("ChargePaymentFunction", reserved)

    # Then the order is CHARGED and the payment id is both returned and stored
    assert charged["status"] == "CHARGED"
    assert re.fullmatch(r"pay_[0-9a-f]{24}", charged["paymentId"])
    assert charged["reservationId"] == reserved["reservationId"]
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.CHARGED
    assert stored.payment_id == charged["paymentId"]
    assert stored.reservation_state == ReservationState.HELD
    # And the reservation is untouched by the charge
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard", "tok_chargedeclined", "tok_chargeDeclined2", "x"])
def test_any_token_but_the_declined_one_is_approved(tables, run_chain, token):
    # Given an order paid with some token other than tok_chargeDeclined
    order = order_input(payment={"token": token})

    # When the chain runs through ChargePayment
    *_, charged = run_chain(order, through="ChargePaymentFunction")

    # Then the charge is approved
    assert charged["status"] == "CHARGED"
    assert tables.get_order("ord-1").payment_id == charged["paymentId"]


def test_declined_token_fails_the_payment_and_leaves_the_reservation_to_compensation(tables, run_chain, invoke):
    # Given a reserved order paid with the declined token
    *_, reserved = run_chain(order_input(payment={"token": DECLINED}), through="ReserveInventoryFunction")

    # When ChargePayment runs
    with pytest.raises(PaymentDeclined) as raised:
        invoke("ChargePaymentFunction", reserved)

    # Then the error is PaymentDeclined, the order PAYMENT_FAILED with no payment id
    assert type(raised.value).__name__ == "PaymentDeclined"
    assert DECLINED not in str(raised.value)
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.PAYMENT_FAILED
    assert stored.payment_id is None
    # And the stock is still held: ReleaseInventory gives it back
    assert stored.reservation_state == ReservationState.HELD
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}


def test_charge_id_is_derived_from_the_order_id(tables, run_chain):
    # Given two orders with identical content but different ids
    *_, charged_a = run_chain(order_input(order_id="ord-a"), through="ChargePaymentFunction")
    *_, charged_b = run_chain(order_input(order_id="ord-b"), through="ChargePaymentFunction")

    # Then their payment ids differ
    assert charged_a["paymentId"] != charged_b["paymentId"]
    # And the provider gives the same id for the same order whatever the amount, currency or token
    payments = SimulatedPayments()
    again = payments.charge(order_id="ord-a", amount=1, currency="EUR", token=SecretStr("tok_other"))
    assert again == charged_a["paymentId"]


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_charge_twice_charges_once(tables, run_chain, invoke, records):
    # Given an order charged once
    *_, reserved, first = run_chain(order_input(), through="ChargePaymentFunction")
    stored_after_first = tables.get_order("ord-1")
    if records == "lost":
        clear_idempotency_records(tables)

    # When ChargePayment runs again with the same event
    second = invoke("ChargePaymentFunction", reserved)

    # Then the same payment id comes back and the order item is untouched
    assert second == first
    stored = tables.get_order("ord-1")
    assert stored.payment_id == first["paymentId"]
    assert stored.status == OrderStatus.CHARGED
    if records == "kept":
        # a replay from the idempotency table writes nothing at all
        assert stored == stored_after_first
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}
    assert any(record["id"]["S"].startswith("charge_payment#") for record in idempotency_records(tables))


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_declined_twice_fails_the_same_way(tables, run_chain, invoke, records):
    # Given an order whose charge was declined
    *_, reserved = run_chain(order_input(payment={"token": DECLINED}), through="ReserveInventoryFunction")
    with pytest.raises(PaymentDeclined):
        invoke("ChargePaymentFunction", reserved)
    if records == "lost":
        clear_idempotency_records(tables)

    # When ChargePayment runs again, Then it is declined again and the order stays PAYMENT_FAILED
    with pytest.raises(PaymentDeclined):
        invoke("ChargePaymentFunction", reserved)
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.PAYMENT_FAILED
    assert stored.payment_id is None
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 2}


def test_late_charge_of_a_shipped_order_is_a_conflict(tables, run_chain, invoke):
    # Given an order that has shipped, and no idempotency record left
    _, reserved, *_ = run_chain(order_input())
    shipped = tables.get_order("ord-1")
    clear_idempotency_records(tables)

    # When a late ChargePayment arrives with its original event
    with pytest.raises(OrderStateConflict, match="ord-1 is SHIPPED"):
        invoke("ChargePaymentFunction", reserved)

    # Then the order is not moved back to CHARGED
    assert tables.get_order("ord-1") == shipped


def test_charge_before_reservation_is_a_conflict(tables, run_chain, invoke):
    # Given a created order, and a ChargePayment event claiming a reservation it does not have
    (created,) = run_chain(order_input(), through="CreateOrderFunction")
    event = created | {"status": "RESERVED", "reservationId": "res-ord-1"}

    # When ChargePayment runs
    with pytest.raises(OrderStateConflict, match="ord-1 is CREATED"):
        invoke("ChargePaymentFunction", event)

    # Then the order is still CREATED, with no payment id
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.CREATED
    assert stored.payment_id is None


class CountingPayments(SimulatedPayments):
    """The simulated provider, counting the charges it was asked for."""

    def __init__(self) -> None:
        self.charges = 0

    def charge(self, *, order_id: str, amount: int, currency: str, token: SecretStr) -> str:
        self.charges += 1
        return super().charge(order_id=order_id, amount=amount, currency=currency, token=token)


@pytest.fixture
def provider(monkeypatch):
    counting = CountingPayments()
    monkeypatch.setattr("order_saga.providers.payments", lambda: counting)
    return counting


@pytest.mark.parametrize("token", ["tok_visa", DECLINED])
def test_a_late_charge_never_reaches_the_provider_once_the_order_moved_on(tables, run_chain, invoke, provider, token):
    # Given an order that has moved on from its charge (shipped, or declined and its stock released)
    through = "ShipOrderFunction" if token == "tok_visa" else "ReserveInventoryFunction"
    _, reserved, *_ = run_chain(order_input(payment={"token": token}), through=through)
    if token == DECLINED:
        with pytest.raises(PaymentDeclined):
            invoke("ChargePaymentFunction", reserved)
        invoke("ReleaseInventoryFunction", reserved | {"status": "PAYMENT_FAILED"})
    moved_on = tables.get_order("ord-1")
    asked = provider.charges
    clear_idempotency_records(tables)

    # When a late or replayed ChargePayment arrives
    with pytest.raises(OrderStateConflict, match=f"ord-1 is {moved_on.status}"):
        invoke("ChargePaymentFunction", reserved)

    # Then the provider was not asked again, and the order did not move
    assert provider.charges == asked
    assert tables.get_order("ord-1") == moved_on


def test_a_replay_after_a_crash_answers_from_the_order_without_charging_again(tables, run_chain, invoke, provider):
    # Given an order charged, whose idempotency record was lost (a crash after the write)
    *_, reserved, first = run_chain(order_input(), through="ChargePaymentFunction")
    clear_idempotency_records(tables)

    # When ChargePayment runs again
    again = invoke("ChargePaymentFunction", reserved)

    # Then it answers with the stored charge, and the provider was asked once in all
    assert again == first
    assert provider.charges == 1
