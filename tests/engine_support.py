"""Running the real state machine on the embedded engine, for the path and CLI tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

from saga_cli.scenarios import Start, read_input, scenario_path
from saga_cli.targets.result import ExecutionResult
from saga_cli.targets.runner import run_many
from saga_cli.targets.target import Target

BUSINESS_SCENARIOS = ("happy", "out-of-stock", "payment-declined", "shipping-failed")


def scenario(name: str, order_id: str | None = None) -> Start:
    """A scenario's input, with its own order id so tests don't collide."""
    start = read_input(scenario_path(name), name)
    data = json.loads(start.payload)
    data["orderId"] = order_id or f"ord-{name}-{uuid.uuid4().hex[:8]}"
    return Start(name, data["orderId"], json.dumps(data))


def order(data: dict[str, Any]) -> Start:
    return Start("custom", data["orderId"], json.dumps(data))


def run(target: Target, *starts: Start, concurrency: int = 1) -> list[ExecutionResult]:
    return run_many(target, list(starts), concurrency)


def idempotency_keys(target: Target) -> list[str]:
    """The idempotency records' keys (``<step>#<hash>``) of completed steps."""
    items = target.store.client.scan(TableName=target.idempotency_table)["Items"]
    return sorted(item["id"]["S"] for item in items if item.get("status", {}).get("S") == "COMPLETED")


def steps_recorded(target: Target) -> list[str]:
    return sorted(key.split("#", 1)[0] for key in idempotency_keys(target))
