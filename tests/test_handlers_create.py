"""CreateOrderFunction: validation of the execution input, the order item it writes, and duplicates."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from conftest import SEED, clear_idempotency_records, execution_input, idempotency_records, order_input
from order_saga.errors import DuplicateOrder, InvalidOrder
from order_saga.models import OrderStatus

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

CARD_NUMBER = "4111 1111 1111 1111"


def create(invoke, order: dict[str, Any], execution_name: str = "exec-1") -> dict[str, Any]:
    return invoke("CreateOrderFunction", {"order": order, "executionName": execution_name})


def test_create_writes_the_order_as_created_without_the_payment_token(tables, invoke):
    # Given a valid order with an explicit id
    order = order_input(order_id="ord-7f3a9c")

    # When CreateOrder runs
    created = create(invoke, order)

    # Then it returns the order with status CREATED and the amount in minor units
    assert created["orderId"] == "ord-7f3a9c"
    assert created["status"] == "CREATED"
    assert created["amount"] == 2 * 1999
    assert created["payment"] == {"token": "tok_visa"}  # the next state needs it
    # And the order item holds the same, but never the token
    stored = tables.get_order("ord-7f3a9c")
    assert stored.status == OrderStatus.CREATED
    assert stored.amount == 2 * 1999
    assert stored.customer_id == "cust-42"
    assert [line.model_dump(by_alias=True) for line in stored.items] == order["items"]
    assert stored.reservation_id is None
    raw = tables.client.get_item(
        TableName=tables.table_name, Key={"pk": {"S": "ORDER#ord-7f3a9c"}, "sk": {"S": "ORDER"}}
    )
    assert "payment" not in raw["Item"]
    assert "tok_visa" not in str(raw["Item"])
    # And no stock moved yet
    assert tables.stock() == SEED


def test_order_id_falls_back_to_the_execution_name(tables, invoke):
    # Given an input without an orderId
    order = execution_input("happy")

    # When CreateOrder runs under execution name "exec-abc"
    created = create(invoke, order, execution_name="exec-abc")

    # Then the order is stored under the execution name
    assert created["orderId"] == "exec-abc"
    assert tables.get_order("exec-abc").status == OrderStatus.CREATED


def _with_line(**line: Any) -> dict[str, Any]:
    return order_input(items=[{"sku": "WIDGET-1", "quantity": 2, "unitPrice": 1999} | line])


INVALID = [
    pytest.param(_with_line(quantity="2"), ["items.0.quantity"], id="quantity-as-string"),
    pytest.param(_with_line(quantity=2.0), ["items.0.quantity"], id="quantity-as-float"),
    pytest.param(_with_line(quantity=True), ["items.0.quantity"], id="quantity-as-bool"),
    pytest.param(_with_line(quantity=0), ["items.0.quantity"], id="quantity-zero"),
    pytest.param(_with_line(quantity=1001), ["items.0.quantity"], id="quantity-over-1000"),
    pytest.param(_with_line(unitPrice="1999"), ["items.0.unitPrice"], id="price-as-string"),
    pytest.param(_with_line(unitPrice=19.99), ["items.0.unitPrice"], id="price-as-float"),
    pytest.param(_with_line(unitPrice=-1), ["items.0.unitPrice"], id="price-negative"),
    pytest.param(_with_line(unitPrice=10_000_001), ["items.0.unitPrice"], id="price-over-limit"),
    pytest.param(_with_line(sku="widget-1"), ["items.0.sku"], id="sku-lower-case"),
    pytest.param(_with_line(colour="red"), ["items.0.colour"], id="extra-line-field"),
    pytest.param(order_input(giftWrap=True), ["giftWrap"], id="extra-top-level-field"),
    pytest.param(order_input(items=[]), ["items"], id="no-lines"),
    pytest.param(
        order_input(items=[{"sku": f"SKU-{n}", "quantity": 1, "unitPrice": 1} for n in range(26)]),
        ["items"],
        id="26-lines",
    ),
    pytest.param(
        order_input(
            items=[
                {"sku": "WIDGET-1", "quantity": 1, "unitPrice": 1999},
                {"sku": "GADGET-2", "quantity": 1, "unitPrice": 450},
                {"sku": "WIDGET-1", "quantity": 3, "unitPrice": 1999},
            ]
        ),
        ["items", "WIDGET-1"],
        id="duplicate-sku",
    ),
    pytest.param(order_input(currency="gbp"), ["currency"], id="currency-lower-case"),
    pytest.param(order_input(customerId=""), ["customerId"], id="customer-empty"),
    pytest.param(order_input(customerId=42), ["customerId"], id="customer-as-number"),
    pytest.param(order_input(order_id="ord 1"), ["orderId"], id="order-id-with-space"),
    pytest.param(order_input(order_id="x" * 81), ["orderId"], id="order-id-81-chars"),
    pytest.param(order_input(payment={"token": ""}), ["payment.token"], id="token-empty"),
    pytest.param(order_input(payment={"token": "tok_visa", "cvc": "123"}), ["payment.cvc"], id="cvc-field"),
    pytest.param(
        order_input(shippingAddress=execution_input("happy")["shippingAddress"] | {"country": "gb"}),
        ["shippingAddress.country"],
        id="country-lower-case",
    ),
    pytest.param(
        order_input(shippingAddress=execution_input("happy")["shippingAddress"] | {"city": ""}),
        ["shippingAddress.city"],
        id="city-empty",
    ),
    pytest.param(
        {k: v for k, v in order_input().items() if k != "shippingAddress"}, ["shippingAddress"], id="no-address"
    ),
]


@pytest.mark.parametrize(("order", "fields"), INVALID)
def test_invalid_input_is_refused_naming_the_field_and_nothing_is_written(tables, invoke, order, fields):
    # Given an execution input that breaks the contract

    # When CreateOrder runs
    with pytest.raises(InvalidOrder) as raised:
        create(invoke, order)

    # Then the error is InvalidOrder and its message names the offending field(s)
    assert type(raised.value).__name__ == "InvalidOrder"
    for field in fields:
        assert field in str(raised.value)
    # And no order item, no idempotency record and no stock change
    assert tables.orders() == []
    assert idempotency_records(tables) == []
    assert tables.stock() == SEED


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(order_input(payment={"token": CARD_NUMBER}), id="as-token"),
        pytest.param(order_input(payment={"token": CARD_NUMBER.replace(" ", "")}), id="as-token-ungrouped"),
        pytest.param(order_input(payment={"token": CARD_NUMBER.replace(" ", "-")}), id="as-token-dashed"),
        pytest.param(order_input(cardNumber=CARD_NUMBER), id="as-extra-field"),
        pytest.param(order_input(payment={"token": "tok_visa", "number": CARD_NUMBER}), id="in-payment"),
        pytest.param(order_input(customerId=CARD_NUMBER, currency="xx"), id="next-to-another-error"),
    ],
)
def test_card_number_is_refused_and_never_echoed(tables, invoke, order):
    # Given an input carrying something shaped like a card number
    digits = CARD_NUMBER.replace(" ", "")

    # When CreateOrder runs
    with pytest.raises(InvalidOrder) as raised:
        create(invoke, order)

    # Then it is refused, nothing is written, and the message repeats no part of the number
    message = str(raised.value)
    assert digits not in message.replace(" ", "").replace("-", "")
    assert "1111" not in message
    assert tables.orders() == []


def test_card_number_as_token_is_named_as_card_data(tables, invoke):
    # Given a card number where the token belongs
    order = order_input(payment={"token": CARD_NUMBER})

    # When CreateOrder runs, Then the reason says a token is wanted, not card data
    with pytest.raises(InvalidOrder, match=r"payment\.token: .*never card data"):
        create(invoke, order)


ADDRESS = order_input()["shippingAddress"]


@pytest.mark.parametrize(
    ("order", "field"),
    [
        pytest.param(order_input(customerId=CARD_NUMBER), "customerId", id="customer-id"),
        pytest.param(order_input(customerId=f"cust {CARD_NUMBER}"), "customerId", id="inside-customer-id"),
        pytest.param(
            order_input(shippingAddress=ADDRESS | {"name": f"Ada {CARD_NUMBER}"}), "shippingAddress.name", id="name"
        ),
        pytest.param(
            order_input(shippingAddress=ADDRESS | {"line1": CARD_NUMBER.replace(" ", "-")}),
            "shippingAddress.line1",
            id="line1-dashed",
        ),
        pytest.param(
            order_input(shippingAddress=ADDRESS | {"city": "London" + CARD_NUMBER.replace(" ", "")}),
            "shippingAddress.city",
            id="city-run-together",
        ),
        pytest.param(
            order_input(shippingAddress=ADDRESS | {"postcode": "4111111111111"}),
            "shippingAddress.postcode",
            id="postcode",
        ),
    ],
)
def test_a_card_number_in_free_text_is_refused_like_a_card_token(tables, invoke, order, field):
    # Given a card number in a name, an address line, a city, a postcode or the customer id
    # When CreateOrder runs, Then it is refused naming the field, the number is not repeated, nothing is written
    with pytest.raises(InvalidOrder, match=rf"{re.escape(field)}: .*card") as raised:
        create(invoke, order)
    assert "1111" not in str(raised.value)
    assert tables.orders() == []


@pytest.mark.parametrize(
    "text",
    ["Flat 12, 221B Baker Street", "Tel 020 7946 0958", "Order 12345678901 for Ada", "1234-5678-9012-3456-7890-1"],
)
def test_free_text_with_shorter_or_longer_digit_runs_is_accepted(tables, invoke, text):
    # Phone numbers and house numbers are not card numbers; nor is a run of digits longer than any card's
    created = create(invoke, order_input(shippingAddress=ADDRESS | {"line1": text}))

    assert created["shippingAddress"]["line1"] == text


def test_payload_over_256_kib_is_invalid(tables, invoke):
    # Given an input over Step Functions' 256 KiB limit (the field is extra anyway, the size is checked first)
    order = order_input(notes="x" * (256 * 1024))

    # When CreateOrder runs, Then it is refused for its size and nothing is written
    with pytest.raises(InvalidOrder, match="over the 262144-byte limit"):
        create(invoke, order)
    assert tables.orders() == []


@pytest.mark.parametrize("event", [{}, {"order": [], "executionName": "e"}, {"order": {}, "executionName": "a b"}])
def test_malformed_create_event_is_invalid(tables, invoke, event):
    # Given an event that is not {order: object, executionName: name}
    # When CreateOrder runs, Then InvalidOrder is raised and nothing is written
    with pytest.raises(InvalidOrder):
        invoke("CreateOrderFunction", event)
    assert tables.orders() == []


@pytest.mark.parametrize("records", ["kept", "lost"])
def test_same_order_again_is_a_replay(tables, invoke, records):
    # Given an order already created
    first = create(invoke, order_input())
    before = tables.get_order("ord-1")
    if records == "lost":
        clear_idempotency_records(tables)

    # When CreateOrder runs again with identical content (another execution name, even)
    second = create(invoke, order_input(), execution_name="exec-2")

    # Then it returns the same order and the stored item is untouched
    assert second == first
    assert tables.get_order("ord-1") == before
    assert len(tables.orders()) == 1


@pytest.mark.parametrize("records", ["kept", "lost"])
@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"customerId": "cust-43"}, id="customer"),
        pytest.param({"currency": "EUR"}, id="currency"),
        pytest.param({"items": [{"sku": "WIDGET-1", "quantity": 3, "unitPrice": 1999}]}, id="quantity"),
        pytest.param(
            {"shippingAddress": execution_input("happy")["shippingAddress"] | {"postcode": "EC1A 1BB"}},
            id="address",
        ),
    ],
)
def test_same_order_id_with_other_content_is_a_duplicate(tables, invoke, records, change):
    # Given an order already created
    create(invoke, order_input())
    before = tables.get_order("ord-1")
    if records == "lost":
        clear_idempotency_records(tables)

    # When CreateOrder runs with the same orderId but different content
    with pytest.raises(DuplicateOrder) as raised:
        create(invoke, order_input(**copy.deepcopy(change)), execution_name="exec-2")

    # Then DuplicateOrder names the order, and the stored order is unchanged
    assert "ord-1" in str(raised.value)
    assert tables.get_order("ord-1") == before
    assert tables.stock() == SEED


def test_duplicate_is_still_refused_after_the_first_order_moved_on(tables, run_chain, invoke):
    # Given an order that has shipped
    run_chain(order_input())
    shipped = tables.get_order("ord-1")

    # When a different order claims its id
    with pytest.raises(DuplicateOrder):
        create(invoke, order_input(customerId="someone-else"), execution_name="exec-2")

    # Then the shipped order is untouched
    assert tables.get_order("ord-1") == shipped
