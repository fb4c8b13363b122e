"""The embedded engine's in-process Step Functions client answers exactly as boto3's client over moto does."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from engine_support import BUSINESS_SCENARIOS, run, scenario
from saga_cli.engine.sfn_inprocess import IN_PROCESS, InProcessStepFunctions
from saga_cli.targets.target import Target


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def _clients(target: Target) -> tuple[InProcessStepFunctions, Any]:
    assert isinstance(target.sfn, InProcessStepFunctions), "the embedded target no longer uses the in-process client"
    assert target.engine is not None
    return target.sfn, target.engine.client("stepfunctions")


@pytest.mark.parametrize("name", [*BUSINESS_SCENARIOS, "invalid"])
def test_each_call_returns_what_boto3_returns(saga: Target, name: str) -> None:
    # Given an execution of each scenario, run to its end
    fast, boto = _clients(saga)
    [result] = run(saga, scenario(name))
    arn = result.execution_arn

    # Then the description and the whole history are equal, types and timestamps included
    assert _without_metadata(fast.describe_execution(executionArn=arn)) == _without_metadata(
        boto.describe_execution(executionArn=arn)
    )
    fast_events = [
        e for page in fast.get_paginator("get_execution_history").paginate(executionArn=arn) for e in page["events"]
    ]
    boto_events = [
        e for page in boto.get_paginator("get_execution_history").paginate(executionArn=arn) for e in page["events"]
    ]
    assert fast_events == boto_events
    assert len(fast_events) > 3


def test_start_execution_returns_what_boto3_returns(saga: Target) -> None:
    fast, boto = _clients(saga)
    started = fast.start_execution(stateMachineArn=saga.state_machine_arn, name="inproc-1", input="{}")
    assert started["executionArn"].endswith(":inproc-1")
    assert started["startDate"] == boto.describe_execution(executionArn=started["executionArn"])["startDate"]
    assert set(_without_metadata(started)) == {"executionArn", "startDate"}


def test_errors_are_boto3s_modelled_exceptions(saga: Target) -> None:
    fast, boto = _clients(saga)
    missing = saga.execution_arn("no-such-execution")

    # An unknown execution: the same exception class, code and message
    with pytest.raises(ClientError) as from_fast:
        fast.describe_execution(executionArn=missing)
    with pytest.raises(ClientError) as from_boto:
        boto.describe_execution(executionArn=missing)
    assert type(from_fast.value) is type(from_boto.value)
    assert from_fast.value.response["Error"] == from_boto.value.response["Error"]
    assert from_fast.value.response["Error"]["Code"] == "ExecutionDoesNotExist"

    # A name already used with another input: ExecutionAlreadyExists from both
    errors = []
    for client, name in ((fast, "dup-fast"), (boto, "dup-boto")):
        client.start_execution(stateMachineArn=saga.state_machine_arn, name=name, input="{}")
        with pytest.raises(ClientError) as refused:
            client.start_execution(stateMachineArn=saga.state_machine_arn, name=name, input='{"again": 1}')
        errors.append((type(refused.value), refused.value.response["Error"]["Code"]))
    assert errors[0] == errors[1]
    assert errors[0][1] == "ExecutionAlreadyExists"

    # A required parameter missing: refused before the call, as boto3 does
    with pytest.raises(ParamValidationError):
        fast.describe_execution()


def test_other_calls_go_to_boto3(saga: Target) -> None:
    fast, _boto = _clients(saga)
    assert set(IN_PROCESS) == {"start_execution", "describe_execution", "get_execution_history"}
    machines = fast.list_state_machines()["stateMachines"]
    assert saga.state_machine_arn in [m["stateMachineArn"] for m in machines]
    assert "ResponseMetadata" in fast.list_state_machines()
