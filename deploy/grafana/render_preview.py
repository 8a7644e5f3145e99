#!/usr/bin/env python3
"""A picture of the Grafana dashboard drawn from real data, without a Grafana server.

    .venv/bin/python deploy/grafana/render_preview.py [--seconds 90] [--restart NAME]

Starts a real daemon with ``deploy/examples.yaml`` on the embedded paper sandbox (a free
loopback port) and a real Prometheus scraping it every second (tmp storage, loopback only),
lets them run for ``--seconds`` (dropping a few signal files into the signal strategy's inbox
and asking the daemon for one operator restart on the way), then runs every panel's PromQL
from ``kite-supervisor.json`` against Prometheus's HTTP API and lays the answers out on one
HTML page by each panel's ``gridPos``: hand-drawn SVG lines, stat values, tables. Headless
chromium screenshots the page into ``dashboard-preview.png`` next to this file. The daemon is
stopped with SIGTERM and must exit 0.

This is not Grafana: it draws what the queries return in a Grafana-like dark theme. The pure
parts (variable substitution, the grid layout, axis ticks, value formats, SVG paths) are
unit-tested in ``tests/ops/test_render_preview.py``; the script itself is run by hand.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DASHBOARD = HERE / "dashboards" / "kite-supervisor.json"
CONFIG = ROOT / "deploy" / "examples.yaml"
OUTPUT = HERE / "dashboard-preview.png"

# Grafana's grid: 24 columns, 30 px rows, 8 px gutters
COLUMNS, ROW_PX, GUTTER_PX = 24, 30, 8
PAGE_WIDTH, PAGE_PAD, HEADER_PX = 1600, 8, 72
PALETTE = ("#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9",
           "#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17")  # fmt: skip
# What Grafana applies when a panel sets no thresholds: green, red from 80
DEFAULT_THRESHOLDS = ({"value": None, "color": "green"}, {"value": 80, "color": "red"})
COLORS = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A", "blue": "#5794F2",
          "text": "#ccccdc"}  # fmt: skip


# -- pure parts (tested) -------------------------------------------------------------------------
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
    """A value in a Grafana unit (``short s ops reqps percentunit bytes``)."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return {"percentunit": "0%", "s": "0 s", "bytes": "0 B"}.get(unit, "0")
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
        svg.append(
            f'<line class="grid" x1="{axis_w}" x2="{inner_w - 4}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
        )
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
        if path.count("M") == len(path.split("L")) and path:  # lone points: show them as dots
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
    if not series:
        return _panel(
            box, panel.get("title", ""), '<div class="stat"><span class="nodata">No data</span></div>'
        )
    cells = []
    for s in series:
        value = s.samples[-1][1]
        text = format_value(value, unit)
        size = min(
            (box.height - 36) * (0.45 if len(series) == 1 else 0.3), box.width / len(series) / len(text) * 1.5
        )
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


# -- I/O: the daemon, Prometheus, chromium -------------------------------------------------------
def free_port() -> int:
    # Prometheus needs a concrete listen port; the tiny race with another binder is acceptable
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(what: str, check: Callable[[], bool], timeout: float, alive: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if alive.poll() is not None:
            raise SystemExit(f"{what}: the process exited with {alive.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)  # polling another process, bounded by the deadline


def _stop(proc: subprocess.Popen[Any], timeout: float) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            return -9
    return proc.returncode


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    inbox: Path


@contextmanager
def open_daemon(work: Path) -> Iterator[Daemon]:
    """``kite-supervisor run --config deploy/examples.yaml`` on the embedded sandbox, HTTP on a
    free loopback port; SIGTERM on exit, which must end it with status 0."""
    prefixes = ("KITE_ALGO_", "SIGNAL_", "KITE_SUPERVISOR_")  # never a real backend or token
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    inbox = work / "inbox"
    inbox.mkdir()
    env |= {"KITE_SUPERVISOR_HTTP_PORT": "0", "SIGNAL_INBOX": str(inbox)}
    log = work / "daemon.log"
    command = [str(Path(sys.executable).parent / "kite-supervisor"), "run", "--config", str(CONFIG)]
    with log.open("wb") as sink:  # a file, not a pipe: nobody has to keep draining it
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=work)
    url: list[str] = []

    def announced() -> bool:
        match = re.search(r"HTTP on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        url.extend([match.group(1)] if match else [])
        return bool(match)

    try:
        _wait_for("daemon HTTP", announced, 60, proc)
        yield Daemon(proc, url[0], log, inbox)
    finally:
        code = _stop(proc, 60)
        if code != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise SystemExit(f"the daemon exited with {code} after SIGTERM:\n{tail}")
        print(f"daemon stopped (exit 0): {log.read_text().splitlines()[-1]}")


@contextmanager
def open_prometheus(work: Path, target: str) -> Iterator[str]:
    """A real Prometheus scraping ``target`` every second; yields its base URL."""
    port = free_port()
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: kite-supervisor\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    command = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    with (work / "prometheus.log").open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(base + "/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait_for("Prometheus ready", ready, 30, proc)
        yield base
    finally:
        _stop(proc, 20)


def exercise(daemon: Daemon, seconds: float, restart: str) -> None:
    """Let the fleet run; a few signals for the signal strategy and one operator restart."""
    started = time.monotonic()
    events = [(seconds * 0.3, "signal"), (seconds * 0.45, "restart"), (seconds * 0.6, "signal"),
              (seconds * 0.75, "signal")]  # fmt: skip
    count = 0
    while (elapsed := time.monotonic() - started) < seconds:
        if daemon.proc.poll() is not None:
            raise SystemExit(f"the daemon exited early ({daemon.proc.returncode}); see {daemon.log}")
        while events and events[0][0] <= elapsed:
            _, what = events.pop(0)
            if what == "restart" and restart:
                response = httpx.post(f"{daemon.url}/strategies/{restart}/restart", timeout=5)
                print(f"{elapsed:5.1f} s  POST /strategies/{restart}/restart -> {response.status_code}")
            elif what == "signal":
                count += 1
                body = {"signal_id": f"preview-{count}", "symbol": "INFY",
                        "side": "BUY" if count % 2 else "SELL", "quantity": 1}  # fmt: skip
                staged = daemon.inbox / f".preview-{count}.json"  # write, then rename: atomic
                staged.write_text(json.dumps(body))
                staged.rename(daemon.inbox / f"preview-{count}.json")
                print(f"{elapsed:5.1f} s  signal preview-{count} dropped into the inbox")
        time.sleep(0.5)


def first_scrape(base: str, start: float, end: float) -> float:
    """When Prometheus first scraped the daemon: the charts start there, not at its launch."""
    params: dict[str, str | float] = {
        "query": 'up{job="kite-supervisor"}',
        "start": start,
        "end": end,
        "step": 1,
    }
    response = httpx.get(f"{base}/api/v1/query_range", params=params, timeout=10)
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return float(result[0]["values"][0][0]) if result else start


def query_panels(base: str, dashboard: Mapping[str, Any], window: Window) -> dict[int, list[Series]]:
    """Every panel's targets against Prometheus: ranges for time series, instants otherwise."""
    builtins = {
        "__rate_interval": "15s",
        "__interval": f"{window.step:g}s",
        "__range": f"{window.end - window.start:.0f}s",
        "__range_s": f"{window.end - window.start:.0f}",
    }
    values = template_values(dashboard, builtins)
    results: dict[int, list[Series]] = {}
    with httpx.Client(base_url=base, timeout=10) as http:
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = substitute(target["expr"], values)
                if panel["type"] == "timeseries":
                    params: dict[str, str | float] = {
                        "query": expr,
                        "start": window.start,
                        "end": window.end,
                        "step": window.step,
                    }
                    response = http.get("/api/v1/query_range", params=params)
                else:
                    response = http.get("/api/v1/query", params={"query": expr, "time": window.end})
                response.raise_for_status()
                for item in response.json()["data"]["result"]:
                    raw = item["values"] if "values" in item else [item["value"]]
                    samples = [(float(t), float(v)) for t, v in raw]
                    name = legend(target.get("legendFormat", ""), item["metric"])
                    results.setdefault(panel["id"], []).append(Series(name, item["metric"], samples))
    for series in results.values():
        series.sort(key=lambda s: s.name)
    return results


def screenshot(page: Path, png: Path, height: int, work: Path) -> None:
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={work / 'chromium'}",
               f"--window-size={PAGE_WIDTH},{height}", f"--screenshot={png}", page.as_uri()]  # fmt: skip
    png.unlink(missing_ok=True)
    subprocess.run(command, check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not png.exists():
        raise SystemExit("chromium wrote no screenshot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=90, help="how long the fleet runs (default 90)")
    parser.add_argument("--restart", default="meanrev-infy-1m", help="strategy to restart once ('' for none)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the PNG (default: next to this script)")
    parser.add_argument("--html", type=Path, help="also keep the HTML page here (default: a tmp dir)")
    args = parser.parse_args(argv)
    dashboard = json.loads(DASHBOARD.read_text())
    with tempfile.TemporaryDirectory(prefix="kite-preview-") as tmp:
        work = Path(tmp)
        with open_daemon(work) as daemon, open_prometheus(work, daemon.url.removeprefix("http://")) as prom:
            print(f"daemon {daemon.url}, Prometheus {prom}; running for {args.seconds:g} s")
            start = time.time()
            exercise(daemon, args.seconds, args.restart)
            end = time.time()
            start = first_scrape(prom, start, end)
            window = Window(start, end, step=max(1.0, round((end - start) / 150)))
            results = query_panels(prom, dashboard, window)
        stamp = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d %H:%M UTC")
        caption = (
            f"Last {end - start:.0f} s ({stamp}) · drawn by deploy/grafana/render_preview.py from this "
            "dashboard's own queries against a real Prometheus scraping a real daemon "
            "(deploy/examples.yaml, embedded paper sandbox) · not rendered by Grafana"
        )
        page, height = render_page(dashboard, results, window, caption)
        html_path = args.html or work / "dashboard-preview.html"
        html_path.write_text(page)
        screenshot(html_path, args.output, height, work)
    empty = [p["title"] for p in dashboard["panels"] if p["type"] != "row" and p["id"] not in results]
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KiB, 1600x{height})")
    print(f"panels without data: {', '.join(empty) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
