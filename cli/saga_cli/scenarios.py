"""The named scenarios and how an execution input is read from a file."""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from order_saga.parsing import MAX_PAYLOAD_BYTES
from saga_cli.template import ROOT

EXECUTIONS = ROOT / "events" / "executions"
#: Scenario name -> input file; ``--all`` runs them in this order.
SCENARIOS = {
    "happy": "happy.json",
    "out-of-stock": "out_of_stock.json",
    "payment-declined": "payment_declined.json",
    "shipping-failed": "shipping_failed.json",
    "invalid": "invalid.json",
}
_EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")  # fullmatch: "$" would let a trailing line break in


class InputError(Exception):
    """A scenario or input file cannot be used (exit status 2)."""


@dataclass(frozen=True)
class Start:
    """One execution to start: its name (the order id) and the exact input text."""

    label: str
    name: str
    payload: str


def scenario_path(name: str) -> Path:
    try:
        return EXECUTIONS / SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise InputError(f"unknown scenario {name!r}: choose from {known}") from None


def read_input(path: Path, label: str | None = None) -> Start:
    """Read an execution input. Its ``orderId`` names the execution; without a usable one, a UUID does."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data: Any = json.loads(text, parse_constant=_not_json, parse_float=_finite)
        payload = _payload(data)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InputError(f"{path} is not usable JSON: nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, 1e400, or an integer of more digits than Python converts
        raise InputError(f"{path} is not usable JSON: {str(exc).split(':', 1)[0]}") from None
    size = len(payload.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise InputError(f"{path} is {size} bytes: Step Functions takes at most {MAX_PAYLOAD_BYTES}")
    order_id = data.get("orderId") if isinstance(data, dict) else None
    name = order_id if isinstance(order_id, str) and _EXECUTION_NAME.fullmatch(order_id) else str(uuid.uuid4())
    return Start(label or str(path), name, payload)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _finite(text: str) -> float:
    """A number Python holds as infinity would be sent on as ``Infinity``, which is not JSON."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large a number")
    return number


def _payload(data: Any) -> str:
    """The input as it is sent, so its size is the size Step Functions counts: compact JSON in UTF-8, with
    ``\\u`` escapes only when it holds lone surrogates (which UTF-8 cannot carry)."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    try:
        payload.encode("utf-8")
    except UnicodeEncodeError:
        payload = json.dumps(data, separators=(",", ":"))
    return payload
