"""ReserveInventory: hold stock for every line of the order in one transaction, or none."""

from order_saga.handler import saga_step
from order_saga.models import Order, ReservedOrder
from order_saga.steps import reserve_inventory


@saga_step(Order)
def lambda_handler(order: Order) -> ReservedOrder:
    return reserve_inventory(order)
