"""``saga bench``'s shipped-init figures (``shipped_init``) as a person reads them: a table and a chart panel."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

#: Every function's init as built at most this many times the runtime's ``import boto3``.
GOAL_SHIPPED_INIT = 1.5


def slowest(report: dict[str, Any]) -> tuple[str | None, float | None]:
    ratios: dict[str, float] = report.get("shippedInitRatio") or {}
    name = max(ratios, key=ratios.__getitem__) if ratios else None
    return name, ratios[name] if name else None


def render(report: dict[str, Any]) -> list[str]:
    """The table: per built function, its init, x boto3, its libraries' share and ours."""
    if not report.get("shippedInitMs"):
        return [f"Cold init as Lambda runs it: {report.get('shippedNote') or 'not measured'}"]
    where = report["shippedLayout"]
    lines = [
        f"Cold init as Lambda runs it: {where['build']} on Python {where['python']}, the layer "
        f"{'with' if where['layerBytecode'] else 'without'} bytecode, the runtime's boto3 {where['boto3']} and "
        f"standard library compiled; median of {report['shippedRuns']}; import boto3 "
        f"{report['shippedBoto3Ms']:.0f} ms",
        f"{'function':<36}{'init ms':>9}{'x boto3':>9}{'libraries':>11}{'x boto3':>9}{'ours ms':>9}",
    ]
    for name, ms in report["shippedInitMs"].items():
        lines.append(
            f"{name:<36}{ms:>9.0f}{report['shippedInitRatio'][name]:>9.2f}{report['shippedLibraryMs'][name]:>11.0f}"
            f"{report['shippedLibraryRatio'][name]:>9.2f}{round(report['shippedOursMs'][name]):>9}"
        )
    return lines


#: The chart panel's vertical extent, as ``chart`` draws its others.
_TOP, _BOTTOM = 64, 300
_OURS, _LIBRARIES, _BOTO3 = "#c62828", "#ffb74d", "#78909c"


def svg_panel(report: dict[str, Any], left: float, right: float) -> list[str]:
    """Each function's init as built, split into its libraries and ours, against ``import boto3`` and the goal."""
    init = report.get("shippedInitMs")
    if not init:
        return []
    boto3_ms = report["shippedBoto3Ms"]
    top = max(*init.values(), GOAL_SHIPPED_INIT * boto3_ms) * 1.1
    scale = (_BOTTOM - _TOP) / top
    out = [_text(left, 30, "Cold init as built, ms (Lambda's layout)", 13, "start", "#263238")]
    slot = (right - left) / (len(init) + 1)
    bars = [("boto3", boto3_ms, 0.0), *((n, report["shippedLibraryMs"][n], init[n]) for n in init)]
    for i, (name, libraries, total) in enumerate(bars):
        x = left + slot * i + slot * 0.15
        width = slot * 0.7
        if name == "boto3":
            out.append(_rect(x, _BOTTOM - libraries * scale, width, libraries * scale, _BOTO3))
            out.append(_text(x + width / 2, _BOTTOM - libraries * scale - 4, f"{libraries:.0f}", 9))
        else:
            shown = min(libraries, total)
            out.append(_rect(x, _BOTTOM - shown * scale, width, shown * scale, _LIBRARIES))
            out.append(_rect(x, _BOTTOM - total * scale, width, (total - shown) * scale, _OURS))
            out.append(_text(x + width / 2, _BOTTOM - total * scale - 4, f"{total / boto3_ms:.2f}x", 9))
        label = name.removesuffix("Function").replace("Inventory", "Inv").replace("Compensation", "Comp")
        out.append(_text(x + width / 2, _BOTTOM + 12, label[:10], 8))
    goal_y = _BOTTOM - GOAL_SHIPPED_INIT * boto3_ms * scale
    out.append(
        f'<line x1="{left}" y1="{goal_y:.1f}" x2="{right}" y2="{goal_y:.1f}" stroke="#2e7d32" stroke-dasharray="4 3"/>'
    )
    out.append(_text(right, goal_y - 4, f"goal {GOAL_SHIPPED_INIT} x boto3", 9, "end", "#2e7d32"))
    out.append(f'<line x1="{left}" y1="{_BOTTOM}" x2="{right}" y2="{_BOTTOM}" stroke="#90a4ae"/>')
    x = left
    for label, colour in (("import boto3", _BOTO3), ("libraries", _LIBRARIES), ("ours", _OURS)):
        out.append(_rect(x, 39, 10, 10, colour))
        out.append(_text(x + 14, 48, label, 10.5, "start"))
        x += 24 + len(label) * 6.0
    return out


def _rect(x: float, y: float, width: float, height: float, colour: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{max(height, 0):.1f}" fill="{colour}"/>'


def _text(x: float, y: float, text: str, size: float = 11, anchor: str = "middle", colour: str = "#37474f") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{colour}">{escape(text)}</text>'
    )
