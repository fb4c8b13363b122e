"""RefundPayment (compensation): refund the order's charge, once."""

from order_saga.handler import saga_step
from order_saga.models import ChargedOrder, RefundedOrder
from order_saga.steps import refund_payment


@saga_step(ChargedOrder)
def lambda_handler(order: ChargedOrder) -> RefundedOrder:
    return refund_payment(order)
