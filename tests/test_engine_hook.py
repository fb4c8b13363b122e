"""The embedded engine rests on private moto API: these tests fail loudly, with a reason, if it moves."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from saga_cli.template import ROOT


def test_moto_is_pinned_to_the_version_the_hook_was_written_for() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    pinned = re.search(r'"moto\[[^\]]*\]==([0-9.]+)"', pyproject)
    assert pinned, "pyproject.toml must pin moto exactly"
    assert version("moto") == pinned.group(1), "installed moto differs from the pin: re-check the hook"


def test_lambda_invoke_hook_is_where_the_engine_expects_it() -> None:
    hook = getattr(lambda_eval_utils, "_invoke_lambda_function", None)
    assert callable(hook), "moto moved _invoke_lambda_function: the engine cannot reach the handlers"
    assert list(inspect.signature(hook).parameters) == ["parameters", "region", "state_credentials"]
    source = inspect.getsource(lambda_eval_utils.execute_lambda_function_integration)
    assert "_invoke_lambda_function(" in source, "the Lambda integration no longer calls the hook"


def test_retrier_sleeps_through_its_time_module() -> None:
    source = inspect.getsource(retrier_decl)
    assert "time.sleep(" in source, "Retry waits moved: the engine's clock scaling no longer applies"


def test_the_other_patch_points_are_still_there() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    entrypoint = inspect.getsource(ExecutionWorker._get_evaluation_entrypoint)
    assert "AmazonStateLanguageParser.parse(" in entrypoint, "the parse moved: memoising it no longer applies"
    assert "_evaluation_details.state_machine_details.definition" in entrypoint
    assert callable(BaseExecutionWorkerCommunication.terminated), "completion notice moved"
    assert callable(DynamoHandler.call_action), "DynamoDB dispatch moved: requests are no longer serialised"
    transact = inspect.getsource(DynamoDBBackend.transact_write_items)
    assert "copy.deepcopy(" in transact, "moto changed how transactions back up tables: re-check the patch"


def test_concurrent_executions_share_the_parse_and_stay_correct(saga) -> None:  # type: ignore[no-untyped-def]
    from engine_support import run, scenario

    before = saga.store.stock(["WIDGET-1"])["WIDGET-1"]
    results = run(saga, *(scenario(name) for name in ["happy", "payment-declined"] * 6), concurrency=6)

    assert [r.error for r in results] == [None, "PaymentDeclined"] * 6
    assert saga.store.stock(["WIDGET-1"])["WIDGET-1"] == before - 6 * 2, "six shipped, six released"


def test_a_task_reaches_the_in_process_handler(saga) -> None:  # type: ignore[no-untyped-def]
    from engine_support import run, scenario

    [result] = run(saga, scenario("happy"))

    called = [call.function.logical_id for call in saga.engine.lambda_.calls]
    assert called == [
        "CreateOrderFunction",
        "ReserveInventoryFunction",
        "ChargePaymentFunction",
        "ShipOrderFunction",
    ]
    assert result.status == "SUCCEEDED"
