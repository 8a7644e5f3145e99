"""Real signals: a real process and SIGTERM (every session released, no order, no exit, exit code
0), and a second SIGTERM that skips the grace period."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest
import trio
import trio.testing

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor.sandbox._store import SandboxStore

from .process import install_plugins, start_daemon_process, subprocess_env
from .strategies import Hang

CONFIG = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 1
  shutdown_grace_s: 1
  release_timeout_s: 2
  state_dir: STATE
  http: {host: 127.0.0.1, port: 0}
strategies:
  - {name: a, plugin: idle, run: {strategy_run_id: run-a, template_id: t, account_scope: "kite:paper-a"}}
  - {name: b, plugin: idle, run: {strategy_run_id: run-b, template_id: t, account_scope: "kite:paper-a"}}
  - {name: h, plugin: hang, run: {strategy_run_id: run-h, template_id: t, account_scope: "kite:paper-a"}}
"""


async def test_sigterm_releases_every_session_and_exits_zero(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "daemon.yaml"
    config.write_text(CONFIG.replace("STATE", str(state)))
    plugins = {name: f"tests.daemon.strategies:{cls}" for name, cls in (("idle", "Idle"), ("hang", "Hang"))}
    install_plugins(tmp_path / "site", plugins)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            daemon = await start_daemon_process(nursery, config, subprocess_env(tmp_path / "site"))
            await trio.sleep(1.5)  # a beat or two
            daemon.proc.send_signal(signal.SIGTERM)
            assert await daemon.wait_exit() == 0, daemon.text
    text = daemon.text
    assert "SIGTERM: graceful shutdown" in text
    assert "stopped: 3 sessions released" in text
    assert "kwa_" not in text.replace("kwa_***", "")  # the generated token never reaches the log
    db_state, _ = SandboxStore(state / "sandbox.sqlite3").load()
    runs = db_state.runs
    assert sorted(runs) == ["run-a", "run-b", "run-h"]
    assert {r.worker_session_nonce for r in runs.values()} == {None}
    assert {r.status for r in runs.values()} == {"open"}
    assert all(r.last_heartbeat_at is not None for r in runs.values())
    assert db_state.intents == {}


async def test_a_second_sigterm_skips_the_rest_of_the_grace(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon's own signal watcher, in this process: the first SIGTERM starts the grace
    period (a strategy ignoring ``stopping`` would use all 30 s of it), the second ends it."""
    config, locator = parse_config(
        """
backend: {base_url: embedded}
supervisor:
  shutdown_grace_s: 30
  http: {host: 127.0.0.1, port: 0}
strategies:
  - {name: h, plugin: hang, run: {strategy_run_id: run-h, template_id: t, account_scope: "kite:paper-a"}}
""",
        file="signals.yaml",
        environ={},
    )
    resolved, _ = resolve_strategies(config, locator, PluginRegistry.from_classes({"hang": Hang}))
    codes: list[int] = []
    done = trio.Event()

    async def daemon(task_status: trio.TaskStatus[DaemonHandle]) -> None:
        codes.append(await run_daemon(config, resolved, task_status=task_status))
        done.set()

    caplog.set_level(logging.WARNING, logger="supervisor.daemon")
    handle: DaemonHandle = await nursery.start(daemon)
    await trio.sleep(2)
    os.kill(os.getpid(), signal.SIGTERM)
    await trio.sleep(5)
    assert not done.is_set() and handle.supervisor.shutting_down  # in the grace period
    begun = trio.current_time()
    os.kill(os.getpid(), signal.SIGTERM)
    with trio.fail_after(10):
        await done.wait()
    assert trio.current_time() - begun < 1
    assert codes == [0]
    assert handle.sandbox.state.runs["run-h"].worker_session_nonce is None
    assert "SIGTERM: graceful shutdown" in caplog.text
    assert "SIGTERM: skipping the rest of the grace period" in caplog.text
