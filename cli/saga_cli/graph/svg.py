"""``saga graph --svg``: the flow drawn as an SVG, an execution's path over it, laid out here.

States go in layers by their longest distance from the start, ordered within a layer to keep edges short,
edges as curves with their labels. Kept because no well-kept library draws it without a browser or a system
package (checked 2026-12): graphviz and pydot drive Graphviz's ``dot`` binary (a system package); Mermaid's
renderer (mermaid-cli) runs in a headless Chromium (puppeteer); networkx draws only through matplotlib or
Graphviz; grandalf, the pure-Python layered layout, had its last release in January 2023 and only places
nodes, so the SVG would still be written here.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from saga_cli.graph.flow import END, START, Edge, Flow, Run

_FONT = 13
_CHAR_W = 7.4
_NODE_H = 36
_LAYER_GAP = 78
_NODE_GAP = 30
_DUMMY_W = 16.0
_MARGIN = 24
_LABEL_MAX = 42
_FILL = {
    "plain": ("#ffffff", "#455a64", "#263238", 1.2),
    "failState": ("#fdecea", "#c62828", "#7f0000", 1.2),
    "compensation": ("#fff4e5", "#ef6c00", "#663c00", 1.2),
    "taken": ("#e3f2fd", "#1565c0", "#0d2c54", 2.2),
    "failed": ("#ffebee", "#c62828", "#7f0000", 3.0),
    "failEnd": ("#c62828", "#7f0000", "#ffffff", 2.0),
    "skipped": ("#fafafa", "#bdbdbd", "#9e9e9e", 1.0),
}


def _back_edges(flow: Flow, out: dict[str, list[str]]) -> tuple[list[str], set[tuple[str, str]]]:
    """Nodes in the order a depth-first walk finishes them, and the edges that close a cycle."""
    finished: list[str] = []
    on_stack: dict[str, bool] = {}
    back: set[tuple[str, str]] = set()
    for root in flow.nodes:
        if root in on_stack:
            continue
        on_stack[root] = True
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            child = next((c for c in children if on_stack.get(c) is not False), None)
            while child is not None and on_stack.get(child):
                back.add((node, child))
                child = next((c for c in children if on_stack.get(c) is not False), None)
            if child is None:
                on_stack[node] = False
                finished.append(node)
                stack.pop()
            else:
                on_stack[child] = True
                stack.append((child, iter(out[child])))
    return finished, back


def _layers(flow: Flow) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Longest distance from the start of each node, and the edges that close a cycle (drawn upwards)."""
    out: dict[str, list[str]] = defaultdict(list)
    for edge in flow.edges:
        out[edge.source].append(edge.target)
    finished, back = _back_edges(flow, out)
    layer = dict.fromkeys(flow.nodes, 0)
    for node in reversed(finished):
        for child in out[node]:
            if (node, child) not in back:
                layer[child] = max(layer[child], layer[node] + 1)
    return layer, back


def _width(node: str) -> float:
    return _DUMMY_W if node.startswith("\0") else max(70.0, len(node) * _CHAR_W + 28)


@dataclass
class Layout:
    """Where everything goes: node centres, and for each edge the points it passes through."""

    centre: dict[str, tuple[float, float]]
    routes: dict[int, list[tuple[float, float]]]
    width: float
    height: float


@dataclass
class _Grid:
    """Nodes (and waypoints) by layer, their neighbours one layer up and down, and each edge's chain."""

    rows: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    up: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    down: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    chains: dict[int, list[str]] = field(default_factory=dict)

    def near(self, node: str, downwards: bool) -> list[str]:
        """Neighbours on the side a sweep comes from, then the other side."""
        return (self.up[node] + self.down[node]) if downwards else (self.down[node] + self.up[node])


def _grid(flow: Flow, layer: dict[str, int], back: set[tuple[str, str]]) -> _Grid:
    grid = _Grid()
    for node in flow.nodes:
        grid.rows[layer[node]].append(node)
    for index, edge in enumerate(flow.edges):
        if (edge.source, edge.target) in back:
            continue
        chain = [edge.source]
        for depth in range(layer[edge.source] + 1, layer[edge.target]):
            dummy = f"\0{index}:{depth}"
            grid.rows[depth].append(dummy)
            chain.append(dummy)
        chain.append(edge.target)
        for a, b in itertools.pairwise(chain):
            grid.down[a].append(b)
            grid.up[b].append(a)
        grid.chains[index] = chain
    return grid


def _order(grid: _Grid, sweeps: int = 8) -> None:
    """Order each layer by the mean position of its neighbours in the layer before (barycentre sweeps)."""
    depths = sorted(grid.rows)
    position = {n: float(i) for d in depths for i, n in enumerate(grid.rows[d])}
    for sweep in range(sweeps):
        downwards = sweep % 2 == 0
        for depth in depths if downwards else reversed(depths):
            side = grid.up if downwards else grid.down
            key = {n: statistics.fmean([position[m] for m in side[n]] or [position[n]]) for n in grid.rows[depth]}
            grid.rows[depth].sort(key=key.__getitem__)
            position.update((n, float(i)) for i, n in enumerate(grid.rows[depth]))


def _xs(grid: _Grid, sweeps: int = 12) -> dict[str, float]:
    """Pull each node towards its neighbours, keeping the order and the gaps."""
    depths = sorted(grid.rows)
    x: dict[str, float] = {}
    for depth in depths:
        left = 0.0
        for node in grid.rows[depth]:
            x[node] = left + _width(node) / 2
            left += _width(node) + _NODE_GAP
    for sweep in range(sweeps):
        downwards = sweep % 2 == 0
        for depth in depths if downwards else reversed(depths):
            row = grid.rows[depth]
            _place(row, [statistics.fmean([x[m] for m in grid.near(n, downwards)] or [x[n]]) for n in row], x)
    return x


def layout(flow: Flow) -> Layout:
    """Layers top to bottom; an edge across several layers gets a waypoint in each, so it can bend round
    the states between; each layer ordered by where its neighbours sit, then every node pulled towards
    them while keeping its place in the order."""
    layer, back = _layers(flow)
    grid = _grid(flow, layer, back)
    _order(grid)
    x = _xs(grid)
    low = min(x[n] - _width(n) / 2 for n in x)
    y_of = {depth: _MARGIN + 34 + depth * _LAYER_GAP + _NODE_H / 2 for depth in grid.rows}
    where = {n: (x[n] - low + _MARGIN, y_of[depth]) for depth, row in grid.rows.items() for n in row}
    routes = {index: [where[n] for n in chain] for index, chain in grid.chains.items()}
    width = max(cx + _width(n) / 2 for n, (cx, _) in where.items()) + _MARGIN
    height = max(y_of.values()) + _NODE_H / 2 + _MARGIN
    return Layout({n: where[n] for n in flow.nodes}, routes, width, height)


def _place(row: list[str], wanted: list[float], x: dict[str, float]) -> None:
    """Put each node of a row as near its wanted x as the order and the gaps allow."""
    placed = list(wanted)
    for i in range(1, len(row)):  # push right what overlaps its left neighbour
        least = placed[i - 1] + (_width(row[i - 1]) + _width(row[i])) / 2 + _NODE_GAP
        placed[i] = max(placed[i], least)
    shift = sum(w - p for w, p in zip(wanted, placed, strict=True)) / len(row)
    placed = [p + min(shift, 0.0) for p in placed]  # give back some of the push, as a block
    for i in range(len(row) - 2, -1, -1):
        most = placed[i + 1] - (_width(row[i]) + _width(row[i + 1])) / 2 - _NODE_GAP
        placed[i] = min(placed[i], most)
    for node, value in zip(row, placed, strict=True):
        x[node] = value


def _shape(flow: Flow, node: str, centre: tuple[float, float], style: str, bold: bool) -> str:
    fill, stroke, text, width = _FILL[style]
    cx, cy = centre
    kind = flow.kind(node)
    w, h = _width(node), _NODE_H
    paint = f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"'
    if kind in ("start", "end"):
        shape = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{9 if kind == "start" else 12}" {paint}/>'
        if kind == "end":
            shape += f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="{stroke}"/>'
        return shape
    left, top = cx - w / 2, cy - h / 2
    if kind in ("Choice", "Pass"):
        slant = 14 if kind == "Choice" else 10
        if kind == "Choice":
            points = [(left, cy), (left + slant, top), (left + w - slant, top), (left + w, cy)]
            points += [(left + w - slant, top + h), (left + slant, top + h)]
        else:
            points = [(left + slant, top), (left + w, top), (left + w - slant, top + h), (left, top + h)]
        shape = f'<polygon points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in points)}" {paint}/>'
    else:
        radius = h / 2 if kind in ("Fail", "Succeed") else 5
        shape = f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h}" rx="{radius}" {paint}/>'
    weight = ' font-weight="bold"' if bold else ""
    return (
        shape + f'<text x="{cx:.1f}" y="{cy + 4.5:.1f}" text-anchor="middle" font-size="{_FONT}" '
        f'fill="{text}"{weight}>{escape(node)}</text>'
    )


def _edge(edge: Edge, route: list[tuple[float, float]] | None, drawn: Layout, look: str) -> tuple[str, str]:
    """One edge as a smooth path through its waypoints, and its label on its first leg ("" without one)."""
    if route is None:  # closes a cycle: out of the right side, round, into the right side
        (x1, y1), (x2, y2) = drawn.centre[edge.source], drawn.centre[edge.target]
        sx, tx = x1 + _width(edge.source) / 2, x2 + _width(edge.target) / 2
        reach = max(sx, tx) + 40
        path = f"M{sx:.1f},{y1:.1f} C{reach:.1f},{y1:.1f} {reach:.1f},{y2:.1f} {tx + 2:.1f},{y2:.1f}"
        label_at = (reach, (y1 + y2) / 2)
    else:
        points = list(route)
        points[0] = (points[0][0], points[0][1] + (12 if edge.source == START else _NODE_H / 2))
        points[-1] = (points[-1][0], points[-1][1] - (12 if edge.target == END else _NODE_H / 2) - 2)
        path = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            bend = (by - ay) / 2
            path += f" C{ax:.1f},{ay + bend:.1f} {bx:.1f},{by - bend:.1f} {bx:.1f},{by:.1f}"
        (ax, ay), (bx, by) = points[0], points[1]
        label_at = (ax + (bx - ax) * 0.55, ay + (by - ay) * 0.55)
    colour, width, marker = {
        "taken": ("#1565c0", 2.6, "taken"),
        "dim": ("#d0d0d0", 1.2, "dim"),
        "catch": ("#c62828", 1.3, "catch"),
        "plain": ("#607d8b", 1.3, "plain"),
    }[look]
    dash = ' stroke-dasharray="5,4"' if edge.kind == "catch" else ""
    line = (
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{dash} '
        f'marker-end="url(#arrow-{marker})"/>'
    )
    if not edge.label:
        return line, ""
    label = edge.label if len(edge.label) <= _LABEL_MAX else edge.label[: _LABEL_MAX - 2] + "…"
    return line, (
        f'<text x="{label_at[0]:.1f}" y="{label_at[1] + 3:.1f}" text-anchor="middle" font-size="10.5" '
        f'fill="{colour}" stroke="#ffffff" stroke-width="4" paint-order="stroke">{escape(label)}</text>'
    )


def svg(flow: Flow, run: Run | None = None, title: str = "order-saga") -> str:
    """The flowchart as an SVG document; with ``run``, its path highlighted and a legend."""
    drawn = layout(flow)
    height = drawn.height + (34 if run else 0)
    if run is None:
        styles = {n: "failState" if flow.kind(n) == "Fail" else "plain" for n in flow.nodes}
        styles |= dict.fromkeys(flow.compensations, "compensation")
        taken: set[tuple[str, str]] = set()
        heading = title
    else:
        styles = run.classes(flow)
        taken = run.edges_taken(flow)
        heading = f"{run.name}: {run.status}" + (f" ({run.error})" if run.error else "")
    markers = "".join(
        f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
        f'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/>'
        "</marker>"
        for name, colour in (("plain", "#607d8b"), ("catch", "#c62828"), ("taken", "#1565c0"), ("dim", "#d0d0d0"))
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{drawn.width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {drawn.width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        f"<defs>{markers}</defs>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="{_MARGIN}" y="{_MARGIN + 6}" font-size="15" font-weight="bold" fill="#263238">'
        f"{escape(heading)}</text>",
    ]
    # Untaken edges, then their labels, then the taken path and its labels: no line crosses a label of its
    # own layer, and nothing untaken is drawn over the path the execution took.
    layers: dict[bool, list[tuple[str, str]]] = {False: [], True: []}
    for index, edge in enumerate(flow.edges):
        on_path = (edge.source, edge.target) in taken
        unstyled = "catch" if edge.kind == "catch" else "plain"
        look = unstyled if run is None else ("taken" if on_path else "dim")
        layers[on_path].append(_edge(edge, drawn.routes.get(index), drawn, look))
    for drawn_edges in layers.values():
        parts += [line for line, _label in drawn_edges]
        parts += [label for _line, label in drawn_edges if label]
    for node in flow.nodes:
        parts.append(
            _shape(flow, node, drawn.centre[node], styles[node], bold=run is not None and styles[node] != "skipped")
        )
    if run is not None:
        parts.append(_legend(height - _MARGIN + 4))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _legend(y: float) -> str:
    items = [
        ("taken", "taken"),
        ("failed", "failed state"),
        ("compensation", "compensation"),
        ("failEnd", "ended here (Fail)"),
        ("skipped", "not taken"),
    ]
    out, x = [], float(_MARGIN)
    for style, label in items:
        fill, stroke, _, width = _FILL[style]
        out.append(
            f'<rect x="{x:.0f}" y="{y - 10:.0f}" width="14" height="14" rx="3" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}"/><text x="{x + 20:.0f}" y="{y + 1:.0f}" font-size="11.5" fill="#455a64">'
            f"{escape(label)}</text>"
        )
        x += 30 + len(label) * 6.6
    return "".join(out)
