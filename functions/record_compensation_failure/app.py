"""RecordCompensationFailure: mark the order COMPENSATION_FAILED when a compensation kept failing."""

from order_saga.handler import saga_step
from order_saga.models import CompensationFailure, CompensationFailureRecorded
from order_saga.steps import record_compensation_failure


@saga_step(CompensationFailure)
def lambda_handler(failure: CompensationFailure) -> CompensationFailureRecorded:
    return record_compensation_failure(failure)
