"""`saga bench` works: a handful of sagas, every figure present and sane. The real measurement is `make bench`;
this only checks the command, the counting and the arithmetic."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from saga_cli.commands.main import app
from saga_cli.measure import bench, census, prices
from saga_cli.measure import packages as bench_packages
from saga_cli.measure import report as bench_report
from saga_cli.measure.report import render
from saga_cli.template import load

SCENARIOS = {"happy", "out-of-stock", "payment-declined", "shipping-failed", "invalid"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("bench")
    result = CliRunner().invoke(
        app,
        ["bench", "--sagas", "3", "--import-runs", "0", "--json", "--chart", str(folder / "chart.svg")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures, folder


def test_the_last_line_holds_every_figure(report: tuple[dict[str, Any], Path]) -> None:
    figures, _ = report

    for key in (
        "sagasPerSecond",
        "directPerSecond",
        "overheadRatio",
        "importMs",
        "importBoto3Ms",
        "libraryImportMs",
        "libraryImportRatio",
        "packageBytes",
        "transitions",
        "dynamodbWrites",
        "costPerMillion",
    ):
        assert key in figures, key
    assert figures["sagasPerSecond"] > 0 and figures["directPerSecond"] > 0
    assert 0.2 < figures["overheadRatio"] < 20
    assert set(figures["workloads"]) == {"happy", "mix"}
    assert figures["importMs"] is None and figures["importBoto3Ms"] is None, "--import-runs 0 measures none"
    assert figures["libraryImportMs"] is None and figures["libraryImportRatio"] is None
    assert figures["libraryPackages"] is None
    assert figures["shippedInitMs"] is None and figures["shippedInitRatio"] is None, "--import-runs 0: none"
    assert figures["shippedNote"] == "not measured (--import-runs 0)"
    sizes = figures["packageBytes"]
    assert sizes is None or set(load().functions) <= set(sizes), figures["packageNote"]
    assert figures["prices"]["checked"] == prices.PRICES_CHECKED


def test_a_handful_of_sagas_gets_no_overhead_verdict(report: tuple[dict[str, Any], Path]) -> None:
    figures, _ = report
    goals = figures["goals"]

    assert goals["judged"] is False
    assert goals["overheadRatio"]["met"] is None and goals["mixOverheadRatio"]["met"] is None
    assert goals["overheadRatio"]["value"] == figures["overheadRatio"]
    assert goals["mixOverheadRatio"]["value"] == figures["workloads"]["mix"]["overheadRatio"]
    assert goals["shippedInitRatio"]["value"] is None, "--import-runs 0 times no init"
    line = render(figures)[-1]
    assert line.startswith("Goals: overheadRatio"), line
    assert line.count("not judged under --sagas 100") == 2, line
    assert "init as built not measured" in line, line


def judged_report(**changes: Any) -> dict[str, Any]:
    """A report's figures as goals() reads them: 300 sagas, every goal met unless ``changes`` say otherwise."""
    figures: dict[str, Any] = {
        "sagas": 300,
        "overheadRatio": 1.08,
        "workloads": {"happy": {"overheadRatio": 1.08}, "mix": {"overheadRatio": 1.12}},
        "shippedInitRatio": {"CreateOrderFunction": 1.2, "ShipOrderFunction": 1.45},
        "packageBytes": {"CreateOrderFunction": 400, "SagaLayer": 10_553_787},
    }
    return figures | changes


def test_the_four_goals_are_judged_each_with_limit_value_and_verdict() -> None:
    goals = bench_report.goals(judged_report(), ["SagaLayer"])

    assert goals["judged"] is True
    assert goals["overheadRatio"] == {"limit": 1.20, "value": 1.08, "met": True}
    assert goals["mixOverheadRatio"] == {"limit": 1.20, "value": 1.12, "met": True}
    assert goals["shippedInitRatio"] == {"limit": 1.5, "value": 1.45, "met": True, "slowest": "ShipOrderFunction"}
    assert goals["layerBytes"] == {
        "limit": 16_000_000,
        "value": 10_553_787,
        "met": True,
        "layers": {"SagaLayer": 10_553_787},
    }
    assert bench_report._goal_line(goals) == (
        "Goals: overheadRatio 1.080 on the happy path (goal <= 1.20: met), 1.120 on the mix (goal <= 1.20: met); "
        "slowest init as built 1.45 x boto3, ShipOrderFunction (goal <= 1.50 x boto3: met); "
        "layers 10,553,787 bytes (goal <= 16,000,000 bytes: met)"
    )


def test_each_goal_can_fail_on_its_own() -> None:
    figures = judged_report(
        workloads={"happy": {"overheadRatio": 1.08}, "mix": {"overheadRatio": 1.21}},
        shippedInitRatio={"CreateOrderFunction": 1.51},
        packageBytes={"SagaLayer": 13_000_000, "OtherLayer": 3_000_001, "CreateOrderFunction": 400},
    )

    goals = bench_report.goals(figures, ["SagaLayer", "OtherLayer"])

    assert goals["overheadRatio"]["met"] is True
    assert goals["mixOverheadRatio"]["met"] is False
    assert goals["shippedInitRatio"]["met"] is False
    assert goals["shippedInitRatio"]["slowest"] == "CreateOrderFunction"
    assert goals["layerBytes"]["value"] == 16_000_001 and goals["layerBytes"]["met"] is False
    assert bench_report._goal_line(goals).count("NOT met") == 3


def test_a_ratio_just_over_its_limit_does_not_print_as_the_limit() -> None:
    figures = judged_report(
        overheadRatio=1.201, workloads={"happy": {"overheadRatio": 1.201}, "mix": {"overheadRatio": 1.203}}
    )

    line = bench_report._goal_line(bench_report.goals(figures, []))

    assert "1.201 on the happy path (goal <= 1.20: NOT met), 1.203 on the mix (goal <= 1.20: NOT met)" in line


@pytest.mark.parametrize("sizes", [None, {}, {"CreateOrderFunction": 400}, {"SagaLayer": None}])
def test_layers_without_sam_build_output_are_not_measured(sizes: dict[str, int | None] | None) -> None:
    goals = bench_report.goals(judged_report(packageBytes=sizes), ["SagaLayer"])

    assert goals["layerBytes"]["value"] is None and goals["layerBytes"]["met"] is None
    assert "layers not measured" in bench_report._goal_line(goals)


def test_the_happy_order_costs_what_the_design_says(report: tuple[dict[str, Any], Path]) -> None:
    figures, _ = report

    assert set(figures["transitions"]) == SCENARIOS
    assert figures["transitions"]["happy"] == 4
    assert figures["lambdaInvocations"]["happy"] == 4
    # Four steps, each: the idempotency record (put in progress, update completed) and one business write;
    # the reservation is one transaction of two items (the stock line and the order). One read: ChargePayment
    # checks the order's status before it asks the payment provider.
    assert figures["dynamodbWrites"]["happy"] == 13
    assert figures["idempotencyWrites"]["happy"] == 8
    assert figures["dynamodbReads"]["happy"] == 1
    assert figures["writeUnits"]["happy"] == 15, "1 per item under 1 KB, 2 per transactional item"
    assert figures["largestItemBytes"] <= 1024
    assert figures["dynamodbWrites"]["invalid"] == 0, "an invalid order is refused before any write"
    assert figures["transitions"]["shipping-failed"] > figures["transitions"]["happy"]
    for scenario, cost in figures["costPerMillion"].items():
        assert cost["standard"] > cost["express"] > 0, scenario


def test_the_chart_is_an_svg(report: tuple[dict[str, Any], Path]) -> None:
    _, folder = report

    root = ET.parse(folder / "chart.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Sagas per second" in texts and "happy" in texts and "shipping-failed" in texts


def test_cost_arithmetic() -> None:
    figures = {"transitions": 4, "lambdaInvocations": 4, "writeUnits": 15, "readUnits": 0}

    cost = bench.cost_per_million(figures, memory_gb=0.5)

    lambda_usd = 4 * 0.20 + 4 * 0.050 * 0.5 * 0.0000133334 * 1e6
    assert cost["parts"]["standardStepFunctions"] == pytest.approx(100.0, abs=0.01)
    assert cost["parts"]["dynamodb"] == pytest.approx(15 * 0.625, abs=0.01)
    assert cost["parts"]["lambda"] == pytest.approx(lambda_usd, abs=0.01)
    assert cost["parts"]["expressStepFunctions"] == pytest.approx(1.0 + 0.2 * (64 / 1024) * 0.00001667 * 1e6, abs=0.01)
    assert cost["standard"] == pytest.approx(100 + 15 * 0.625 + lambda_usd, abs=0.01)


def test_item_size_follows_dynamodb_rules() -> None:
    item = {"pk": {"S": "ORDER#1"}, "n": {"N": "12345"}, "ok": {"BOOL": True}, "m": {"M": {"a": {"S": "xy"}}}}

    assert census.item_size(item) == (2 + 7) + (1 + 4) + (2 + 1) + (1 + 3 + 1 + 2 + 1)


def test_a_function_import_is_timed_without_bytecode() -> None:
    template = load()
    function = template.functions["ShipOrderFunction"]

    ms = bench_packages.import_ms(
        "app",
        [function.code_uri, *template.layer_dirs],
        bench_packages.lambda_environment(template, "ShipOrderFunction"),
    )

    assert 1 < ms < 60_000


def test_cold_starts_time_each_library_list_once_a_round(monkeypatch: pytest.MonkeyPatch) -> None:
    template = load()
    timed: list[str] = []
    fake_ms = {"boto3": 1000.0, "app": 1500.0, "boto3.session, pydantic": 1300.0}

    def import_ms(module: str, path: list[Path], extra_env: dict[str, str] | None = None) -> float:
        timed.append(module)
        return fake_ms[module]

    monkeypatch.setattr(bench_packages, "import_ms", import_ms)
    monkeypatch.setattr(bench_packages, "library_modules", lambda path, env: ["boto3.session", "pydantic"])

    figures = bench_packages.cold_starts(template, runs=2, progress=lambda _: None)

    functions = len(template.functions)
    assert timed.count("boto3") == 2 and timed.count("app") == 2 * functions
    assert timed.count("boto3.session, pydantic") == 2, "one list shared by every function: timed once a round"
    assert figures["importRatio"] == dict.fromkeys(template.functions, 1.5)
    assert figures["libraryImportMs"] == dict.fromkeys(template.functions, 1300.0)
    assert figures["libraryImportRatio"] == dict.fromkeys(template.functions, 1.3)
    assert figures["libraryPackages"] == {name: ["boto3", "pydantic"] for name in template.functions}
    assert set(figures) == set(bench_packages.no_imports()), "no_imports() gives every key, as None"


def test_the_cold_start_table_shows_the_libraries_and_ours(report: tuple[dict[str, Any], Path]) -> None:
    figures, _ = report
    figures = figures | {
        "importRuns": 5,
        "importBoto3Ms": 1000.0,
        "importMs": {"ShipOrderFunction": 1500.0},
        "importRatio": {"ShipOrderFunction": 1.5},
        "libraryImportMs": {"ShipOrderFunction": 1330.0},
        "libraryImportRatio": {"ShipOrderFunction": 1.33},
    }

    lines = render(figures)

    header = next(line for line in lines if line.startswith("function / layer"))
    assert header.split()[5:] == ["x", "boto3", "libraries", "ours", "ms", "bytes"], header
    row = next(line for line in lines if line.startswith("ShipOrderFunction"))
    assert row.split()[1:5] == ["1500", "1.50", "1.33", "170"], row
