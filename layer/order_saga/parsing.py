"""Turn untrusted JSON into models, or into one clear ``InvalidOrder`` line naming the bad fields."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from order_saga.errors import InvalidOrder

#: Step Functions refuses execution input and state data over 256 KiB.
MAX_PAYLOAD_BYTES = 256 * 1024
_MAX_MESSAGE = 500

M = TypeVar("M", bound=BaseModel)


def describe(exc: ValidationError) -> str:
    """One line naming each offending field. Input values are left out: they may hold card data."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "input"
        problems.append(f"{where}: {error['msg']}")
    message = "; ".join(problems)
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def payload_size(data: Any) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


def parse(model: type[M], data: Any) -> M:
    """Validate ``data`` as ``model``; raise ``InvalidOrder`` with a readable reason otherwise."""
    if not isinstance(data, dict):
        raise InvalidOrder(f"Invalid order: input must be a JSON object, not {type(data).__name__}")
    size = payload_size(data)
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidOrder(f"Invalid order: input is {size} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidOrder(f"Invalid order: {describe(exc)}") from None
