"""The composed daemon in-process: embedded sandbox, HTTP endpoints, graceful shutdown."""

from __future__ import annotations

import gc
import logging
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._plugins import PluginRegistry, resolve_strategies

from .strategies import CrashAtOnce, Hang, Idle, Uncancellable, WithParams

CONFIG = """
backend:
  base_url: embedded
supervisor:
  heartbeat_interval_s: 5
  shutdown_grace_s: 4
  release_timeout_s: 2
  http: {host: 127.0.0.1, port: 0}
  restart: {initial_backoff_s: 1, max_backoff_s: 4, max_restarts: 2, window_s: 60}
strategies:
"""
STRATEGY = """  - name: {name}
    plugin: {plugin}
    run: {{strategy_run_id: run-{name}, template_id: tmpl, account_scope: "kite:paper-a"}}
    params: {params}
"""
REGISTRY = PluginRegistry.from_classes({"idle": Idle, "crash": CrashAtOnce, "hang": Hang, "ema": WithParams})


def config_text(*strategies: tuple[str, str, str]) -> str:
    return CONFIG + "".join(STRATEGY.format(name=n, plugin=p, params=params) for n, p, params in strategies)


class Daemon:
    def __init__(self) -> None:
        self.exit_code: int | None = None
        self.done = trio.Event()

    async def run(self, text: str, state_dir: Path | None = None, *, task_status: Any) -> None:
        config, locator = parse_config(text, file="test.yaml", environ={})
        resolved, skipped = resolve_strategies(config, locator, REGISTRY)
        self.exit_code = await run_daemon(
            config,
            resolved,
            skipped=skipped,
            state_dir=str(state_dir) if state_dir else None,
            handle_signals=False,
            task_status=task_status,
        )
        self.done.set()


async def start(
    nursery: trio.Nursery, text: str, state_dir: Path | None = None
) -> tuple[Daemon, DaemonHandle]:
    daemon = Daemon()
    handle: DaemonHandle = await nursery.start(partial(daemon.run, text, state_dir))
    return daemon, handle


async def test_embedded_daemon_serves_http_and_shuts_down_cleanly(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    text = config_text(
        ("a", "idle", "{}"),
        ("b", "ema", "{symbol: NSE:INFY}"),
        ("bad", "ema", "{fast: 3}"),
        ("gone", "nosuch", "{}"),
    )
    daemon, handle = await start(nursery, text, tmp_path / "state")
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        await trio.sleep(1)
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        status = (await http.get("/status")).json()
        assert [(s["name"], s["state"]) for s in status["strategies"]] == [("a", "running"), ("b", "running")]
        assert status["skipped"][0]["name"] == "bad"
        assert "test.yaml:" in status["skipped"][0]["reason"]
        assert "strategies[2].params.symbol: Field required" in status["skipped"][0]["reason"]
        assert status["skipped"][1] == {
            "name": "gone",
            "plugin": "nosuch",
            "reason": "test.yaml:24: no such plugin 'nosuch'; known: crash, ema, hang, idle",
        }
        # no operator token configured: every operator action is refused, and says why
        refused = await http.post("/strategies/a/restart")
        assert refused.status_code == 403 and "operator_token" in refused.json()["detail"]
        assert (await http.get("/strategies/a/restart")).status_code == 405
        assert (await http.get("/nothing")).status_code == 404
    sandbox = handle.sandbox
    assert sandbox is not None
    assert {r.worker_session_nonce is not None for r in sandbox.state.runs.values()} == {True}
    await trio.sleep(30)
    handle.request_shutdown()
    with trio.fail_after(10):
        await daemon.done.wait()
    assert daemon.exit_code == 0
    # every session released; no order placed, no exit called, runs still open
    assert {r.worker_session_nonce for r in sandbox.state.runs.values()} == {None}
    assert {r.status for r in sandbox.state.runs.values()} == {"open"}
    assert sandbox.state.intents == {}
    assert sandbox.state.executions == 0
    assert all("exit_reason" not in r.runtime_state for r in sandbox.state.runs.values())
    # the embedded token is kept in the state dir, 0600
    assert oct((tmp_path / "state" / "embedded-sandbox-token").stat().st_mode & 0o777) == "0o600"


async def test_grace_then_cancel_and_second_request_skips_grace(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    daemon, handle = await start(nursery, config_text(("idle", "idle", "{}"), ("hang", "hang", "{}")))
    await trio.sleep(2)
    begun = trio.current_time()
    handle.request_shutdown()
    with trio.fail_after(20):
        await daemon.done.wait()
    assert 4 <= trio.current_time() - begun < 5  # the hanging strategy used the whole grace
    assert daemon.exit_code == 0

    daemon2, handle2 = await start(nursery, config_text(("hang", "hang", "{}")))
    await trio.sleep(2)
    begun = trio.current_time()
    handle2.request_shutdown()
    await trio.sleep(0.5)
    handle2.request_shutdown()  # a second signal: skip the rest of the grace
    with trio.fail_after(20):
        await daemon2.done.wait()
    assert trio.current_time() - begun < 1
    assert daemon2.exit_code == 0
    sandbox = handle2.sandbox
    assert sandbox.state.runs["run-hang"].worker_session_nonce is None


async def test_unreleased_session_gives_nonzero_exit_and_is_named(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    daemon, handle = await start(nursery, config_text(("a", "idle", "{}"), ("b", "idle", "{}")))
    await trio.sleep(2)
    handle.sandbox.faults.add(path="/worker/runs/run-b/claim-session", method="DELETE", latency_s=30)
    caplog.set_level(logging.ERROR, logger="supervisor.daemon")
    handle.request_shutdown()
    with trio.fail_after(60):
        await daemon.done.wait()
    assert daemon.exit_code == 1
    assert "session of strategy b was NOT released (timeout)" in caplog.text
    assert "strategy a " not in caplog.text


async def test_extra_services_see_readiness_and_are_cancelled_after_shutdown(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[str] = []

    async def notifier(supervisor: Any) -> None:
        try:
            await supervisor.wait_ready()
            events.append("READY")
            await trio.sleep_forever()
        finally:
            events.append(f"finally released={supervisor.statistics().strategies[0].session_releases}")

    config, locator = parse_config(config_text(("a", "idle", "{}")), file="t.yaml", environ={})
    resolved, _ = resolve_strategies(config, locator, REGISTRY)
    done = trio.Event()
    codes: list[int] = []

    async def run(task_status: Any) -> None:
        codes.append(
            await run_daemon(
                config, resolved, extra_services=[notifier], handle_signals=False, task_status=task_status
            )
        )
        done.set()

    handle: DaemonHandle = await nursery.start(run)
    await trio.sleep(1)
    assert events == ["READY"]
    handle.request_shutdown()
    with trio.fail_after(10):
        await done.wait()
    assert codes == [0]
    assert events == ["READY", "finally released={'ok': 1}"]


async def test_readyz_is_503_until_every_strategy_is_ready_and_during_shutdown(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    daemon, handle = await start(nursery, config_text(("a", "idle", "{}")))
    runner = handle.supervisor.runners["a"]
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        await trio.sleep(1)
        assert (await http.get("/readyz")).status_code == 200
        # a fresh supervisor view whose strategy is still starting is not ready
        runner.reached_ready, runner.state = False, "starting"
        assert (await http.get("/readyz")).json() == {
            "ready": False,
            "not_ready": [{"name": "a", "state": "starting", "reason": None}],
        }
        runner.reached_ready, runner.state = True, "running"
        handle.supervisor.shutting_down = True
        assert (await http.get("/readyz")).status_code == 503
        handle.supervisor.shutting_down = False
    handle.request_shutdown()
    with trio.fail_after(10):
        await daemon.done.wait()
    assert daemon.exit_code == 0


@pytest.mark.parametrize("freeze", [True, False])
async def test_start_up_objects_are_frozen_once_ready_and_unfrozen_on_exit(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, freeze: bool
) -> None:
    # the daemon's long-lived objects leave the collector's full scans (supervisor.gc_freeze)
    assert gc.get_freeze_count() == 0
    text = config_text(("a", "idle", "{}")).replace("supervisor:\n", f"supervisor:\n  gc_freeze: {freeze}\n")
    daemon, handle = await start(nursery, text)
    await handle.supervisor.wait_ready()
    await trio.sleep(1)
    assert (gc.get_freeze_count() > 0) is freeze
    handle.request_shutdown()
    with trio.fail_after(10):
        await daemon.done.wait()
    assert daemon.exit_code == 0
    assert gc.get_freeze_count() == 0


async def test_status_names_the_mode_and_the_stop_line_names_quarantined_and_stalled(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    text = config_text(("idle", "idle", "{}"), ("crash", "crash", "{}"), ("hang", "hang", "{}"))
    text = text.replace(
        "run: {strategy_run_id: run-hang,", "progress_deadline_s: 3\n    run: {strategy_run_id: run-hang,"
    ).replace('account_scope: "kite:paper-a"}', 'account_scope: "kite:paper-a", execution_mode: dry_run}', 1)
    daemon, handle = await start(nursery, text)
    await trio.sleep(20)  # the crashing one spends its budget (2 restarts), the hanging one stalls
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        status = (await http.get("/status")).json()
    assert [(s["name"], s["state"], s["mode"]) for s in status["strategies"]] == [
        ("idle", "running", "dry_run"),
        ("crash", "quarantined", "paper"),
        ("hang", "stalled", "paper"),
    ]
    caplog.set_level(logging.INFO, logger="supervisor.daemon")
    handle.request_shutdown()
    with trio.fail_after(30):
        await daemon.done.wait()
    assert daemon.exit_code == 0
    # the quarantined strategy released its session when it was quarantined
    assert "stopped: 2 sessions released; quarantined: crash; stalled: hang" in caplog.text


async def test_the_hard_deadline_line_also_names_the_quarantined(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    text = config_text(("crash", "crash", "{}"), ("stuck", "stuck", "{}"))
    config, locator = parse_config(text, file="test.yaml", environ={})
    registry = PluginRegistry.from_classes({"crash": CrashAtOnce, "stuck": Uncancellable})
    resolved, _ = resolve_strategies(config, locator, registry)
    exits: list[int] = []
    caplog.set_level(logging.INFO, logger="supervisor.daemon")
    with trio.fail_after(1200):
        async with trio.open_nursery() as nursery:

            def hard_exit(code: int) -> None:  # the CLI's ends the process; here, the test's nursery
                exits.append(code)
                nursery.cancel_scope.cancel()

            handle: DaemonHandle = await nursery.start(
                partial(run_daemon, config, resolved, handle_signals=False, hard_exit=hard_exit)
            )
            await trio.sleep(20)  # the crashing one spends its budget (2 restarts)
            assert {r.name: r.state for r in handle.supervisor.runners.values()}["crash"] == "quarantined"
            handle.request_shutdown()
            await trio.sleep_forever()  # until the hard deadline
    assert exits == [5]
    assert "shutdown deadline passed: strategies stuck could not be cancelled" in caplog.text
    assert "stopped: 1 sessions released; quarantined: crash" in caplog.text
