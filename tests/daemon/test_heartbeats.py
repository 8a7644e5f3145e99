"""Heartbeats: exact, drift-free cadence, and isolation from every other strategy's trouble."""

from __future__ import annotations

import contextlib
import itertools
import random
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._strategy import Strategy, StrategyContext
from supervisor._supervisor import Supervisor
from supervisor.client import CANDLE_INTERVALS as INTERVALS
from supervisor.client import TransportError
from supervisor.sandbox import SandboxHandle

from .conftest import resolved, settings
from .strategies import CrashAfter, CrashAtOnce, Hang, Idle, WorkClock


async def test_cadence_is_exact_and_drift_free(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    sup = Supervisor([resolved("a", Idle)], client=client, settings=settings(heartbeat_interval_s=7))
    with trio.fail_after(30):
        await nursery.start(sup.serve)
    start = trio.current_time()
    await trio.sleep(7 * 20 + 1)
    runner = sup.runners["a"]
    beats = list(runner.heartbeats.recent)
    assert len(beats) == 16
    assert [b - a for a, b in itertools.pairwise(beats)] == [7.0] * 15
    # absolute schedule: beat n lands at acquisition time + n * 7, no accumulated drift
    assert runner.heartbeats.ok == 20
    assert beats[-1] - start < 7 * 20 + 0.5
    assert runner.heartbeats.missed == 0
    # the backend saw them: the run is healthy and its last heartbeat is recent
    doc = await client.get_run("run-a")
    assert doc["health_status"] == "healthy"
    assert doc["heartbeat_age_sec"] <= 1


async def test_slow_backend_beats_are_bounded_and_counted_missed(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    sup = Supervisor([resolved("a", Idle)], client=client, settings=settings(heartbeat_interval_s=5))
    await nursery.start(sup.serve)
    await trio.sleep(12)  # beats at +5, +10
    sandbox.faults.add(path="/worker/runs/*/heartbeat", method="POST", latency_s=30.0, times=2)
    await trio.sleep(30)
    runner = sup.runners["a"]
    assert runner.heartbeats.missed >= 2
    before = list(runner.heartbeats.recent)
    await trio.sleep(20)
    after = [t for t in runner.heartbeats.recent if t not in before]
    # back on the original grid: every beat time is (acquisition + k*5)
    grid0 = before[0]
    assert after and all(abs(((t - grid0) / 5) - round((t - grid0) / 5)) < 1e-9 for t in after)


async def test_crashing_hanging_and_looping_strategies_never_delay_another(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    strategies = [
        resolved("steady", Idle),
        resolved("crasher", CrashAtOnce),
        resolved("hanger", Hang),
        resolved("looper", CrashAfter),
    ]
    sup = Supervisor(
        strategies, client=client, settings=settings(heartbeat_interval_s=5), rng=random.Random(3)
    )
    await nursery.start(sup.serve)
    await trio.sleep(5 * 40 + 1)
    steady = sup.runners["steady"]
    beats = list(steady.heartbeats.recent)
    assert [round(b - a, 9) for a, b in itertools.pairwise(beats)] == [5.0] * (len(beats) - 1)
    assert steady.heartbeats.ok == 40 and steady.heartbeats.missed == 0
    assert steady.state == "running"
    # the hanging one is still heartbeated (it is running, as far as anyone can tell)
    assert sup.runners["hanger"].heartbeats.ok == 40
    assert sup.runners["hanger"].state == "running"
    # the crashers ended in quarantine: their heartbeats stopped
    assert sup.runners["crasher"].state == "quarantined"
    assert sup.runners["looper"].state == "quarantined"
    assert sup.runners["crasher"].heartbeats.ok < 3
    report = await sup.shutdown()
    assert report.exit_code == 0


class Hog(Idle):
    """Computes 50 ms without awaiting every virtual second, on the meter's work clock (a
    real spin loop timed by perf_counter made the test a CPU-time race on a loaded machine)."""

    clock = WorkClock()
    steps = 0

    async def run(self, ctx: StrategyContext) -> None:
        while True:
            Hog.clock.work(0.05)
            Hog.steps += 1
            await trio.sleep(1)


async def test_a_hogging_strategy_shows_in_loop_busy_seconds(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    Hog.clock, Hog.steps = WorkClock(), 0
    strategies = [resolved("hog", Hog), resolved("calm", Idle)]
    sup = Supervisor(strategies, client=client, settings=settings(), busy_clock=Hog.clock)
    await nursery.start(sup.serve)
    await trio.sleep(5)
    stats = {s.name: s.loop_busy_seconds for s in sup.statistics().strategies}
    assert Hog.steps >= 5
    assert stats["hog"] == pytest.approx(0.05 * Hog.steps)  # each step charged to its owner
    assert stats["calm"] == 0.0  # and nothing of it to a sibling


async def _start_beside_a_steady_strategy(
    nursery: trio.Nursery, name: str, cls: type[Strategy]
) -> DaemonHandle:
    """A real daemon (embedded sandbox) hosting ``cls`` as ``name`` and an idle ``steady``."""
    config, locator = parse_config(
        f"""
backend: {{base_url: embedded}}
supervisor:
  heartbeat_interval_s: 5
  http: {{host: 127.0.0.1, port: 0}}
strategies:
  - name: {name}
    plugin: {name}
    run: {{strategy_run_id: run-{name}, template_id: t, account_scope: "kite:paper-a"}}
  - name: steady
    plugin: idle
    run: {{strategy_run_id: run-s, template_id: t, account_scope: "kite:paper-a"}}
""",
        file=f"{name}.yaml",
        environ={},
    )
    registry = PluginRegistry.from_classes({name: cls, "idle": Idle})
    resolved_strategies, _ = resolve_strategies(config, locator, registry)
    handle: DaemonHandle = await nursery.start(
        partial(run_daemon, config, resolved_strategies, handle_signals=False)
    )
    return handle


SYMBOLS = ("INFY", "RELIANCE", "TCS", "HDFCBANK", "ICICIBANK", "SBIN")


class Watcher(Idle):
    """Holds 96 live candle streams (6 symbols, 2 spellings, 8 intervals) through the hub."""

    async def run(self, ctx: StrategyContext) -> None:
        async with contextlib.AsyncExitStack() as streams:
            for symbol in SYMBOLS:
                for spelling in (f"NSE:{symbol}", symbol):
                    for interval in INTERVALS:
                        await streams.enter_async_context(ctx.candles(spelling, interval))
            await ctx.stopping.wait()


async def test_a_strategy_holding_many_streams_never_starves_the_heartbeats(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    handle = await _start_beside_a_steady_strategy(nursery, "watcher", Watcher)
    await trio.sleep(61)
    hub = handle.supervisor.hub
    assert hub is not None
    assert sum(1 for t in hub.statistics().topics if t.connected) == 96  # more than any HTTP pool
    for name in ("steady", "watcher"):
        runner = handle.supervisor.runners[name]
        assert runner.state == "running"
        assert (runner.heartbeats.ok, runner.heartbeats.missed) == (12, 0), name
    handle.request_shutdown()


class Flood(Idle):
    """Keeps 100 slow requests in flight (more than the client's 64 connections)."""

    async def run(self, ctx: StrategyContext) -> None:
        async with trio.open_nursery() as requests:
            for _ in range(100):
                requests.start_soon(self._pnl_forever, ctx)
            await ctx.stopping.wait()
            requests.cancel_scope.cancel()

    @staticmethod
    async def _pnl_forever(ctx: StrategyContext) -> None:
        while True:
            with contextlib.suppress(TransportError):  # the client's 10 s timeout; ask again
                await ctx.run.get_run_pnl()


async def test_a_strategy_flooding_the_client_never_delays_the_heartbeats(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    handle = await _start_beside_a_steady_strategy(nursery, "flood", Flood)
    slow = handle.sandbox.faults.add(path="/worker/runs/*/pnl", method="GET", latency_s=30.0)
    await trio.sleep(61)
    assert slow.fired >= 100
    for name in ("steady", "flood"):
        runner = handle.supervisor.runners[name]
        assert runner.state == "running"
        assert (runner.heartbeats.ok, runner.heartbeats.missed) == (12, 0), name
    handle.request_shutdown()
