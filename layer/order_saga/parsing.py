"""Turn untrusted JSON into models, or into one clear ``InvalidOrder`` line naming the bad fields."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from order_saga.errors import InvalidOrder

#: Step Functions refuses execution input and state data over 256 KiB.
MAX_PAYLOAD_BYTES = 256 * 1024
_MAX_MESSAGE = 500
#: A field name shown as it is. Any other name is the sender's own key (control characters, RTL marks, lone
#: surrogates, a card number...): it is shown JSON-escaped (ASCII only) and shortened, so the reason stays
#: one plain line.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_\[\]-]{1,64}")
_NAME_CHARS = 40
#: 12 or more digits, maybe grouped by spaces or dashes: what might be a card number is never repeated.
_CARD_LIKE = re.compile(r"[0-9](?:[ -]?[0-9]){11,}")

M = TypeVar("M", bound=BaseModel)


def _name(part: str | int) -> str:
    text = str(part)
    if _PLAIN_NAME.fullmatch(text):
        return text
    return json.dumps(text if len(text) <= _NAME_CHARS else text[:_NAME_CHARS] + "...")


def describe(exc: ValidationError) -> str:
    """One line naming each offending field. Input values are left out: they may hold card data."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(_name(part) for part in error["loc"]) or "input"
        problems.append(f"{where}: {error['msg']}")
    # A field's name or a repeated SKU comes from the input too: nothing shaped like a card number is echoed.
    message = _CARD_LIKE.sub("[redacted]", "; ".join(problems))
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
        # Wire names only: the models also take their Python names (``customer_id``), for building them in code.
        return model.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise InvalidOrder(f"Invalid order: {describe(exc)}") from None
