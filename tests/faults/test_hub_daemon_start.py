"""The whole daemon started while its backend is down (a real sandbox answering 503), then a
backend restart while it runs: sessions, heartbeats and the hub's streams recover on their own.

Virtual time; the daemon talks to the sandbox over loopback like to any remote backend.
"""

from __future__ import annotations

from functools import partial

import trio
import trio.testing

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._runner import ACQUIRE_RETRY_MAX_S
from supervisor._strategy import Strategy, StrategyContext
from supervisor.hub import Tick
from tests.hub.sandboxed import TOKEN, start_sandbox

TICKS_BACK_WITHIN_S = 6.0  # the hub's longest backoff (5 s) and one market step
HEARTBEAT_INTERVAL_S = 5
# a 503 while obtaining the session is retried at most ACQUIRE_RETRY_MAX_S (4 s) apart; the
# heartbeat task's first beat follows the claim by one interval (the claim's own beat is not
# counted in heartbeats.ok); one second for the claim and the strategy's first market step
FIRST_BEAT_WITHIN_S = ACQUIRE_RETRY_MAX_S + HEARTBEAT_INTERVAL_S + 1


class TickReader(Strategy):
    """Records the virtual time of every tick it reads through the daemon's hub."""

    arrivals: list[float]

    async def run(self, ctx: StrategyContext) -> None:
        async with ctx.ticks(["NSE:INFY"]) as ticks:
            async for item in ticks:
                if isinstance(item, Tick):
                    TickReader.arrivals.append(trio.current_time())


async def test_a_daemon_started_during_an_outage_recovers_sessions_heartbeats_and_streams(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    TickReader.arrivals = []
    sandbox = await start_sandbox(nursery)
    await sandbox.faults.restart(downtime_s=40)
    up_at = trio.current_time() + 40
    config, locator = parse_config(
        f"""
backend: {{base_url: "{sandbox.base_url}", token: "${{KITE_ALGO_WORKER_TOKEN}}"}}
supervisor:
  heartbeat_interval_s: {HEARTBEAT_INTERVAL_S}
  http: {{host: 127.0.0.1, port: 0}}
strategies:
  - name: reader
    plugin: reader
    run: {{strategy_run_id: run-reader, template_id: t, account_scope: "kite:paper-a"}}
""",
        file="outage.yaml",
        environ={"KITE_ALGO_WORKER_TOKEN": TOKEN},
    )
    strategies, _ = resolve_strategies(config, locator, PluginRegistry.from_classes({"reader": TickReader}))
    with trio.fail_after(600):
        handle: DaemonHandle = await nursery.start(
            partial(run_daemon, config, strategies, handle_signals=False)
        )
        runner = handle.supervisor.runners["reader"]
        await trio.sleep_until(up_at - 0.01)
        assert runner.heartbeats.ok == 0 and not TickReader.arrivals
        assert runner.state != "quarantined"  # an outage is not the strategy's fault

        await trio.sleep_until(up_at + FIRST_BEAT_WITHIN_S)
        assert runner.state == "running"
        assert runner.heartbeats.ok >= 1
        # the strategy starts at the claim: its first tick within a market step or two of it
        assert TickReader.arrivals and TickReader.arrivals[0] <= up_at + ACQUIRE_RETRY_MAX_S + 2

        # a backend restart under a running daemon: the hub's stream is back within a step or so
        await sandbox.faults.restart(downtime_s=15)
        up_again = trio.current_time() + 15
        await trio.sleep_until(up_again + TICKS_BACK_WITHIN_S)
        after = [t for t in TickReader.arrivals if t >= up_again]
        assert after and after[0] <= up_again + TICKS_BACK_WITHIN_S
        assert not [t for t in TickReader.arrivals if up_again - 14.5 < t < up_again]  # was down
        beats_before = runner.heartbeats.ok
        await trio.sleep(11)
        assert runner.heartbeats.ok >= beats_before + 2 and runner.state == "running"
        assert runner.restarts == 0  # the strategy never saw the outage as an error
        assert handle.supervisor.hub is not None
        assert handle.supervisor.hub.statistics().retries["ticks"] >= 3
        handle.supervisor.request_shutdown()
