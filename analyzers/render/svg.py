"""Tiny inline-SVG charts for the HTML report: no JavaScript, no CDN, no dependencies.

    >>> svg = time_chart(buckets, {"failed": [0, 3, 1], "retried": [2, 0, 0]})
    >>> svg = percentile_bars(["tasks.a", "tasks.b"], {"p50": [...], "p95": [...], "p99": [...]})

Every label goes through ``html.escape``: task names and messages come from logs, and a log
line must not be able to inject markup into the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

import pandas as pd

COLORS = {
    "failed": "#d62728",
    "retried": "#ff7f0e",
    "succeeded": "#2ca02c",
    "received": "#1f77b4",
    "p50": "#1f77b4",
    "p95": "#ff7f0e",
    "p99": "#d62728",
}
_FALLBACK = ("#9467bd", "#8c564b", "#17becf", "#7f7f7f")
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _color(name: str, i: int) -> str:
    return COLORS.get(name, _FALLBACK[i % len(_FALLBACK)])


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 times a power of ten)."""
    if value <= 0 or math.isnan(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _svg_open(width: int, height: int) -> str:
    """The <svg> tag: drawn at ``width`` x ``height``, scaled down (never up) to its container.

    Why: a fixed pixel width overflows a narrow window; the viewBox keeps the proportions.
    """
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
            f'width="100%" style="max-width:{width}px;height:auto" {_FONT}>')


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten from the one at or below ``low`` to the one at or above ``high``."""
    low = max(low, 1e-3)
    start = math.floor(math.log10(low))
    stop = max(math.ceil(math.log10(max(high, low))), start + 1)
    return [10.0 ** k for k in range(start, stop + 1)]


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def time_chart(
    buckets: Sequence[pd.Timestamp],
    series: Mapping[str, Sequence[float]],
    *,
    width: int = 900,
    height: int = 260,
    title: str = "",
) -> str:
    """A line chart of counts per time bucket, one line per series, with axes and a legend."""
    left, right, top, bottom = 50, 130, 24, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(buckets)
    highest = max((max(v, default=0) for v in series.values()), default=0)
    # Counts: keep the four grid steps whole numbers when the counts are small.
    peak = nice_max(highest) if highest > 20 else float(max(4, 4 * math.ceil(highest / 4)))
    step_s = (pd.Timestamp(buckets[1]) - pd.Timestamp(buckets[0])).total_seconds() if n > 1 \
        else 60.0
    label_format = "%H:%M:%S" if step_s < 60 else "%m-%d %H:%M"
    parts = [
        _svg_open(width, height),
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):  # horizontal grid and y labels
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{_fmt(peak * k / 4)}</text>")

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    step = max(1, math.ceil(n / 6))
    for i in range(0, n, step):  # x labels
        label = pd.Timestamp(buckets[i]).strftime(label_format)
        parts.append(f'<text x="{x_of(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                     f"{escape(label)}</text>")
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
                 f'y2="{top + plot_h}" stroke="#888"/>')
    for j, (name, values) in enumerate(series.items()):
        color = _color(name, j)
        points = " ".join(
            f"{x_of(i):.1f},{top + plot_h - plot_h * float(v) / peak:.1f}"
            for i, v in enumerate(values)
        )
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                     f'points="{points}"><title>{escape(name)}</title></polyline>')
        for i, v in enumerate(values):
            if v:
                label = pd.Timestamp(buckets[i]).strftime("%Y-%m-%d %H:%M:%S")
                parts.append(
                    f'<circle cx="{x_of(i):.1f}" cy="{top + plot_h - plot_h * float(v) / peak:.1f}"'
                    f' r="2.5" fill="{color}"><title>{escape(name)} {escape(label)}: '
                    f"{_fmt(float(v))}</title></circle>"
                )
        ly = top + 14 + j * 18
        parts.append(f'<rect x="{left + plot_w + 16}" y="{ly - 9}" width="12" height="12" '
                     f'fill="{color}"/>')
        parts.append(f'<text x="{left + plot_w + 34}" y="{ly + 1}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def percentile_bars(
    names: Sequence[str],
    percentiles: Mapping[str, Sequence[float]],
    *,
    width: int = 900,
    unit: str = "ms",
    title: str = "",
    log: bool = False,
) -> str:
    """Horizontal bars per name, one thin bar per percentile (p50, p95, p99), values labelled.

    ``log``: a logarithmic axis (powers of ten). Run times of different tasks span orders of
    magnitude; on a linear axis the fast ones become invisible slivers.
    """
    label_w, right, top = 220, 90, 24
    bar_h, gap = 7, 10
    keys = list(percentiles)
    row_h = bar_h * len(keys) + gap
    height = top + row_h * len(names) + 30
    plot_w = width - label_w - right
    values = [v for vals in percentiles.values() for v in vals if not math.isnan(v)]
    if log:
        ticks = log_ticks(min((v for v in values if v > 0), default=1.0), max(values, default=1))
        low, high = math.log10(ticks[0]), math.log10(ticks[-1])

        def x_of(v: float) -> float:
            return plot_w * (math.log10(max(v, ticks[0])) - low) / (high - low)
    else:
        peak = nice_max(max(values, default=0))
        ticks = [peak * k / 4 for k in range(5)]

        def x_of(v: float) -> float:
            return plot_w * v / peak
    parts = [_svg_open(width, height), f"<title>{escape(title)}</title>"]
    for tick in ticks:
        x = label_w + x_of(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 26}" '
                     'stroke="#eee"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">'
                     f"{_fmt(tick)} {escape(unit)}</text>")
    for i, name in enumerate(names):
        y0 = top + i * row_h
        short = name if len(name) <= 34 else "…" + name[-33:]
        parts.append(f'<text x="{label_w - 8}" y="{y0 + row_h / 2:.1f}" text-anchor="end">'
                     f"<title>{escape(name)}</title>{escape(short)}</text>")
        for j, key in enumerate(keys):
            v = float(percentiles[key][i])
            if math.isnan(v):
                continue
            y = y0 + j * bar_h
            parts.append(f'<rect x="{label_w}" y="{y:.1f}" width="{max(x_of(v), 1):.1f}" '
                         f'height="{bar_h - 1}" fill="{_color(key, j)}"><title>{escape(name)} '
                         f"{escape(key)}: {_fmt(v)} {escape(unit)}</title></rect>")
        last = float(percentiles[keys[-1]][i]) if keys else float("nan")
        if not math.isnan(last):
            parts.append(f'<text x="{label_w + max(x_of(last), 1) + 4:.1f}" '
                         f'y="{y0 + row_h / 2:.1f}">{_fmt(last)}</text>')
    ly = 12
    for j, key in enumerate(keys):
        parts.append(f'<rect x="{label_w + j * 60}" y="{ly - 9}" width="10" height="10" '
                     f'fill="{_color(key, j)}"/><text x="{label_w + j * 60 + 14}" y="{ly}">'
                     f"{escape(key)}</text>")
    if log:
        parts.append(f'<text x="{width - 4}" y="{ly}" text-anchor="end" fill="#666">'
                     "log scale</text>")
    parts.append("</svg>")
    return "".join(parts)
