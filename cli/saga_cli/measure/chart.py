"""The bench's figures as one small SVG chart (no plotting library): throughput of the engine against direct
calls per workload, and the AWS cost per million orders per scenario on Standard and Express, by service.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from saga_cli.measure import shipped_init_report

_W, _H = 900, 360
_PANEL_TOP, _PANEL_BOTTOM = 64, 300
_ENGINE, _DIRECT = "#1565c0", "#90caf9"
_PARTS = (
    ("StepFunctions", "Step Functions", "#5e35b1"),
    ("lambda", "Lambda", "#ef6c00"),
    ("dynamodb", "DynamoDB", "#2e7d32"),
)


def _nice_top(value: float) -> float:
    """A round axis maximum above ``value``."""
    step = 1.0
    while step * 10 < value:
        step *= 10
    for multiple in (1, 2, 2.5, 5, 10):
        if step * multiple >= value:
            return step * multiple
    return step * 10


def _text(x: float, y: float, text: str, size: float = 11, anchor: str = "middle", colour: str = "#37474f") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{colour}">{escape(text)}</text>'
    )


def _axis(left: float, right: float, top_value: float, unit: str) -> list[str]:
    out = []
    for i in range(5):
        value = top_value * i / 4
        y = _PANEL_BOTTOM - (_PANEL_BOTTOM - _PANEL_TOP) * i / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eceff1"/>')
        out.append(_text(left - 6, y + 4, f"{unit}{value:g}", 10, "end", "#78909c"))
    out.append(f'<line x1="{left}" y1="{_PANEL_BOTTOM}" x2="{right}" y2="{_PANEL_BOTTOM}" stroke="#90a4ae"/>')
    return out


def _bar(x: float, width: float, value: float, top_value: float, colour: str, base: float = 0.0) -> tuple[str, float]:
    scale = (_PANEL_BOTTOM - _PANEL_TOP) / top_value
    y0 = _PANEL_BOTTOM - base * scale
    height = value * scale
    rect = f'<rect x="{x:.1f}" y="{y0 - height:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{colour}"/>'
    return rect, y0 - height


def _throughput(report: dict[str, Any], left: float, right: float) -> list[str]:
    workloads = report["workloads"]
    top = _nice_top(max(max(w["engine"]["perSecond"], w["direct"]["perSecond"]) for w in workloads.values()))
    out = [_text(left, 30, "Sagas per second (higher is better)", 13, "start", "#263238")]
    out += _axis(left, right, top, "")
    slot = (right - left) / len(workloads)
    for i, (name, w) in enumerate(workloads.items()):
        x = left + slot * i + slot * 0.18
        bar = slot * 0.3
        for j, (side, colour) in enumerate((("engine", _ENGINE), ("direct", _DIRECT))):
            rect, y = _bar(x + j * bar, bar - 4, w[side]["perSecond"], top, colour)
            out += [rect, _text(x + j * bar + bar / 2 - 2, y - 4, f"{w[side]['perSecond']:.1f}", 10)]
        out.append(_text(x + bar, _PANEL_BOTTOM + 16, name, 11))
        out.append(_text(x + bar, _PANEL_BOTTOM + 30, f"overhead {w['overheadRatio']:.2f}", 10, colour="#78909c"))
    out += _legend(left, 48, [("embedded engine", _ENGINE), ("handlers called directly", _DIRECT)])
    return out


def _costs(report: dict[str, Any], left: float, right: float) -> list[str]:
    costs = report["costPerMillion"]
    top = _nice_top(max(max(c["standard"], c["express"]) for c in costs.values()))
    out = [_text(left, 30, "AWS cost per million orders, USD (S = Standard, E = Express)", 13, "start", "#263238")]
    out += _axis(left, right, top, "$")
    slot = (right - left) / len(costs)
    for i, (scenario, cost) in enumerate(costs.items()):
        x = left + slot * i + slot * 0.12
        bar = slot * 0.36
        for j, (kind, total) in enumerate((("standard", cost["standard"]), ("express", cost["express"]))):
            base = 0.0
            for part, _, colour in _PARTS:
                value = cost["parts"][f"{kind}{part}" if part == "StepFunctions" else part]
                rect, _ = _bar(x + j * bar, bar - 3, value, top, colour, base)
                out.append(rect)
                base += value
            y = _PANEL_BOTTOM - base * (_PANEL_BOTTOM - _PANEL_TOP) / top
            out.append(_text(x + j * bar + bar / 2 - 1.5, y - 4, f"{total:.0f}", 9.5))
            out.append(_text(x + j * bar + bar / 2 - 1.5, _PANEL_BOTTOM + 12, "SE"[j], 9, colour="#78909c"))
        out.append(_text(x + bar, _PANEL_BOTTOM + 26, scenario, 10))
    out += _legend(left, 48, [(label, colour) for _, label, colour in _PARTS])
    return out


def _legend(x: float, y: float, items: list[tuple[str, str]]) -> list[str]:
    out = []
    for label, colour in items:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        out.append(_text(x + 14, y, label, 10.5, "start"))
        x += 24 + len(label) * 6.0
    return out


def chart_svg(report: dict[str, Any]) -> str:
    """The SVG document."""
    m = report["machine"]
    init = shipped_init_report.svg_panel(report, _W + 50, _W + 400)  # a third panel when measured
    width = _W + 420 if init else _W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{_H}" viewBox="0 0 {width} {_H}" '
        'font-family="Helvetica, Arial, sans-serif">',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        *_throughput(report, 50, 330),
        *_costs(report, 400, _W - 20),
        *init,
        _text(
            width / 2,
            _H - 8,
            f"saga bench --sagas {report['sagas']}: {m['cpus']} CPUs, Python {m['python']}; "
            f"{report['prices']['region']} prices checked {report['prices']['checked']}",
            10,
            colour="#78909c",
        ),
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
