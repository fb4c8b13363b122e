"""Powertools idempotency for the steps, built on first use rather than at import.

A step decorated with ``@once_per_order`` runs its side effects once per order (and per compensation for
the failure recorder): a replay within the TTL returns the stored result without touching the store or a
provider. The store's conditional writes are the second line: they make a replay after the TTL, or after
a crash between the write and the return, harmless too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer
from pydantic import BaseModel

from order_saga.errors import StoreUnavailable
from order_saga.settings import settings
from order_saga.store import default_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)

_configs: list[IdempotencyConfig] = []


class TokenFreeSerializer(BaseIdempotencySerializer):
    """Stores a step's result without its payment token; a replay gets the token of the call it answers.

    A result that still carries the order on to ChargePayment holds the token, and Powertools would keep it in
    the idempotency table until the TTL (and DynamoDB's deletion lag) is over: it must not rest there. A replay
    answers a retry of the same state, whose input holds the same token.
    """

    def __init__(self, model: type[BaseModel], payment: BaseModel | None) -> None:
        self.model = model
        self.payment = payment

    def to_dict(self, data: BaseModel) -> dict[str, Any]:
        return data.model_dump(mode="json", exclude={"payment"})

    def from_dict(self, data: dict[str, Any]) -> BaseModel:
        field = self.model.model_fields.get("payment")
        if field is not None and field.is_required() and self.payment is not None:
            data = data | {"payment": self.payment}
        return self.model.model_validate(data)


@functools.cache
def persistence_layer(step_name: str) -> DynamoDBPersistenceLayer:
    """One per step: Powertools keeps the first configuration it is given and the key prefix of the last
    call, so steps sharing a layer (as they do in the local engine's single process) would mix their keys.
    All share the store's DynamoDB client."""
    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table_name, boto3_client=default_store().client)


def use_lambda_context(context: LambdaContext) -> None:
    """Let an in-progress record expire with the invocation's remaining time, as Lambda's would."""
    for config in _configs:
        config.register_lambda_context(context)


def once_per_order(key: str = "order_id") -> Callable[[Callable[[In], Out]], Callable[[In], Out]]:
    """Make ``step(order)`` idempotent on the JMESPath ``key`` of its input (snake_case field names).

    The record key is ``<step name>#<hash of key>``: stable when modules move, distinct per step.
    """

    def decorate(step: Callable[[In], Out]) -> Callable[[In], Out]:
        config = IdempotencyConfig(event_key_jmespath=key, raise_on_no_idempotency_key=True)
        _configs.append(config)
        # The step's return model (its annotation is a string under postponed evaluation).
        result_model = get_type_hints(step)["return"]

        @functools.wraps(step)
        def run(order: In) -> Out:
            # Wrapping per call is cheap and picks up the (cached) persistence layer lazily.
            config.expires_after_seconds = settings().idempotency_ttl_seconds
            guarded = idempotent_function(
                step,
                data_keyword_argument="order",
                persistence_store=persistence_layer(step.__name__),
                config=config,
                output_serializer=TokenFreeSerializer(result_model, getattr(order, "payment", None)),
                key_prefix=step.__name__,
            )
            try:
                result: Out = guarded(order=order)
            except IdempotencyPersistenceLayerError as exc:
                # The idempotency table refused (throttled) a read or write: Powertools wraps DynamoDB's error in
                # a name no Retry lists. It is the same trouble as the saga table's, and is retried the same way.
                raise StoreUnavailable(f"Idempotency table unavailable: {exc}") from exc
            return result

        return run

    return decorate
