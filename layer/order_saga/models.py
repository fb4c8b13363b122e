"""Every shape the saga passes around: the execution input, the order as it moves through the steps,
and the order as stored. Field names are camelCase on the wire and in DynamoDB, snake_case in Python.
"""

from __future__ import annotations

import re
from collections import Counter
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictInt,
    StringConstraints,
    field_serializer,
    field_validator,
)
from pydantic.alias_generators import to_camel

OrderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,80}$")]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Quantity = Annotated[StrictInt, Field(ge=1, le=1000)]
MinorUnits = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
MAX_LINES = 25
# 12-19 digits, optionally grouped by spaces or dashes: the shape of a card number.
_CARD_NUMBER = re.compile(r"^\d(?:[ -]?\d){11,18}$")
# The same shape anywhere in free text ("Ada 4111 1111 1111 1111"), not part of a longer run of digits.
_CARD_NUMBER_IN_TEXT = re.compile(r"(?<!\d)(?<!\d[ -])\d(?:[ -]?\d){11,18}(?![ -]?\d)")
_NOT_CARD_DATA = "must be a payment token, never card data"


def _no_card_number(text: str) -> str:
    """Free text (names, address lines, the customer id) never carries a card number: refused, not stored."""
    if _CARD_NUMBER_IN_TEXT.search(text):
        raise ValueError("must not hold a card number (card data is never accepted)")
    return text


# Limits the contract leaves open: generous for real addresses, small enough to refuse junk.
Text = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_card_number)]


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    RESERVED = "RESERVED"
    INVENTORY_FAILED = "INVENTORY_FAILED"
    CHARGED = "CHARGED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    SHIPPED = "SHIPPED"
    SHIPPING_FAILED = "SHIPPING_FAILED"
    REFUNDED = "REFUNDED"
    INVENTORY_RELEASED = "INVENTORY_RELEASED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"


S = OrderStatus
#: The statuses an order may move to each status from; the store enforces it with a conditional write,
#: so a late or repeated call can never move an order backwards.
ALLOWED_FROM: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.RESERVED: frozenset({S.CREATED}),
    S.INVENTORY_FAILED: frozenset({S.CREATED}),
    S.CHARGED: frozenset({S.RESERVED}),
    S.PAYMENT_FAILED: frozenset({S.RESERVED}),
    S.SHIPPED: frozenset({S.CHARGED}),
    S.SHIPPING_FAILED: frozenset({S.CHARGED}),
    # A redrive after a failed compensation resumes from COMPENSATION_FAILED.
    S.REFUNDED: frozenset({S.SHIPPING_FAILED, S.REFUNDED, S.COMPENSATION_FAILED}),
    S.INVENTORY_RELEASED: frozenset({S.PAYMENT_FAILED, S.COMPENSATION_FAILED}),
    S.COMPENSATION_FAILED: frozenset({S.PAYMENT_FAILED, S.SHIPPING_FAILED, S.REFUNDED, S.COMPENSATION_FAILED}),
}


class ReservationState(StrEnum):
    HELD = "HELD"
    RELEASED = "RELEASED"
    SHIPPED = "SHIPPED"


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python, immutable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Strict(Model):
    """Input from outside: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class LineItem(Strict):
    sku: Sku
    quantity: Quantity
    unit_price: MinorUnits


class Address(Strict):
    name: Text
    line1: Text
    city: Text
    postcode: Annotated[str, StringConstraints(min_length=1, max_length=20), AfterValidator(_no_card_number)]
    country: Country


class Payment(Strict):
    token: SecretStr = Field(min_length=1, max_length=200)

    @field_validator("token")
    @classmethod
    def _not_card_data(cls, token: SecretStr) -> SecretStr:
        secret = token.get_secret_value()
        if _CARD_NUMBER.match(secret):
            raise ValueError(_NOT_CARD_DATA)
        # SecretStr, unlike str, lets a lone surrogate through: such a token could not be sent on as JSON.
        if not secret.isascii() and any("\ud800" <= char <= "\udfff" for char in secret):
            raise ValueError("must be Unicode text")
        return token

    @field_serializer("token", when_used="json")
    def _reveal_for_next_step(self, token: SecretStr) -> str:
        # The next state needs the token; repr() and logs still show '**********'.
        return token.get_secret_value()


class OrderFields(Model):
    """What the customer asked for: shared by the request and the order."""

    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_no_card_number)]
    items: Annotated[list[LineItem], Field(min_length=1, max_length=MAX_LINES)]
    currency: Currency
    payment: Payment
    shipping_address: Address

    @field_validator("items")
    @classmethod
    def _one_line_per_sku(cls, items: list[LineItem]) -> list[LineItem]:
        duplicates = sorted(sku for sku, count in Counter(line.sku for line in items).items() if count > 1)
        if duplicates:
            raise ValueError(f"each SKU may appear once; repeated: {', '.join(duplicates)}")
        return items

    def total(self) -> int:
        """The order's amount in minor units: the sum of quantity x unit price."""
        return sum(line.quantity * line.unit_price for line in self.items)


class OrderRequest(OrderFields, Strict):
    """The execution input. ``orderId`` is optional: the execution name stands in for it."""

    order_id: OrderId | None = None


class CreateOrderEvent(Model):
    """CreateOrder's payload: the raw execution input and the execution's name."""

    order: dict[str, Any]
    execution_name: OrderId


class Order(OrderFields):
    """The order as it moves from state to state. Extra fields (a caught ``error``) are ignored."""

    model_config = ConfigDict(extra="ignore")

    order_id: OrderId
    status: OrderStatus
    amount: int


class ReservedOrder(Order):
    reservation_id: str


class ChargedOrder(ReservedOrder):
    payment_id: str
    # Once charged, the token's work is done: later states and the execution's output don't carry it.
    payment: Payment | None = Field(default=None, exclude=True)  # type: ignore[assignment]


class ShippedOrder(ChargedOrder):
    tracking_number: str


class RefundedOrder(ChargedOrder):
    refund_id: str


class CompensatedOrder(ReservedOrder):
    """ReleaseInventory's input and output: a refund id is present when the payment was refunded."""

    payment_id: str | None = None
    refund_id: str | None = None
    payment: Payment | None = Field(default=None, exclude=True)  # type: ignore[assignment]


class StepError(BaseModel):
    """A caught error as Step Functions hands it to the next state."""

    model_config = ConfigDict(extra="ignore")

    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")


Compensation = Literal["ReleaseInventory", "RefundPayment"]


class CompensationFailure(Model):
    order_id: OrderId
    compensation: Compensation
    error: StepError


class CompensationFailureRecorded(Model):
    order_id: OrderId
    status: OrderStatus
    compensation: Compensation
    cause: str


class StockTaken(Model):
    """Units a reservation took from one stock item (``shard``) of a SKU."""

    sku: str
    shard: int = Field(ge=0)
    quantity: int = Field(ge=1)


class OrderRecord(Model):
    """The order item as stored. The payment token is never stored."""

    model_config = ConfigDict(extra="ignore")

    order_id: OrderId
    status: OrderStatus
    customer_id: str
    items: list[LineItem]
    currency: str
    amount: int
    shipping_address: Address
    reservation_id: str | None = None
    reservation_state: ReservationState | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    tracking_number: str | None = None
    failed_compensation: Compensation | None = None
    #: Why the order failed, in the store's words: for INVENTORY_FAILED, each SKU's units and the wanted.
    failure_reason: str | None = None
    #: With stock shards: which shards the reservation took from, so the release gives exactly them back.
    stock_taken: list[StockTaken] | None = None
    created_at: str
    updated_at: str
