"""ReserveInventoryFunction: all lines or none, never below zero, once per order, never backwards."""

from __future__ import annotations

import pytest

from conftest import SEED, caught, clear_idempotency_records, idempotency_records, order_input
from order_saga.errors import InventoryUnavailable, OrderStateConflict, PaymentDeclined
from order_saga.models import OrderStatus, ReservationState

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

TWO_LINES = [
    {"sku": "WIDGET-1", "quantity": 4, "unitPrice": 1999},
    {"sku": "GADGET-2", "quantity": 5, "unitPrice": 450},
]


def test_reserve_takes_every_line_and_marks_the_reservation_held(tables, run_chain, invoke):
    # Given a created order for two lines
    (created,) = run_chain(order_input(items=TWO_LINES), through="CreateOrderFunction")

    # When ReserveInventory runs
    reserved = invoke("ReserveInventoryFunction", created)

    # Then the order is RESERVED under a reservation id derived from the order id
    assert reserved["status"] == "RESERVED"
    assert reserved["reservationId"] == "res-ord-1"
    assert reserved["payment"] == created["payment"]
    stored = tables.get_order("ord-1")
    assert stored.status == OrderStatus.RESERVED
    assert stored.reservation_id == "res-ord-1"
    assert stored.reservation_state == ReservationState.HELD
    # And both lines took their quantity, nothing else moved
    assert tables.stock() == SEED | {"WIDGET-1": SEED["WIDGET-1"] - 4, "GADGET-2": SEED["GADGET-2"] - 5}


def test_short_line_is_named_and_the_available_lines_are_not_taken(tables, run_chain, invoke):
    # Given an order whose second line wants more GIZMO-3 than there is, and a third unknown SKU
    items = [
        *TWO_LINES,
        {"sku": "GIZMO-3", "quantity": 11, "unitPrice": 1},
        {"sku": "NOPE-9", "quantity": 1, "unitPrice": 1},
    ]
    (created,) = run_chain(order_input(items=items), through="CreateOrderFunction")

    # When ReserveInventory runs
    with pytest.raises(InventoryUnavailable) as raised:
        invoke("ReserveInventoryFunction", created)

    # Then the reason names each bad line, and only those
    message = str(raised.value)
    assert "GIZMO-3 has 10, 11 wanted" in message
    assert "NOPE-9 is unknown" in message
    assert "WIDGET-1" not in message
    assert "GADGET-2" not in message
    # And nothing was taken from the lines that had enough
    assert tables.stock() == SEED
    assert tables.get_order("ord-1").status == OrderStatus.INVENTORY_FAILED


def test_stock_can_reach_zero_but_never_below(tables, run_chain, invoke):
    # Given a first order that takes all ten GIZMO-3
    run_chain(order_input(order_id="ord-a", items=[{"sku": "GIZMO-3", "quantity": 10, "unitPrice": 1}]))
    assert tables.stock(["GIZMO-3"]) == {"GIZMO-3": 0}

    # When a second order wants one more
    (created,) = run_chain(
        order_input(order_id="ord-b", items=[{"sku": "GIZMO-3", "quantity": 1, "unitPrice": 1}]),
        through="CreateOrderFunction",
    )
    with pytest.raises(InventoryUnavailable, match="GIZMO-3 has 0, 1 wanted"):
        invoke("ReserveInventoryFunction", created)

    # Then the stock stays at zero and only the second order failed
    assert tables.stock(["GIZMO-3"]) == {"GIZMO-3": 0}
    assert tables.get_order("ord-a").status == OrderStatus.SHIPPED
    assert tables.get_order("ord-b").status == OrderStatus.INVENTORY_FAILED


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_reserve_twice_takes_stock_once(tables, run_chain, invoke, records):
    # Given an order reserved once
    created, first = run_chain(order_input(items=TWO_LINES), through="ReserveInventoryFunction")
    stock_after_first = tables.stock()
    stored_after_first = tables.get_order("ord-1")
    if records == "lost":
        # the idempotency record is gone (a crash after the write, or its TTL passed)
        clear_idempotency_records(tables)

    # When ReserveInventory runs again with the same event
    second = invoke("ReserveInventoryFunction", created)

    # Then the output is the same, the stock moved once and the order item is unchanged
    assert second == first
    assert tables.stock() == stock_after_first
    assert tables.stock(["WIDGET-1"]) == {"WIDGET-1": SEED["WIDGET-1"] - 4}
    assert tables.get_order("ord-1") == stored_after_first
    # And the step's result is stored for the next replay
    assert any(record["id"]["S"].startswith("reserve_inventory#") for record in idempotency_records(tables))


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_unavailable_twice_fails_the_same_way(tables, run_chain, invoke, records):
    # Given an order whose reservation already failed
    (created,) = run_chain(
        order_input(items=[{"sku": "OUT-OF-STOCK-1", "quantity": 1, "unitPrice": 1}]), "CreateOrderFunction"
    )
    with pytest.raises(InventoryUnavailable):
        invoke("ReserveInventoryFunction", created)
    before = tables.get_order("ord-1")
    if records == "lost":
        clear_idempotency_records(tables)

    # When ReserveInventory runs again, Then it fails again with the same error (not as a conflict)
    with pytest.raises(InventoryUnavailable, match=r"^Inventory unavailable"):
        invoke("ReserveInventoryFunction", created)
    # And changes nothing
    assert tables.get_order("ord-1").status == OrderStatus.INVENTORY_FAILED
    assert tables.get_order("ord-1").reservation_id == before.reservation_id is None
    assert tables.stock() == SEED
    # And a failed step leaves no stored result to replay
    assert not any(record["id"]["S"].startswith("reserve_inventory#") for record in idempotency_records(tables))


def test_late_reserve_of_a_shipped_order_is_a_conflict(tables, run_chain, invoke):
    # Given an order that has shipped, and no idempotency record left
    created, *_ = run_chain(order_input(items=TWO_LINES))
    shipped = tables.get_order("ord-1")
    stock = tables.stock()
    clear_idempotency_records(tables)

    # When a late ReserveInventory arrives with the original event
    with pytest.raises(OrderStateConflict, match="ord-1 is SHIPPED"):
        invoke("ReserveInventoryFunction", created)

    # Then the order is still SHIPPED and no stock moved
    assert tables.get_order("ord-1") == shipped
    assert tables.stock() == stock


def test_late_reserve_of_a_released_order_neither_reserves_nor_reports_reserved(tables, run_chain, invoke):
    # Given an order whose payment was declined and whose stock went back
    created, reserved = run_chain(
        order_input(payment={"token": "tok_chargeDeclined"}, items=TWO_LINES), through="ReserveInventoryFunction"
    )
    with pytest.raises(PaymentDeclined) as declined:
        invoke("ChargePaymentFunction", reserved)
    invoke("ReleaseInventoryFunction", caught(reserved, declined.value))
    released = tables.get_order("ord-1")
    clear_idempotency_records(tables)

    # When a late ReserveInventory arrives with the original event
    with pytest.raises(OrderStateConflict, match="INVENTORY_RELEASED"):
        invoke("ReserveInventoryFunction", created)

    # Then the order stays released and the stock stays restored
    assert tables.get_order("ord-1") == released
    assert tables.stock() == SEED


def test_reserve_of_an_order_never_created_is_a_conflict(tables, run_chain, invoke):
    # Given an order event whose order item does not exist
    (created,) = run_chain(order_input(items=TWO_LINES), through="CreateOrderFunction")
    ghost = created | {"orderId": "ord-ghost"}

    # When ReserveInventory runs for it
    with pytest.raises(OrderStateConflict, match="ord-ghost is missing"):
        invoke("ReserveInventoryFunction", ghost)

    # Then no stock is taken and no order item appears
    assert tables.stock() == SEED
    assert tables.get_order("ord-ghost") is None
