"""ReleaseInventory (compensation): put the order's reserved stock back, once."""

from order_saga.handler import saga_step
from order_saga.models import CompensatedOrder
from order_saga.steps import release_inventory


@saga_step(CompensatedOrder)
def lambda_handler(order: CompensatedOrder) -> CompensatedOrder:
    return release_inventory(order)
