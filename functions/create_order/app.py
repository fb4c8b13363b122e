"""CreateOrder: validate the execution input and write the order as CREATED."""

from order_saga.handler import saga_step
from order_saga.models import CreateOrderEvent, Order
from order_saga.steps import place_order


@saga_step(CreateOrderEvent)
def lambda_handler(event: CreateOrderEvent) -> Order:
    return place_order(event)
