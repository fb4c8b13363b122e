"""Every change the embedded engine makes to moto, in one place, with why.

All of it is private API of moto, which pyproject.toml pins exactly; ``tests/test_engine_hook.py`` fails
loudly, naming the patch point, if one moves. Each patch lasts only while the engine is open.

- The Lambda hook: every Lambda task of moto's interpreter (a bare ARN or ``lambda:invoke``) ends in
  ``lambda_eval_utils._invoke_lambda_function``; the engine answers it in-process.
- The retry clock: Retry waits are ``time.sleep`` in the retrier module; the engine scales them.
- The parse: the interpreter parses the definition for every execution (about half of an execution's
  cost); the program holds no per-execution state, so one parse serves every execution.
- Completion: the interpreter tells its communication object when an execution ends; the engine
  wakes whoever waits for it, instead of polling DescribeExecution.
- DynamoDB atomicity: moto's DynamoDB is not thread-safe; DynamoDB applies each request atomically
  and the saga's conditional writes rely on that, so requests are applied one at a time.
- Transactions: moto backs up every table a transaction touches (a deep copy of the whole table, once
  per item) to roll back on failure, which makes a transaction cost grow with the table. The engine
  backs up only the items the transaction names, which is all a rollback needs.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from saga_cli.engine import moto_speedups

LambdaInvoke = Callable[[dict[str, Any], str, Any], dict[str, Any]]


class ScaledClock(types.SimpleNamespace):
    """Stands in for the ``time`` module inside moto's retrier: waits are scaled, not skipped."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds * self.factor)


class Completions:
    """Wakes a waiter the moment the interpreter ends an execution."""

    def __init__(self) -> None:
        self._ended: set[str] = set()
        self._condition = threading.Condition()

    def wrap(self, terminated: Callable[[Any], None]) -> Callable[[Any], None]:
        def notify(communication: Any) -> None:
            try:
                terminated(communication)
            finally:
                with self._condition:
                    self._ended.add(communication.execution.exec_arn)
                    self._condition.notify_all()

        return notify

    def wait(self, arn: str, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: arn in self._ended, timeout)


@functools.lru_cache(maxsize=8)
def _parsed(definition: str) -> Any:
    return AmazonStateLanguageParser.parse(definition)[0]


def _memoised_entrypoint(worker: ExecutionWorker) -> Any:
    return _parsed(worker._evaluation_details.state_machine_details.definition)


def _one_request_at_a_time(call_action: Callable[..., Any]) -> Callable[..., Any]:
    lock = threading.RLock()

    def locked(self: Any) -> Any:
        with lock:
            return call_action(self)

    return locked


class _TablesNotCopied(types.SimpleNamespace):
    """``copy`` as moto's DynamoDB models module sees it: a Table is not deep-copied (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.copy = copy.copy

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _key(table: Table, attributes: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    if table.hash_key_attr not in attributes:
        return None
    range_key = attributes.get(table.range_key_attr) if table.range_key_attr else None
    return DynamoType(attributes[table.hash_key_attr]), DynamoType(range_key) if range_key else None


def _restore(table: Table, hash_key: DynamoType, range_key: DynamoType | None, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def _item_level_rollback(transact: Callable[..., None]) -> Callable[..., None]:
    def run(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            operation = next(iter(entry.values()))
            table = backend.tables.get(operation.get("TableName"))
            key = _key(table, operation.get("Key") or operation.get("Item") or {}) if table else None
            if table is not None and key is not None:
                saved.append((table, *key, copy.deepcopy(table.get_item(*key))))
        try:
            transact(backend, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise

    return run


@contextmanager
def installed(invoke: LambdaInvoke, clock: ScaledClock, completions: Completions) -> Iterator[None]:
    """Apply every patch above for the duration of the ``with`` block."""
    terminated = BaseExecutionWorkerCommunication.terminated
    with ExitStack() as stack:
        for target, name, value in (
            (lambda_eval_utils, "_invoke_lambda_function", invoke),
            (retrier_decl, "time", clock),
            (ExecutionWorker, "_get_evaluation_entrypoint", _memoised_entrypoint),
            (BaseExecutionWorkerCommunication, "terminated", completions.wrap(terminated)),
            (DynamoHandler, "call_action", _one_request_at_a_time(DynamoHandler.call_action)),
            (dynamodb_models, "copy", _TablesNotCopied()),
            (DynamoDBBackend, "transact_write_items", _item_level_rollback(DynamoDBBackend.transact_write_items)),
        ):
            stack.enter_context(mock.patch.object(target, name, value))
        stack.enter_context(moto_speedups.installed())
        yield
