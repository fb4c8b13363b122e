"""Every sample event of events/ gives what saga_cli.sample_events expects, with the handlers in-process.

`make invoke` checks the same expectations against the functions as `sam build` ships them, each in a
Lambda container under `sam local invoke`.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import SEED
from order_saga.errors import SagaError
from order_saga.models import OrderStatus
from saga_cli.sample_events import SAMPLES, Invoke, Outcome, SampleEvent

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")


def outcome_of(invoke: Invoke, sample: SampleEvent) -> Outcome:
    try:
        return Outcome(result=invoke(sample.function, sample.event()))
    except SagaError as exc:
        return Outcome(error_type=type(exc).__name__, error_message=str(exc))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.file.removesuffix(".json"))
def test_each_sample_event_gives_what_is_expected_of_it(tables: Any, invoke: Invoke, sample: SampleEvent) -> None:
    # Given the tables as the sample event needs them (its order through the steps it follows)
    sample.prepare(invoke)

    # When its function runs with it
    outcome = outcome_of(invoke, sample)

    # Then the result (or the error) is the one expected, and the stored order agrees with a status result
    assert sample.mismatch(outcome) is None
    if sample.status:
        assert tables.get_order(sample.event()["orderId"]).status == OrderStatus(sample.status)


def test_the_error_samples_change_nothing_they_should_not(tables: Any, invoke: Invoke) -> None:
    # Given the error samples, each prepared in turn on the same tables
    errors = [sample for sample in SAMPLES if sample.raises]
    for sample in errors:
        sample.prepare(invoke)
        # When each runs, Then it raises, and the malformed order is never stored
        assert sample.mismatch(outcome_of(invoke, sample)) is None
    assert tables.get_order("ord-malformed-1") is None
    assert tables.get_order("ord-oos-1").status == OrderStatus.INVENTORY_FAILED
    # And the out-of-stock SKU is still at 0 (only the declined order's reservation holds stock)
    assert tables.stock(["OUT-OF-STOCK-1"]) == {"OUT-OF-STOCK-1": SEED["OUT-OF-STOCK-1"]}


def test_a_mismatch_names_what_was_expected_and_what_came() -> None:
    # Given the CreateOrder sample, which expects the ReserveInventory sample back
    sample = SAMPLES[0]

    # When the function answered with an error instead
    why = sample.mismatch(Outcome(error_type="ModuleNotFoundError", error_message="No module named 'order_saga'"))

    # Then the message says both
    assert why == (
        "expected the event of reserve_inventory.json, got errorType ModuleNotFoundError (No module named 'order_saga')"
    )
