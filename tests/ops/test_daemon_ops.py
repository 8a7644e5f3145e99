"""OPS hooks inside a real daemon: sd_notify READY/STOPPING over a real socket, and the
per-strategy event-loop busy time naming the strategy that hogs the loop."""

from __future__ import annotations

import os
import socket

import httpx
import pytest
import trio
import trio.testing

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._ops import ops_hooks
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._strategy import Strategy, StrategyContext
from tests.daemon.strategies import Idle, WorkClock

from .test_metrics import sample


class Hog(Strategy):
    """Computes 20 ms without awaiting, every second (a CPU-bound strategy), on the busy
    meter's work clock: exact at any load, where a spin loop's share of real CPU was not."""

    clock = WorkClock()
    steps = 0

    async def run(self, ctx: StrategyContext) -> None:
        while not ctx.stopping.is_set():
            Hog.clock.work(0.02)
            Hog.steps += 1
            with trio.move_on_after(1):
                await ctx.stopping.wait()


CONFIG = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 5
  shutdown_grace_s: 1
  release_timeout_s: 2
  http: {host: 127.0.0.1, port: 0}
strategies:
  - name: calm
    plugin: idle
    run: {strategy_run_id: run-calm, template_id: t, account_scope: "kite:paper-a"}
  - name: hog
    plugin: hog
    run: {strategy_run_id: run-hog, template_id: t, account_scope: "kite:paper-a"}
"""


async def test_daemon_notifies_systemd_and_names_the_loop_hog(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"kite-daemon-ops-{os.getpid()}"
    listener.bind(b"\0" + name.encode())
    listener.setblocking(False)
    hooks = ops_hooks(environ={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "10000000"})
    config, locator = parse_config(CONFIG, file="ops.yaml", environ={})
    resolved, skipped = resolve_strategies(
        config, locator, PluginRegistry.from_classes({"idle": Idle, "hog": Hog})
    )
    done = trio.Event()
    Hog.clock, Hog.steps = WorkClock(), 0

    async def run(*, task_status: trio.TaskStatus[DaemonHandle]) -> None:
        await run_daemon(
            config,
            resolved,
            skipped=skipped,
            handle_signals=False,
            busy_clock=Hog.clock,
            metrics_factory=hooks.metrics_factory,
            extra_services=hooks.services,
            task_status=task_status,
        )
        done.set()

    try:
        handle: DaemonHandle = await nursery.start(run)
        await trio.sleep(10)
        async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
            text = (await http.get("/metrics")).text
        hog = sample(text, "kite_supervisor_strategy_loop_busy_seconds_total", strategy="hog") or 0.0
        calm = sample(text, "kite_supervisor_strategy_loop_busy_seconds_total", strategy="calm") or 0.0
        # the hog is named, 20 ms a step (it may step again while the scrape is answered)
        steps = round(hog / 0.02)
        assert hog == pytest.approx(0.02 * steps) and 9 <= steps <= Hog.steps
        assert calm == 0.0
        handle.request_shutdown()
        with trio.fail_after(30):
            await done.wait()
        messages = []
        while True:
            try:
                messages.append(listener.recv(4096).decode())
            except BlockingIOError:
                break
    finally:
        listener.close()
    ready = [i for i, m in enumerate(messages) if m.startswith("READY=1")]
    stopping = [i for i, m in enumerate(messages) if m.startswith("STOPPING=1")]
    assert len(ready) == 1 and len(stopping) == 1 and ready[0] < stopping[0]
    assert messages[ready[0]] == "READY=1\nSTATUS=ready: 2 running"
    assert messages.count("WATCHDOG=1") >= 2  # every 5 s of the 10 s run
    assert not any("kwa_" in m for m in messages)
