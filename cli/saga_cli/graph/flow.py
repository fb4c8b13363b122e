"""``saga graph``: the state machine as a Mermaid flowchart, and one execution's path drawn on it.

Everything comes from the ASL file: one node per state, one edge per ``Next``, ``Default``, Choice rule and
``Catch`` (labelled with the errors it catches), plus a start node and an end node for ``End: true``. A
*compensation* is a Task that the forward flow (``Next`` and Choice edges from ``StartAt``) never reaches:
only a ``Catch`` leads to it. An execution's history gives the states it entered; the state whose task
failed and was caught (or ended the execution) is marked failed, the Fail state it ended in too.

The SVG drawing is in ``graph.svg``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saga_cli.template import load

START = "START"
END = "END"
_PLAIN_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_MERMAID_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "class", "classdef", "click", "linkstyle"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    #: start, next, default, choice, catch or end
    kind: str
    label: str = ""


@dataclass
class Flow:
    """The state machine as a graph."""

    start_at: str
    states: dict[str, dict[str, Any]]
    edges: list[Edge]

    @property
    def nodes(self) -> list[str]:
        ends = any(e.target == END for e in self.edges)
        return [START, *self.states, *([END] if ends else [])]

    def kind(self, node: str) -> str:
        if node in (START, END):
            return node.lower()
        return str(self.states[node]["Type"])

    @property
    def compensations(self) -> set[str]:
        """Tasks only a Catch leads to."""
        forward = {self.start_at}
        todo = [self.start_at]
        while todo:
            node = todo.pop()
            for edge in self.edges:
                if edge.source == node and edge.kind in ("next", "default", "choice") and edge.target not in forward:
                    forward.add(edge.target)
                    todo.append(edge.target)
        return {name for name, state in self.states.items() if state["Type"] == "Task" and name not in forward}


def _rule(rule: dict[str, Any]) -> str:
    """A Choice rule in words: ``$.refundId IsPresent true``."""
    for key in ("And", "Or"):
        if key in rule:
            return f" {key.lower()} ".join(f"({_rule(inner)})" for inner in rule[key])
    if "Not" in rule:
        return f"not ({_rule(rule['Not'])})"
    if "Condition" in rule:
        return str(rule["Condition"])
    variable = rule.get("Variable", "")
    tests = [f"{key} {json.dumps(value)}" for key, value in rule.items() if key not in ("Variable", "Next", "Comment")]
    return " ".join([variable, *tests]).strip()


def flow_of(definition: dict[str, Any]) -> Flow:
    """The graph of an ASL definition (only the top level: a Parallel or Map shows as one state)."""
    states: dict[str, dict[str, Any]] = definition["States"]
    edges = [Edge(START, definition["StartAt"], "start")]
    for name, state in states.items():
        for rule in state.get("Choices", []):
            edges.append(Edge(name, rule["Next"], "choice", _rule(rule)))
        if "Default" in state:
            edges.append(Edge(name, state["Default"], "default", "default"))
        if "Next" in state:
            edges.append(Edge(name, state["Next"], "next"))
        if state.get("End") or state["Type"] == "Succeed":
            edges.append(Edge(name, END, "end"))
        for catcher in state.get("Catch", []):
            edges.append(Edge(name, catcher["Next"], "catch", ", ".join(catcher["ErrorEquals"])))
    return Flow(definition["StartAt"], states, edges)


def load_flow(path: Path | None = None) -> Flow:
    """The graph of the project's state machine (the ASL file the template names)."""
    asl = path or load().definition_path
    return flow_of(json.loads(asl.read_text(encoding="utf-8")))


# One execution's path ------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one execution did on the graph."""

    name: str
    status: str
    entered: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    error: str | None = None

    def edges_taken(self, flow: Flow) -> set[tuple[str, str]]:
        hops = list(zip([START, *self.entered], self.entered, strict=False))
        if (
            self.status == "SUCCEEDED"
            and self.entered
            and any(e.source == self.entered[-1] and e.target == END for e in flow.edges)
        ):
            hops.append((self.entered[-1], END))
        return set(hops)

    def classes(self, flow: Flow) -> dict[str, str]:
        """Each node's class: failEnd, failed, compensation, taken or skipped."""
        taken = {START, *self.entered}
        if (self.entered[-1] if self.entered else None, END) in self.edges_taken(flow):
            taken.add(END)
        result = {}
        for node in flow.nodes:
            if node in self.failed:
                result[node] = "failed"
            elif node in taken and flow.kind(node) == "Fail":
                result[node] = "failEnd"
            elif node in taken and node in flow.compensations:
                result[node] = "compensation"
            elif node in taken:
                result[node] = "taken"
            else:
                result[node] = "skipped"
        return result


_TASK_FAILED = ("TaskFailed", "TaskTimedOut", "LambdaFunctionFailed", "LambdaFunctionTimedOut")
_TASK_DONE = ("TaskSucceeded", "LambdaFunctionSucceeded")


def run_of(describe: dict[str, Any], history: Iterable[dict[str, Any]]) -> Run:
    """Read an execution's history: the states entered, and the task states it left on a failure."""
    run = Run(describe["name"], describe["status"], error=describe.get("error"))
    current: str | None = None
    last_failed = False
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered") and "stateEnteredEventDetails" in event:
            if current is not None and last_failed:
                run.failed.add(current)
            current = event["stateEnteredEventDetails"]["name"]
            run.entered.append(current)
            last_failed = False
        elif kind in _TASK_FAILED:
            last_failed = True
        elif kind in _TASK_DONE:
            last_failed = False
    if current is not None and last_failed:
        run.failed.add(current)
    return run


# Mermaid -------------------------------------------------------------------------------------------------

_CLASS_STYLES = {
    "failState": "fill:#fdecea,stroke:#c62828,color:#7f0000",
    "compensation": "fill:#fff4e5,stroke:#ef6c00,color:#663c00",
    "taken": "fill:#e3f2fd,stroke:#1565c0,stroke-width:2px,color:#0d2c54",
    "failed": "fill:#ffebee,stroke:#c62828,stroke-width:3px,color:#7f0000",
    "failEnd": "fill:#c62828,stroke:#7f0000,stroke-width:2px,color:#ffffff",
    "skipped": "fill:#fafafa,stroke:#bdbdbd,color:#9e9e9e",
}


def node_id(node: str) -> str:
    """A Mermaid id for a state: its name when that is safe, else a sanitised one."""
    if node in (START, END):
        return node
    if _PLAIN_ID.match(node) and node.lower() not in _MERMAID_RESERVED and node not in (START, END):
        return node
    return "s_" + re.sub(r"\W", "_", node)


def _text(label: str) -> str:
    return label.replace('"', "#quot;")


def _node(flow: Flow, node: str) -> str:
    nid, label = node_id(node), _text(node)
    kind = flow.kind(node)
    if kind == "start":
        return f"{nid}((start))"
    if kind == "end":
        return f"{nid}((End))"
    shapes = {
        "Choice": '{{"{}"}}',
        "Pass": '[/"{}"/]',
        "Fail": '(["{}"])',
        "Succeed": '(["{}"])',
        "Parallel": '[["{}"]]',
        "Map": '[["{}"]]',
    }
    return nid + shapes.get(kind, '["{}"]').format(label)


def _arrow(edge: Edge) -> str:
    arrow = "-.->" if edge.kind == "catch" else "-->"
    label = f'|"{_text(edge.label)}"|' if edge.label else ""
    return f"{node_id(edge.source)} {arrow}{label} {node_id(edge.target)}"


def mermaid(flow: Flow, run: Run | None = None) -> str:
    """The flowchart; with ``run``, its path highlighted (taken, failed, compensations, the Fail state)."""
    lines = ["flowchart TD"]
    if run is not None:
        lines.append(f"    %% execution {run.name}: {run.status}{f' ({run.error})' if run.error else ''}")
    lines += [f"    {_node(flow, node)}" for node in flow.nodes]
    lines += [f"    {_arrow(edge)}" for edge in flow.edges]
    if run is None:
        groups = {
            "failState": [n for n in flow.states if flow.kind(n) == "Fail"],
            "compensation": sorted(flow.compensations, key=list(flow.states).index),
        }
    else:
        classes = run.classes(flow)
        groups = {name: [n for n in flow.nodes if classes[n] == name] for name in _CLASS_STYLES}
    for name, members in groups.items():
        if members:
            lines.append(f"    classDef {name} {_CLASS_STYLES[name]}")
            lines.append(f"    class {','.join(node_id(n) for n in members)} {name}")
    if run is not None:
        taken = run.edges_taken(flow)
        indices = [str(i) for i, e in enumerate(flow.edges) if (e.source, e.target) in taken]
        lines.append("    linkStyle default stroke:#bdbdbd")
        if indices:
            lines.append(f"    linkStyle {','.join(indices)} stroke:#1565c0,stroke-width:3px")
    return "\n".join(lines) + "\n"
