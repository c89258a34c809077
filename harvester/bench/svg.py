"""Line charts as inline SVG text: no script, no fonts or files to fetch.

A chart has data lines (points; None where a bin holds no value; dots
mark the points of short series), horizontal rules for
reference values (a documented limit, an SLA latency) and labelled axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 560, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 28, 28, 40
DOTS_UP_TO = 60

Scale = Callable[[float], float]


@dataclass(frozen=True, slots=True)
class Line:
    """A data series: (x, y) points, y None where there is no value."""

    label: str
    color: str
    points: Sequence[tuple[float, float | None]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal reference line at `value`."""

    label: str
    value: float
    color: str


@dataclass(frozen=True, slots=True)
class Axes:
    """Axis labels, and x ticks as (position, label) when not plain numbers."""

    x_label: str
    y_label: str
    x_ticks: Sequence[tuple[float, str]] = ()


def chart(title: str, lines: Sequence[Line], rules: Sequence[Rule], axes: Axes) -> str:
    """One line chart as an `<svg>` element."""
    xs = [x for line in lines for x, _ in line.points] + [x for x, _ in axes.x_ticks]
    ys = [y for line in lines for _, y in line.points if y is not None]
    ys += [rule.value for rule in rules]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_high <= x_low:
        x_high = x_low + 1
    y_high = _nice(max(ys, default=1.0) * 1.1 or 1.0)

    def px(x: float) -> float:
        return LEFT + (x - x_low) / (x_high - x_low) * (WIDTH - LEFT - RIGHT)

    def py(y: float) -> float:
        return HEIGHT - BOTTOM - y / y_high * (HEIGHT - TOP - BOTTOM)

    x_ticks = axes.x_ticks or [(x, _number(x)) for x in _ticks(x_low, x_high)]
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="16" class="title">{escape(title)}</text>',
        _frame(),
    ]
    for value in _ticks(0.0, y_high):
        parts.append(_y_tick(py(value), _number(value)))
    for value, label in x_ticks:
        parts.append(_x_tick(px(value), label))
    for rule in rules:
        parts.append(_rule(py(rule.value), rule))
    for line in lines:
        parts.append(_path(line, px, py))
    parts.append(_legend(lines, rules))
    parts.append(_axis_labels(axes))
    parts.append("</svg>")
    return "\n".join(parts)


def _frame() -> str:
    return (
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" class="frame"/>'
    )


def _y_tick(y: float, label: str) -> str:
    return (
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
        f'class="grid"/><text x="{LEFT - 4}" y="{y + 4:.1f}" '
        f'text-anchor="end">{escape(label)}</text>'
    )


def _x_tick(x: float, label: str) -> str:
    base = HEIGHT - BOTTOM
    return (
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" class="axis"/>'
        f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
        f"{escape(label)}</text>"
    )


def _rule(y: float, rule: Rule) -> str:
    return (
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
        f'stroke="{rule.color}" class="rule"><title>{escape(rule.label)}</title>'
        "</line>"
    )


def _path(line: Line, px: Scale, py: Scale) -> str:
    # Points without a value are skipped, not gaps: a sparse series (one
    # request a second in bins of 0.1 s) still shows as a line.
    known = [(px(x), py(y)) for x, y in line.points if y is not None]
    commands = [f"{'L' if i else 'M'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(known)]
    dots = ""
    if len(known) <= DOTS_UP_TO:
        dots = "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{line.color}"/>'
            for x, y in known
        )
    return (
        f'<path d="{" ".join(commands)}" stroke="{line.color}" class="line">'
        f"<title>{escape(line.label)}</title></path>{dots}"
    )


def _legend(lines: Sequence[Line], rules: Sequence[Rule]) -> str:
    entries = [(line.label, line.color, "line") for line in lines]
    entries += [(rule.label, rule.color, "rule") for rule in rules]
    parts, x = [], LEFT + 4
    for label, color, kind in entries:
        parts.append(
            f'<line x1="{x}" x2="{x + 14}" y1="{TOP + 10}" y2="{TOP + 10}" '
            f'stroke="{color}" class="{kind}"/>'
            f'<text x="{x + 18}" y="{TOP + 14}">{escape(label)}</text>'
        )
        x += 26 + 6 * len(label)
    return "".join(parts)


def _axis_labels(axes: Axes) -> str:
    middle_x = (LEFT + WIDTH - RIGHT) / 2
    middle_y = (TOP + HEIGHT - BOTTOM) / 2
    return (
        f'<text x="{middle_x:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{escape(axes.x_label)}</text>"
        f'<text x="14" y="{middle_y:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle_y:.0f})">{escape(axes.y_label)}</text>'
    )


def _nice(value: float) -> float:
    # The smallest of 1, 2, 2.5 or 5 times a power of ten at or above value.
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= value:
            return factor * power
    return 10 * power


def _ticks(low: float, high: float) -> list[float]:
    step = _nice((high - low) / 5) if high > low else 1.0
    first = math.ceil(low / step) * step
    count = int((high - first) / step + 1e-9) + 1
    return [first + i * step for i in range(count)]


def _number(value: float) -> str:
    return f"{value:.4g}"
