"""The saga's typed errors.

Each class name is the string a ``Catch`` or ``Retry`` of ``statemachine/order_saga.asl.json`` matches:
Lambda reports ``errorType`` as the exception class's ``__name__``. A test checks both directions.
"""

from __future__ import annotations


class SagaError(Exception):
    """Base class of every error a step raises on purpose."""


class InvalidOrder(SagaError):
    """The execution input or a step's event does not match the contract. Nothing was written."""


class DuplicateOrder(SagaError):
    """An order with this id already exists with different content."""


class InventoryUnavailable(SagaError):
    """A line is short of stock or names an unknown SKU. Nothing was reserved."""


class PaymentDeclined(SagaError):
    """The payment provider declined the charge."""


class ShippingFailed(SagaError):
    """The carrier cannot ship the order."""


class OrderStateConflict(SagaError):
    """The order is not in a state this step may move it from (a late or out-of-order call)."""


class StoreUnavailable(SagaError):
    """DynamoDB refused or throttled a request; the state machine retries this error."""


#: Errors raised by the steps, by the name the state machine sees.
ERRORS_BY_NAME: dict[str, type[SagaError]] = {
    cls.__name__: cls
    for cls in (
        InvalidOrder,
        DuplicateOrder,
        InventoryUnavailable,
        PaymentDeclined,
        ShippingFailed,
        OrderStateConflict,
        StoreUnavailable,
    )
}


class ConditionNotMet(Exception):
    """A conditional write found the order in another state. Internal to the steps: never reaches the ASL.

    ``current`` is the order as stored (``None`` if there is none), so the step can tell a replay of its
    own write (already done: succeed) from a real conflict.
    """

    def __init__(self, current: object) -> None:
        super().__init__("the order is not in a state this write may change")
        self.current = current
