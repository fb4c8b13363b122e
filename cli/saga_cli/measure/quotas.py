"""AWS's published quotas that bound how many orders a second the deployed saga can take: the one place they live.

Each is the default an account gets, as AWS documents it, with the page it comes from and the day it was
last compared with that page (``QUOTAS_CHECKED``). Most are soft: the ``remedy`` says what a user raises or
changes when one binds. ``saga capacity`` divides each by what one order uses of it, measured on the
embedded engine.
"""

from __future__ import annotations

from dataclasses import dataclass

QUOTAS_CHECKED = "2026-12-03"

_SFN_QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
_LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
_DDB_QUOTAS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
_DDB_PARTITIONS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html"

#: Step Functions gives these three regions larger token buckets than every other region.
LARGE_REGIONS = frozenset({"us-east-1", "us-west-2", "eu-west-1"})


@dataclass(frozen=True)
class Quota:
    """One limit: how much of something a second (or at once) an account, table or item may use."""

    name: str
    amount: float
    #: What ``amount`` counts, e.g. "state transitions/s".
    unit: str
    #: What one order uses of it is measured by this key of the per-order figures (see ``capacity``).
    per_order: str
    adjustable: bool
    remedy: str
    source: str


def for_region(region: str) -> list[Quota]:
    """The quotas that apply to a stack in ``region`` (Step Functions' refill rates depend on it)."""
    large = region in LARGE_REGIONS
    return [
        Quota(
            name="StepFunctions.StartExecution",
            # Standard workflows, refill rate (bucket 1,300 / 800 absorbs a short burst).
            amount=300 if large else 150,
            unit="StartExecution calls/s",
            per_order="executions",
            adjustable=True,
            remedy="raise the StartExecution refill rate (Service Quotas), or start Express executions",
            source=_SFN_QUOTAS,
        ),
        Quota(
            name="StepFunctions.StateTransition",
            # Standard workflows, refill rate (bucket 5,000 / 800). Retries count as transitions too.
            amount=1500 if large else 500,
            unit="state transitions/s",
            per_order="transitions",
            adjustable=True,
            remedy="raise the StateTransition refill rate (Service Quotas), or move to Express workflows",
            source=_SFN_QUOTAS,
        ),
        Quota(
            name="Lambda.ConcurrentExecutions",
            amount=1000,
            unit="concurrent executions",
            per_order="lambdaSecondsPerOrder",
            adjustable=True,
            remedy="raise the account's concurrent executions (Service Quotas)",
            source=_LAMBDA_QUOTAS,
        ),
        Quota(
            name="DynamoDB.TableWriteThroughput",
            # On-demand, per table (a new on-demand table starts warm at 4,000 and grows with its peaks).
            amount=40_000,
            unit="write request units/s per table",
            per_order="busiestTableWriteUnits",
            adjustable=True,
            remedy="raise the per-table write throughput quota; pre-warm the table before a sale",
            source=_DDB_QUOTAS,
        ),
        Quota(
            name="DynamoDB.NewTableWarmThroughput",
            # What a new on-demand table takes at once; it grows with the peaks it sees, up to the quota above.
            amount=4000,
            unit="write units/s a new on-demand table takes at once",
            per_order="busiestTableWriteUnits",
            adjustable=True,
            remedy="pre-warm the tables (WarmThroughput) before a sale, or let them see the peak first",
            source=_DDB_PARTITIONS,
        ),
        Quota(
            name="DynamoDB.PartitionWriteThroughput",
            # One item lives on one partition: every reservation of a SKU writes its one stock item,
            # transactionally (2 write units per KB).
            amount=1000,
            unit="write units/s on one stock item",
            per_order="hotItemWriteUnits",
            adjustable=False,
            remedy="split the hot SKU's stock over several items (shards), or queue its orders",
            source=_DDB_PARTITIONS,
        ),
        Quota(
            name="StepFunctions.OpenExecutions",
            amount=1_000_000,
            unit="open executions",
            per_order="executionSecondsPerOrder",
            adjustable=True,
            remedy="raise the open executions quota (Service Quotas)",
            source=_SFN_QUOTAS,
        ),
    ]
