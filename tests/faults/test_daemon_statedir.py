"""Issue 11, failure 3: a state directory that cannot keep the session nonce.

A strategy must not trade on a nonce that a restarted daemon could not find again: the nonce is
fsynced (file and directory) before the body starts; when that fails the session is released,
the strategy does not trade, and its state, ``/readyz``, ``/status`` and the metrics say why.
After a restart that finds no nonce for a run the backend shows as claimed, the wait for the
takeover window is visible (``standby`` with the seconds left) and ends in a claim."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from supervisor._config import SupervisorSection, parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._metrics import SupervisorMetrics, metrics_handler_for
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._statedir import StateDir
from supervisor._supervisor import Supervisor
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient, RunConfig
from supervisor.sandbox import SandboxHandle, serve_sandbox

from .daemon_support import BuysAtOnce, FullStateDir, Idle, strategy

TOKEN = "kwa_" + "f" * 43
TAKEOVER_WAIT = "kite_supervisor_strategy_takeover_wait_seconds"

CONFIG = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 5
  http: {host: 127.0.0.1, port: 0}
strategies:
  - {name: b, plugin: buys, run: {strategy_run_id: run-b, template_id: t, account_scope: "kite:paper-a"}}
"""


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


@pytest.mark.parametrize("refusal", ["ENOSPC", "EISDIR"])
async def test_a_nonce_that_cannot_be_made_durable_is_released_and_never_traded_on(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    refusal: str,
) -> None:
    """ENOSPC: a full disk, through the writer seam. EISDIR: a real refusal with no seam at all
    (the nonce file's path is taken by a directory), so the real ``StateDir`` writes."""
    caplog.set_level(logging.INFO)
    BuysAtOnce.starts = 0
    config, locator = parse_config(CONFIG, file="full.yaml", environ={})
    resolved, _ = resolve_strategies(config, locator, PluginRegistry.from_classes({"buys": BuysAtOnce}))
    full = FullStateDir(tmp_path / "state")  # ENOSPC on every durable write while full
    blocker = tmp_path / "state" / "runs" / "b.json"
    if refusal == "EISDIR":
        full.full = False
        blocker.mkdir()
    store: StateDir | str = full if refusal == "ENOSPC" else str(tmp_path / "state")
    error = {"ENOSPC": "[Errno 28] No space left on device", "EISDIR": "[Errno 21] Is a directory"}[refusal]
    codes: list[int] = []
    done = trio.Event()

    async def daemon(task_status: trio.TaskStatus[DaemonHandle]) -> None:
        codes.append(
            await run_daemon(
                config,
                resolved,
                state_dir=store,
                metrics_factory=metrics_handler_for,
                handle_signals=False,
                task_status=task_status,
            )
        )
        done.set()

    handle: DaemonHandle = await nursery.start(daemon)
    runner = handle.supervisor.runners["b"]
    backend = handle.sandbox.state
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        await trio.sleep(0.5)
        assert full.refused >= 1 or refusal == "EISDIR"
        assert runner.state == "not_durable"
        assert error in (runner.reason or "")
        assert BuysAtOnce.starts == 0  # the body never started ...
        assert backend.intents == {}  # ... so no order reached the sandbox
        assert backend.runs["run-b"].worker_session_nonce is None  # the claimed session was released
        assert runner.sessions.releases["ok"] >= 1
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert [(r["name"], r["state"]) for r in ready.json()["not_ready"]] == [("b", "not_durable")]
        status = (await http.get("/status")).json()
        assert status["strategies"][0]["state"] == "not_durable"
        assert error in status["strategies"][0]["reason"]
        metrics = (await http.get("/metrics")).text
        assert sample(metrics, "kite_supervisor_strategy_state", strategy="b", state="not_durable") == 1
        assert sample(metrics, "kite_supervisor_ready") == 0
        # the disk has space again: the next attempt claims, persists durably, then trades
        full.full = False
        if refusal == "EISDIR":
            blocker.rmdir()
        await trio.sleep(35)  # past the acquire backoff's ceiling (30 s)
        assert runner.state == "running"
        assert BuysAtOnce.starts == 1
        assert len(backend.intents) == 1
        nonce = backend.runs["run-b"].worker_session_nonce
        assert nonce is not None and runner.nonce == nonce
        persisted = StateDir(tmp_path / "state").load("b")
        assert persisted is not None and persisted.session_nonce == nonce
        assert (await http.get("/readyz")).status_code == 200
    handle.request_shutdown()
    with trio.fail_after(30):
        await done.wait()
    assert codes == [0]
    assert f"cannot persist the session nonce: {error}" in caplog.text
    assert "kwa_" not in caplog.text.replace("kwa_***", "")


@pytest.fixture
async def sandbox(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> SandboxHandle:
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN))
    return handle


@pytest.fixture
async def client(sandbox: SandboxHandle) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    async with AsyncKiteAlgoWorkerClient(AlgoWorkerConfig(base_url=sandbox.base_url, token=TOKEN)) as worker:
        yield worker


async def test_a_restart_without_the_nonce_shows_the_takeover_wait_and_ends_in_a_claim(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
) -> None:
    # the killed daemon's session: claimed and heartbeated, its nonce never reached the disk
    run = RunConfig(
        strategy_run_id="run-s", template_id="tmpl", account_scope="kite:paper-a", execution_mode="paper"
    )
    await client.ensure_run(run)
    old = (await client.claim_session("run-s"))["worker_session_nonce"]
    await client.run_heartbeat("run-s", session_nonce=old)
    last_beat = trio.current_time()
    await trio.sleep(5)
    settings = SupervisorSection(heartbeat_interval_s=5, standby_poll_s=30)
    sup = Supervisor([strategy("s", Idle)], client=client, settings=settings, state_dir=StateDir(tmp_path))
    metrics = SupervisorMetrics(sup, process_collector=False)
    await nursery.start(sup.serve)
    runner = sup.runners["s"]
    await trio.sleep(1)
    assert runner.state == "standby"
    wait = sup.status()["strategies"][0]["takeover_wait_s"]
    # the backend allows a takeover 60 s after the last heartbeat (floored to whole seconds: +1)
    assert wait == pytest.approx(last_beat + 61 - trio.current_time(), abs=0.01)
    assert "takeover possible in 56s" in (runner.reason or "")
    gauge = metrics.registry.get_sample_value(
        "kite_supervisor_strategy_takeover_wait_seconds", {"strategy": "s"}
    )
    assert gauge == pytest.approx(wait, abs=0.01)
    assert sup.ready()  # standby counts as ready
    await trio.sleep(20)
    assert sup.status()["strategies"][0]["takeover_wait_s"] == pytest.approx(wait - 20, abs=0.01)
    # the wait ends in a claim as the window opens, not at the next 30 s poll
    await trio.sleep_until(last_beat + 61.5)
    assert runner.state == "running"
    assert runner.sessions.claims["ok"] == 1
    assert sandbox.state.runs["run-s"].worker_session_nonce == runner.nonce != old
    persisted = StateDir(tmp_path).load("s")
    assert persisted is not None and persisted.session_nonce == runner.nonce
    assert sup.status()["strategies"][0]["takeover_wait_s"] is None
    assert (
        metrics.registry.get_sample_value("kite_supervisor_strategy_takeover_wait_seconds", {"strategy": "s"})
        is None
    )
    report = await sup.shutdown()
    assert report.outcomes == {"s": "ok"}


async def test_a_crash_while_the_disk_is_full_leaves_nothing_to_wait_for_after_a_restart(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: AsyncKiteAlgoWorkerClient,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
) -> None:
    """The field failure: nonces not persisted, SIGKILL, restart with space again, and every
    strategy sat in standby for the takeover window. Now the unpersisted session was released,
    so the restarted daemon claims at once."""
    BuysAtOnce.starts = 0
    strategies = [strategy(f"s{i}", BuysAtOnce) for i in range(2)]
    settings = SupervisorSection(heartbeat_interval_s=5)
    with trio.CancelScope() as killed:
        first = Supervisor(strategies, client=client, settings=settings, state_dir=FullStateDir(tmp_path))
        async with trio.open_nursery() as inner:
            await inner.start(first.serve)
            await trio.sleep(10)
            assert {r.state for r in first.runners.values()} == {"not_durable"}
            killed.cancel()  # SIGKILL: no shutdown, no release beyond what was done already
    assert BuysAtOnce.starts == 0 and sandbox.state.intents == {}
    assert {sandbox.state.runs[f"run-s{i}"].worker_session_nonce for i in range(2)} == {None}
    second = Supervisor(strategies, client=client, settings=settings, state_dir=StateDir(tmp_path))
    restarted = trio.current_time()
    await nursery.start(second.serve)
    await trio.sleep(1)
    assert {r.state for r in second.runners.values()} == {"running"}  # no standby, no 60 s wait
    assert all(r.sessions.claims == {"ok": 1} for r in second.runners.values())
    assert trio.current_time() - restarted < 2
    assert BuysAtOnce.starts == 2 and len(sandbox.state.intents) == 2
    report = await second.shutdown()
    assert set(report.outcomes.values()) == {"ok"}
