"""`saga capacity`: the arithmetic against AWS's quotas, and the per-order counts it is fed from the engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from saga_cli.commands.main import app
from saga_cli.measure import capacity, prices
from saga_cli.measure.bench import figures_per_scenario
from saga_cli.measure.quotas import for_region

#: A happy order as the census counts it (shape of ``census.census``'s result).
HAPPY: dict[str, Any] = {
    "transitions": 4,
    "lambdaInvocations": 4,
    "writeUnitsByTable": {"order-saga-SagaTable": 7.0, "order-saga-IdempotencyTable": 8.0},
    "hotItemWriteUnits": 2.0,
}


def _limit(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(row for row in result["limits"] if row["name"] == name)


def test_step_functions_refill_rates_depend_on_the_region() -> None:
    large = {q.name: q.amount for q in for_region("us-east-1")}
    other = {q.name: q.amount for q in for_region("eu-west-2")}

    assert large["StepFunctions.StartExecution"] == 300
    assert other["StepFunctions.StartExecution"] == 150
    assert large["StepFunctions.StateTransition"] == 1500
    assert other["StepFunctions.StateTransition"] == 500


def test_given_a_small_region_when_checking_then_state_transitions_bind_first() -> None:
    result = capacity.report(HAPPY, 2000, 0.5, "eu-west-2", "happy")

    # 500 transitions/s over 4 per order: 125 orders/s, under StartExecution's 150.
    assert result["binding"] == "StepFunctions.StateTransition"
    assert result["maxOrdersPerSecond"] == 125
    assert result["holds"] is False
    assert set(result["exceeded"]) == {
        "StepFunctions.StateTransition",
        "StepFunctions.StartExecution",
        "DynamoDB.PartitionWriteThroughput",
        # 8 idempotency write units per order: a new table takes 500 orders/s before it has seen a peak.
        "DynamoDB.NewTableWarmThroughput",
    }


def test_given_a_large_region_when_checking_then_start_execution_binds_first() -> None:
    result = capacity.report(HAPPY, 2000, 0.5, "us-east-1", "happy")

    assert result["binding"] == "StepFunctions.StartExecution"
    assert result["maxOrdersPerSecond"] == 300
    # Half of 2,000 orders/s on one SKU, 2 transactional write units each: twice the partition's 1,000.
    assert _limit(result, "DynamoDB.PartitionWriteThroughput")["usedAtRate"] == 2.0
    assert _limit(result, "DynamoDB.PartitionWriteThroughput")["maxOrdersPerSecond"] == 1000


def test_a_rate_under_every_limit_holds_and_the_rows_run_tightest_first() -> None:
    result = capacity.report(HAPPY, 100, 0.0, "us-east-1", "happy")

    assert result["holds"] is True
    assert result["exceeded"] == []
    ceilings = [row["maxOrdersPerSecond"] for row in result["limits"] if row["maxOrdersPerSecond"] is not None]
    assert ceilings == sorted(ceilings)
    # No order buys the hot SKU: that quota allows any rate.
    assert _limit(result, "DynamoDB.PartitionWriteThroughput")["maxOrdersPerSecond"] is None


def test_lambda_and_table_limits_follow_the_measured_counts() -> None:
    uses = capacity.per_order(HAPPY, hot_sku_share=1.0, stock_shards=4)

    assert uses["lambdaSecondsPerOrder"] == pytest.approx(4 * prices.ASSUMED_INVOCATION_MS / 1000)
    assert uses["busiestTableWriteUnits"] == 8.0
    assert uses["hotItemWriteUnits"] == 0.5  # 2 units spread over 4 stock shards


def test_the_census_counts_one_transactional_write_of_the_stock_item_per_happy_order() -> None:
    figures = figures_per_scenario(["happy", "payment-declined"])

    assert figures["happy"]["transitions"] == 4
    assert figures["happy"]["hotItemWriteUnits"] == 2  # reserve: one stock item, in a transaction
    # A declined payment reserves then releases: the stock item is written twice.
    assert figures["payment-declined"]["hotItemWriteUnits"] == 4
    assert sum(figures["happy"]["writeUnitsByTable"].values()) == figures["happy"]["writeUnits"]


def test_the_command_prints_one_json_line_naming_the_binding_limit() -> None:
    result = CliRunner().invoke(
        app,
        ["capacity", "--orders-per-second", "2000", "--hot-sku-share", "0.5", "--region", "us-east-1", "--json"],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["binding"] == "StepFunctions.StartExecution"
    assert report["maxOrdersPerSecond"] == 300
    assert report["measured"]["transitions"] == 4


def test_stock_shards_raise_the_hot_items_limit_and_default_to_the_templates() -> None:
    def partition(*extra: str) -> dict[str, Any]:
        args = ["capacity", "--orders-per-second", "100", "--hot-sku-share", "1", "--json", *extra]
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        return report | next(row for row in report["limits"] if row["name"] == "DynamoDB.PartitionWriteThroughput")

    # Given the template's setting (one stock item per SKU), and four shards
    plain, sharded = partition(), partition("--stock-shards", "4")

    # Then four shards carry four times the hot SKU's orders
    assert plain["stockShards"] == 1
    assert sharded["stockShards"] == 4
    assert sharded["maxOrdersPerSecond"] == pytest.approx(4 * plain["maxOrdersPerSecond"])


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--orders-per-second", "100", "--hot-sku-share", "1.5"], "--hot-sku-share"),
        (["--orders-per-second", "-1"], "--orders-per-second"),
        (["--orders-per-second", "100", "--scenario", "nope"], "nope"),
        (["--orders-per-second", "100", "--stock-shards", "11"], "--stock-shards"),
    ],
)
def test_bad_options_are_refused_in_one_line(args: list[str], named: str) -> None:
    result = CliRunner().invoke(app, ["capacity", *args])

    assert result.exit_code == 2
    assert named in result.output
    assert "Traceback" not in result.output
