"""No card data and no payment token in any log, output or table, over whole sagas on the embedded engine.

Each test runs the real state machine with the handlers logging at DEBUG (every line they can write), puts a
canary token (or a card number) in the execution input, and searches everything the saga leaves behind: the
handlers' log lines, Powertools' own log records, the execution's output or cause, and every item of both tables.
The execution's history is the one place the token stays: it holds the execution input, on AWS as here.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from engine_support import order, scenario
from engine_support import run as run_sagas
from saga_cli.template import load

CANARY = f"tok_secret_canary_{uuid.uuid4().hex}"
DECLINED_TOKEN = "tok_chargeDeclined"  # the contract's declined token: the one the declined path can carry
CARD_NUMBER = "4111 1111 1111 1111"
#: What every handler logs when its step ends (order_saga.handler.saga_step), at INFO.
STEP_MESSAGES = ("Step done", "Step failed")


class Records(logging.Handler):
    """Every record of the loggers it is added to, as text: message, arguments and extra fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__!r}")


@dataclass
class Logs:
    stream: io.StringIO
    library: Records

    def records(self) -> list[dict[str, Any]]:
        """The handlers' JSON log lines, as CloudWatch Logs would receive them."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def text(self) -> str:
        return self.stream.getvalue() + "\n".join(self.library.lines)


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Logs]:
    """Everything the handlers log, at DEBUG, captured where the records are written.

    The engine hands the functions POWERTOOLS_LOG_LEVEL from this environment (WARNING by default). Powertools'
    Logger is built once per process and binds its level and stream then, so both are also set on it directly,
    as tests/test_handlers_logs.py does. Powertools' own modules (idempotency, parser) log through the standard
    ``aws_lambda_powertools`` logger: that is captured at DEBUG too.
    """
    from order_saga.handler import logger

    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    level = logger.log_level
    logger.setLevel(logging.DEBUG)
    library, records = logging.getLogger("aws_lambda_powertools"), Records()
    library_level = library.level
    library.setLevel(logging.DEBUG)
    library.addHandler(records)
    try:
        yield Logs(stream, records)
    finally:
        library.removeHandler(records)
        library.setLevel(library_level)
        logger.setLevel(level)


@pytest.fixture
def saga(logs: Logs, saga: Any) -> Any:
    """The conftest's embedded engine, opened once the logs are captured at DEBUG (the environment it copies)."""
    return saga


def saga_with_token(name: str, token: str) -> Any:
    start = scenario(name)
    data = json.loads(start.payload)
    data["payment"]["token"] = token
    return order(data)


def stored_items(target: Any) -> str:
    """Every item of the saga table (orders, stock) and of the idempotency table, as text."""
    client = target.store.client
    tables = (target.store.table_name, target.idempotency_table)
    return json.dumps([client.scan(TableName=table)["Items"] for table in tables])


def assert_logged_under(logs: Logs, order_id: str, messages: list[str], *, steps_recorded: bool = True) -> None:
    """The capture really holds this saga's log lines: the test could have seen a token there."""
    records = [record for record in logs.records() if record.get("correlation_id") == order_id]
    assert [record["message"] for record in records if record["message"] in STEP_MESSAGES] == messages
    if steps_recorded:
        # Powertools' own DEBUG lines about the idempotency records it wrote were captured as well
        assert any("idempotency key" in line for line in logs.library.lines)


def test_the_token_of_a_shipped_order_is_in_no_log_output_or_table(saga: Any, logs: Logs) -> None:
    # Given an order paid with a canary token
    start = saga_with_token("happy", CANARY)

    # When the whole saga runs
    [result] = run_sagas(saga, start)

    # Then it shipped, so the token went all the way to the payment provider
    assert result.status == "SUCCEEDED"
    assert_logged_under(logs, start.name, ["Step done"] * 4)
    # And the token is in no log line, not in the execution's output, the order item or any stored record
    assert CANARY not in logs.text()
    assert CANARY not in json.dumps(result.output)
    assert result.order is not None
    assert CANARY not in json.dumps(result.order)
    assert CANARY not in stored_items(saga)
    # The history does hold it: it keeps the execution input (so does Step Functions on AWS)
    assert CANARY in json.dumps(saga.history(result.execution_arn), default=str)


def test_the_token_of_a_refunded_order_is_in_no_log_cause_or_table(saga: Any, logs: Logs) -> None:
    # Given an order paid with a canary token, to a country the carrier does not serve
    start = saga_with_token("shipping-failed", CANARY)

    # When the saga charges, fails to ship, refunds and releases
    [result] = run_sagas(saga, start)

    # Then it failed as the contract says, after logging every step under the order id
    assert (result.status, result.error) == ("FAILED", "ShippingFailed")
    assert_logged_under(logs, start.name, ["Step done"] * 3 + ["Step failed"] + ["Step done"] * 2)
    # And the token is nowhere: logs, the error's cause, the order item, any stored record
    assert CANARY not in logs.text()
    assert CANARY not in f"{result.error} {result.cause} {json.dumps(result.output)}"
    assert result.order is not None
    assert result.order["status"] == "REFUNDED"
    assert CANARY not in json.dumps(result.order)
    assert CANARY not in stored_items(saga)


def test_the_token_of_a_declined_order_is_in_no_log_cause_or_table(saga: Any, logs: Logs) -> None:
    # Given an order whose token the payment provider declines
    start = scenario("payment-declined")
    assert json.loads(start.payload)["payment"]["token"] == DECLINED_TOKEN

    # When the saga is declined and releases the stock
    [result] = run_sagas(saga, start)

    # Then it failed as the contract says, logging the decline by error name
    assert (result.status, result.error) == ("FAILED", "PaymentDeclined")
    assert_logged_under(logs, start.name, ["Step done"] * 2 + ["Step failed", "Step done"])
    # And the declined token is nowhere either: it was sent, and refused, but never written down
    assert DECLINED_TOKEN not in logs.text()
    assert DECLINED_TOKEN not in f"{result.error} {result.cause} {json.dumps(result.output)}"
    assert result.order is not None
    assert DECLINED_TOKEN not in json.dumps(result.order)
    assert DECLINED_TOKEN not in stored_items(saga)


def test_a_card_number_instead_of_a_token_is_refused_and_written_nowhere(saga: Any, logs: Logs) -> None:
    # Given an input whose payment "token" is a card number
    start = saga_with_token("happy", CARD_NUMBER)

    # When the saga runs
    [result] = run_sagas(saga, start)

    # Then CreateOrder refuses it: the execution fails as invalid input, naming the field, and nothing is stored
    assert (result.status, result.error) == ("FAILED", "InvalidOrder")
    assert "payment.token" in (result.cause or "")
    assert result.order is None
    assert_logged_under(logs, start.name, ["Step failed"], steps_recorded=False)
    # And the number is in no log line, not in the cause and in no table, with or without its spaces
    for number in (CARD_NUMBER, CARD_NUMBER.replace(" ", "")):
        assert number not in logs.text()
        assert number not in f"{result.error} {result.cause} {json.dumps(result.output)}"
        assert number not in stored_items(saga)


def test_the_state_machine_logs_no_execution_data() -> None:
    # Given the state machine's CloudWatch Logs configuration in template.yaml
    (machine,) = [
        resource for resource in load().raw["Resources"].values() if resource["Type"] == "AWS::Serverless::StateMachine"
    ]
    logging_config = machine["Properties"]["Logging"]

    # Then it logs every event, but without execution data: no state's input or output reaches the log group
    assert logging_config["Level"] == "ALL"
    assert logging_config["IncludeExecutionData"] is False
