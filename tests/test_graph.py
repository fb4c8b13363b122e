"""`saga graph`: the Mermaid diagram is the ASL's graph, the README shows that diagram, and an execution's
path is drawn on it (taken states, the failed state, compensations) as Mermaid and as SVG."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from saga_cli.commands.main import app
from saga_cli.graph import flow as graph
from saga_cli.graph import svg as graph_svg
from saga_cli.template import ROOT, load

EDGE = re.compile(r'^\s*(\S+) (-->|-\.->)(?:\|"([^"]*)"\|)? (\S+)$')
NODE = re.compile(r'^\s*(\w+)(\(\(|\[/|\[\[|\(\[|\[|\{)"?([^"\])}/]*)')


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def asl() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(load().definition_path.read_text())
    return definition


def parse(mermaid: str) -> tuple[dict[str, tuple[str, str]], set[tuple[str, str, str, str]]]:
    """Nodes (id -> shape, label) and edges (source, target, arrow, label) of a flowchart."""
    nodes, edges = {}, set()
    for line in mermaid.splitlines()[1:]:
        if line.strip().startswith(("%%", "classDef", "class ", "linkStyle")):
            continue
        edge = EDGE.match(line)
        if edge:
            edges.add((edge.group(1), edge.group(4), edge.group(2), edge.group(3) or ""))
            continue
        node = NODE.match(line)
        assert node, f"not a node, an edge or a style: {line!r}"
        nodes[node.group(1)] = (node.group(2), node.group(3))
    return nodes, edges


def expected_edges(definition: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """Every transition of the ASL, read here independently of saga_cli.graph."""
    edges = {("START", definition["StartAt"], "-->", "")}
    for name, state in definition["States"].items():
        if "Next" in state:
            edges.add((name, state["Next"], "-->", ""))
        if state.get("End"):
            edges.add((name, "END", "-->", ""))
        if "Default" in state:
            edges.add((name, state["Default"], "-->", "default"))
        for rule in state.get("Choices", []):
            tests = " ".join(f"{k} {json.dumps(v)}" for k, v in rule.items() if k not in ("Variable", "Next"))
            edges.add((name, rule["Next"], "-->", f"{rule['Variable']} {tests}"))
        for catcher in state.get("Catch", []):
            edges.add((name, catcher["Next"], "-.->", ", ".join(catcher["ErrorEquals"])))
    return edges


def test_every_state_and_every_transition_of_the_asl_is_in_the_diagram() -> None:
    definition = asl()
    result = cli("graph")

    assert result.exit_code == 0, result.output
    nodes, edges = parse(result.stdout)
    assert set(nodes) == {*definition["States"], "START", "END"}
    for name, state in definition["States"].items():
        shape, label = nodes[name]
        assert label == name
        assert shape == {"Choice": "{", "Fail": "([", "Pass": "[/"}.get(state["Type"], "[")
    assert edges == expected_edges(definition), "edges missing or extra"
    kinds = {arrow for *_, arrow, _label in edges}
    assert kinds == {"-->", "-.->"}, "Catch edges are dotted, the others solid"


def test_the_readme_shows_what_saga_graph_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    # The other Mermaid block, ``%% saga_cli packages``, draws the tooling (tests/test_packages.py).
    blocks = [b for b in re.findall(r"```mermaid\n(.*?)```", readme, re.DOTALL) if not b.startswith("%%")]

    assert len(blocks) == 1, "the README holds one diagram of the flow"
    assert blocks[0] == cli("graph").stdout, "README is stale: paste the output of `saga graph`"


def test_compensations_are_the_tasks_only_a_catch_leads_to() -> None:
    flow = graph.load_flow()

    assert flow.compensations == {
        "RefundPayment",
        "ReleaseInventory",
        "RecordRefundFailure",
        "RecordReleaseFailure",
        "RetryRefundPayment",
        "RetryReleaseInventory",
    }


@pytest.mark.usefixtures("shared_botocore_loader")
def test_an_execution_path_is_drawn_with_its_failure_and_compensations(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ran = cli("run", "shipping-failed", "--json", "--state-dir", state)
    assert ran.exit_code == 0, ran.output
    name = json.loads(ran.stdout.splitlines()[0])["name"]

    drawn = cli("graph", name, "--state-dir", state, "--svg", tmp_path / "path.svg")

    assert drawn.exit_code == 0, drawn.output
    mermaid = drawn.stdout
    assert f"%% execution {name}: FAILED (ShippingFailed)" in mermaid
    classes = dict(re.findall(r"^\s*class (\S+) (\w+)$", mermaid, re.MULTILINE))
    members = {style: set(ids.split(",")) for ids, style in classes.items()}
    assert members["failed"] == {"ShipOrder"}
    assert members["failEnd"] == {"ShippingFailed"}
    assert members["compensation"] == {"RefundPayment", "ReleaseInventory"}
    assert {"START", "CreateOrder", "ReserveInventory", "ChargePayment", "CompensationDone"} <= members["taken"]
    assert "END" in members["skipped"]
    assert "linkStyle" in mermaid
    assert parse(mermaid)[1] == expected_edges(asl()), "the same diagram, only styled"
    root = ET.parse(tmp_path / "path.svg").getroot()
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"ShipOrder", "RefundPayment", "ReleaseInventory", "ShippingFailed"} <= texts
    assert any(t and "FAILED (ShippingFailed)" in t for t in texts)


def test_a_happy_execution_ends_at_the_end_node(saga: Any) -> None:
    from engine_support import run, scenario

    [result] = run(saga, scenario("happy"))
    path = graph.run_of(saga.describe(result.name), saga.history(result.name))

    classes = path.classes(graph.load_flow())
    assert path.entered == ["CreateOrder", "ReserveInventory", "ChargePayment", "ShipOrder"]
    assert not path.failed
    assert {n for n, c in classes.items() if c == "taken"} == {"START", *path.entered, "END"}


def test_the_svg_of_any_definition_is_well_formed_even_with_a_loop() -> None:
    definition = {
        "StartAt": "Poll",
        "States": {
            "Poll": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done?"},
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Finish"}],
                "Default": "Wait a bit",
            },
            "Wait a bit": {"Type": "Wait", "Seconds": 5, "Next": "Poll"},
            "Finish": {"Type": "Succeed"},
        },
    }
    flow = graph.flow_of(definition)

    root = ET.fromstring(graph_svg.svg(flow))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    nodes, edges = parse(graph.mermaid(flow))
    assert graph.node_id("Wait a bit") in nodes and graph.node_id("Done?") in nodes
    assert (graph.node_id("Wait a bit"), "Poll", "-->", "") in edges, "the loop back is drawn"
    assert ("Finish", "END", "-->", "") in edges


def test_the_taken_path_is_drawn_over_every_untaken_edge_and_label(saga: Any) -> None:
    from engine_support import run, scenario

    [result] = run(saga, scenario("happy"))
    path = graph.run_of(saga.describe(result.name), saga.history(result.name))
    flow = graph.load_flow()

    drawn = [
        (element.tag.rsplit("}", 1)[1], element.get("stroke") or element.get("fill"))
        for element in ET.fromstring(graph_svg.svg(flow, path))
        if element.tag.endswith(("path", "text"))
    ]
    untaken = [i for i, (_tag, colour) in enumerate(drawn) if colour == "#d0d0d0"]
    taken_lines = [i for i, (tag, colour) in enumerate(drawn) if tag == "path" and colour == "#1565c0"]
    assert untaken and len(taken_lines) == len(path.edges_taken(flow))
    assert max(untaken) < min(taken_lines), "an untaken edge or label drawn over the taken path"
    plain = [element.tag.rsplit("}", 1)[1] for element in ET.fromstring(graph_svg.svg(flow))]
    labels = [i for i, tag in enumerate(plain) if tag == "text"][1:]  # after the title
    lines = [i for i, tag in enumerate(plain) if tag == "path"]
    assert max(lines) < min(labels), "a line drawn across a label"
