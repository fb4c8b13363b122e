"""The handlers' structured logs: JSON lines on stdout, keyed by order id, never carrying the payment token."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

from conftest import caught, execution_input, order_input
from order_saga.errors import InvalidOrder, PaymentDeclined, ShippingFailed

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")

SECRET_TOKEN = "tok_live_5ecr3tValue"
CARD_NUMBER = "4242424242424242"


class CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time: capsys swaps it in and out between test phases."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logs(tables, capsys, monkeypatch):
    """The log records the handlers write to stdout during the test, parsed.

    The logger is built once per process, with the stdout and the level of that moment (the embedded engine
    runs the handlers at WARNING): make it follow capsys's stdout, at the template's level for the test.
    """
    from order_saga.handler import logger

    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())
    level = logger.log_level
    logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])  # the template's, set by the tables fixture
    capsys.readouterr()

    def read() -> tuple[str, list[dict[str, Any]]]:
        out = capsys.readouterr().out
        return out, [json.loads(line) for line in out.splitlines() if line.strip()]

    yield read
    logger.setLevel(level)


def test_happy_chain_logs_each_step_under_the_order_id_and_never_the_token(tables, run_chain, logs):
    # Given an order paid with a token
    order = order_input(order_id="ord-logs", payment={"token": SECRET_TOKEN})

    # When the happy chain runs
    run_chain(order)
    out, records = logs()

    # Then each handler wrote a structured record for its step
    assert [record["function_name"] for record in records if record["message"] == "Step done"] == [
        "CreateOrderFunction",
        "ReserveInventoryFunction",
        "ChargePaymentFunction",
        "ShipOrderFunction",
    ]
    assert [record["status"] for record in records if record["message"] == "Step done"] == [
        "CREATED",
        "RESERVED",
        "CHARGED",
        "SHIPPED",
    ]
    # And every record carries the order id as correlation id
    assert all(record["correlation_id"] == "ord-logs" for record in records)
    # And the token appears nowhere
    assert SECRET_TOKEN not in out


def test_compensation_paths_log_under_the_order_id_and_never_the_token(tables, run_chain, invoke, logs):
    # Given a declined order and a shipment to Antarctica, both paid with tokens
    *_, reserved = run_chain(
        order_input(order_id="ord-declined", payment={"token": "tok_chargeDeclined"}), "ReserveInventoryFunction"
    )
    to_antarctica = execution_input("shipping_failed")["shippingAddress"]
    *_, charged = run_chain(
        order_input(order_id="ord-aq", payment={"token": SECRET_TOKEN}, shippingAddress=to_antarctica),
        "ChargePaymentFunction",
    )
    logs()

    # When each fails and is compensated, and a compensation failure is recorded
    with pytest.raises(PaymentDeclined) as declined:
        invoke("ChargePaymentFunction", reserved)
    invoke("ReleaseInventoryFunction", caught(reserved, declined.value))
    with pytest.raises(ShippingFailed) as failed:
        invoke("ShipOrderFunction", charged)
    refunded = invoke("RefundPaymentFunction", caught(charged, failed.value))
    invoke("ReleaseInventoryFunction", refunded)
    error = {"Error": "States.Timeout", "Cause": ""}
    invoke("RecordCompensationFailureFunction", {"orderId": "ord-aq", "compensation": "RefundPayment", "error": error})
    out, records = logs()

    # Then failures are logged by error name, each record under its own order id
    failures = [(record["correlation_id"], record["error"]) for record in records if record["message"] == "Step failed"]
    assert failures == [("ord-declined", "PaymentDeclined"), ("ord-aq", "ShippingFailed")]
    assert [record["correlation_id"] for record in records] == ["ord-declined"] * 2 + ["ord-aq"] * 4
    # And no token appears
    assert SECRET_TOKEN not in out
    assert "tok_chargeDeclined" not in out


def test_create_logs_the_execution_name_when_the_input_has_no_order_id(tables, invoke, logs):
    # Given an input without an orderId
    # When CreateOrder runs under an execution name
    invoke("CreateOrderFunction", {"order": execution_input("happy"), "executionName": "exec-77"})
    _, records = logs()

    # Then its log record is correlated by the execution name, the order's id
    assert [record["correlation_id"] for record in records] == ["exec-77"]


def test_refused_card_number_is_not_logged(tables, invoke, logs):
    # Given an input with a card number instead of a token
    order = order_input(order_id="ord-card", payment={"token": CARD_NUMBER})

    # When CreateOrder refuses it
    with pytest.raises(InvalidOrder):
        invoke("CreateOrderFunction", {"order": order, "executionName": "exec-1"})
    out, records = logs()

    # Then the refusal is logged, by error name, without the number
    assert [(record["message"], record["error"]) for record in records] == [("Step failed", "InvalidOrder")]
    assert records[0]["correlation_id"] == "ord-card"
    assert CARD_NUMBER not in out
