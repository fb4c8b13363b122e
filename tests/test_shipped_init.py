"""`saga bench`'s cold init as Lambda runs it: the build for this CPU is found, the turns alternate, the figures
add up, and (with a build for this machine) a real measurement of the functions as built.

The real measurement needs `make build-local` (x86_64) or `make build` (arm64) output for this CPU. `make test`
runs before any build in CI, so there it skips; `.ci/run` runs this file again after `make invoke` has built
`.aws-sam/local`, with SAGA_SHIPPED_INIT_REQUIRED=1, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import platform
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from saga_cli.measure import chart as bench_chart
from saga_cli.measure import report as bench_report
from saga_cli.measure import shipped_init, shipped_init_report
from saga_cli.template import load

BUILT_TEMPLATE = """\
Resources:
  SagaLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: SagaLayer
    Metadata:
      BuildMethod: makefile
      BuildArchitecture: {arch}
"""


def _build(folder: Path, arch: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "template.yaml").write_text(BUILT_TEMPLATE.format(arch=arch), encoding="utf-8")
    return folder


def test_the_build_for_this_cpu_is_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    arm, x86 = _build(tmp_path / "build", "arm64"), _build(tmp_path / "local", "x86_64")

    assert shipped_init.host_build((arm, x86)) == x86
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert shipped_init.host_build((arm, x86)) == arm


def test_no_build_for_this_cpu_says_which_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    arm = _build(tmp_path / "build", "arm64")

    with pytest.raises(shipped_init.ShippedInitUnavailable, match=r"no sam build output for x86_64 .*make build-local"):
        shipped_init.host_build((arm, tmp_path / "missing"))


def test_the_runtime_boto3_is_the_one_the_lambda_image_pins() -> None:
    pinned = shipped_init.IMAGE_REQUIREMENTS.read_text(encoding="utf-8")

    assert f"boto3=={shipped_init.boto3_pin()}\n" in pinned


def test_each_turn_runs_once_a_round_and_the_figures_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = load()
    where = shipped_init.Layout(Path("python3.12"), tmp_path, tmp_path / "runtime", "1.0", layer_bytecode=True)
    monkeypatch.setattr(shipped_init, "layout", lambda template, progress: where)
    timed: list[tuple[str, str]] = []
    ms = {"boto3": 200.0, "app": 290.0, "boto3, pydantic": 260.0}

    def run_lines(python: Path, code: str, what: str, path: list[Path], env: dict[str, str]) -> list[str]:
        if "before = set(sys.modules)" in code:  # the untimed probe of what a function loads
            return ["boto3", "pydantic"]
        module = what.removeprefix("import ")
        timed.append((module, env.get("AWS_LAMBDA_FUNCTION_NAME", "")))
        if module == "boto3":
            assert path == [where.runtime], "boto3 alone: the runtime's packages only"
        else:
            name = env["AWS_LAMBDA_FUNCTION_NAME"]
            assert path == [tmp_path / name, tmp_path / "SagaLayer" / "python", where.runtime]
            assert env["LAMBDA_TASK_ROOT"] == str(tmp_path / name)
        return [str(ms[module])]

    monkeypatch.setattr(shipped_init, "run_lines", run_lines)
    monkeypatch.setattr(shipped_init, "_version", lambda python: "3.12.1")

    figures = shipped_init.shipped_inits(template, runs=3, progress=lambda _: None)

    functions = len(template.functions)
    assert [m for m, _ in timed].count("boto3") == 3
    assert [m for m, _ in timed].count("app") == 3 * functions
    assert [m for m, _ in timed].count("boto3, pydantic") == 3, "one list shared by all: timed once a round"
    assert [m for m, _ in timed[: functions + 2]] == ["boto3", "app", "boto3, pydantic", *["app"] * (functions - 1)]
    assert figures["shippedInitRatio"] == dict.fromkeys(template.functions, 1.45)
    assert figures["shippedLibraryRatio"] == dict.fromkeys(template.functions, 1.3)
    assert figures["shippedOursMs"] == dict.fromkeys(template.functions, 30.0)
    assert figures["shippedLayout"]["layerBytecode"] is True
    assert set(figures) == set(shipped_init.no_shipped_inits("x"))


def test_without_a_build_every_figure_is_none_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(template: object, progress: object) -> shipped_init.Layout:
        raise shipped_init.ShippedInitUnavailable("no sam build output for x86_64 here: run make build-local")

    monkeypatch.setattr(shipped_init, "layout", unavailable)

    figures = shipped_init.measured_or_why(load(), 5, lambda _: None)

    assert figures["shippedInitMs"] is None and figures["shippedInitRatio"] is None
    assert figures["shippedNote"] == "no sam build output for x86_64 here: run make build-local"
    assert shipped_init_report.render(figures) == [
        "Cold init as Lambda runs it: no sam build output for x86_64 here: run make build-local"
    ]


def _figures() -> dict[str, object]:
    return {
        "shippedInitMs": {"ShipOrderFunction": 330.0},
        "shippedBoto3Ms": 200.0,
        "shippedInitRatio": {"ShipOrderFunction": 1.65},
        "shippedLibraryMs": {"ShipOrderFunction": 310.0},
        "shippedLibraryRatio": {"ShipOrderFunction": 1.55},
        "shippedOursMs": {"ShipOrderFunction": 20.0},
        "shippedRuns": 5,
        "shippedLayout": {"build": ".aws-sam/local", "python": "3.12.1", "boto3": "1.0", "layerBytecode": True},
        "shippedNote": None,
    }


def test_the_table_and_the_goal_read_the_same_figures() -> None:
    figures = _figures()

    lines = shipped_init_report.render(figures)
    goal = bench_report._goal({"limit": 1.5}["limit"], 1.65)

    assert "the layer with bytecode" in lines[0] and "import boto3 200 ms" in lines[0], lines[0]
    assert lines[2].split() == ["ShipOrderFunction", "330", "1.65", "310", "1.55", "20"], lines[2]
    assert shipped_init_report.slowest(figures) == ("ShipOrderFunction", 1.65)
    assert goal["met"] is False


def test_the_chart_gains_a_panel_of_the_inits_as_built() -> None:
    panel = shipped_init_report.svg_panel(_figures(), 950, 1300)

    root = ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{"".join(panel)}</svg>')
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "1.65x" in texts and "goal 1.5 x boto3" in texts
    assert shipped_init_report.svg_panel({"shippedInitMs": None}, 950, 1300) == []
    assert bench_chart._W == 900, "the chart is widened only when the panel is drawn"


def test_the_functions_as_built_measured_as_lambda_runs_them() -> None:
    try:
        build = shipped_init.host_build()
    except shipped_init.ShippedInitUnavailable as exc:
        if os.environ.get("SAGA_SHIPPED_INIT_REQUIRED") == "1":
            raise
        pytest.skip(f"{exc} (.ci/run runs this after make invoke)")
    template = load()
    before = sorted(build.rglob("*"))

    figures = shipped_init.shipped_inits(template, runs=1, progress=lambda _: None)

    assert sorted(build.rglob("*")) == before, "nothing written into the build (Lambda's /opt is read-only)"
    assert figures["shippedLayout"]["build"] == str(build.relative_to(shipped_init.ROOT))
    assert figures["shippedLayout"]["python"].startswith("3.12.")
    assert 0 < figures["shippedBoto3Ms"] < 60_000
    for name in template.functions:
        # Every function's libraries include boto3 itself; its own init includes them
        assert figures["shippedLibraryMs"][name] > figures["shippedBoto3Ms"] * 0.8, name
        assert figures["shippedInitRatio"][name] > 1.0, name
