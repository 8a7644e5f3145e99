"""The systemd unit: ``systemd-analyze verify`` is clean and the directives the daemon relies on
are there (Type=notify with a watchdog, stop budget sized to release every session)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor._config import SupervisorSection

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "kite-supervisor.service"
INSTALLED = "/opt/kite-supervisor/venv/bin/kite-supervisor"


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def seconds(value: str) -> float:
    return float(value.removesuffix("s"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this checkout's console script
    exe = Path(sys.executable).parent / "kite-supervisor"
    assert exe.exists()
    copy = tmp_path / "kite-supervisor.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED, str(exe)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_unit_directives() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["Restart"] == "on-failure"
    assert 1 <= seconds(service["RestartSec"]) <= 30
    assert service["EnvironmentFile"] == "/etc/kite-supervisor/env"
    assert "KITE_ALGO_WORKER_TOKEN" not in service.get("Environment", "")  # the token only via the file
    assert INSTALLED in service["ExecStart"] and " run --config " in service["ExecStart"]
    # the watchdog must trip before the backend calls a run unhealthy (45 s, contract §7.5)
    assert 10 <= seconds(service["WatchdogSec"]) < 45
    # stop budget: grace + release (defaults) with margin, so every session is released
    defaults = SupervisorSection()
    assert seconds(service["TimeoutStopSec"]) >= defaults.shutdown_grace_s + defaults.release_timeout_s + 10
    for hardening in (
        "NoNewPrivileges",
        "ProtectSystem",
        "PrivateTmp",
        "ProtectHome",
        "RestrictAddressFamilies",
    ):
        assert hardening in service
    assert service["ProtectSystem"] == "strict" and service["StateDirectory"] == "kite-supervisor"
    # prometheus_client's process collector reads /proc/stat (boot time) and /proc/self/stat:
    # ProcSubset=pid hides the first, and the Process row of the dashboard would stay empty
    assert service.get("ProcSubset", "all") == "all"
