"""``deploy/grafana/preview_page.py``, the page ``deploy/grafana/render_preview.py`` screenshots
(the dashboard drawn from a real Prometheus): variables, the grid, axes, units, SVG paths, the
page. No network, no processes; the script itself is run by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from preview_page import (
    Box,
    Series,
    Window,
    format_value,
    grid_box,
    legend,
    linear,
    nice_ticks,
    render_page,
    substitute,
    svg_path,
    template_values,
    threshold_color,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "deploy/grafana/dashboards/kite-supervisor.json").read_text())


def test_the_strategy_variable_takes_its_all_value_and_builtins_pass_through() -> None:
    values = template_values(DASHBOARD, {"__rate_interval": "15s"})
    assert values == {"strategy": ".*", "__rate_interval": "15s"}
    expr = 'rate(x{strategy=~"$strategy"}[$__rate_interval]) + y{s=~"${strategy:regex}"} + [[strategy]]'
    assert substitute(expr, values) == 'rate(x{strategy=~".*"}[15s]) + y{s=~".*"} + .*'
    assert substitute("up[$__range]", values) == "up[$__range]"  # unknown: left for Prometheus to refuse


def test_a_chosen_variable_value_is_used_and_a_multi_value_becomes_an_alternation() -> None:
    one = {"templating": {"list": [{"name": "s", "includeAll": True, "current": {"value": "calm"}}]}}
    many = {"templating": {"list": [{"name": "s", "current": {"value": ["a", "b"]}}]}}
    assert template_values(one, {}) == {"s": "calm"}
    assert template_values(many, {}) == {"s": "a|b"}


def test_every_dashboard_query_is_free_of_variables_once_substituted() -> None:
    values = template_values(DASHBOARD, {"__rate_interval": "15s", "__interval": "1s", "__range": "90s"})
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", []):
            assert "$" not in substitute(target["expr"], values), target["expr"]


def test_legend_format_fills_labels_and_an_empty_format_names_the_series() -> None:
    labels = {"__name__": "m", "strategy": "calm", "outcome": "ok"}
    assert legend("{{strategy}} {{ outcome }}", labels) == "calm ok"
    assert legend("claim {{strategy}} {{missing}}", labels) == "claim calm"
    assert legend("", labels) == 'm{outcome="ok", strategy="calm"}'


def test_grid_positions_follow_grafanas_24_column_grid() -> None:
    width = 24 * 60 + 23 * 8  # 60 px columns with 8 px gutters
    assert grid_box({"x": 0, "y": 0, "w": 24, "h": 1}, width) == Box(0, 0, width, 30)
    assert grid_box({"x": 12, "y": 5, "w": 12, "h": 8}, width) == Box(
        12 * 68, 5 * 38, 12 * 68 - 8, 8 * 38 - 8
    )
    halves = [grid_box({"x": x, "y": 0, "w": 12, "h": 8}, 1584) for x in (0, 12)]
    assert halves[0].left + halves[0].width + 8 == halves[1].left
    assert halves[1].left + halves[1].width == 1584


def test_no_two_dashboard_panels_overlap() -> None:
    boxes = [(p["title"], grid_box(p["gridPos"], 1584)) for p in DASHBOARD["panels"]]
    for i, (name, a) in enumerate(boxes):
        assert a.left >= 0 and a.left + a.width <= 1584, name
        for other, b in boxes[i + 1 :]:
            apart = (
                a.left + a.width <= b.left
                or b.left + b.width <= a.left
                or a.top + a.height <= b.top
                or b.top + b.height <= a.top
            )
            assert apart, (name, other)


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 10) == [0, 2.5, 5, 7.5, 10]
    assert nice_ticks(0, 0.0042) == [0, 0.002, 0.004, 0.006]
    assert nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1]  # a flat zero line still gets an axis
    ticks = nice_ticks(-3, 17, target=3)
    assert ticks[0] <= -3 and ticks[-1] >= 17 and len(ticks) <= 4


def test_values_are_formatted_in_grafana_units() -> None:
    assert format_value(0.0123, "s") == "12.3 ms"
    assert format_value(0.00005, "s") == "50 µs"
    assert format_value(-1361.13, "currencyINR") == "-₹1.36 K"
    assert format_value(0.0, "currencyINR") == "₹0"
    assert format_value(42, "s") == "42 s"
    assert format_value(95, "s") == "1.58 min"
    assert format_value(0.125, "percentunit") == "12.5%"
    assert format_value(150 * 1024 * 1024, "bytes") == "150 MiB"
    assert format_value(20_000, "short") == "20 K"
    assert format_value(0.5, "ops") == "0.5 ops/s"
    assert format_value(3, "reqps") == "3 req/s"
    assert format_value(0, "s") == "0 s"
    assert format_value(math.nan, "short") == "nan"


def test_svg_path_breaks_at_gaps_and_at_nan() -> None:
    x = linear((0, 10), (0, 100))
    y = linear((0, 1), (50, 0))
    samples = [(0.0, 0.0), (1.0, 1.0), (2.0, math.nan), (3.0, 0.5), (4.0, 0.5), (9.0, 1.0)]
    assert svg_path(samples, x, y, max_gap=1.5) == "M0.0,50.0L10.0,0.0M30.0,25.0L40.0,25.0M90.0,0.0"
    assert svg_path([], x, y, max_gap=1.5) == ""


def test_thresholds_pick_the_last_step_reached_and_the_first_is_the_base() -> None:
    steps: list[dict[str, Any]] = [{"value": None, "color": "red"}, {"value": 1, "color": "green"}]
    assert threshold_color(0, steps) == "#F2495C"
    assert threshold_color(1, steps) == "#73BF69"
    assert threshold_color(5, [{"value": None, "color": "#123456"}]) == "#123456"


def test_the_page_draws_every_panel_title_and_each_series_legend() -> None:
    window = Window(1000.0, 1090.0, 1.0)
    stat = Series("up", {}, [(1090.0, 1.0)])
    line = Series("calm ok", {"strategy": "calm"}, [(1000.0 + t, t / 10) for t in range(91)])
    by_id = {p["title"]: p["id"] for p in DASHBOARD["panels"]}
    results = {by_id["Daemons up"]: [stat], by_id["Heartbeats by outcome"]: [line]}
    page, height = render_page(DASHBOARD, results, window, "caption")
    for panel in DASHBOARD["panels"]:
        assert f">{panel['title']}<" in page.replace("&amp;", "&")
    assert "calm ok" in page and "No data" in page and '<path d="M' in page
    assert not any(ref in page for ref in ("http", "src=", "href=", "url(", "<script"))  # offline, no JS
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in DASHBOARD["panels"])
    assert height > bottom * 38
