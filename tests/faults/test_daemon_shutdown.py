"""Issue 11, failure 2: SIGTERM with a strategy stuck in ``trio.to_thread.run_sync``.

Trio cannot cancel a thread, so the strategy's task never ends and neither would the process.
The daemon must release every session anyway, then exit by its hard deadline
(``stop_deadline_s``) with exit code 5, naming the stuck strategy; and that deadline must sit
inside the stop timeouts the shipped systemd unit and Kubernetes manifests give it."""

from __future__ import annotations

import configparser
import signal
from pathlib import Path

import httpx
import trio
import yaml

from supervisor._config import SupervisorSection, load_config, parse_config
from supervisor.sandbox._store import SandboxStore
from tests.daemon.process import ROOT, install_plugins, start_daemon_process, subprocess_env

from .daemon_support import plugins

STOP_MARGIN_S = 10.0  # between the daemon's hard exit and the supervisor's SIGKILL

CONFIG = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 1
  shutdown_grace_s: 1
  release_timeout_s: 1
  state_dir: STATE
  http: {host: 127.0.0.1, port: 0}
strategies:
  - {name: calm, plugin: idle, run: {strategy_run_id: run-a, template_id: t, account_scope: "kite:paper-a"}}
  - name: stuck
    plugin: stuck
    run: {strategy_run_id: run-stuck, template_id: t, account_scope: "kite:paper-a"}
"""


async def test_sigterm_exits_by_the_deadline_naming_a_strategy_stuck_in_a_thread(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "daemon.yaml"
    config.write_text(CONFIG.replace("STATE", str(state)))
    install_plugins(tmp_path / "site", plugins(idle="Idle", stuck="StuckInThread"))
    deadline = 1 + 2 * 1 + 5  # grace + (cancel wait + release) x release_timeout_s + unwind
    with trio.fail_after(30 + deadline):
        async with trio.open_nursery() as nursery:
            daemon = await start_daemon_process(
                nursery, config, subprocess_env(tmp_path / "site"), ready_polls=200
            )
            async with httpx.AsyncClient(base_url=daemon.url, timeout=5) as http:
                status = (await http.get("/status")).json()
            assert {s["name"]: s["state"] for s in status["strategies"]} == {
                "calm": "running",
                "stuck": "running",
            }
            daemon.proc.send_signal(signal.SIGTERM)
            sent = trio.current_time()
            with trio.move_on_after(deadline + 5):  # the hard exit, plus process teardown
                code = await daemon.wait_exit()
            took = trio.current_time() - sent
            proc = daemon.proc
            assert proc.returncode is not None, f"still alive {took:.1f}s after SIGTERM:\n{daemon.text}"
    text = daemon.text
    assert code == 5, text  # EXIT_STUCK
    assert took < deadline + 5, text
    assert "shutdown deadline passed: strategies stuck could not be cancelled" in text
    assert "stopped: 2 sessions released" in text  # the last lines were flushed before the exit
    assert "kwa_" not in text.replace("kwa_***", "")
    db_state, _ = SandboxStore(state / "sandbox.sqlite3").load()
    assert {r.worker_session_nonce for r in db_state.runs.values()} == {None}  # both released
    assert {r.status for r in db_state.runs.values()} == {"open"}  # never exited by the daemon
    assert db_state.intents == {}


def _systemd_stop_timeout() -> float:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ROOT / "deploy" / "systemd" / "kite-supervisor.service").read_text())
    return float(parser["Service"]["TimeoutStopSec"].removesuffix("s"))


def test_the_shipped_stop_timeouts_leave_room_for_the_hard_deadline() -> None:
    """Each stop timeout (after which systemd/the kubelet/docker send SIGKILL) exceeds the
    daemon's hard deadline for the config it ships with, by ``STOP_MARGIN_S``."""
    from supervisor._daemon import EXIT_CODES, EXIT_STUCK, UNWIND_S, stop_deadline_s

    assert EXIT_STUCK == 5 and UNWIND_S == 5 and "cancelled" in EXIT_CODES[EXIT_STUCK]
    env = {"KITE_ALGO_API_BASE": "https://kite-algo.example.com", "KITE_ALGO_WORKER_TOKEN": "kwa_" + "x" * 43}
    # systemd: the unit ships no config; the defaults and deploy/examples.yaml
    for settings in (
        SupervisorSection(),
        load_config(ROOT / "deploy" / "examples.yaml", environ=env)[0].supervisor,
    ):
        assert stop_deadline_s(settings) == 25.0
        assert _systemd_stop_timeout() >= stop_deadline_s(settings) + STOP_MARGIN_S
    # Kubernetes: the StatefulSet's grace period against the ConfigMap's config
    k8s = ROOT / "deploy" / "k8s"
    pod = yaml.safe_load((k8s / "statefulset.yaml").read_text())["spec"]["template"]["spec"]
    configmap = yaml.safe_load((k8s / "configmap.yaml").read_text())
    k8s_settings = parse_config(configmap["data"]["config.yaml"], environ=env)[0].supervisor
    assert pod["terminationGracePeriodSeconds"] >= stop_deadline_s(k8s_settings) + STOP_MARGIN_S
    # docker compose: stop_grace_period against deploy/compose/supervisor.yaml
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["supervisor"]
    compose_settings = load_config(ROOT / "deploy" / "compose" / "supervisor.yaml", environ=env)[0].supervisor
    assert float(str(compose["stop_grace_period"]).removesuffix("s")) >= (
        stop_deadline_s(compose_settings) + STOP_MARGIN_S
    )
    # and the arithmetic the README and the files' comments state
    assert "shutdown_grace_s + 2 x release_timeout_s + 5" in (ROOT / "deploy" / "README.md").read_text()
