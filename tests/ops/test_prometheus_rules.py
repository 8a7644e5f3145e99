"""The alert rules and the Prometheus config pass promtool, and use only catalogued metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .catalogue import exposed_names, referenced_names

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], cwd=PROM, capture_output=True, text=True, timeout=60, check=False
    )


def test_check_rules() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())["groups"][0]["rules"]
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_rule_unit_tests() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_check_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_or_named_and_uses_catalogued_metrics() -> None:
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"]}
    names = {r["alert"] for r in rules}
    required = {
        "KiteRunHeartbeatAgeNearHealthyLimit",
        "KiteRunHeartbeatAgeNearTakeover",
        "KiteStrategyCrashLoop",
        "KiteStrategyQuarantined",
        "KiteFeedStale",
        "KiteFanoutDrops",
        "KiteEventLoopLagHigh",
        "KiteSessionsNotReleased",
        "KiteStrategyStalled",
        "KiteSessionNotDurable",
    }
    assert required <= names and required <= tested
    known = exposed_names()
    for rule in rules:
        unknown = referenced_names(rule["expr"]) - known
        assert not unknown, f"{rule['alert']} uses metrics the catalogue does not define: {unknown}"
