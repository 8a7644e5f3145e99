"""The dashboard drawn as one HTML page, Grafana-like, from query results (no I/O).

``render_page(dashboard, results, window, caption)`` lays every panel out by its ``gridPos``
(Grafana's 24-column grid) and draws time series as inline SVG lines, stats as big values
colored by their thresholds, tables as HTML tables: no JavaScript, nothing fetched. The helpers
it is made of (``$variable`` substitution, legends, grid boxes, axis ticks, Grafana units, SVG
paths) are pure and unit-tested in ``tests/ops/test_render_preview.py``. Used by
``render_preview.py`` next to this file, which gets the results from a real Prometheus.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "PAGE_WIDTH",
    "Box",
    "Series",
    "Window",
    "format_value",
    "grid_box",
    "legend",
    "linear",
    "nice_ticks",
    "render_page",
    "substitute",
    "svg_path",
    "template_values",
    "threshold_color",
]


# Grafana's grid: 24 columns, 30 px rows, 8 px gutters
COLUMNS, ROW_PX, GUTTER_PX = 24, 30, 8
PAGE_WIDTH, PAGE_PAD, HEADER_PX = 1600, 8, 72
PALETTE = ("#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9",
           "#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17")  # fmt: skip
# What Grafana applies when a panel sets no thresholds: green, red from 80
DEFAULT_THRESHOLDS = ({"value": None, "color": "green"}, {"value": 80, "color": "red"})
COLORS = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A", "blue": "#5794F2",
          "text": "#ccccdc"}  # fmt: skip


# -- pure helpers (tested) -------------------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def template_values(dashboard: Mapping[str, Any], builtins: Mapping[str, str]) -> dict[str, str]:
    """Values for every ``$variable``: a dashboard variable takes its "All" value (or its current
    value), Grafana's own (``__rate_interval`` and friends) come from ``builtins``."""
    values = dict(builtins)
    for variable in dashboard.get("templating", {}).get("list", []):
        current = variable.get("current", {}).get("value")
        if variable.get("includeAll") and current in (None, "$__all", ["$__all"]):
            values[variable["name"]] = variable.get("allValue") or ".*"
        elif isinstance(current, list):
            values[variable["name"]] = "|".join(str(v) for v in current)
        elif current is not None:
            values[variable["name"]] = str(current)
    return values


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]``; unknown names stay."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(one, expr)


def legend(fmt: str, labels: Mapping[str, str]) -> str:
    """Grafana's legendFormat: ``{{label}}`` replaced (missing labels empty); no format gives
    the series' own name, ``metric{label="value", ...}``."""
    if fmt:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{labels.get('__name__', '')}{{{rest}}}"


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int


def grid_box(grid_pos: Mapping[str, int], width: int) -> Box:
    """Pixels of a panel's ``gridPos`` in a ``width``-px wide dashboard (react-grid-layout's
    arithmetic, as Grafana uses it)."""
    column = (width - GUTTER_PX * (COLUMNS - 1)) / COLUMNS
    x, y, w, h = grid_pos["x"], grid_pos["y"], grid_pos["w"], grid_pos["h"]
    return Box(
        left=round((column + GUTTER_PX) * x),
        top=round((ROW_PX + GUTTER_PX) * y),
        width=round(column * w + GUTTER_PX * (w - 1)),
        height=round(ROW_PX * h + GUTTER_PX * (h - 1)),
    )


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round axis ticks (1, 2 or 5 times a power of ten) covering ``[low, high]``."""
    if not high > low:
        high = low + 1
    raw = (high - low) / max(1, target - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    decimals = min(4, max(0, 2 - math.floor(math.log10(abs(value)))))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def _scaled(value: float, base: float, suffixes: Sequence[str]) -> str:
    index = 0
    while abs(value) >= base and index < len(suffixes) - 1:
        value, index = value / base, index + 1
    return f"{_number(value)}{suffixes[index]}"


def format_value(value: float, unit: str) -> str:
    """A value in a Grafana unit (``short s ops reqps percentunit bytes currencyINR``)."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return {"percentunit": "0%", "s": "0 s", "bytes": "0 B", "currencyINR": "₹0"}.get(unit, "0")
    if unit == "percentunit":
        return f"{_number(value * 100)}%"
    if unit == "bytes":
        return _scaled(value, 1024, (" B", " KiB", " MiB", " GiB", " TiB"))
    if unit == "s":
        magnitude = abs(value)
        if magnitude < 1e-3:
            return f"{_number(value * 1e6)} µs"
        if magnitude < 1:
            return f"{_number(value * 1e3)} ms"
        if magnitude < 60:
            return f"{_number(value)} s"
        if magnitude < 3600:
            return f"{_number(value / 60)} min"
        return f"{_number(value / 3600)} hour"
    short = _scaled(value, 1000, ("", " K", " Mil", " Bil", " Tri"))
    if unit == "currencyINR":
        return ("-₹" if short.startswith("-") else "₹") + short.removeprefix("-")
    return short + {"ops": " ops/s", "reqps": " req/s"}.get(unit, "")


def svg_path(
    samples: Sequence[tuple[float, float]],
    x: Callable[[float], float],
    y: Callable[[float], float],
    max_gap: float,
) -> str:
    """An SVG path through ``(time, value)`` samples; a gap longer than ``max_gap`` seconds, or
    a NaN/inf value, lifts the pen (as Grafana breaks a line where data is missing)."""
    parts: list[str] = []
    previous: float | None = None
    for t, v in samples:
        if not math.isfinite(v):
            previous = None
            continue
        command = "L" if previous is not None and t - previous <= max_gap else "M"
        parts.append(f"{command}{x(t):.1f},{y(v):.1f}")
        previous = t
    return "".join(parts)


def linear(domain: tuple[float, float], span: tuple[float, float]) -> Callable[[float], float]:
    (d0, d1), (r0, r1) = domain, span
    ratio = (r1 - r0) / (d1 - d0) if d1 != d0 else 0.0
    return lambda v: r0 + (v - d0) * ratio


def threshold_color(value: float, steps: Sequence[Mapping[str, Any]]) -> str:
    """The color of the last threshold step at or below ``value`` (the first step is the base)."""
    color = str(steps[0]["color"])
    for step in steps[1:]:
        if step.get("value") is not None and value >= float(step["value"]):
            color = str(step["color"])
    return COLORS.get(color, color)


# -- rendering -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    samples: list[tuple[float, float]]


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    step: float


def _e(text: object) -> str:
    return html.escape(str(text))


def _panel(box: Box, title: str, body: str, cls: str = "panel") -> str:
    style = f"left:{box.left}px;top:{box.top}px;width:{box.width}px;height:{box.height}px"
    return f'<div class="{cls}" style="{style}"><div class="title">{_e(title)}</div>{body}</div>'


def _legend_rows(names: Sequence[str], width: int, max_rows: int) -> tuple[int, int]:
    """How many legend entries fit in ``max_rows`` rows of ``width`` px, and the rows used."""
    rows, shown, used = 1, 0, 0.0
    for name in names:
        item = 22 + 6.6 * len(name) + 14  # swatch, text at 12 px, gap
        if used and used + item > width:
            rows, used = rows + 1, 0
            if rows > max_rows:
                return shown, max_rows
        used += item
        shown += 1
    return shown, rows if names else 0


def render_timeseries(box: Box, panel: Mapping[str, Any], series: list[Series], window: Window) -> str:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    inner_w, inner_h = box.width - 16, box.height - 36
    shown, rows = _legend_rows([s.name for s in series], inner_w, 3)
    legend_h = rows * 18 + (6 if rows else 0)
    chart_h = inner_h - legend_h
    values = [v for s in series for _, v in s.samples if math.isfinite(v)]
    low = min([0.0, *values]) if values else 0.0
    high = max(values) if values else 1.0
    ticks = nice_ticks(low, high, target=max(2, min(5, chart_h // 40)))
    labels = [format_value(t, unit) for t in ticks]
    axis_w = 10 + 6.2 * max(len(text) for text in labels)
    x = linear((window.start, window.end), (axis_w, inner_w - 4))
    y = linear((ticks[0], ticks[-1]), (chart_h - 18, 4))
    svg = [f'<svg width="{inner_w}" height="{chart_h}">']
    for tick, text in zip(ticks, labels, strict=True):
        at = f"{y(tick):.1f}"
        svg.append(f'<line class="grid" x1="{axis_w}" x2="{inner_w - 4}" y1="{at}" y2="{at}"/>')
        svg.append(
            f'<text class="axis" x="{axis_w - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{_e(text)}</text>'
        )
    every = next(s for s in (5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
                 if (inner_w - axis_w) / ((window.end - window.start) / s) >= 70)  # fmt: skip
    t = math.ceil(window.start / every) * every
    while t <= window.end:
        stamp = datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")
        svg.append(f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="4" y2="{chart_h - 18}"/>')
        svg.append(f'<text class="axis" x="{x(t):.1f}" y="{chart_h - 4}" text-anchor="middle">{stamp}</text>')
        t += every
    for index, s in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        path = svg_path(s.samples, x, y, max_gap=window.step * 1.5)
        svg.append(f'<path d="{path}" stroke="{color}" fill="none" stroke-width="1.6"/>')
        if path and "L" not in path:  # only lone points: show them as dots
            for t_, v in s.samples:
                if math.isfinite(v):
                    svg.append(f'<circle cx="{x(t_):.1f}" cy="{y(v):.1f}" r="2" fill="{color}"/>')
    if not series:
        svg.append(
            f'<text class="nodata" x="{inner_w / 2}" y="{chart_h / 2}" text-anchor="middle">No data</text>'
        )
    svg.append("</svg>")
    items = [
        f'<span class="item"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(s.name)}</span>'
        for i, s in enumerate(series[:shown])
    ]
    if shown < len(series):
        items.append(f'<span class="item more">+{len(series) - shown} more</span>')
    body = "".join(svg) + f'<div class="legend" style="height:{legend_h}px">{"".join(items)}</div>'
    return _panel(box, panel.get("title", ""), f'<div class="inner">{body}</div>')


def render_stat(box: Box, panel: Mapping[str, Any], series: list[Series]) -> str:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit = defaults.get("unit", "short")
    steps = defaults.get("thresholds", {}).get("steps") or DEFAULT_THRESHOLDS
    cells = [] if series else ['<span class="nodata">No data</span>']
    for s in series:
        value = s.samples[-1][1]
        text = format_value(value, unit)
        by_height = (box.height - 36) * (0.45 if len(series) == 1 else 0.3)
        size = min(by_height, box.width / len(series) / len(text) * 1.5)
        name = f'<div class="statname">{_e(s.name)}</div>' if len(series) > 1 else ""
        color = threshold_color(value, steps)
        style = f"font-size:{size:.0f}px;color:{color}"
        cells.append(f'<div class="cell">{name}<span style="{style}">{_e(text)}</span></div>')
    return _panel(box, panel.get("title", ""), f'<div class="stat">{"".join(cells)}</div>')


def render_table(box: Box, panel: Mapping[str, Any], series: list[Series]) -> str:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    first = ["strategy", "plugin", "state"]
    keys = sorted({k for s in series for k in s.labels} - {"__name__", *first})
    columns = [k for k in first if any(k in s.labels for s in series)] + keys
    head = "".join(f"<th>{_e(c)}</th>" for c in [*columns, "Value"])
    rows = []
    for s in sorted(series, key=lambda s: [s.labels.get(c, "") for c in columns]):
        cells = "".join(f"<td>{_e(s.labels.get(c, ''))}</td>" for c in columns)
        rows.append(f"<tr>{cells}<td>{_e(format_value(s.samples[-1][1], unit))}</td></tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return _panel(box, panel.get("title", ""), f'<div class="inner">{table}</div>')


STYLE = """
body { margin:0; background:#111217; color:#ccccdc; font:13px 'Liberation Sans','DejaVu Sans',sans-serif; }
header { height:56px; padding:8px 16px; box-sizing:border-box; border-bottom:1px solid #ffffff1f; }
header h1 { font-size:18px; font-weight:500; margin:0 0 4px; color:#d8d9da; }
header .sub { font-size:12px; color:#ccccdca6; }
header .var { float:right; font-size:12px; margin-top:4px; }
header .var b { background:#181b1f; border:1px solid #ffffff26; padding:3px 8px; margin-left:6px;
                font-weight:400; }
main { position:relative; margin:8px; }
.panel { position:absolute; background:#181b1f; border:1px solid #ffffff1f; border-radius:2px;
         box-sizing:border-box; overflow:hidden; }
.title { height:32px; line-height:32px; padding:0 8px; font-size:14px; font-weight:500; color:#ccccdc;
         white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.row { position:absolute; box-sizing:border-box; }
.row .title { font-size:16px; padding:0; height:30px; line-height:30px; }
.row .title::before { content:'\\25BE  '; color:#ccccdca6; }
.inner { padding:0 8px; }
.grid { stroke:#ffffff14; stroke-width:1; }
.axis { fill:#ccccdca6; font-size:11px; }
.nodata { fill:#ccccdca6; color:#ccccdca6; font-size:14px; }
.legend { display:flex; flex-wrap:wrap; overflow:hidden; font-size:12px; line-height:18px; padding-top:6px; }
.legend .item { margin-right:14px; white-space:nowrap; }
.legend i { display:inline-block; width:14px; height:4px; border-radius:2px; margin:0 6px 3px 0;
            vertical-align:middle; }
.legend .more { color:#ccccdca6; }
.stat { display:flex; height:calc(100% - 40px); align-items:center; justify-content:space-around; }
.stat .cell { text-align:center; font-weight:500; }
.statname { font-size:12px; color:#ccccdca6; }
table { width:100%; border-collapse:collapse; font-size:12px; }
th { text-align:left; color:#6e9fff; font-weight:500; padding:4px 8px; border-bottom:1px solid #ffffff1f; }
td { padding:3px 8px; border-bottom:1px solid #ffffff0f; }
"""


def render_page(
    dashboard: Mapping[str, Any],
    results: Mapping[int, list[Series]],
    window: Window,
    caption: str,
) -> tuple[str, int]:
    """The whole dashboard as one HTML page, and the page's height in px."""
    width = PAGE_WIDTH - 2 * PAGE_PAD
    parts, bottom = [], 0
    for panel in dashboard["panels"]:
        box = grid_box(panel["gridPos"], width)
        bottom = max(bottom, box.top + box.height)
        kind, series = panel["type"], results.get(panel["id"], [])
        if kind == "row":
            parts.append(_panel(box, panel.get("title", ""), "", cls="row"))
        elif kind == "stat":
            parts.append(render_stat(box, panel, series))
        elif kind == "table":
            parts.append(render_table(box, panel, series))
        else:
            parts.append(render_timeseries(box, panel, series, window))
    variables = "".join(
        f"{_e(v.get('label', v['name']))}<b>All</b> " for v in dashboard.get("templating", {}).get("list", [])
    )
    head = (
        f'<header><span class="var">{variables}</span><h1>{_e(dashboard.get("title", ""))}</h1>'
        f'<div class="sub">{_e(caption)}</div></header>'
    )
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head>'
        f'<body>{head}<main style="height:{bottom}px">{"".join(parts)}</main></body></html>'
    )
    return page, HEADER_PX + bottom + 2 * PAGE_PAD
