"""What one saga costs in requests: state transitions, Lambda invocations and DynamoDB requests and units.

Counted on one execution of a scenario on the embedded engine: transitions and invocations from its
history, DynamoDB requests on the handlers' own client (idempotency records included), item sizes by
DynamoDB's rules. ``saga bench`` prices these counts; ``saga capacity`` holds them against AWS's quotas.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from order_saga.store import SKU_PREFIX, STOCK_SK
from saga_cli.engine.embedded import table_name


@dataclass
class DynamoCounter:
    """Counts the requests made on a DynamoDB client (botocore's ``before-parameter-build`` event)."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, json.loads(json.dumps(params, default=str))))

    @contextlib.contextmanager
    def on(self, client: Any) -> Iterator[DynamoCounter]:
        client.meta.events.register("before-parameter-build.dynamodb", self)
        try:
            yield self
        finally:
            client.meta.events.unregister("before-parameter-build.dynamodb", self)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item: attribute names plus values (numbers about one byte per two digits)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    kind, inner = next(iter(value.items()))
    if kind in ("S", "B"):
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        return (len(inner.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    return sum(len(str(v).encode()) for v in inner)  # SS, NS, BS


def _writes(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(table, item or key, transactional) for each item a request writes."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [(params["TableName"], params.get("Item") or params["Key"], False)]
    if operation == "TransactWriteItems":
        written = []
        for entry in params["TransactItems"]:
            kind, request = next(iter(entry.items()))
            if kind != "ConditionCheck":
                written.append((request["TableName"], request.get("Item") or request["Key"], True))
        return written
    if operation == "BatchWriteItem":
        return [
            (table, (w.get("PutRequest") or {}).get("Item") or w["DeleteRequest"]["Key"], False)
            for table, writes in params["RequestItems"].items()
            for w in writes
        ]
    return []


def _reads(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], float]]:
    """(table, key, units per 4 KB) for each item a request reads by key (the handlers never query or scan;
    such a request would show in ``dynamodbRequests`` and ``dynamodbOperations``, not here)."""
    if operation == "GetItem":
        return [(params["TableName"], params["Key"], 1.0 if params.get("ConsistentRead") else 0.5)]
    if operation == "TransactGetItems":
        return [(e["Get"]["TableName"], e["Get"]["Key"], 2.0) for e in params["TransactItems"]]
    if operation == "BatchGetItem":
        return [
            (table, key, 1.0 if spec.get("ConsistentRead") else 0.5)
            for table, spec in params["RequestItems"].items()
            for key in spec["Keys"]
        ]
    return []


class EngineSagas(Protocol):
    """What the census needs: a target to read histories from, and one saga of a scenario run on it."""

    target: Any

    def engine(self, scenario: str) -> dict[str, Any]: ...


def census(sagas: EngineSagas, scenario: str, client: Any, reader: Any, keys: dict[str, list[str]]) -> dict[str, Any]:
    """Run one saga of ``scenario`` on the engine and count what it costs."""
    with DynamoCounter().on(client) as counter:
        describe = sagas.engine(scenario)
    history = sagas.target.history(describe["executionArn"])
    entered = sum(1 for e in history if e["type"].endswith("StateEntered"))
    scheduled = [e for e in history if e["type"] in ("TaskScheduled", "LambdaFunctionScheduled")]
    tasks_entered = sum(1 for e in history if e["type"] == "TaskStateEntered")
    retries = max(0, len(scheduled) - tasks_entered)

    def stored_size(table: str, item_or_key: dict[str, Any]) -> int:
        key = {name: item_or_key[name] for name in keys[table] if name in item_or_key}
        item = reader.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") if key else None
        return max(item_size(item or {}), item_size(item_or_key))

    writes = reads = 0
    write_units = read_units = 0.0
    idempotency = 0
    largest = 0
    by_table: Counter[str] = Counter()
    by_stock_item: Counter[str] = Counter()
    for operation, params in counter.calls:
        for table, item, transactional in _writes(operation, params):
            size = stored_size(table, item)
            largest = max(largest, size)
            writes += 1
            idempotency += table == table_name("IdempotencyTable")
            units = math.ceil(max(size, 1) / 1024) * (2 if transactional else 1)
            write_units += units
            by_table[table] += units
            if (sku := _stock_sku(item)) is not None:
                by_stock_item[sku] += units
        for table, key, per_4kb in _reads(operation, params):
            size = stored_size(table, key)
            reads += 1
            read_units += math.ceil(max(size, 1) / 4096) * per_4kb
    operations = Counter(operation for operation, _ in counter.calls)
    return {
        "status": describe["status"],
        "transitions": entered + retries,
        "lambdaInvocations": len(scheduled),
        "dynamodbRequests": len(counter.calls),
        "dynamodbWrites": writes,
        "idempotencyWrites": idempotency,
        "dynamodbReads": reads,
        "writeUnits": write_units,
        "readUnits": read_units,
        "writeUnitsByTable": dict(sorted(by_table.items())),
        # The most any one SKU's stock item was written: that item lives on one partition, whatever the table.
        "hotItemWriteUnits": max(by_stock_item.values(), default=0),
        "largestItemBytes": largest,
        "operations": dict(sorted(operations.items())),
    }


def _stock_sku(item_or_key: dict[str, Any]) -> str | None:
    """The SKU whose stock item this is (``SKU#<sku>`` / ``STOCK``), else None."""
    pk, sk = item_or_key.get("pk", {}).get("S", ""), item_or_key.get("sk", {}).get("S", "")
    return pk.removeprefix(SKU_PREFIX) if pk.startswith(SKU_PREFIX) and sk == STOCK_SK else None
