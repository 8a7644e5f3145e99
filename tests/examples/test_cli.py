"""The installed distribution as users meet it: `kite-supervisor plugins` and `check`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from supervisor import PluginRegistry, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "examples.yaml"
CLI = [sys.executable, "-m", "supervisor"]

EXPECTED_PARAMS = {
    "basic_equity": ["symbol", "quantity", "pnl_interval_s"],
    "managed_lifecycle": ["orders", "interval_s"],
    "mean_reversion": ["interval", "period", "entry_z", "exit_z", "warmup_candles"],
    "option_spread": ["underlying", "expiry", "short_offset", "long_offset", "lots"],
    "live_exit_preview": ["preview_interval_s", "exit_below_net_pnl"],
    "signal_driven": ["inbox", "http_port", "allowed_symbols", "max_quantity"],
}


def test_plugins_lists_all_six_with_their_parameters() -> None:
    done = subprocess.run([*CLI, "plugins"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    blocks = re.split(r"^(?=\S)", done.stdout, flags=re.MULTILINE)
    by_name = {b.split(" ", 1)[0]: b for b in blocks if b.strip()}
    for name, params in EXPECTED_PARAMS.items():
        assert name in by_name, done.stdout
        assert "(kite-algo-examples; kite_algo_examples." in by_name[name].splitlines()[0]
        rows = {line.split()[0]: line for line in by_name[name].splitlines()[3:] if line.strip()}
        for param in params:
            assert param in rows, (name, param)
    assert len(done.stdout.splitlines()) < 70  # a table, not pages of JSON schema
    schemas = subprocess.run(
        [*CLI, "plugins", "--json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert schemas.returncode == 0, schemas.stderr
    doc = json.loads(schemas.stdout)
    assert set(EXPECTED_PARAMS) <= set(doc)
    assert doc["mean_reversion"]["params_schema"]["properties"]["period"]["maximum"] == 500


def test_every_plugin_has_teaching_docs_and_strict_defaults() -> None:
    registry = PluginRegistry.from_entry_points()
    for name in EXPECTED_PARAMS:
        cls = registry.load(name)
        module = sys.modules[cls.__module__]
        assert module.__doc__ and len(module.__doc__) > 400, name  # the pattern is explained
        assert cls.Params.model_config.get("extra") == "forbid", name
        if name != "signal_driven":
            cls.Params()  # every parameter has a sensible default


def test_the_example_config_hosts_all_six_and_passes_check() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_ALGO_", "SIGNAL_"))}
    # check binds the HTTP port as run would: port 0, so a daemon on 9464 cannot fail this test
    env["KITE_SUPERVISOR_HTTP_PORT"] = "0"
    command = [*CLI, "check", "--config", str(CONFIG)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backend embedded sandbox" in done.stdout
    config, _ = load_config(CONFIG, environ=env)
    plugins = [s.plugin for s in config.strategies]
    assert set(plugins) == set(EXPECTED_PARAMS)
    assert max(plugins.count(p) for p in plugins) >= 2  # several instances of some
    assert {s.run.execution_mode for s in config.strategies} <= {"paper", "dry_run"}
    raw = yaml.safe_load(CONFIG.read_text())
    assert raw["backend"]["base_url"] == "${KITE_ALGO_API_BASE:-embedded}"
