"""Restart policy, quarantine, operator restart, session loss, standby, crash recovery."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import trio
import trio.testing

from supervisor._statedir import StateDir
from supervisor._supervisor import Supervisor
from supervisor.sandbox import SandboxHandle

from .conftest import make_client, resolved, settings
from .strategies import CrashAtOnce, Finishes, Idle


async def test_quarantine_releases_with_a_decision_event_and_operator_restarts_it(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    sup = Supervisor([resolved("c", CrashAtOnce)], client=client, settings=settings(), rng=random.Random(1))
    await nursery.start(sup.serve)
    await trio.sleep(60)
    runner = sup.runners["c"]
    assert runner.state == "quarantined"
    assert runner.restarts == 4  # 3 restarts allowed, the 4th crash quarantines
    assert runner.quarantines == 1
    assert "after 4 crashes within 60s" in (runner.reason or "")
    run = sandbox.state.runs["run-c"]
    assert run.worker_session_nonce is None  # released
    assert run.status == "open"  # never exited by the daemon
    events = sandbox.state.timeline.by_run["run-c"]
    assert [e["event_type"] for e in events] == ["decision.note"]
    assert "quarantined by the supervisor" in events[0]["summary"]
    beats = runner.heartbeats.ok
    await trio.sleep(60)
    assert runner.heartbeats.ok == beats  # heartbeats stopped
    # operator restart, without restarting the daemon: claims again and runs again
    assert sup.restart("c") == "restarting"
    await trio.sleep(0.5)
    assert runner.sessions.claims["ok"] == 2
    await trio.sleep(60)
    assert runner.state == "quarantined" and runner.quarantines == 2


async def test_a_finished_strategy_releases_its_session(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    sup = Supervisor([resolved("f", Finishes)], client=client, settings=settings())
    await nursery.start(sup.serve)
    await trio.sleep(10)
    assert sup.runners["f"].state == "stopped"
    assert sandbox.state.runs["run-f"].worker_session_nonce is None


async def test_session_lost_on_409_stops_the_strategy_and_does_not_fight(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    cancelled = trio.Event()

    class Watch(Idle):
        async def run(self, ctx):  # type: ignore[no-untyped-def]
            try:
                await super().run(ctx)
            finally:
                cancelled.set()

    sup = Supervisor([resolved("w", Watch)], client=client, settings=settings(), rng=random.Random(1))
    await nursery.start(sup.serve)
    await trio.sleep(6)
    # our beats fail for a while, the session lapses, another worker takes it over
    sandbox.faults.add(path="/worker/runs/*/heartbeat", method="POST", status=503, times=13)
    await trio.sleep(66)
    other = make_client(sandbox.base_url, sandbox.token)
    claim = await other.claim_session("run-w")
    await other.run_heartbeat("run-w", session_nonce=claim["worker_session_nonce"])
    with trio.fail_after(10):
        await cancelled.wait()
    runner = sup.runners["w"]
    assert runner.state == "session_lost"
    assert runner.heartbeats.conflict == 1
    await trio.sleep(120)
    # still the other worker's, and we did not try to claim it back
    assert sandbox.state.runs["run-w"].worker_session_nonce == claim["worker_session_nonce"]
    assert runner.sessions.claims == {"ok": 1}
    await other.aclose()


async def test_standby_takes_over_once_the_holder_lapses(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    other = make_client(sandbox.base_url, sandbox.token)
    await other.create_run(
        strategy_run_id="run-s", template_id="tmpl", account_scope="kite:paper-a", execution_mode="paper"
    )
    nonce = (await other.claim_session("run-s"))["worker_session_nonce"]
    await other.run_heartbeat("run-s", session_nonce=nonce)
    sup = Supervisor([resolved("s", Idle)], client=client, settings=settings(standby_poll_s=5))
    await nursery.start(sup.serve)
    runner = sup.runners["s"]
    await trio.sleep(1)
    assert runner.state == "standby"
    assert sup.ready()  # standby counts as ready
    # the holder keeps beating for a while: we stay standby
    for _ in range(6):
        await trio.sleep(10)
        await other.run_heartbeat("run-s", session_nonce=nonce)
    assert runner.state == "standby"
    assert runner.sessions.claims.get("ok", 0) == 0
    lapse_start = trio.current_time()
    await trio.sleep(75)  # the holder is gone; takeover after 60 s without heartbeat
    assert runner.state == "running"
    assert runner.recovered is True
    assert sandbox.state.runs["run-s"].worker_session_nonce == runner.nonce != nonce
    assert runner.heartbeats.last_ok is not None and runner.heartbeats.last_ok - lapse_start < 75
    await other.aclose()


async def test_reattach_after_a_daemon_crash_without_a_second_claim(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: Any,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
) -> None:
    state_dir = StateDir(tmp_path / "state")
    strategies = [resolved(f"s{i}", Idle) for i in range(5)]
    with trio.CancelScope() as crashed:
        first = Supervisor(strategies, client=client, settings=settings(), state_dir=state_dir)
        async with trio.open_nursery() as inner:
            await inner.start(first.serve)
            await trio.sleep(20)
            nonces = {name: r.nonce for name, r in first.runners.items()}
            crashed.cancel()  # a crash: no shutdown, no release
    assert all(sandbox.state.runs[f"run-{n}"].worker_session_nonce == nonces[n] for n in nonces)
    assert oct((tmp_path / "state" / "runs" / "s0.json").stat().st_mode & 0o777) == "0o600"
    files = {n: (tmp_path / "state" / "runs" / f"{n}.json").stat().st_ino for n in nonces}
    await trio.sleep(5)
    second = Supervisor(
        strategies, client=client, settings=settings(), state_dir=StateDir(tmp_path / "state")
    )
    restarted = trio.current_time()
    await nursery.start(second.serve)
    await trio.sleep(0.1)
    for name, runner in second.runners.items():
        assert runner.state == "running"
        assert runner.recovered is True
        assert runner.nonce == nonces[name]  # the same session, re-attached
        assert runner.sessions.claims == {}  # no claim at all
        doc = sandbox.state.runs[runner.run_id]
        assert doc.last_heartbeat_at is not None
    assert trio.current_time() - restarted < 1
    # the nonces on disk were already right: nothing rewritten (each write replaces the file)
    assert {n: (tmp_path / "state" / "runs" / f"{n}.json").stat().st_ino for n in nonces} == files
    report = await second.shutdown()
    assert report.outcomes == {f"s{i}": "ok" for i in range(5)}
    assert all(state_dir.load(f"s{i}").session_nonce is None for i in range(5))  # type: ignore[union-attr]


async def test_after_a_graceful_stop_the_next_daemon_claims_the_released_run(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: Any,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
) -> None:
    state_dir = StateDir(tmp_path / "state")
    first = Supervisor([resolved("a", Idle)], client=client, settings=settings(), state_dir=state_dir)
    async with trio.open_nursery() as inner:
        await inner.start(first.serve)
        await trio.sleep(10)
        old_nonce = first.runners["a"].nonce
        assert (await first.shutdown()).outcomes == {"a": "ok"}
    persisted = state_dir.load("a")
    assert persisted is not None and persisted.session_nonce is None
    assert "wsn_" not in repr(persisted)
    second = Supervisor([resolved("a", Idle)], client=client, settings=settings(), state_dir=state_dir)
    await nursery.start(second.serve)
    await trio.sleep(0.1)
    runner = second.runners["a"]
    assert runner.state == "running" and runner.recovered is True
    assert runner.sessions.claims == {"ok": 1}
    assert runner.nonce is not None and runner.nonce != old_nonce
    assert state_dir.load("a") == type(persisted)("run-a", runner.nonce)


async def test_a_paper_run_left_alone_180s_is_flattened_and_closed_by_the_backend_and_then_reported(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: Any,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
) -> None:
    """What the README promises about stopping the daemon for longer than ~3 minutes (§7.3)."""
    state_dir = StateDir(tmp_path / "state")
    first = Supervisor([resolved("p", Idle)], client=client, settings=settings(), state_dir=state_dir)
    async with trio.open_nursery() as inner:
        await inner.start(first.serve)
        await trio.sleep(10)
        await first.shutdown()
    run = sandbox.state.runs["run-p"]
    assert run.status == "open" and run.worker_session_nonce is None
    await trio.sleep(150)
    assert run.status == "open"  # still within the window: a restart now would claim it back
    await trio.sleep(60)  # > 180 s since the last heartbeat, plus one 30 s recovery pass
    assert run.status == "closed"
    assert run.runtime_state["runtime_recovery"]["reason"] == "paper_stale_exit_closed"
    second = Supervisor([resolved("p", Idle)], client=client, settings=settings(), state_dir=state_dir)
    await nursery.start(second.serve)
    await trio.sleep(1)
    runner = second.runners["p"]
    assert runner.state == "failed"
    assert runner.reason == "run run-p is closed; it is not replaced (use a new strategy_run_id)"
    assert run.worker_session_nonce is None


async def test_two_daemons_same_config_one_drives_the_other_takes_over_when_it_dies(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: Any,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
) -> None:
    """Invariant 8: the backend's session claim decides who drives a run."""
    names = ["x", "y"]
    with trio.CancelScope() as machine_a:
        a = Supervisor([resolved(n, Idle) for n in names], client=client, settings=settings())
        async with trio.open_nursery() as inner:
            await inner.start(a.serve)
            await trio.sleep(1)
            b = Supervisor([resolved(n, Idle) for n in names], client=client, settings=settings())
            await nursery.start(b.serve)
            await trio.sleep(120)
            assert {r.state for r in a.runners.values()} == {"running"}
            assert {r.state for r in b.runners.values()} == {"standby"}
            assert all(r.sessions.claims.get("ok", 0) == 0 for r in b.runners.values())
            died = trio.current_time()
            machine_a.cancel()  # machine A dies: no release
    await trio.sleep(80)
    for name in names:
        runner = b.runners[name]
        assert runner.state == "running" and runner.recovered is True
        assert sandbox.state.runs[f"run-{name}"].worker_session_nonce == runner.nonce
        assert runner.heartbeats.recent[0] - died < 80
