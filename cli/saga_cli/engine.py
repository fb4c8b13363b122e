"""The embedded engine: the real ASL on moto's Step Functions interpreter, the real handlers in-process.

moto executes the definition; every Lambda task ends in ``InProcessLambda``, which calls the template's
handler with a Lambda context and reports a raised exception as Lambda does (``FunctionError`` with
``errorType`` = the class name), so ``Catch``/``Retry`` see the same names as on AWS. How it is plugged
into moto, and the other adjustments made to moto, are in ``moto_patches``.

Everything comes from ``template.yaml``: tables, function ARNs -> handler files, the environment, and the
definition's substitutions. State survives between commands in a folder (``.saga/`` by default): the
tables are snapshotted there, and every finished execution is archived with its history.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from unittest import mock

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]

from order_saga.store import SagaStore
from saga_cli import moto_patches
from saga_cli import redrive as redrive_rules
from saga_cli.functions import LambdaContext, load_handler, reset_clients
from saga_cli.moto_patches import Completions, ScaledClock
from saga_cli.template import ROOT, Function, SagaTemplate, TemplateError, load

REGION = "eu-west-2"
STATE_MACHINE_NAME = "order-saga"
#: A little over the state machine's own TimeoutSeconds (1500): an execution ends before we give up on it.
WAIT_LIMIT_SECONDS = 1560
#: Local runs sleep 1/1000 of each Retry interval; 1.0 waits as long as AWS would.
DEFAULT_CLOCK = 0.001
SEED_FILE = ROOT / "data" / "inventory.json"
_MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
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


#: Called before and after each in-process invocation; a fault injector may raise or change the result.
InvocationHook = Callable[["Invocation"], None]


class LambdaFault(Exception):
    """Raised by a hook to fail an invocation the way Lambda itself would, under Lambda's error name.

    ``LambdaFault("Sandbox.Timedout", "Task timed out after 10.00 seconds")`` is what Step Functions sees
    when a function runs out of time.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class Invocation:
    function: Function
    event: dict[str, Any]
    #: 1 for the first delivery of this event to this function, 2 for its first retry, and so on.
    attempt: int
    context: LambdaContext | None = None
    result: Any = None
    error: BaseException | None = None

    def deliver_again(self) -> Any:
        """Run the handler once more with the same event (a duplicate delivery)."""
        return load_handler(self.function)(json.loads(json.dumps(self.event)), self.context)


@dataclass
class InProcessLambda:
    """Stands in for Lambda's Invoke API inside moto's interpreter."""

    functions: dict[str, Function]
    before: list[InvocationHook] = field(default_factory=list)
    after: list[InvocationHook] = field(default_factory=list)
    #: Every invocation, in order; off for long runs (it holds every event).
    record_calls: bool = True
    calls: list[Invocation] = field(default_factory=list)
    _attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        function = self.functions.get(parameters["FunctionName"])
        if function is None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ResourceNotFoundException",
                        "Message": f"No function {parameters['FunctionName']}",
                    }
                },
                "Invoke",
            )
        payload = parameters.get("Payload")
        text = payload.decode() if isinstance(payload, bytes) else (payload or "{}")
        event = json.loads(text)
        with self._lock:
            key = (function.logical_id, json.dumps(event, sort_keys=True))
            self._attempts[key] += 1
            invocation = Invocation(function, event, self._attempts[key])
            if self.record_calls:
                self.calls.append(invocation)
        try:
            for hook in self.before:
                hook(invocation)
            invocation.context = LambdaContext(
                function.logical_id,
                function.timeout_seconds,
                function.memory_mb,
                invoked_function_arn=function_arn(function.logical_id),
            )
            # A round trip through JSON, as Lambda's payload takes.
            invocation.result = json.loads(json.dumps(load_handler(function)(json.loads(text), invocation.context)))
            for hook in self.after:
                hook(invocation)
        except (ClientError, TimeoutError):
            # An Invoke API error (throttling, service fault) is Lambda.<Code> in the state machine; a
            # TimeoutError is the task's own timeout, States.Timeout.
            raise
        except Exception as exc:
            invocation.error = exc
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": {"errorType": getattr(exc, "error_type", type(exc).__name__), "errorMessage": str(exc)},
            }
        return {"StatusCode": 200, "Payload": invocation.result}


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
    template: SagaTemplate = field(default_factory=load)
    lambda_: InProcessLambda = field(init=False)
    scaled_clock: ScaledClock = field(init=False)
    completions: Completions = field(init=False, default_factory=Completions)
    state_machine_arn: str = field(init=False)
    _stack: ExitStack = field(init=False, default_factory=ExitStack)
    _resumed_machines: dict[str, str] = field(init=False, default_factory=dict)

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
            self.save_tables()
        finally:
            self._stack.close()
            reset_clients()

    def _start(self) -> None:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "executions").mkdir(exist_ok=True)
        environment = self._environment()
        self._stack.enter_context(mock_aws(config=cast(Any, _MOTO_CONFIG)))
        # After mock_aws, which swaps in its own fake keys: an external DynamoDB sees the caller's.
        self._stack.enter_context(mock.patch.dict(os.environ, environment))
        self.lambda_ = InProcessLambda({function_arn(f): spec for f, spec in self.template.functions.items()})
        self.scaled_clock = ScaledClock(self.clock)
        self._stack.enter_context(moto_patches.installed(self.lambda_, self.scaled_clock, self.completions))
        reset_clients()
        self._create_tables()
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

    @property
    def _snapshot_path(self) -> Path:
        return self.state_dir / "tables.json"

    def _create_tables(self) -> None:
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
        if self.dynamodb_endpoint is None and self._snapshot_path.exists():
            for name, items in json.loads(self._snapshot_path.read_text()).items():
                for item in items:
                    client.put_item(TableName=name, Item=item)
        elif table_name("SagaTable") not in existing:
            # A fresh store starts from the repository's seed, as a deployed one does after `saga seed`.
            SagaStore(table_name("SagaTable"), client, self.stock_shards).put_stock(json.loads(SEED_FILE.read_text()))

    def save_tables(self) -> None:
        """Keep the in-process tables for the next command (an external endpoint keeps its own)."""
        if self.dynamodb_endpoint is not None or not self.keep_state or not hasattr(self, "state_machine_arn"):
            return
        client = self.client("dynamodb")
        snapshot = {}
        for logical_id in self.template.tables:
            name = table_name(logical_id)
            items = []
            for page in client.get_paginator("scan").paginate(TableName=name):
                items.extend(page["Items"])
            snapshot[name] = items
        _write_json(self._snapshot_path, snapshot)

    # Executions kept between commands -------------------------------------------------------------------

    def archive(self, describe: dict[str, Any], history: list[dict[str, Any]]) -> None:
        if not self.keep_state:
            return
        _write_json(self._archive_path(describe["name"]), {"describe": describe, "history": history})

    def archived(self, name: str) -> dict[str, Any] | None:
        path = self._archive_path(name)
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def archived_all(self) -> list[dict[str, Any]]:
        """Every archived execution, in the order they started."""
        records = [json.loads(path.read_text()) for path in (self.state_dir / "executions").glob("*.json")]
        return sorted(records, key=lambda record: str(record["describe"].get("startDate", "")))

    def _archive_path(self, name: str) -> Path:
        return self.state_dir / "executions" / f"{name}.json"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=_json_default), encoding="utf-8")
    tmp.replace(path)


def jsonable(value: Any) -> Any:
    """A boto3 response as plain JSON (timestamps as ISO strings), as the engine archives it."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
