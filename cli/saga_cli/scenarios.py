"""The named scenarios and how an execution input is read from a file."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from order_saga.parsing import MAX_PAYLOAD_BYTES, payload_size
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
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


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
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    size = payload_size(data)
    if size > MAX_PAYLOAD_BYTES:
        raise InputError(f"{path} is {size} bytes: Step Functions takes at most {MAX_PAYLOAD_BYTES}")
    order_id = data.get("orderId") if isinstance(data, dict) else None
    name = order_id if isinstance(order_id, str) and _EXECUTION_NAME.match(order_id) else str(uuid.uuid4())
    return Start(label or str(path), name, json.dumps(data))
