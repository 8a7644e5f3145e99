"""Plugins: entry points, broken plugins reported and skipped, params validated with positions,
and the ``check``/``plugins`` commands."""

from __future__ import annotations

import argparse
import io
import json
import textwrap
from pathlib import Path

import pytest

from supervisor._commands import cmd_check, cmd_plugins
from supervisor._config import parse_config
from supervisor._plugins import ENTRY_POINT_GROUP, PluginError, PluginRegistry, resolve_strategies

from .strategies import Idle, WithParams

CONFIG = """\
strategies:
  - name: good
    plugin: ema
    run: {strategy_run_id: r1, template_id: t, account_scope: "kite:paper-a"}
    params:
      symbol: NSE:INFY
      fast: 5
  - name: badparams
    plugin: ema
    run: {strategy_run_id: r2, template_id: t, account_scope: "kite:paper-a"}
    params:
      symbol: NSE:INFY
      fast: quick
      colour: red
  - name: broken
    plugin: explodes
    run: {strategy_run_id: r3, template_id: t, account_scope: "kite:paper-a"}
  - name: missing
    plugin: nosuch
    run: {strategy_run_id: r4, template_id: t, account_scope: "kite:paper-a"}
"""


def explode() -> type:
    raise ImportError("No module named 'talib_missing'")


class NotAStrategy:
    def run(self, ctx: object) -> None:  # not async
        pass


REGISTRY = PluginRegistry.from_classes(
    {"ema": WithParams, "idle": Idle, "explodes": explode, "sync": NotAStrategy}
)


def test_bad_plugins_are_reported_and_skipped_the_others_resolve() -> None:
    config, locator = parse_config(CONFIG, file="s.yaml", environ={})
    resolved, skipped = resolve_strategies(config, locator, REGISTRY)
    assert [r.name for r in resolved] == ["good"]
    assert resolved[0].params.fast == 5  # type: ignore[attr-defined]
    reasons = {s.name: s.reason for s in skipped}
    assert reasons["badparams"] == (
        "s.yaml:13: strategies[1].params.fast: Input should be a valid integer, unable to parse string as an "
        "integer; s.yaml:14: strategies[1].params.colour: unknown field (not allowed here)"
    )
    assert reasons["broken"] == "s.yaml:16: failed to import: ImportError: No module named 'talib_missing'"
    assert reasons["missing"] == "s.yaml:19: no such plugin 'nosuch'; known: ema, explodes, idle, sync"
    with pytest.raises(PluginError, match="has no `async def run"):
        REGISTRY.load("sync")


def test_a_mistyped_plugin_name_suggests_the_closest(tmp_path: Path) -> None:
    registry = PluginRegistry.from_classes({"basic_equity": Idle, "mean_reversion": Idle, "ema": WithParams})
    with pytest.raises(PluginError) as caught:
        registry.load("basic_equty")
    assert caught.value.reason == (
        "no such plugin 'basic_equty' (did you mean 'basic_equity'?); "
        "known: basic_equity, ema, mean_reversion"
    )
    path = tmp_path / "typo.yaml"
    good_part = CONFIG[: CONFIG.index("  - name: badparams")]
    path.write_text(good_part.replace("plugin: ema", "plugin: mean_revresion"))
    out = io.StringIO()
    assert cmd_check(argparse.Namespace(config=str(path)), registry=registry, environ={}, out=out) == 2
    assert f"{path}:3: no such plugin 'mean_revresion' (did you mean 'mean_reversion'?)" in out.getvalue()
    with pytest.raises(PluginError, match=r"no such plugin 'zzz'; known: basic_equity, ema, mean_reversion$"):
        registry.load("zzz")  # nothing close: no guess, the full list


def test_check_command_messages(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(CONFIG)
    out = io.StringIO()
    assert cmd_check(argparse.Namespace(config=str(path)), registry=REGISTRY, environ={}, out=out) == 2
    text = out.getvalue()
    assert f"{path}:13: strategies[1].params.fast" in text
    assert "strategy 'broken' (plugin 'explodes') skipped" in text
    good = tmp_path / "g.yaml"
    good.write_text(CONFIG[: CONFIG.index("  - name: badparams")])
    out = io.StringIO()
    assert cmd_check(argparse.Namespace(config=str(good)), registry=REGISTRY, environ={}, out=out) == 0
    assert "ok: " in out.getvalue() and "good: plugin ema, run r1 (paper)" in out.getvalue()
    bad = tmp_path / "b.yaml"
    bad.write_text("supervisor:\n  heartbeat_interval_s: 60\n")
    out = io.StringIO()
    assert cmd_check(argparse.Namespace(config=str(bad)), registry=REGISTRY, environ={}, out=out) == 2
    assert f"{bad}:2: supervisor.heartbeat_interval_s: Input should be less than 45" in out.getvalue()


def test_plugins_command_prints_a_table_and_json_schemas() -> None:
    out = io.StringIO()
    registry = PluginRegistry.from_classes({"ema": WithParams, "explodes": explode, "idle": Idle})
    assert cmd_plugins(argparse.Namespace(), registry=registry, out=out) == 2
    assert out.getvalue().splitlines() == [
        "ema  (not installed from a distribution; tests.daemon.strategies:WithParams)",
        "  PARAMETER  TYPE  DEFAULT   CONSTRAINTS / DESCRIPTION",
        "  symbol     str   required",
        "  fast       int   9",
        "  slow       int   21",
        "",
        "explodes  (not installed from a distribution; tests.daemon.test_plugins:explode)",
        "  BROKEN: failed to import: ImportError: No module named 'talib_missing'",
        "",
        "idle  (not installed from a distribution; tests.daemon.strategies:Idle)",
        "  Reports progress every second until asked to stop.",
        "  no parameters",
    ]
    out = io.StringIO()
    assert cmd_plugins(argparse.Namespace(json=True), registry=registry, out=out) == 2
    doc = json.loads(out.getvalue())
    assert doc["ema"]["params_schema"]["required"] == ["symbol"]
    assert doc["explodes"]["error"].startswith("failed to import")


def test_parameter_types_read_as_written() -> None:
    from typing import Annotated, Literal

    from pydantic import BaseModel, Field

    from supervisor._plugin_table import PluginRow, format_plugins_table, type_name

    assert type_name(int | None) == "int | None"
    assert type_name(Literal["minute", "day"]) == "'minute' | 'day'"
    assert type_name(list[str]) == "list[str]"
    assert type_name(dict[str, Annotated[int, "x"]]) == "dict[str, int]"

    class P(BaseModel):
        size: int = Field(default=2, gt=0, le=10, description="lots")
        tags: list[str] = Field(default_factory=list)

    table = format_plugins_table([PluginRow("p", "m:P", "dist", "Does p.", P)])
    assert "  size       int        2        > 0, <= 10; lots" in table
    assert "  tags       list[str]  []" in table


def test_real_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution found on sys.path (as an installed one would be) registers a plugin."""
    (tmp_path / "demo_plugin_pkg.py").write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel, ConfigDict
            from supervisor import Strategy

            class DemoParams(BaseModel):
                model_config = ConfigDict(extra="forbid")
                size: int = 1

            class Demo(Strategy):
                '''A demo strategy.'''
                Params = DemoParams

                async def run(self, ctx):
                    await ctx.stopping.wait()
            """
        )
    )
    dist = tmp_path / "demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ndemo = demo_plugin_pkg:Demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = PluginRegistry.from_entry_points()
    assert "demo" in registry.names()
    assert registry.info("demo").distribution == "demo-plugin"
    cls = registry.load("demo")
    assert cls.Params.model_validate({"size": 3}).size == 3  # type: ignore[attr-defined]
    out = io.StringIO()
    cmd_plugins(argparse.Namespace(), registry=registry, out=out)
    assert "demo  (demo-plugin; demo_plugin_pkg:Demo)" in out.getvalue()
    assert "A demo strategy." in out.getvalue()


def test_run_command_reports_a_taken_port_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from supervisor._commands import cmd_run

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "p.yaml"
        path.write_text(f"supervisor:\n  http: {{host: 127.0.0.1, port: {port}}}\n")
        assert cmd_run(argparse.Namespace(config=str(path), state_dir=None), registry=REGISTRY) == 3
    err = capsys.readouterr().err
    # found by the preflight, before anything starts, at the field's line
    assert f"p.yaml:2: supervisor.http.port: cannot serve on 127.0.0.1:{port}: Address already in use" in err
    assert "Traceback" not in err
