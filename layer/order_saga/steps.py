"""The saga's steps: what each state of the state machine does to the order.

Every step is safe to run twice. ``once_per_order`` replays a finished step from the idempotency table;
below that, each write is conditional on the order's status, and a write refused because the order already
holds this step's result (a crash after the write, a late retry) counts as done. Anything else refused is
an ``OrderStateConflict``: the order moved on, and a stale call must not move it back.
"""

from __future__ import annotations

from order_saga import providers
from order_saga.errors import (
    ConditionNotMet,
    DuplicateOrder,
    InventoryUnavailable,
    OrderStateConflict,
    PaymentDeclined,
    ShippingFailed,
)
from order_saga.idempotency import once_per_order
from order_saga.models import (
    ChargedOrder,
    CompensatedOrder,
    CompensationFailure,
    CompensationFailureRecorded,
    CreateOrderEvent,
    Order,
    OrderRecord,
    OrderRequest,
    OrderStatus,
    RefundedOrder,
    ReservationState,
    ReservedOrder,
    ShippedOrder,
)
from order_saga.parsing import parse
from order_saga.store import SagaStore, default_store


def _conflict(step: str, order_id: str, current: object) -> OrderStateConflict:
    status = current.status if isinstance(current, OrderRecord) else "missing"
    return OrderStateConflict(f"{step}: order {order_id} is {status}")


_SAME_ORDER = {"customer_id", "items", "currency", "amount", "shipping_address"}
#: CreateOrder's idempotency key: the order's id and content (``_SAME_ORDER``; the amount follows from the
#: items). Keyed on the id alone, a replay would hand an order with other content the first order's result
#: instead of raising DuplicateOrder.
_ORDER_CONTENT = "[order_id, customer_id, items, currency, shipping_address]"


def place_order(event: CreateOrderEvent) -> Order:
    """Validate the execution input and create the order. Its id is ``orderId``, else the execution's name."""
    request = parse(OrderRequest, event.order)
    order = Order(
        **request.model_dump(exclude={"order_id"}),
        order_id=request.order_id or event.execution_name,
        status=OrderStatus.CREATED,
        amount=request.total(),
    )
    return create_order(order)


@once_per_order(key=_ORDER_CONTENT)
def create_order(order: Order) -> Order:
    """Write the order as CREATED, once."""
    try:
        default_store().put_new_order(order)
    except ConditionNotMet as exc:
        existing = exc.current
        same = isinstance(existing, OrderRecord) and existing.model_dump(include=_SAME_ORDER) == order.model_dump(
            include=_SAME_ORDER
        )
        if not same:
            raise DuplicateOrder(f"Order {order.order_id} already exists with other content") from None
        # The same order written by an earlier attempt: carry on from where it is.
    return order


def reservation_id(order_id: str) -> str:
    """Derived from the order, so a retried reservation writes the same id."""
    return f"res-{order_id}"


@once_per_order()
def reserve_inventory(order: Order) -> ReservedOrder:
    """Take stock for every line in one transaction, or none; an unavailable line fails the order."""
    db = default_store()
    reserved = ReservedOrder(
        **order.model_dump(exclude={"status"}),
        status=OrderStatus.RESERVED,
        reservation_id=reservation_id(order.order_id),
    )
    try:
        db.reserve(order.order_id, reserved.reservation_id, order.items)
    except InventoryUnavailable as exc:
        # The reason is kept on the order: what an operator (and the chaos checks) reads to tell a real
        # stock-out. A replay finding the order already failed keeps the first reason.
        _move_or_replayed(
            db,
            "ReserveInventory",
            order.order_id,
            OrderStatus.INVENTORY_FAILED,
            {"failureReason": str(exc)},
            same=False,
        )
        raise
    except ConditionNotMet as exc:
        current = exc.current
        if isinstance(current, OrderRecord) and current.status == OrderStatus.INVENTORY_FAILED:
            # A replay of an attempt that found the stock short: fail the same way, not as a conflict.
            raise InventoryUnavailable(f"Inventory unavailable: order {order.order_id} was not reserved") from None
        # Done only if the order still stands where this step left it: an order that has moved on (shipped,
        # released) keeps its reservation id, and a late call must not report it RESERVED to a next step.
        done = (
            isinstance(current, OrderRecord)
            and current.status == OrderStatus.RESERVED
            and current.reservation_id == reserved.reservation_id
        )
        if not done:
            raise _conflict("ReserveInventory", order.order_id, current) from None
    return reserved


@once_per_order()
def charge_payment(order: ReservedOrder) -> ChargedOrder:
    """Charge the order's amount; a decline marks the order PAYMENT_FAILED and is raised to the state machine.

    The stored order is read first, so a late or replayed call never reaches the provider once the order has
    moved on: one that finds this step's own result (a crash after the write) answers with it.
    """
    db = default_store()
    current = db.get_order(order.order_id)
    if current is not None and current.status == OrderStatus.CHARGED and current.payment_id:
        return ChargedOrder(
            **order.model_dump(exclude={"status"}), status=OrderStatus.CHARGED, payment_id=current.payment_id
        )
    if current is not None and current.status == OrderStatus.PAYMENT_FAILED:
        raise PaymentDeclined("Payment declined")  # a replay of this step's own decline
    if current is None or current.status != OrderStatus.RESERVED:
        raise _conflict("ChargePayment", order.order_id, current)
    try:
        payment_id = providers.payments().charge(
            order_id=order.order_id, amount=order.amount, currency=order.currency, token=order.payment.token
        )
    except PaymentDeclined:
        _move_or_replayed(db, "ChargePayment", order.order_id, OrderStatus.PAYMENT_FAILED)
        raise
    _move_or_replayed(db, "ChargePayment", order.order_id, OrderStatus.CHARGED, {"paymentId": payment_id})
    return ChargedOrder(**order.model_dump(exclude={"status"}), status=OrderStatus.CHARGED, payment_id=payment_id)


@once_per_order()
def ship_order(order: ChargedOrder) -> ShippedOrder:
    """Book the shipment; a carrier refusal marks the order SHIPPING_FAILED and is raised."""
    db = default_store()
    try:
        tracking_number = providers.carrier().ship(order_id=order.order_id, address=order.shipping_address)
    except ShippingFailed:
        _move_or_replayed(db, "ShipOrder", order.order_id, OrderStatus.SHIPPING_FAILED)
        raise
    try:
        db.ship(order.order_id, tracking_number)
    except ConditionNotMet as exc:
        if not (isinstance(exc.current, OrderRecord) and exc.current.tracking_number == tracking_number):
            raise _conflict("ShipOrder", order.order_id, exc.current) from None
    return ShippedOrder(
        **order.model_dump(exclude={"status"}), status=OrderStatus.SHIPPED, tracking_number=tracking_number
    )


@once_per_order()
def refund_payment(order: ChargedOrder) -> RefundedOrder:
    """Compensation: refund the charge, once (the refund id is written only if none is stored)."""
    db = default_store()
    refund_id = providers.payments().refund(payment_id=order.payment_id, amount=order.amount, currency=order.currency)
    try:
        db.move_order(order.order_id, OrderStatus.REFUNDED, {"refundId": refund_id}, absent="refundId")
    except ConditionNotMet as exc:
        if not (isinstance(exc.current, OrderRecord) and exc.current.refund_id == refund_id):
            raise _conflict("RefundPayment", order.order_id, exc.current) from None
    return RefundedOrder(**order.model_dump(exclude={"status"}), status=OrderStatus.REFUNDED, refund_id=refund_id)


@once_per_order()
def release_inventory(order: CompensatedOrder) -> CompensatedOrder:
    """Compensation: put the reserved stock back, once. A refunded order stays REFUNDED."""
    db = default_store()
    status = OrderStatus.REFUNDED if order.refund_id else OrderStatus.INVENTORY_RELEASED
    try:
        db.release(order.order_id, order.items, status)
    except ConditionNotMet as exc:
        current = exc.current
        if not (isinstance(current, OrderRecord) and current.reservation_state == ReservationState.RELEASED):
            raise _conflict("ReleaseInventory", order.order_id, current) from None
    return order.model_copy(update={"status": status})


@once_per_order(key="[order_id, compensation]")
def record_compensation_failure(order: CompensationFailure) -> CompensationFailureRecorded:
    """Mark the order COMPENSATION_FAILED and say which compensation failed, for the Fail state's cause."""
    _move_or_replayed(
        default_store(),
        "RecordCompensationFailure",
        order.order_id,
        OrderStatus.COMPENSATION_FAILED,
        {"failedCompensation": order.compensation},
    )
    return CompensationFailureRecorded(
        order_id=order.order_id,
        status=OrderStatus.COMPENSATION_FAILED,
        compensation=order.compensation,
        cause=f"{order.compensation} failed after its retries ({order.error.error}); the execution can be redriven",
    )


def _move_or_replayed(
    db: SagaStore,
    step: str,
    order_id: str,
    to: OrderStatus,
    attributes: dict[str, str] | None = None,
    *,
    same: bool = True,
) -> None:
    """Move the order to ``to``; already being there (with the same attributes, if ``same``) counts as done."""
    try:
        db.move_order(order_id, to, attributes)
    except ConditionNotMet as exc:
        current = exc.current
        if not isinstance(current, OrderRecord) or current.status != to:
            raise _conflict(step, order_id, current) from None
        stored = current.model_dump(by_alias=True)
        if same and any(stored.get(name) != value for name, value in (attributes or {}).items()):
            raise _conflict(step, order_id, current) from None
