"""The embedded engine: the real ASL on moto's Step Functions interpreter, the real handlers in-process.

moto executes the definition; every Lambda task ends in ``invocations.InProcessLambda``, which calls the
template's handler as Lambda would. How it is plugged into moto, and the other adjustments made to moto, are
in ``moto_patches``.

Everything comes from ``template.yaml``: tables, function ARNs -> handler files, the environment, and the
definition's substitutions. State survives between commands in a folder (``.saga/`` by default, see
``state``): one command at a time holds it; the tables and the finished executions are committed together,
at the end of the command and whenever no execution is running (at most every ``COMMIT_EVERY_SECONDS``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from unittest import mock

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]

from order_saga.store import SagaStore
from saga_cli.engine import interrupts, moto_patches
from saga_cli.engine import redrive as redrive_rules
from saga_cli.engine.functions import reset_clients
from saga_cli.engine.invocations import InProcessLambda
from saga_cli.engine.lambda_endpoint import EndpointLambda
from saga_cli.engine.moto_patches import Completions, ScaledClock
from saga_cli.engine.state import StateError, StateFolder
from saga_cli.template import ROOT, SagaTemplate, TemplateError, load

REGION = "eu-west-2"
STATE_MACHINE_NAME = "order-saga"
#: A little over the state machine's own TimeoutSeconds (1500): an execution ends before we give up on it.
WAIT_LIMIT_SECONDS = 1560
#: Local runs sleep 1/1000 of each Retry interval; 1.0 waits as long as AWS would.
DEFAULT_CLOCK = 0.001
SEED_FILE = ROOT / "data" / "inventory.json"
_MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
#: While executions keep finishing one after another, save the state folder at most this often.
COMMIT_EVERY_SECONDS = 2.0
# The interpreter logs every Fail state at ERROR: that is the saga working, not an engine fault.
_QUIET_LOGGERS = ("moto.stepfunctions.parser",)


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:{logical_id}"


def table_name(logical_id: str) -> str:
    return f"{STATE_MACHINE_NAME}-{logical_id}"


def render_definition(template: SagaTemplate) -> str:
    """The ASL text with each ``${Name}`` replaced by the ARN of the function it names."""
    text = template.definition_path.read_text(encoding="utf-8")
    for name, (logical_id, _attribute) in template.substitutions.items():
        text = text.replace("${" + name + "}", function_arn(logical_id))
    return text


class EngineError(Exception):
    """The embedded engine cannot start."""


@dataclass
class EmbeddedEngine:
    """A moto Step Functions + DynamoDB world holding the saga, with its state kept in ``state_dir``."""

    state_dir: Path
    clock: float = DEFAULT_CLOCK
    dynamodb_endpoint: str | None = None
    #: Keep tables and finished executions in ``state_dir`` for later commands (off for throwaway runs).
    keep_state: bool = True
    #: Send the Lambda tasks to this Invoke API (``sam local start-lambda``) instead of the in-process handlers.
    lambda_endpoint: str | None = None
    template: SagaTemplate = field(default_factory=load)
    lambda_: InProcessLambda = field(init=False)
    scaled_clock: ScaledClock = field(init=False)
    completions: Completions = field(init=False, default_factory=Completions)
    state_machine_arn: str = field(init=False)
    _stack: ExitStack = field(init=False, default_factory=ExitStack)
    _resumed_machines: dict[str, str] = field(init=False, default_factory=dict)
    _state: StateFolder | None = field(init=False, default=None)
    #: Executions started and not yet archived: the state is committed only when none is running.
    _running: Counter[str] = field(init=False, default_factory=Counter)
    _state_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _last_commit: float = field(init=False, default=0.0)

    # Lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> EmbeddedEngine:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._state is not None and hasattr(self, "state_machine_arn") and self._drain():
                self.commit()
        finally:
            self._stack.close()
            reset_clients()

    def _start(self) -> None:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        if self.lambda_endpoint and not self.dynamodb_endpoint:
            raise EngineError(
                "--lambda-endpoint needs --dynamodb-endpoint: functions elsewhere cannot see in-process tables"
            )
        environment = self._environment()
        saved = None
        if self.keep_state:
            self._state = StateFolder(self.state_dir)
            self._stack.enter_context(self._state.locked(_say))
            # From here the first Ctrl-C lets the running executions finish and be saved.
            self._stack.enter_context(interrupts.deferred())
            try:
                saved = self._state.load(set(map(table_name, self.template.tables)))
            except StateError as exc:
                raise EngineError(str(exc)) from None
        self._stack.enter_context(mock_aws(config=cast(Any, _MOTO_CONFIG)))
        # After mock_aws, which swaps in its own fake keys: an external DynamoDB sees the caller's.
        self._stack.enter_context(mock.patch.dict(os.environ, environment))
        self.lambda_ = InProcessLambda({function_arn(f): spec for f, spec in self.template.functions.items()})
        self.scaled_clock = ScaledClock(self.clock)
        invoke = EndpointLambda(self.lambda_endpoint, REGION) if self.lambda_endpoint else self.lambda_
        self._stack.enter_context(moto_patches.installed(invoke, self.scaled_clock, self.completions))
        reset_clients()
        self._create_tables(saved)
        self.state_machine_arn = self._create_machine(STATE_MACHINE_NAME, render_definition(self.template))

    @property
    def stock_shards(self) -> int:
        """The functions' stock shards (``STOCK_SHARDS``), so the CLI's store lays stock out as they do."""
        return int(self._environment().get("STOCK_SHARDS", "1"))

    def _environment(self) -> dict[str, str]:
        """The functions' environment. One process hosts them all, so it must be the same for each."""
        refs = {logical_id: table_name(logical_id) for logical_id in self.template.tables}
        environments = {f: self.template.environment(f, refs) for f in self.template.functions}
        distinct = {json.dumps(env, sort_keys=True) for env in environments.values()}
        if len(distinct) != 1:
            raise TemplateError("the embedded engine needs every function to have the same environment")
        environment = next(iter(environments.values()))
        environment |= {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }
        if "STOCK_SHARDS" in os.environ:
            # To try the hot-SKU layout locally (saga chaos --stock-shards) without editing the template.
            environment["STOCK_SHARDS"] = os.environ["STOCK_SHARDS"]
        environment |= {
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        }
        if self.dynamodb_endpoint:
            environment["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb_endpoint
        return environment

    def _create_machine(self, name: str, definition: str) -> str:
        arn: str = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{STATE_MACHINE_NAME}",
            type="STANDARD",
        )["stateMachineArn"]
        return arn

    def client(self, service: str) -> Any:
        endpoint = self.dynamodb_endpoint if service == "dynamodb" else None
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)  # type: ignore[call-overload]

    # Redrive ------------------------------------------------------------------------------------------

    def redrive(
        self, describe: dict[str, Any], history: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Resume a failed execution at its unsuccessful state, as AWS does (see ``redrive``); return its new record."""
        if describe["status"] not in redrive_rules.REDRIVABLE:
            raise redrive_rules.NotRedrivable(
                f"execution {describe['name']} is {describe['status']}: nothing to redrive"
            )
        state, _type, state_input = redrive_rules.unsuccessful_state(history)
        sfn = self.client("stepfunctions")
        machine = self._resumed_machines.get(state)
        if machine is None:
            machine = self._create_machine(
                f"{STATE_MACHINE_NAME}-from-{state}",
                redrive_rules.definition_from(render_definition(self.template), state),
            )
            self._resumed_machines[state] = machine
        count = int(describe.get("redriveCount", 0)) + 1
        arn = sfn.start_execution(
            stateMachineArn=machine, name=f"{describe['name']}-redrive-{count}", input=state_input
        )["executionArn"]
        if not self.completions.wait(arn, timeout=WAIT_LIMIT_SECONDS):
            raise EngineError(f"redrive of {describe['name']} did not finish")
        resumed = sfn.describe_execution(executionArn=arn)
        events = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        return redrive_rules.merge(describe, history, jsonable(resumed), jsonable(events))

    # Tables ------------------------------------------------------------------------------------------

    def _create_tables(self, saved: dict[str, list[dict[str, Any]]] | None) -> None:
        client = self.client("dynamodb")
        try:
            existing = set(client.list_tables()["TableNames"])
        except Exception as exc:
            raise EngineError(f"DynamoDB endpoint {self.dynamodb_endpoint} does not answer: {exc}") from exc
        for logical_id, table in self.template.tables.items():
            name = table_name(logical_id)
            if name in existing:
                continue
            client.create_table(**table.create_table_request(name))
            if table.ttl_attribute:
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
                )
        if self.dynamodb_endpoint is None and saved is not None:
            self._restore(client, saved)
        elif table_name("SagaTable") not in existing:
            # A fresh store starts from the repository's seed, as a deployed one does after `saga seed`.
            SagaStore(table_name("SagaTable"), client, self.stock_shards).put_stock(json.loads(SEED_FILE.read_text()))

    def _restore(self, client: Any, saved: dict[str, list[dict[str, Any]]]) -> None:
        assert self._state is not None
        for name, items in saved.items():
            for item in items:
                try:
                    client.put_item(TableName=name, Item=item)
                except Exception as exc:
                    raise EngineError(
                        f"{self._state.tables_path} is damaged (an item of {name} is not a DynamoDB item: "
                        f"{str(exc).splitlines()[0]}): run saga reset to start again from the seed"
                    ) from None

    def _snapshot(self) -> dict[str, list[dict[str, Any]]] | None:
        """Every item of every table (None when the tables live in an external DynamoDB)."""
        if self.dynamodb_endpoint is not None:
            return None
        client = self.client("dynamodb")
        snapshot = {}
        for logical_id in self.template.tables:
            name = table_name(logical_id)
            items = []
            for page in client.get_paginator("scan").paginate(TableName=name):
                items.extend(page["Items"])
            snapshot[name] = items
        return snapshot

    def commit(self) -> None:
        """Save the tables and the executions archived so far, together (see ``state``), unless an execution
        is running: its writes so far would be saved without its record."""
        if self._state is None:
            return
        with self._state_lock:
            if self._running:
                return
            self._state.commit(self._snapshot())
            self._last_commit = time.monotonic()

    # Executions kept between commands -------------------------------------------------------------------

    @contextmanager
    def running(self, arn: str) -> Iterator[None]:
        """Count ``arn`` as running from before its start until ``archive``; uncount it if the start fails."""
        with self._state_lock:
            self._running[arn] += 1
        try:
            yield
        except BaseException:
            self._finished(arn)
            raise

    def _finished(self, arn: str) -> None:
        with self._state_lock:
            self._running[arn] -= 1
            if self._running[arn] <= 0:
                del self._running[arn]

    def archive(self, describe: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Keep a finished execution; once none is running, commit it with its table changes."""
        if self._state is None:
            return
        with self._state_lock:
            self._state.stage({"describe": describe, "history": history})
        if describe["executionArn"] in self._running:
            self._finished(describe["executionArn"])
        if time.monotonic() - self._last_commit >= COMMIT_EVERY_SECONDS:
            self.commit()

    def archived(self, name: str) -> dict[str, Any] | None:
        if self._state is None:
            return None
        try:
            return self._state.record(name)
        except StateError as exc:
            raise EngineError(str(exc)) from None

    def archived_all(self) -> list[dict[str, Any]]:
        """Every kept execution (description and history), in the order they started."""
        if self._state is None:
            return []
        try:
            records = [self._state.record(summary["name"]) for summary in self._state.summaries()]
        except StateError as exc:
            raise EngineError(str(exc)) from None
        return sorted(
            (record for record in records if record is not None),
            key=lambda record: str(record["describe"].get("startDate", "")),
        )

    def executions(self) -> list[dict[str, Any]]:
        """Summaries of the executions kept in the state folder, newest first."""
        return self._state.summaries() if self._state is not None else []

    def _drain(self) -> bool:
        """Wait for executions still running (a command stopped early) and archive them with their history.

        False when one does not end: its order would be saved without its execution, so nothing is saved.
        """
        sfn = self.client("stepfunctions")
        for arn in sorted(list(self._running)):
            if not self.completions.wait(arn, timeout=60):
                return False
            describe = jsonable(sfn.describe_execution(executionArn=arn))
            events = []
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                events.extend(page["events"])
            self.archive(describe, jsonable(events))
        return True


def _say(line: str) -> None:
    print(f"saga: {line}", file=sys.stderr, flush=True)


def jsonable(value: Any) -> Any:
    """A boto3 response as plain JSON (timestamps as ISO strings), as the engine archives it."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
