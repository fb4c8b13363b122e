"""Every sample event in ``events/``: its function, what the tables must hold first, and what it answers.

The one source of these expectations: the in-process handler tests (``tests/test_sample_events.py``) and
``make invoke`` (each function built by ``sam build``, in a Lambda container under ``sam local invoke``)
check the same results against the same list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from order_saga.errors import SagaError
from saga_cli.template import ROOT

EVENTS = ROOT / "events"
#: The forward steps, in the state machine's order; each one's output is the next one's event.
FORWARD = ("CreateOrderFunction", "ReserveInventoryFunction", "ChargePaymentFunction", "ShipOrderFunction")
#: The execution input's fields, as an order carries them from state to state.
_INPUT_FIELDS = ("orderId", "customerId", "items", "currency", "payment", "shippingAddress")

#: Call a function by logical id with an event; return its result or raise its error.
Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    """What a function answered: a result, or the ``errorType`` Lambda reports."""

    result: dict[str, Any] | None = None
    error_type: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class SampleEvent:
    file: str
    function: str
    #: Before the event, the forward steps run through this function for the event's order (its execution
    #: input rebuilt from the event, or from ``order_from``), so the tables hold what the event needs.
    after: str | None = None
    order_from: str | None = None
    #: Exactly one expectation: the result equals this other sample (the next step's event), or has this
    #: ``status``, or the function fails with this ``errorType``.
    returns: str | None = None
    status: str | None = None
    raises: str | None = None

    @property
    def path(self) -> Path:
        return EVENTS / self.file

    def event(self) -> dict[str, Any]:
        return read(self.file)

    def expected(self) -> str:
        if self.raises:
            return f"errorType {self.raises}"
        if self.returns:
            return f"the event of {self.returns}"
        return f"status {self.status}"

    def mismatch(self, outcome: Outcome) -> str | None:
        """Why ``outcome`` is not what this sample expects, or None when it is."""
        if self.raises:
            if outcome.error_type == self.raises:
                return None
        elif outcome.error_type is None and outcome.result is not None:
            if self.returns and outcome.result == read(self.returns):
                return None
            if self.status and outcome.result.get("status") == self.status:
                return None
        got = (
            f"errorType {outcome.error_type} ({outcome.error_message})"
            if outcome.error_type
            else json.dumps(outcome.result)
        )
        return f"expected {self.expected()}, got {got}"

    def prepare(self, invoke: Invoke) -> None:
        """Run the forward steps this event follows, for its order; the last of them may fail as expected."""
        if self.after is None:
            return
        source = read(self.order_from or self.file)
        order = source.get("order", source)
        execution_input = {"payment": {"token": "tok_visa"}} | {k: order[k] for k in _INPUT_FIELDS if k in order}
        state: dict[str, Any] = {"order": execution_input, "executionName": execution_input["orderId"]}
        steps = FORWARD[: FORWARD.index(self.after) + 1]
        for number, function in enumerate(steps, 1):
            try:
                state = invoke(function, state)
            except SagaError:
                if number < len(steps):
                    raise


SAMPLES = (
    SampleEvent("create_order.json", "CreateOrderFunction", returns="reserve_inventory.json"),
    SampleEvent("reserve_inventory.json", "ReserveInventoryFunction", after=FORWARD[0], returns="charge_payment.json"),
    SampleEvent("charge_payment.json", "ChargePaymentFunction", after=FORWARD[1], returns="ship_order.json"),
    SampleEvent("ship_order.json", "ShipOrderFunction", after=FORWARD[2], status="SHIPPED"),
    SampleEvent("refund_payment.json", "RefundPaymentFunction", after=FORWARD[3], status="REFUNDED"),
    SampleEvent("release_inventory.json", "ReleaseInventoryFunction", after=FORWARD[2], status="INVENTORY_RELEASED"),
    SampleEvent(
        "record_compensation_failure.json",
        "RecordCompensationFailureFunction",
        after=FORWARD[3],
        order_from="refund_payment.json",
        status="COMPENSATION_FAILED",
    ),
    # The errors a user would want to see a function raise.
    SampleEvent(
        "reserve_inventory_out_of_stock.json",
        "ReserveInventoryFunction",
        after=FORWARD[0],
        raises="InventoryUnavailable",
    ),
    SampleEvent("charge_payment_declined.json", "ChargePaymentFunction", after=FORWARD[1], raises="PaymentDeclined"),
    SampleEvent("create_order_malformed.json", "CreateOrderFunction", raises="InvalidOrder"),
)


def read(file: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / file).read_text(encoding="utf-8"))
    return data
