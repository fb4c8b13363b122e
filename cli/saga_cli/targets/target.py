"""Where the saga runs: the embedded engine, LocalStack or AWS, behind one interface over boto3's
Step Functions and DynamoDB clients, so every command takes the same code path on all three.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from order_saga.store import SagaStore
from saga_cli.engine.embedded import (
    DEFAULT_CLOCK,
    REGION,
    WAIT_LIMIT_SECONDS,
    EmbeddedEngine,
    EngineError,
    jsonable,
    table_name,
)
from saga_cli.engine.redrive import NotRedrivable, ended_in_fail_state
from saga_cli.engine.sfn_inprocess import InProcessStepFunctions
from saga_cli.targets.history import states_entered
from saga_cli.targets.result import OnState
from saga_cli.template import load, stock_shards

LOCALSTACK_REGION = "us-east-1"
DEFAULT_STACK = "order-saga"


class TargetError(Exception):
    """The engine or endpoint cannot be used (exit status 1)."""


class ExecutionNotFound(Exception):
    """No execution by that name or ARN (exit status 2: the argument is wrong)."""


@dataclass(frozen=True)
class TargetOptions:
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    stack_name: str | None = None
    state_dir: Path = Path(".saga")
    dynamodb_endpoint: str | None = None
    clock: float = DEFAULT_CLOCK
    #: Embedded engine: the Lambda tasks go to this Invoke API (sam local start-lambda), not in-process.
    lambda_endpoint: str | None = None
    #: Embedded engine: keep tables and executions in state_dir for later commands.
    keep_state: bool = True

    @property
    def remote(self) -> bool:
        return bool(self.endpoint_url or self.profile or self.stack_name)


@dataclass
class Target:
    kind: str
    sfn: Any
    store: SagaStore
    state_machine_arn: str
    engine: EmbeddedEngine | None = None
    poll_seconds: float = 1.0
    idempotency_table: str | None = None
    _live: set[str] = field(default_factory=set)
    #: Executions redriven in this process when nothing is archived (the engine's keep_state off).
    _redriven: dict[str, dict[str, Any]] = field(default_factory=dict)

    def execution_arn(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
        return f"{prefix}:{name_or_arn}"

    def start(self, name: str, payload: str) -> str:
        if self.engine is not None and self.engine.archived(name) is not None:
            # Step Functions keeps closed executions: the same name again is refused, as here.
            raise ClientError(
                {"Error": {"Code": "ExecutionAlreadyExists", "Message": f"Execution already exists: '{name}'"}},
                "StartExecution",
            )
        if self.engine is None:
            return self._start(name, payload)
        # Counted as running before it starts: no commit may save its first writes without its record.
        with self.engine.running(self.execution_arn(name)):
            return self._start(name, payload)

    def _start(self, name: str, payload: str) -> str:
        arn: str = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=payload)[
            "executionArn"
        ]
        self._live.add(arn)
        return arn

    def describe(self, name_or_arn: str) -> dict[str, Any]:
        arn = self.execution_arn(name_or_arn)
        archived = self._archived(arn)
        if archived is not None:
            describe: dict[str, Any] = archived["describe"]
            return describe
        try:
            response: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
        except ClientError as exc:
            raise _not_found(exc, name_or_arn) from None
        return response

    def history(self, name_or_arn: str) -> list[dict[str, Any]]:
        arn = self.execution_arn(name_or_arn)
        archived = self._archived(arn)
        if archived is not None:
            events: list[dict[str, Any]] = archived["history"]
            return events
        events = []
        try:
            for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                events.extend(page["events"])
        except ClientError as exc:
            raise _not_found(exc, name_or_arn) from None
        return events

    def redrive(self, name_or_arn: str) -> dict[str, Any]:
        """Resume a failed execution from its unsuccessful state; return its description once it ends.

        Refused, on every target, for an execution that ended in a Fail state: that is a business outcome, and
        AWS would only enter the same Fail state again.
        """
        arn = self.execution_arn(name_or_arn)
        fail_state = ended_in_fail_state(self.history(arn))
        if fail_state is not None:
            raise NotRedrivable(
                f"execution {arn.rsplit(':', 1)[-1]} ended in the Fail state {fail_state}, a business outcome: "
                "a redrive would only enter it again and fail the same way"
            )
        if self.engine is None:
            try:
                self.sfn.redrive_execution(executionArn=arn)
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("ExecutionNotRedrivable", "ExecutionDoesNotExist"):
                    raise NotRedrivable(exc.response["Error"].get("Message", "not redrivable")) from None
                raise
            return self.wait(arn, arn.rsplit(":", 1)[-1])
        describe, history = self.engine.redrive(self.describe(arn), self.history(arn))
        self._live.discard(arn)
        self._redriven[arn] = {"describe": describe, "history": history}
        self.engine.archive(describe, history)
        return describe

    def wait(self, arn: str, name: str, on_state: OnState | None = None) -> dict[str, Any]:
        """Poll until the execution ends, reporting each state as it is entered."""
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        if on_state is None and self.engine is not None:
            # The embedded engine says when an execution ends: no polling needed.
            if not self.engine.completions.wait(arn, WAIT_LIMIT_SECONDS):
                raise TimeoutError(f"execution {name} still running after {WAIT_LIMIT_SECONDS} s")
            return self.describe(arn)
        seen = 0
        while True:
            describe = self.describe(arn)
            if on_state is not None:
                path = states_entered(self.history(arn))
                for state in path[seen:]:
                    on_state(name, state)
                seen = len(path)
            if describe["status"] != "RUNNING":
                return describe
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {name} still running after {WAIT_LIMIT_SECONDS} s")
            time.sleep(self.poll_seconds)

    def executions(self, limit: int) -> list[dict[str, Any]]:
        """Recent executions, newest first (at most ``limit``; 0 for all)."""
        if self.engine is not None:
            found = self.engine.executions()
            return found[:limit] if limit else found
        found = []
        paginator = self.sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self.state_machine_arn):
            found.extend(jsonable(page["executions"]))
            if limit and len(found) >= limit:
                break
        found.sort(key=lambda e: str(e.get("startDate") or ""), reverse=True)
        return found[:limit] if limit else found

    def finished(self, arn: str, describe: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Keep a finished execution for later commands (the embedded engine forgets it at exit)."""
        if self.engine is not None and arn in self._live:
            self.engine.archive(jsonable(describe), jsonable(history))

    def _archived(self, arn: str) -> dict[str, Any] | None:
        if arn in self._redriven:
            return self._redriven[arn]
        if self.engine is None or arn in self._live:
            return None
        return self.engine.archived(arn.rsplit(":", 1)[-1])


def _not_found(exc: ClientError, name_or_arn: str) -> Exception:
    """``ExecutionNotFound`` for Step Functions' ways of saying there is no such execution, else ``exc``."""
    if exc.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn", "ResourceNotFound"):
        return ExecutionNotFound(f"no execution {name_or_arn}")
    return exc


@contextmanager
def open_target(options: TargetOptions) -> Iterator[Target]:
    """Connect to the target the options name: a deployed stack when remote, else the embedded engine."""
    if options.remote:
        yield _remote(options)
        return
    try:
        engine = EmbeddedEngine(
            options.state_dir,
            options.clock,
            options.dynamodb_endpoint,
            options.keep_state,
            lambda_endpoint=options.lambda_endpoint,
        )
        with engine:
            store = SagaStore(table_name("SagaTable"), engine.client("dynamodb"), engine.stock_shards)
            yield Target(
                "embedded",
                InProcessStepFunctions(engine.client("stepfunctions"), REGION),
                store,
                engine.state_machine_arn,
                engine,
                poll_seconds=0.05,
                idempotency_table=table_name("IdempotencyTable"),
            )
    except EngineError as exc:
        raise TargetError(str(exc)) from exc


def _remote(options: TargetOptions) -> Target:
    localstack = options.endpoint_url is not None
    region = options.region or (LOCALSTACK_REGION if localstack else None)
    session = boto3.Session(profile_name=options.profile, region_name=region)
    credentials: dict[str, str] = {}
    if localstack and session.get_credentials() is None:
        credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}  # LocalStack takes any
    if session.region_name is None:
        raise TargetError("no AWS region: pass --region or set one in your AWS profile")

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=options.endpoint_url, **credentials)  # type: ignore[call-overload]

    stack = options.stack_name or DEFAULT_STACK
    where = options.endpoint_url or f"AWS ({session.region_name})"
    try:
        stacks = client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        message = exc.response["Error"].get("Message", "")
        if "does not exist" in message:
            raise TargetError(f"stack {stack} is not deployed at {where}: run sam deploy first") from None
        raise TargetError(f"cannot read stack {stack} at {where}: {message}") from None
    except BotoCoreError as exc:
        raise TargetError(f"cannot reach {where}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = {"StateMachineArn", "SagaTableName"} - outputs.keys()
    if missing:
        raise TargetError(f"stack {stack} lacks outputs {', '.join(sorted(missing))}: is it order-saga?")
    # The deployed functions' shard count is the template's (what `sam deploy` sent), so `saga seed` spreads
    # stock as they expect.
    store = SagaStore(outputs["SagaTableName"], client("dynamodb"), stock_shards(load()))
    kind = "localstack" if localstack else "aws"
    return Target(
        kind,
        client("stepfunctions"),
        store,
        outputs["StateMachineArn"],
        poll_seconds=0.25 if localstack else 1.0,
        idempotency_table=outputs.get("IdempotencyTableName"),
    )
