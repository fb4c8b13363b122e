"""Data access: the only module that talks to DynamoDB.

One table holds the saga's data: an order item per order (``ORDER#<id>`` / ``ORDER``) and a SKU's stock in
one item (``SKU#<sku>`` / ``STOCK``) or, with ``STOCK_SHARDS`` N > 1, spread over N shard items
(``SKU#<sku>``, ``SKU#<sku>#1`` ... ``SKU#<sku>#N-1``, each its own partition key, so a flash sale's
reservations spread over N partitions' write budgets). Every write is conditional. When a condition fails the
store raises
``ConditionNotMet`` carrying the item as it is, so the step can tell a replay of its own write from a real
conflict. AWS errors become domain errors here and nowhere else.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from order_saga.errors import ConditionNotMet, InventoryUnavailable, StoreUnavailable
from order_saga.models import (
    ALLOWED_FROM,
    LineItem,
    Order,
    OrderRecord,
    OrderStatus,
    ReservationState,
    StockTaken,
)
from order_saga.settings import MAX_STOCK_SHARDS, settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize

ORDER_SK = "ORDER"
STOCK_SK = "STOCK"
SKU_PREFIX = "SKU#"
#: Rounds of read-plan-take a sharded reservation makes while other orders move the same shards.
_SHARD_ROUNDS = 5
#: DynamoDB's limit on the items of one transaction.
_MAX_TRANSACTION_ITEMS = 100
# Retries inside one invocation stay short: the state machine's Retry (with jitter) does the waiting.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}


def order_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": ORDER_SK}}


def stock_key(sku: str, shard: int = 0) -> dict[str, Any]:
    """A SKU's stock item; shard 0 is the unsharded layout's one item (a SKU never holds ``#``)."""
    return {"pk": {"S": f"{SKU_PREFIX}{sku}#{shard}" if shard else f"{SKU_PREFIX}{sku}"}, "sk": {"S": STOCK_SK}}


def _sku_and_shard(item: Mapping[str, Any]) -> tuple[str, int]:
    sku, _, shard = item["pk"]["S"].removeprefix(SKU_PREFIX).partition("#")
    return sku, int(shard or 0)


def first_shard(order_id: str, sku: str, shards: int) -> int:
    """The shard an order tries first for a SKU: fixed by the order, so a retry or replay hits the same item,
    and spread evenly over the orders."""
    return zlib.crc32(f"{order_id}/{sku}".encode()) % shards


def split_evenly(units: int, shards: int) -> list[int]:
    """``units`` over ``shards`` items, the first ones taking the remainder."""
    return [units // shards + (1 if shard < units % shards else 0) for shard in range(shards)]


def plan_takes(
    order_id: str, lines: Sequence[LineItem], levels: Mapping[str, Mapping[int, int]], shards: int
) -> list[StockTaken] | None:
    """Which shards give each line its units: the order's first shard, then the next ones round the ring.

    ``None`` when some SKU's shards together hold fewer units than its line wants: a real stock-out.
    """
    takes: list[StockTaken] = []
    for line in lines:
        have = levels.get(line.sku, {})
        if sum(have.values()) < line.quantity:
            return None
        start = first_shard(order_id, line.sku, shards)
        ring = sorted(have, key=lambda shard: (shard - start) % max(shards, max(have) + 1))
        wanted = line.quantity
        for shard in ring:
            take = min(wanted, have[shard])
            if take > 0:
                takes.append(StockTaken(sku=line.sku, shard=shard, quantity=take))
                wanted -= take
            if wanted == 0:
                break
    return takes


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serialize(value) for name, value in values.items()}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _numbers_as_int(_deserialize(value)) for name, value in item.items()}


def _numbers_as_int(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; every number the saga stores is an integer."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {key: _numbers_as_int(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_numbers_as_int(inner) for inner in value]
    return value


def _record(item: Mapping[str, Any] | None) -> OrderRecord | None:
    return OrderRecord.model_validate(_plain(item)) if item else None


def _status_condition(target: OrderStatus, values: dict[str, Any]) -> str:
    """``#status IN (...)``: the statuses ``target`` may be reached from."""
    names = []
    for index, status in enumerate(sorted(ALLOWED_FROM[target])):
        values[f":from{index}"] = {"S": status.value}
        names.append(f":from{index}")
    return f"#status IN ({', '.join(names)})"


class SagaStore:
    """The saga's table. Methods return domain models and raise domain errors."""

    def __init__(self, table_name: str, client: DynamoDBClient, stock_shards: int = 1) -> None:
        self.table_name = table_name
        self.client = client
        self.stock_shards = stock_shards

    # Orders ------------------------------------------------------------------------------------------

    def get_order(self, order_id: str) -> OrderRecord | None:
        response = self._call("get_item", TableName=self.table_name, Key=order_key(order_id), ConsistentRead=True)
        return _record(response.get("Item"))

    def order_item(self, order_id: str) -> dict[str, Any] | None:
        """The order item as stored, keys left out: what an operator would see in the console."""
        response = self._call("get_item", TableName=self.table_name, Key=order_key(order_id), ConsistentRead=True)
        item = response.get("Item")
        return {k: v for k, v in _plain(item).items() if k not in ("pk", "sk")} if item else None

    def put_new_order(self, order: Order) -> None:
        """Write a new order; ``ConditionNotMet`` if one with this id exists."""
        now = _now()
        record = order.to_json() | {"createdAt": now, "updatedAt": now}
        record.pop("payment")  # the token goes to the payment provider, never into the table
        self._conditional(
            "put_item",
            order.order_id,
            TableName=self.table_name,
            Item=order_key(order.order_id) | _item(record),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def move_order(
        self, order_id: str, to: OrderStatus, attributes: Mapping[str, Any] | None = None, *, absent: str = ""
    ) -> None:
        """Set the status (checked against ``ALLOWED_FROM``) and ``attributes`` in one write.

        ``absent`` names an attribute that must not exist yet: how a refund is written at most once.
        """
        request = self._move(order_id, to, attributes or {})
        if absent:
            request["ConditionExpression"] += " AND attribute_not_exists(#absent)"
            request["ExpressionAttributeNames"]["#absent"] = absent
        self._conditional("update_item", order_id, **request)

    # Inventory ---------------------------------------------------------------------------------------

    def reserve(self, order_id: str, reservation_id: str, lines: Sequence[LineItem]) -> None:
        """Take stock for every line and mark the order RESERVED, all in one transaction.

        Raises ``InventoryUnavailable`` naming each SKU that is unknown or short, and ``ConditionNotMet``
        when the order is no longer CREATED. With shards, each line first tries its order's shard; when that
        one is short, the SKU's shards are read and the line takes from as many as it needs, so an order
        fails only when the SKU's units together fall short.
        """
        takes = [
            StockTaken(sku=line.sku, shard=first_shard(order_id, line.sku, self.stock_shards), quantity=line.quantity)
            for line in lines
        ]
        for _ in range(_SHARD_ROUNDS):
            reasons = self._take(order_id, reservation_id, takes)
            if reasons is None:
                return
            if _failed(reasons[-1]):
                raise ConditionNotMet(_record(reasons[-1].get("Item")))
            if self.stock_shards == 1:
                short = [
                    self._shortage(t, reason) for t, reason in zip(takes, reasons, strict=False) if _failed(reason)
                ]
                raise InventoryUnavailable("Inventory unavailable: " + "; ".join(short))
            levels = self._shard_levels([line.sku for line in lines])
            planned = plan_takes(order_id, lines, levels, self.stock_shards)
            if planned is None:
                totals = {sku: sum(shards.values()) for sku, shards in levels.items()}
                short = [
                    _short(line.sku, totals.get(line.sku), line.quantity)
                    for line in lines
                    if totals.get(line.sku, 0) < line.quantity
                ]
                raise InventoryUnavailable("Inventory unavailable: " + "; ".join(short))
            if len(planned) >= _MAX_TRANSACTION_ITEMS:
                raise StoreUnavailable("the order's units are spread over more stock shards than one transaction takes")
            takes = planned
        raise StoreUnavailable(f"stock shards kept changing during {_SHARD_ROUNDS} reservation rounds")

    def _take(self, order_id: str, reservation_id: str, takes: Sequence[StockTaken]) -> list[dict[str, Any]] | None:
        """One transaction: each take from its shard, and the order to RESERVED recording what was taken."""
        stock_updates = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": stock_key(take.sku, take.shard),
                    "UpdateExpression": "SET available = available - :qty",
                    "ConditionExpression": "available >= :qty",
                    "ExpressionAttributeValues": {":qty": {"N": str(take.quantity)}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for take in takes
        ]
        attributes: dict[str, Any] = {"reservationId": reservation_id, "reservationState": ReservationState.HELD.value}
        if self.stock_shards > 1:
            # The release gives back exactly these shards.
            attributes["stockTaken"] = [take.to_json() for take in takes]
        order_update = self._move(order_id, OrderStatus.RESERVED, attributes)
        return self._transact([*stock_updates, {"Update": order_update}])

    def _shard_levels(self, skus: Iterable[str]) -> dict[str, dict[int, int]]:
        """Each SKU's units by shard, read consistently; a SKU with no stock item is left out.

        Every shard the setting allows is asked for, not only the current count's, so stock laid out under
        another count is still found.
        """
        keys = [stock_key(sku, shard) for sku in dict.fromkeys(skus) for shard in range(MAX_STOCK_SHARDS)]
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request = {self.table_name: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            while request:
                response = self._call("batch_get_item", RequestItems=request)
                items.extend(response["Responses"].get(self.table_name, []))
                request = response.get("UnprocessedKeys") or {}
        levels: dict[str, dict[int, int]] = {}
        for item in items:
            sku, shard = _sku_and_shard(item)
            levels.setdefault(sku, {})[shard] = int(item["available"]["N"])
        return levels

    def release(self, order_id: str, lines: Sequence[LineItem], to: OrderStatus) -> None:
        """Give back exactly what the reservation took, once: the order's reservation must still be HELD.

        With shards the order's record says which shards gave what; without, each line's units go back to
        the SKU's one item.
        """
        order_update = self._move(order_id, to, {"reservationState": ReservationState.RELEASED.value})
        order_update["ConditionExpression"] += " AND reservationState = :held"
        order_update["ExpressionAttributeValues"][":held"] = {"S": ReservationState.HELD.value}
        record = self.get_order(order_id) if self.stock_shards > 1 else None
        takes = (record.stock_taken if record else None) or [
            StockTaken(sku=line.sku, shard=0, quantity=line.quantity) for line in lines
        ]
        stock_updates = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": stock_key(take.sku, take.shard),
                    "UpdateExpression": "SET available = available + :qty",
                    "ConditionExpression": "attribute_exists(available)",
                    "ExpressionAttributeValues": {":qty": {"N": str(take.quantity)}},
                }
            }
            for take in takes
        ]
        reasons = self._transact([{"Update": order_update}, *stock_updates])
        if reasons is not None:
            raise ConditionNotMet(_record(reasons[0].get("Item")))

    def ship(self, order_id: str, tracking_number: str) -> None:
        """Mark the order SHIPPED; its reservation becomes stock that has left the warehouse."""
        self.move_order(
            order_id,
            OrderStatus.SHIPPED,
            {"trackingNumber": tracking_number, "reservationState": ReservationState.SHIPPED.value},
        )

    def stock(self, skus: Iterable[str] | None = None) -> dict[str, int]:
        """Available units by SKU, summed over its shards: the given SKUs, or every SKU in the table."""
        if skus is not None:
            return {sku: sum(shards.values()) for sku, shards in self._shard_levels(skus).items()}
        items = self._scan(FilterExpression="sk = :stock", ExpressionAttributeValues={":stock": {"S": STOCK_SK}})
        totals: dict[str, int] = {}
        for item in items:
            sku, _ = _sku_and_shard(item)
            totals[sku] = totals.get(sku, 0) + int(item["available"]["N"])
        return totals

    def put_stock(self, levels: Mapping[str, int]) -> None:
        """Set the available units of each SKU (the seed), split evenly over its shards."""
        for sku, available in levels.items():
            for shard, units in enumerate(split_evenly(available, self.stock_shards)):
                self._call(
                    "put_item",
                    TableName=self.table_name,
                    Item=stock_key(sku, shard) | {"available": {"N": str(units)}, "updatedAt": {"S": _now()}},
                )

    def orders(self) -> list[OrderRecord]:
        items = self._scan(FilterExpression="sk = :order", ExpressionAttributeValues={":order": {"S": ORDER_SK}})
        return [OrderRecord.model_validate(_plain(item)) for item in items]

    # Plumbing ----------------------------------------------------------------------------------------

    def _move(self, order_id: str, to: OrderStatus, attributes: Mapping[str, Any]) -> dict[str, Any]:
        names = {"#status": "status", "#updatedAt": "updatedAt"}
        values: dict[str, Any] = {":to": {"S": to.value}, ":now": {"S": _now()}}
        sets = ["#status = :to", "#updatedAt = :now"]
        conditions = [_status_condition(to, values)]
        for index, (name, value) in enumerate(attributes.items()):
            names[f"#a{index}"] = name
            values[f":a{index}"] = _serialize(value)
            sets.append(f"#a{index} = :a{index}")
        update = "SET " + ", ".join(sets)
        if to != OrderStatus.COMPENSATION_FAILED and OrderStatus.COMPENSATION_FAILED in ALLOWED_FROM[to]:
            # A compensation finished on a redrive: the failure it recorded is over, so no stale marker stays.
            names["#failed"] = "failedCompensation"
            update += " REMOVE #failed"
        return {
            "TableName": self.table_name,
            "Key": order_key(order_id),
            "UpdateExpression": update,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _conditional(self, operation: str, order_id: str, **request: Any) -> None:
        request.setdefault("ReturnValuesOnConditionCheckFailure", "ALL_OLD")
        try:
            getattr(self.client, operation)(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _translate(exc) from exc
            item = cast("Mapping[str, Any] | None", exc.response.get("Item"))
            raise ConditionNotMet(_record(item) if item else self.get_order(order_id)) from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB unreachable: {exc}") from exc

    def _transact(self, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Run a transaction; ``None`` when it committed, else one cancellation reason per item."""
        try:
            self.client.transact_write_items(TransactItems=cast(Any, items))
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons")
            if exc.response["Error"]["Code"] != "TransactionCanceledException" or not reasons:
                raise _translate(exc) from exc
            if not any(_failed(reason) for reason in reasons):
                # Throttling, or another transaction on the same item (a hot SKU): say which, so an operator
                # can tell contention from an outage, and neither from a stock-out.
                codes = sorted({str(reason.get("Code")) for reason in reasons} - {"None"})
                raise StoreUnavailable(f"DynamoDB cancelled the transaction: {', '.join(codes)}") from exc
            return [dict(reason) for reason in reasons]
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB unreachable: {exc}") from exc
        return None

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(**request)  # type: ignore[no-any-return]
        except ClientError as exc:
            raise _translate(exc) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB unreachable: {exc}") from exc

    def _scan(self, **request: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("scan")
        try:
            for page in paginator.paginate(TableName=self.table_name, ConsistentRead=True, **request):
                items.extend(page["Items"])
        except ClientError as exc:
            raise _translate(exc) from exc
        return items

    @staticmethod
    def _shortage(line: StockTaken, reason: Mapping[str, Any]) -> str:
        item = reason.get("Item")
        return _short(line.sku, int(item["available"]["N"]) if item else None, line.quantity)


def _short(sku: str, have: int | None, wanted: int) -> str:
    """One SKU's part of an ``InventoryUnavailable`` reason (``None``: no stock item); the chaos checks read it."""
    return f"{sku} is unknown" if have is None else f"{sku} has {have}, {wanted} wanted"


def _failed(reason: Mapping[str, Any]) -> bool:
    return reason.get("Code") == "ConditionalCheckFailed"


def _translate(exc: ClientError) -> Exception:
    code = exc.response["Error"]["Code"]
    if code in _THROTTLED:
        return StoreUnavailable(f"DynamoDB {code}: {exc.response['Error'].get('Message', '')}")
    return exc


@functools.cache
def default_store() -> SagaStore:
    """The store the handlers use, built on first use from the function's environment."""
    client = boto3.client("dynamodb", config=_CLIENT_CONFIG)
    config = settings()
    return SagaStore(config.saga_table_name, client, config.stock_shards)
