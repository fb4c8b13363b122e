"""ShipOrder: book the shipment; an unserved destination raises ShippingFailed."""

from order_saga.handler import saga_step
from order_saga.models import ChargedOrder, ShippedOrder
from order_saga.steps import ship_order


@saga_step(ChargedOrder)
def lambda_handler(order: ChargedOrder) -> ShippedOrder:
    return ship_order(order)
