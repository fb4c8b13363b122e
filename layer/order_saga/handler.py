"""What every Lambda handler of the saga shares: logging, tracing, parsing and the idempotency context.

A handler is ``@saga_step(InputModel)`` over one call into ``order_saga.steps``::

    @saga_step(Order)
    def lambda_handler(order: Order) -> ReservedOrder:
        return reserve_inventory(order)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Tracer
from pydantic import BaseModel

from order_saga.errors import SagaError
from order_saga.idempotency import use_lambda_context
from order_saga.parsing import parse

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)
LambdaHandler = Callable[[dict[str, Any], "LambdaContext"], dict[str, Any]]

# The service name and log level come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_LOG_LEVEL.
logger = Logger()
# Only botocore: the functions call nothing else out of process. Without a list, the X-Ray SDK's patch_all
# imports every library it could trace (requests with charset_normalizer, sqlite3, httpx, sqlalchemy...)
# only to patch it, a third of a function's cold import.
tracer = Tracer(patch_modules=("botocore",))

#: The order id of any step's event: the order's own, or (CreateOrder) the input's or the execution's name.
ORDER_ID_PATH = "orderId || order.orderId || executionName"


def saga_step(model: type[In]) -> Callable[[Callable[[In], Out]], LambdaHandler]:
    """Wrap ``step(model) -> model`` as a Lambda handler.

    The event is parsed into ``model`` (a mismatch raises ``InvalidOrder`` naming the fields), the result
    is returned as camelCase JSON. Events are never logged: they carry the payment token.
    """

    def decorate(step: Callable[[In], Out]) -> LambdaHandler:
        @logger.inject_lambda_context(correlation_id_path=ORDER_ID_PATH, log_event=False)
        @tracer.capture_lambda_handler(capture_response=False)
        @functools.wraps(step)
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            use_lambda_context(context)
            try:
                result = step(parse(model, event))
            except SagaError as exc:
                logger.info("Step failed", extra={"error": type(exc).__name__, "reason": str(exc)})
                raise
            logger.info("Step done", extra={"status": getattr(result, "status", None)})
            return result.model_dump(mode="json", by_alias=True, exclude_none=True)

        lambda_handler: LambdaHandler = handler
        return lambda_handler

    return decorate
