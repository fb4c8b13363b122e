"""ChargePayment: charge the order's amount; a decline raises PaymentDeclined."""

from order_saga.handler import saga_step
from order_saga.models import ChargedOrder, ReservedOrder
from order_saga.steps import charge_payment


@saga_step(ReservedOrder)
def lambda_handler(order: ReservedOrder) -> ChargedOrder:
    return charge_payment(order)
