"""Dependency-free SVG charts for the hold-out check: inline in templates, written by the CLI.

Every piece of text is escaped, so series names and titles may come from user data.
"""

from __future__ import annotations

import math
from html import escape

BLUE, RED, GREEN = "#1f6feb", "#d1242f", "#1a7f37"
_PALETTE = (BLUE, RED, GREEN, "#9a6700", "#8250df", "#57606a")
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 64, 16, 36, 64


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        high = low + 1.0
    raw_step = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2g}"


def _frame(*, title: str, x_label: str, y_label: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="14">'
        f"{escape(title)}</text>",
        f'<text x="{(_MARGIN_LEFT + width - _MARGIN_RIGHT) / 2:.1f}" y="{height - 8}" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="14" y="{(_MARGIN_TOP + height - _MARGIN_BOTTOM) / 2:.1f}" '
        f'text-anchor="middle" transform="rotate(-90 14 '
        f'{(_MARGIN_TOP + height - _MARGIN_BOTTOM) / 2:.1f})">{escape(y_label)}</text>',
    ]


def _y_axis(*, ticks: list[float], to_y: _Scale, width: int) -> list[str]:
    parts = []
    for tick in ticks:
        y = to_y(tick)
        parts.append(
            f'<line x1="{_MARGIN_LEFT}" x2="{width - _MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#d0d7de" stroke-width="1"/>'
            f'<text x="{_MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_label(tick))}</text>"
        )
    return parts


def _legend(*, names: list[str], width: int, colours: tuple[str, ...] = _PALETTE) -> list[str]:
    parts = []
    for index, name in enumerate(names):
        x = width - _MARGIN_RIGHT - 150
        y = _MARGIN_TOP + 4 + 16 * index
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="4" '
            f'fill="{colours[index % len(colours)]}"/>'
            f'<text x="{x + 18}" y="{y + 6}">{escape(name)}</text>'
        )
    return parts


class _Scale:
    """Maps data values linearly onto a pixel range."""

    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        self.low, self.span = low, (high - low) or 1.0
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / self.span * (self.end - self.start)


def line_chart_svg(
    *,
    series: dict[str, list[tuple[float, float]]],
    title: str,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 320,
    marker: tuple[float, str] | None = None,
    bands: dict[str, list[tuple[float, float, float]]] | None = None,
) -> str:
    """One polyline per named series of (x, y) points, on shared axes; `marker` draws a
    labelled vertical line at an x (where a calibration period ends, say); `bands` shades
    a series' (x, low, high) confidence band in its colour."""
    bands = bands or {}
    points = [point for values in series.values() for point in values]
    points += [(x, y) for band in bands.values() for x, low, high in band for y in (low, high)]
    xs = [x for x, _ in points] or [0.0, 1.0]
    ys = [y for _, y in points] or [0.0, 1.0]
    x_ticks = _nice_ticks(min(xs), max(xs))
    y_ticks = _nice_ticks(min(0.0, min(ys)), max(ys))
    to_x = _Scale(x_ticks[0], x_ticks[-1], _MARGIN_LEFT, width - _MARGIN_RIGHT)
    to_y = _Scale(y_ticks[0], y_ticks[-1], height - _MARGIN_BOTTOM, _MARGIN_TOP)
    parts = _frame(title=title, x_label=x_label, y_label=y_label, width=width, height=height)
    parts += _y_axis(ticks=y_ticks, to_y=to_y, width=width)
    for tick in x_ticks:
        parts.append(
            f'<text x="{to_x(tick):.1f}" y="{height - _MARGIN_BOTTOM + 16}" '
            f'text-anchor="middle">{escape(_label(tick))}</text>'
        )
    if marker is not None:
        at, label = marker
        x = to_x(at)
        parts.append(
            f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{_MARGIN_TOP}" '
            f'y2="{height - _MARGIN_BOTTOM}" stroke="#57606a" stroke-dasharray="4 3"/>'
            f'<text x="{x + 4:.1f}" y="{_MARGIN_TOP + 12}">{escape(label)}</text>'
        )
    for index, name in enumerate(series):
        if band := bands.get(name):
            outline = [(x, high) for x, _low, high in band] + [
                (x, low) for x, low, _high in reversed(band)
            ]
            polygon = " ".join(f"{to_x(x):.1f},{to_y(y):.1f}" for x, y in outline)
            parts.append(
                f'<polygon class="band" points="{polygon}" fill-opacity="0.15" stroke="none" '
                f'fill="{_PALETTE[index % len(_PALETTE)]}"/>'
            )
    for index, values in enumerate(series.values()):
        path = " ".join(f"{to_x(x):.1f},{to_y(y):.1f}" for x, y in values)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke-width="2" '
            f'stroke="{_PALETTE[index % len(_PALETTE)]}"/>'
        )
    parts += _legend(names=list(series), width=width)
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart_svg(
    *,
    categories: list[str],
    series: dict[str, list[float]],
    title: str,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 320,
    colours: tuple[str, ...] = _PALETTE,
) -> str:
    """Grouped bars: one group per category, one bar per named series within it.
    `colours` by series, where a colour means something (red for what is lost)."""
    values = [value for bars in series.values() for value in bars] or [0.0]
    y_ticks = _nice_ticks(min(0.0, min(values)), max(values))
    to_y = _Scale(y_ticks[0], y_ticks[-1], height - _MARGIN_BOTTOM, _MARGIN_TOP)
    parts = _frame(title=title, x_label=x_label, y_label=y_label, width=width, height=height)
    parts += _y_axis(ticks=y_ticks, to_y=to_y, width=width)
    group_width = (width - _MARGIN_LEFT - _MARGIN_RIGHT) / max(len(categories), 1)
    bar_width = 0.8 * group_width / max(len(series), 1)
    baseline = to_y(max(0.0, y_ticks[0]))
    # Labels that would run into each other name every n-th group only (11 px sans-serif
    # is about 6.5 px a character).
    widest = 6.5 * max((len(category) for category in categories), default=0) + 6
    every = max(1, math.ceil(widest / group_width))
    for position, category in enumerate(categories):
        left = _MARGIN_LEFT + position * group_width + 0.1 * group_width
        for index, bars in enumerate(series.values()):
            top = to_y(bars[position])
            parts.append(
                f'<rect class="bar" x="{left + index * bar_width:.1f}" '
                f'y="{min(top, baseline):.1f}" '
                f'width="{bar_width:.1f}" height="{abs(baseline - top):.1f}" '
                f'fill="{colours[index % len(colours)]}"/>'
            )
        if position % every == 0:
            parts.append(
                f'<text x="{left + 0.4 * group_width:.1f}" y="{height - _MARGIN_BOTTOM + 16}" '
                f'text-anchor="middle">{escape(category)}</text>'
            )
    parts += _legend(names=list(series), width=width, colours=colours)
    parts.append("</svg>")
    return "\n".join(parts)
