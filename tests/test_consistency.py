"""The project's own cross-file checks: what statelint, asl-validator and cfn-lint cannot know.

The state machine, the template, the handlers, the layer's requirements and the sample events each name
things the others define. These tests read every side from its one source (``template.yaml`` through
``saga_cli.template``, the ASL it points at, the handlers' own signatures) and check that the names agree.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import json
import re
import tomllib
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel

from order_saga.errors import ERRORS_BY_NAME, InvalidOrder, PaymentDeclined, ShippingFailed
from order_saga.models import OrderRequest
from order_saga.parsing import parse
from saga_cli.chaos.faults import compensation_states
from saga_cli.engine.embedded import WAIT_LIMIT_SECONDS
from saga_cli.engine.functions import load_handler
from saga_cli.sample_events import SAMPLES
from saga_cli.template import ROOT, Function, SagaTemplate, load

EVENTS = ROOT / "events"
EXECUTIONS = EVENTS / "executions"

#: ``${Name}`` placeholders as Step Functions substitutes them.
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")

#: Errors a step raises on purpose and the state machine must handle. ``OrderStateConflict`` is left out
#: by design: a stale or out-of-order call is a bug, so it fails the execution loudly instead of being caught.
DELIBERATE_ERRORS = {"InvalidOrder", "DuplicateOrder", "InventoryUnavailable", "PaymentDeclined", "ShippingFailed"}
RETRIED_ERRORS = {"StoreUnavailable"}
UNCAUGHT_BY_DESIGN = {"OrderStateConflict"}

#: Step Functions' own names for a failed Lambda invocation, besides the Invoke API's errors.
STEP_FUNCTIONS_LAMBDA_ERRORS = {
    "AWSLambdaException",
    "SdkClientException",
    "ClientExecutionTimeoutException",
    "Unknown",
}
#: The errorType Lambda's runtime reports when the function itself did not finish: a timeout, a crash.
LAMBDA_RUNTIME_ERRORS = {"Sandbox.Timedout", "Runtime.ExitError", "Runtime.OutOfMemory"}

#: The error names Step Functions itself defines (Amazon States Language, "Error names").
STATES_ERRORS = {
    "States.ALL",
    "States.DataLimitExceeded",
    "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout",
    "States.Http.Socket",
    "States.IntrinsicFailure",
    "States.ItemReaderFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.Permissions",
    "States.QueryEvaluationError",
    "States.ResultPathMatchFailure",
    "States.ResultWriterFailed",
    "States.Runtime",
    "States.TaskFailed",
    "States.Timeout",
}

#: The only statement allowed ``Resource: "*"``: CloudWatch Logs delivery for the state machine, whose
#: actions support no resource-level permissions (AWS documents ``*`` for them).
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def template() -> SagaTemplate:
    return load()


@pytest.fixture(scope="module")
def asl(template: SagaTemplate) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(template.definition_path.read_text(encoding="utf-8"))
    return definition


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Parallel branches and Map processors."""
    for name, state in machine.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from states(state[key])


def error_names(machine: dict[str, Any]) -> set[str]:
    """Every name in every ``ErrorEquals`` of every Retry and Catch."""
    return {
        name
        for _, state in states(machine)
        for rule in state.get("Retry", []) + state.get("Catch", [])
        for name in rule["ErrorEquals"]
    }


def lambda_error_names() -> set[str]:
    """``Lambda.<error>``: the Invoke API's errors (from botocore's model) and Step Functions' own."""
    invoke = botocore.session.get_session().get_service_model("lambda").operation_model("Invoke")
    return {f"Lambda.{name}" for name in {shape.name for shape in invoke.error_shapes} | STEP_FUNCTIONS_LAMBDA_ERRORS}


def placeholders(value: Any) -> set[str]:
    return set(PLACEHOLDER.findall(json.dumps(value)))


def input_model(function: Function) -> type[BaseModel]:
    """The model a handler parses its event into: the first parameter's type of the innermost function.

    ``saga_step`` and Powertools' decorators all use ``functools.wraps``, so ``__wrapped__`` leads from the
    Lambda entry point to the ``lambda_handler`` written in ``functions/<dir>/app.py``.
    """
    step = inspect.unwrap(load_handler(function))
    first = next(iter(inspect.signature(step).parameters))
    model = typing.get_type_hints(step)[first]
    assert inspect.isclass(model), f"{function.logical_id}: {first} is annotated {model!r}, not a model"
    assert issubclass(model, BaseModel), f"{function.logical_id}: {model!r} is not a pydantic model"
    return model


def sample_event_path(function: Function) -> Path:
    return EVENTS / f"{function.code_uri.name}.json"


def function_property(template: SagaTemplate, logical_id: str, name: str) -> Any:
    """A function's property, falling back to ``Globals.Function`` as SAM does."""
    props = template.raw["Resources"][logical_id]["Properties"]
    return props.get(name, template.raw.get("Globals", {}).get("Function", {}).get(name))


def resources_of_type(template: SagaTemplate, kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource for logical_id, resource in template.raw["Resources"].items() if resource["Type"] == kind
    }


def iam_statements(value: Any) -> Iterator[dict[str, Any]]:
    """Every IAM policy statement anywhere in the template."""
    if isinstance(value, dict):
        if "Effect" in value and ("Action" in value or "NotAction" in value):
            yield value
        for child in value.values():
            yield from iam_statements(child)
    elif isinstance(value, list):
        for child in value:
            yield from iam_statements(child)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------- (a) error names: ASL <-> Python


def test_every_error_the_asl_matches_is_raised_by_a_step_by_lambda_or_by_powertools(asl: dict[str, Any]) -> None:
    # Given the names in every Catch and Retry of the state machine, apart from Step Functions' own
    names = {name for name in error_names(asl) if not name.startswith("States.")}
    assert names, "the state machine matches no error of its own"

    # When each is looked up among the steps' exceptions, Lambda's errors and Powertools' in-progress error
    powertools = {IdempotencyAlreadyInProgressError.__name__}
    known = set(ERRORS_BY_NAME) | lambda_error_names() | LAMBDA_RUNTIME_ERRORS | powertools
    unknown = names - known

    # Then none is left over: a misspelt name would never match anything at run time
    assert not unknown, f"ErrorEquals names that nothing raises: {sorted(unknown)}"


def test_the_asl_retries_powertools_in_progress_error_by_the_name_lambda_reports(asl: dict[str, Any]) -> None:
    # Given Powertools' exception for a concurrent call on the same idempotency key
    # When Lambda reports it (errorType is the class's __name__)
    reported = IdempotencyAlreadyInProgressError.__name__

    # Then the state machine retries exactly that name
    assert reported == "IdempotencyAlreadyInProgressError"
    assert reported in error_names(asl)


def test_every_error_a_step_raises_on_purpose_is_caught_or_retried(asl: dict[str, Any]) -> None:
    # Given the errors the steps raise on purpose, and the one left uncaught by design
    assert set(ERRORS_BY_NAME) == DELIBERATE_ERRORS | RETRIED_ERRORS | UNCAUGHT_BY_DESIGN, (
        "order_saga.errors changed: decide whether the state machine must catch or retry the new error"
    )

    # When the state machine's Catch and Retry names are collected
    matched = error_names(asl)

    # Then each deliberate error is handled somewhere
    assert DELIBERATE_ERRORS - matched == set(), "errors a step raises that no Catch handles"
    assert RETRIED_ERRORS - matched == set(), "errors a step raises that no Retry handles"


def test_states_error_names_are_ones_step_functions_defines(asl: dict[str, Any]) -> None:
    # Given the Step Functions error names the state machine matches
    names = {name for name in error_names(asl) if name.startswith("States.")}

    # When they are compared with the names the States language defines
    # Then none is misspelt
    assert names <= STATES_ERRORS, f"unknown States.* names: {sorted(names - STATES_ERRORS)}"


# --------------------------------------------------------------- (b) ${...} <-> DefinitionSubstitutions


def test_every_placeholder_in_the_asl_has_a_substitution(asl: dict[str, Any], template: SagaTemplate) -> None:
    # Given the ${...} placeholders of the state machine definition
    used = placeholders(asl)

    # When they are compared with the template's DefinitionSubstitutions
    missing = used - set(template.substitutions)

    # Then each is filled in at deploy time (Step Functions would otherwise keep the literal text)
    assert used, "the definition has no placeholders: the tasks cannot reach the template's functions"
    assert not missing, f"placeholders without a DefinitionSubstitutions entry: {sorted(missing)}"


def test_every_substitution_is_used_by_the_asl(asl: dict[str, Any], template: SagaTemplate) -> None:
    # Given the template's DefinitionSubstitutions
    declared = set(template.substitutions)

    # When the definition's placeholders are collected
    unused = declared - placeholders(asl)

    # Then no entry is dead
    assert not unused, f"DefinitionSubstitutions entries the definition never uses: {sorted(unused)}"


# ------------------------------------------------------------------ (c) substitutions -> functions -> tasks


def test_every_substitution_is_the_arn_of_a_function_of_the_template(template: SagaTemplate) -> None:
    # Given each substitution's target, as (logical id, attribute) of a !GetAtt
    targets = template.substitutions

    # When each is looked up among the template's AWS::Serverless::Function resources
    wrong = {
        name: f"{logical_id}.{attribute}"
        for name, (logical_id, attribute) in targets.items()
        if logical_id not in template.functions or attribute != "Arn"
    }

    # Then each is a function's ARN
    assert not wrong, f"substitutions that are not a function's Arn: {wrong}"


def task_functions(asl: dict[str, Any], template: SagaTemplate) -> dict[str, set[str]]:
    """Task state name -> logical ids of the functions it invokes."""
    return {
        name: {template.substitutions[p][0] for p in placeholders(state) if p in template.substitutions}
        for name, state in states(asl)
        if state["Type"] == "Task"
    }


def test_every_function_is_invoked_by_some_task(asl: dict[str, Any], template: SagaTemplate) -> None:
    # Given the functions each Task state invokes
    invoked = set().union(*task_functions(asl, template).values())

    # When they are compared with the template's functions
    idle = set(template.functions) - invoked

    # Then every function is part of the saga
    assert not idle, f"functions no Task invokes: {sorted(idle)}"


def test_every_task_invokes_one_function(asl: dict[str, Any], template: SagaTemplate) -> None:
    # Given the Task states and what they invoke
    tasks = task_functions(asl, template)

    # When a Task reaches no function of the template, or several
    odd = {name: sorted(functions) for name, functions in tasks.items() if len(functions) != 1}

    # Then it is reported
    assert tasks, "the state machine has no Task state"
    assert not odd, f"Task states that do not invoke exactly one function: {odd}"


def test_the_state_machine_may_invoke_exactly_the_functions_its_tasks_use(
    asl: dict[str, Any], template: SagaTemplate
) -> None:
    # Given the functions the Task states invoke
    invoked = set().union(*task_functions(asl, template).values())

    # When the state machine role's lambda:InvokeFunction resources are collected
    (machine,) = resources_of_type(template, "AWS::Serverless::StateMachine").values()
    granted = {
        resource["Fn::GetAtt"].split(".")[0] if isinstance(resource["Fn::GetAtt"], str) else resource["Fn::GetAtt"][0]
        for statement in iam_statements(machine.get("Properties", {}).get("Policies", []))
        if "lambda:InvokeFunction" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }

    # Then the role grants each invoked function and nothing more
    assert granted == invoked, (
        f"granted but not invoked: {granted - invoked}; invoked but not granted: {invoked - granted}"
    )


# ------------------------------------------------------------------------------- (d) sample events


def test_every_function_has_a_sample_event_and_every_sample_a_function(template: SagaTemplate) -> None:
    # Given the functions of the template, named after their CodeUri directory
    expected = {sample_event_path(function).name for function in template.functions.values()}

    # When the sample events are listed
    present = {path.name for path in EVENTS.glob("*.json")}

    # Then each function has one (for `sam local invoke -e`), and every one (error cases included) is
    # listed with its function and expected result
    listed = {sample.file: sample.function for sample in SAMPLES}
    assert expected - present == set(), "functions without a sample event"
    assert present == set(listed), "sample events not listed in saga_cli.sample_events, or listed but absent"
    assert set(listed.values()) == set(template.functions)


@pytest.mark.parametrize("logical_id", sorted(load().functions))
def test_every_sample_event_parses_as_its_handlers_input_model(template: SagaTemplate, logical_id: str) -> None:
    # Given a function's sample event and the model its handler parses events into
    function = template.functions[logical_id]
    event = read_json(sample_event_path(function))
    model = input_model(function)

    # When the event is parsed as the handler parses it
    parsed = parse(model, event)

    # Then it is valid, for the same order as every other sample
    assert isinstance(parsed, model)
    order_id = getattr(parsed, "order_id", None) or getattr(parsed, "execution_name", None)
    assert order_id == "ord-7f3a9c"


def test_the_create_order_sample_holds_a_valid_execution_input() -> None:
    # Given CreateOrder's sample event (its model keeps the execution input as a raw dict)
    event = read_json(EVENTS / "create_order.json")

    # When its execution input is parsed as CreateOrder parses it
    request = parse(OrderRequest, event["order"])

    # Then it is a valid order, named like the execution
    assert request.order_id == event["executionName"]


Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


def without_error(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key != "error"}


def execution_input_of(order: dict[str, Any], token: str = "tok_visa") -> dict[str, Any]:
    """The execution input an order came from (the fields of OrderRequest).

    A charged order no longer carries the payment token: ``token`` stands in for it then.
    """
    fields = {"orderId", "customerId", "items", "currency", "payment", "shippingAddress"}
    return {"payment": {"token": token}} | {key: copy.deepcopy(value) for key, value in order.items() if key in fields}


def create_and_reserve(invoke: Invoke, order: dict[str, Any]) -> dict[str, Any]:
    created = invoke("CreateOrderFunction", {"order": order, "executionName": order["orderId"]})
    return invoke("ReserveInventoryFunction", created)


def lambda_cause(event: dict[str, Any]) -> dict[str, Any]:
    cause: dict[str, Any] = json.loads(event["error"]["Cause"])
    return cause


def test_the_refund_sample_is_what_a_failed_shipment_hands_to_refund_payment(invoke: Invoke) -> None:
    # Given the RefundPayment sample: a charged order whose shipment failed, and the caught error
    refund = read_json(EVENTS / "refund_payment.json")
    order = execution_input_of(refund)

    # When that order goes through the forward steps and ShipOrder raises
    charged = invoke("ChargePaymentFunction", create_and_reserve(invoke, order))
    with pytest.raises(ShippingFailed) as failure:
        invoke("ShipOrderFunction", charged)

    # Then the sample is ShipOrder's input plus the error under $.error, as Lambda reports it
    assert without_error(refund) == charged
    assert refund["error"]["Error"] == lambda_cause(refund)["errorType"] == type(failure.value).__name__
    assert lambda_cause(refund)["errorMessage"] == str(failure.value)
    # and RefundPayment accepts it
    assert invoke("RefundPaymentFunction", refund)["status"] == "REFUNDED"


def test_the_release_sample_is_what_a_declined_payment_hands_to_release_inventory(invoke: Invoke) -> None:
    # Given the ReleaseInventory sample: a reserved order whose payment was declined, and the caught error
    release = read_json(EVENTS / "release_inventory.json")
    order = execution_input_of(release)

    # When that order is created and reserved and ChargePayment raises
    reserved = create_and_reserve(invoke, order)
    with pytest.raises(PaymentDeclined) as failure:
        invoke("ChargePaymentFunction", reserved)

    # Then the sample is ChargePayment's input plus the error under $.error, as Lambda reports it
    assert without_error(release) == reserved
    assert release["error"]["Error"] == lambda_cause(release)["errorType"] == type(failure.value).__name__
    assert lambda_cause(release)["errorMessage"] == str(failure.value)
    # and ReleaseInventory accepts it
    assert invoke("ReleaseInventoryFunction", release)["status"] == "INVENTORY_RELEASED"


def test_the_compensation_failure_sample_is_what_the_record_states_pass(asl: dict[str, Any]) -> None:
    # Given the RecordCompensationFailure sample and the Payload templates of the states that invoke it
    sample = read_json(EVENTS / "record_compensation_failure.json")
    payloads = [
        state["Parameters"]["Payload"]
        for _, state in states(asl)
        if state["Type"] == "Task" and "RecordCompensationFailureFunctionArn" in placeholders(state)
    ]

    # When the sample's keys are compared with the keys those states build (a trailing ".$" is a path)
    built = [{key.removesuffix(".$") for key in payload} for payload in payloads]

    # Then the sample has exactly those keys, and names a compensation one of the states names
    assert payloads, "no state invokes RecordCompensationFailure"
    assert all(keys == set(sample) for keys in built)
    assert sample["compensation"] in {payload["compensation"] for payload in payloads}


# ------------------------------------------------------------------------------- (e) execution inputs


@pytest.mark.parametrize("path", sorted(EXECUTIONS.glob("*.json")), ids=lambda path: path.stem)
def test_sample_execution_inputs_are_valid_except_the_invalid_one(path: Path) -> None:
    # Given a sample execution input
    data = read_json(path)

    if path.stem == "invalid":
        # When the invalid one is parsed as CreateOrder parses it
        with pytest.raises(InvalidOrder) as failure:
            parse(OrderRequest, data)
        # Then it is refused, naming the offending fields
        assert "customerId" in str(failure.value)
        assert "currency" in str(failure.value)
    else:
        # When any other is parsed
        request = parse(OrderRequest, data)
        # Then it is a valid order
        assert request.items


def test_every_case_of_the_contract_has_a_sample_execution_input() -> None:
    # Given the cases the contract lists
    cases = {"happy", "out_of_stock", "payment_declined", "shipping_failed", "invalid"}

    # When the sample inputs are listed
    present = {path.stem for path in EXECUTIONS.glob("*.json")}

    # Then each case has one
    assert cases - present == set()


# ------------------------------------------------------------------------------- (f) dependency pins


def requirements_by_name(lines: list[str]) -> dict[str, Requirement]:
    found = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def test_the_layer_pins_the_same_libraries_as_pyproject(template: SagaTemplate) -> None:
    # Given the layer's requirements (what Lambda runs) and the project's dependencies (what tests run)
    (layer_dir,) = template.layer_dirs
    layer = requirements_by_name((layer_dir / "requirements.txt").read_text(encoding="utf-8").splitlines())
    project = requirements_by_name(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])

    # When the pins of the libraries the handlers are written against (and of wrapt, pinned for the cold
    # import) are compared, and every library the layer pins
    for name in {"aws-lambda-powertools", "pydantic", "wrapt", *layer}:
        # Then both name the same exact version, with the same extras
        assert name in layer, f"{name} is missing from the layer's requirements"
        assert name in project, f"{name} is missing from pyproject.toml's dependencies"
        assert str(layer[name].specifier).startswith("=="), f"{name} is not pinned in the layer"
        assert (layer[name].specifier, layer[name].extras) == (project[name].specifier, project[name].extras)


# ------------------------------------------------------------------------------------- (g) template


def test_every_function_runs_on_the_runtime_and_architecture_the_layer_is_built_for(template: SagaTemplate) -> None:
    # Given the layer's build (pydantic-core is compiled for one Python and one CPU): layer/Makefile's
    # Python version and default architecture, and the template's build settings
    (layer,) = resources_of_type(template, "AWS::Serverless::LayerVersion").values()
    makefile = (ROOT / "layer" / "Makefile").read_text(encoding="utf-8")
    python = "python" + re.search(r"^PYTHON_VERSION := (\S+)$", makefile, re.MULTILINE)[1]  # type: ignore[index]
    default_arch = re.search(r"^LAYER_ARCH \?= (\S+)$", makefile, re.MULTILINE)[1]  # type: ignore[index]
    build_architecture = layer["Metadata"]["BuildArchitecture"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert default_arch == template.raw["Parameters"]["Architecture"]["Default"]

    # When each function's Runtime and Architectures are read (Globals included)
    for logical_id in template.functions:
        # Then they match the layer's
        assert function_property(template, logical_id, "Runtime") == python, logical_id
        assert function_property(template, logical_id, "Architectures") == [build_architecture], logical_id
    assert python in layer["Properties"]["CompatibleRuntimes"]
    assert build_architecture in layer["Properties"]["CompatibleArchitectures"]
    # And that one architecture is the template's parameter, arm64 as deployed (local containers build x86_64)
    assert build_architecture == {"Ref": "Architecture"}
    assert template.raw["Parameters"]["Architecture"]["Default"] == "arm64"


def test_every_function_has_time_for_a_cold_start(template: SagaTemplate) -> None:
    # Given each function's Timeout (SAM's default is 3 s, too short for Powertools and pydantic)
    timeouts = {logical_id: function_property(template, logical_id, "Timeout") for logical_id in template.functions}

    # Then each is set, and longer than that
    short = {logical_id: timeout for logical_id, timeout in timeouts.items() if timeout is None or timeout <= 3}
    assert not short, f"functions with a Timeout of 3 s or less: {short}"


def test_the_state_machine_is_standard(template: SagaTemplate) -> None:
    # Given the state machine (a saga needs exactly-once steps, history and redrive)
    (machine,) = resources_of_type(template, "AWS::Serverless::StateMachine").values()

    # Then its type is STANDARD, not EXPRESS
    assert machine["Properties"]["Type"] == "STANDARD"


def test_tables_are_on_demand_with_point_in_time_recovery(template: SagaTemplate) -> None:
    # Given the template's DynamoDB tables
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    assert tables

    # Then each is billed per request and can be restored to a point in time
    for logical_id, table in tables.items():
        props = table["Properties"]
        assert props.get("BillingMode") == "PAY_PER_REQUEST", logical_id
        assert props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True, logical_id


def test_the_idempotency_table_expires_records_on_powertools_expiry_attribute(template: SagaTemplate) -> None:
    # Given the table every function is told to keep idempotency records in
    refs = {
        logical_id: function.environment.get("IDEMPOTENCY_TABLE_NAME")
        for logical_id, function in template.functions.items()
    }
    names = {ref["Ref"] if isinstance(ref, dict) else None for ref in refs.values()}
    assert len(names) == 1, f"functions disagree on the idempotency table: {refs}"
    (table_id,) = names
    assert table_id in template.tables

    # When its TTL attribute is compared with the attribute Powertools writes the expiry to
    expiry_attribute = inspect.signature(DynamoDBPersistenceLayer).parameters["expiry_attr"].default

    # Then DynamoDB deletes expired records
    assert template.tables[table_id].ttl_attribute == expiry_attribute


def test_no_iam_statement_grants_a_wildcard_action(template: SagaTemplate) -> None:
    # Given every IAM statement in the template
    statements = list(iam_statements(template.raw["Resources"]))
    assert statements

    # When their actions are collected
    actions = {action for statement in statements for action in as_list(statement.get("Action", []))}

    # Then each names one action: no "*", no "service:*", no NotAction
    assert not [action for action in actions if "*" in action]
    assert not [statement for statement in statements if "NotAction" in statement]


def test_only_the_log_delivery_statement_has_resource_star(template: SagaTemplate) -> None:
    # Given every IAM statement whose Resource is "*"
    star = [
        statement
        for statement in iam_statements(template.raw["Resources"])
        if "*" in as_list(statement.get("Resource", []))
    ]

    # Then there is exactly one, and it is the CloudWatch Logs delivery statement AWS documents
    assert len(star) == 1, f"statements with Resource '*': {star}"
    assert set(as_list(star[0]["Action"])) == LOG_DELIVERY_ACTIONS


def test_every_policy_is_an_inline_statement_these_checks_can_see(template: SagaTemplate) -> None:
    # Given the Policies of every function and state machine
    serverless = resources_of_type(template, "AWS::Serverless::Function") | resources_of_type(
        template, "AWS::Serverless::StateMachine"
    )
    policies = {
        logical_id: as_list(resource["Properties"].get("Policies", [])) for logical_id, resource in serverless.items()
    }

    # Then each is an inline policy document (a managed policy or a SAM policy template would hide its actions)
    hidden = {
        logical_id: entries
        for logical_id, entries in policies.items()
        if not all(isinstance(entry, dict) and "Statement" in entry for entry in entries)
    }
    assert not hidden


def _worst_seconds(state: dict[str, Any]) -> float:
    """A Task's longest run: every attempt timing out, every wait at its longest (before jitter)."""
    attempts, waits = 1, 0.0
    for retrier in state.get("Retry", []):
        interval, rate, cap = retrier["IntervalSeconds"], retrier["BackoffRate"], retrier.get("MaxDelaySeconds")
        for attempt in range(retrier["MaxAttempts"]):
            attempts += 1
            waits += min(interval * rate**attempt, cap or float("inf"))
    return float(attempts * state["TimeoutSeconds"] + waits)


def test_the_longest_path_fits_in_the_state_machines_timeout_and_the_cli_waits_longer(asl: dict[str, Any]) -> None:
    # Given the longest path: every forward step and both compensations at the edge of their retries, each
    # compensation giving up, recorded, and then succeeding on the last attempt of its Retry state
    longest = [
        "CreateOrder",
        "ReserveInventory",
        "ChargePayment",
        "ShipOrder",
        "RefundPayment",
        "RecordRefundFailure",
        "RetryRefundPayment",
        "ReleaseInventory",
        "RecordReleaseFailure",
        "RetryReleaseInventory",
    ]
    states = asl["States"]
    for here, after in itertools.pairwise(longest):
        reachable = {states[here].get("Next")} | {catch["Next"] for catch in states[here].get("Catch", [])}
        assert after in reachable, f"{here} cannot lead to {after}"

    # Then it ends within TimeoutSeconds, and the CLI waits longer than that before giving up
    assert sum(_worst_seconds(states[name]) for name in longest) <= asl["TimeoutSeconds"]
    assert asl["TimeoutSeconds"] < WAIT_LIMIT_SECONDS


def test_a_compensation_that_gives_up_ends_at_a_task_that_retries_it_without_a_catch(
    asl: dict[str, Any], template: SagaTemplate
) -> None:
    # RedriveExecution resumes the state that never exited: for a compensation that gave up, that must be a
    # Task running the same compensation (not a Fail state), reached only after the failure is recorded.
    states = asl["States"]
    for compensation, state_function in compensation_states(template).items():
        record = states[states[compensation]["Catch"][0]["Next"]]
        assert "RecordCompensationFailureFunctionArn" in json.dumps(record["Parameters"])
        retry = states[record["Next"]]
        assert retry["Type"] == "Task"
        assert "Catch" not in retry, "its failure must fail the execution at this Task"
        assert retry["Parameters"]["FunctionName"] == states[compensation]["Parameters"]["FunctionName"]
        assert retry["Next"] == states[compensation]["Next"]
        assert state_function in template.functions
    assert not [name for name, state in states.items() if state["Type"] == "Fail" and "Compensation" in name]
