"""``kite-supervisor new-strategy``: the package it writes installs as a plugin, passes its own
sandbox test and ``mypy --strict`` as generated, and nothing is ever overwritten.

Nothing is pip-installed: the package is imported through ``sys.path`` and its test runs in a
``pytest`` subprocess started in the package's directory, as its author would run it.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor import ENTRY_POINT_GROUP, PluginRegistry, Strategy
from supervisor._cli import main
from supervisor._commands import cmd_plugins
from supervisor._scaffold import cmd_new_strategy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    assert main(["new-strategy", "orb_breakout", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "orb_breakout"
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == "orb_breakout" or m.startswith("orb_breakout.")]:
        del sys.modules[name]


def test_the_package_registers_a_strategy_with_typed_params(package: Path) -> None:
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "README.md",
        "orb_breakout/__init__.py",
        "orb_breakout/py.typed",
        "orb_breakout/strategy.py",
        "pyproject.toml",
        "tests/__init__.py",
        "tests/test_strategy.py",
    ]
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["name"] == "orb-breakout"
    target = project["entry-points"][ENTRY_POINT_GROUP]["orb_breakout"]
    assert target == "orb_breakout.strategy:OrbBreakout"
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    assert issubclass(cls, Strategy)
    assert cls.Params.model_validate({}).interval == "minute"
    with pytest.raises(ValueError, match="interval"):
        cls.Params.model_validate({"interval": "1min"})  # refused at `check`, not at run time
    out = io.StringIO()
    registry = PluginRegistry.from_classes({"orb_breakout": cls})
    assert cmd_plugins(argparse.Namespace(), registry=registry, out=out) == 0
    rows = {line.split()[0]: line.split() for line in out.getvalue().splitlines()[3:]}
    assert rows["quantity"] == ["quantity", "int", "1", ">", "0;", "shares", "per", "order"]
    assert rows["interval"][1:4] == ["'minute'", "|", "'3minute'"]  # the CandleInterval choices


def test_its_generated_test_passes_against_the_sandbox(package: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(package)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_it_passes_mypy_strict_as_generated(package: Path) -> None:
    # MYPYPATH: this checkout's `supervisor` is installed editable, a hook mypy cannot follow
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),  # no files named: its pyproject's, as `mypy` in its README
        ],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 4 source files" in done.stdout


def test_bad_names_and_existing_targets_are_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    invalid = "error: invalid strategy name {!r}: use a lower-case Python identifier, e.g. {}"
    for name, message in (
        ("taken", f"error: {tmp_path / 'taken'} exists; choose another name or --dir"),
        ("My-Strategy", invalid.format("My-Strategy", "my_strategy")),
        ("mean-rev 5m", invalid.format("mean-rev 5m", "mean_rev_5m")),  # the name meant, suggested
        ("supervisor", invalid.format("supervisor", "my_strategy")),
    ):
        out = io.StringIO()
        assert cmd_new_strategy(argparse.Namespace(name=name, dir=str(tmp_path)), out=out) == 2
        assert out.getvalue() == message + "\n", out.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert list((tmp_path / "taken").iterdir()) == []
