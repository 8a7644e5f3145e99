"""The hub over the §5.6 WebSockets (``transport="websocket"``) on the real sandbox, in virtual
time: the same records, resume markers, retries and failures as over SSE, with no SSE market
stream opened (timeline topics stay on SSE: §5.6 has no timeline socket)."""

from __future__ import annotations

from functools import partial

import pytest
import trio
import trio.testing

from supervisor._config import SupervisorConfig, parse_config
from supervisor._daemon import run_daemon
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._strategy import Strategy, StrategyContext
from supervisor.client import NotFoundError
from supervisor.client._backoff import Backoff
from supervisor.hub import Candle, Tick, open_stream_hub
from tests.hub.sandboxed import (
    TOKEN,
    CountingTransport,
    data_after_resume,
    next_data,
    open_sandbox_client,
    start_sandbox,
)

STEADY = partial(Backoff, initial=1.0, maximum=4.0, jitter=0.0)


async def test_ticks_and_candles_over_websockets(autojump_clock: trio.testing.MockClock) -> None:
    counted = CountingTransport()
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            sandbox = await start_sandbox(nursery)
            async with (
                open_sandbox_client(sandbox, counted) as client,
                open_stream_hub(client, transport="websocket") as hub,
                hub.ticks(["NSE:INFY", "NSE:TCS"], subscriber="a") as ticks,
                hub.ticks(["NSE:INFY"], subscriber="b") as infy,
                hub.candles("NSE:INFY", "minute", subscriber="c") as candles,
            ):
                symbols: set[str | None] = set()
                while symbols != {"INFY", "TCS"}:
                    tick, _ = await next_data(ticks, Tick)
                    assert (tick.last_price or 0) > 0
                    symbols.add(tick.tradingsymbol)
                assert (await next_data(infy, Tick))[0].tradingsymbol == "INFY"
                candle, _ = await next_data(candles, Candle)
                assert candle.interval == "minute" and (candle.close or 0) > 0
                stats = hub.statistics()
                assert stats.upstream_streams == 2  # one tick union (both subscribers), one candle topic
                assert {t.kind for t in stats.topics} == {"ticks", "candles"}
                assert all(t.connected for t in stats.topics)
            nursery.cancel_scope.cancel()
    assert counted.answers == []  # not one HTTP request: both topics streamed over WebSockets


async def test_a_dropped_socket_is_resumed_with_a_marker(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            sandbox = await start_sandbox(nursery)
            sandbox.faults.add(path="/worker/ws/market/ticks", stream="drop", after_chunks=3, times=1)
            sandbox.faults.add(path="/worker/ws/market/candles", stream="drop", after_chunks=2, times=1)
            async with (
                open_sandbox_client(sandbox, CountingTransport()) as client,
                open_stream_hub(client, transport="websocket", backoff=STEADY) as hub,
                hub.ticks(["NSE:INFY"], subscriber="a") as ticks,
                hub.candles("NSE:INFY", "minute", subscriber="b") as candles,
            ):
                tick, tick_marker = await data_after_resume(ticks, Tick)
                assert tick.tradingsymbol == "INFY" and (tick.last_price or 0) > 0
                assert tick_marker.kind == "ticks" and tick_marker.gap_s > 0
                candle, candle_marker = await data_after_resume(candles, Candle)
                assert candle.interval == "minute" and (candle.close or 0) > 0
                assert candle_marker.kind == "candles"
                stats = hub.statistics()
                assert stats.retries == {"ticks": 1, "candles": 1}  # each drop retried once
                assert all(t.reconnects == 1 and t.connected for t in stats.topics)
                assert stats.failures == {}
            nursery.cancel_scope.cancel()


async def test_a_restart_is_retried_until_the_sandbox_is_back(autojump_clock: trio.testing.MockClock) -> None:
    # the sockets close with 1012, then are refused with 1013 while the sandbox is down:
    # transient, so the hub retries with its backoff and resumes; nobody sees an error
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            sandbox = await start_sandbox(nursery)
            async with (
                open_sandbox_client(sandbox, CountingTransport()) as client,
                open_stream_hub(client, transport="websocket", backoff=STEADY) as hub,
                hub.ticks(["NSE:TCS"], subscriber="a") as ticks,
            ):
                await next_data(ticks, Tick)
                await sandbox.faults.restart(downtime_s=5)
                down = trio.current_time()
                tick, marker = await data_after_resume(ticks, Tick)
                assert trio.current_time() - down >= 5 and marker.gap_s >= 5
                assert tick.tradingsymbol == "TCS"
                assert hub.statistics().retries["ticks"] >= 2  # the drop, then refusals while down
            nursery.cancel_scope.cancel()


async def test_an_unknown_instrument_fails_only_its_subscribers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            sandbox = await start_sandbox(nursery)
            async with (
                open_sandbox_client(sandbox, CountingTransport()) as client,
                open_stream_hub(client, transport="websocket") as hub,
                hub.ticks(["NSE:INFY"], subscriber="good") as good,
            ):
                await next_data(good, Tick)
                with pytest.raises(NotFoundError):
                    async with hub.ticks(["NSE:NOPE"], subscriber="bad") as bad:
                        await bad.__anext__()
                assert (await next_data(good, Tick))[0].tradingsymbol == "INFY"
                assert hub.statistics().failures == {"ticks": 1}
            nursery.cancel_scope.cancel()


class ResumeWatcher(Strategy):
    """Reads ticks through the daemon's hub until it has seen one after a resume marker."""

    seen: list[str]
    done: trio.Event

    async def run(self, ctx: StrategyContext) -> None:
        async with ctx.ticks(["NSE:INFY"]) as ticks:
            async for item in ticks:
                ResumeWatcher.seen.append(type(item).__name__)
                if ResumeWatcher.seen[-2:] == ["StreamResumed", "Tick"]:
                    ResumeWatcher.done.set()
                    return


async def test_the_daemon_takes_the_transport_from_its_config(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ResumeWatcher.seen, ResumeWatcher.done = [], trio.Event()
    sandbox = await start_sandbox(nursery)
    # a fault on the socket route only: a resume marker proves the hub streamed over it
    sandbox.faults.add(path="/worker/ws/market/ticks", stream="drop", after_chunks=2, times=1)
    config, locator = parse_config(
        f"""
backend: {{base_url: "{sandbox.base_url}", token: "${{KITE_ALGO_WORKER_TOKEN}}"}}
supervisor:
  http: {{host: 127.0.0.1, port: 0}}
  hub: {{transport: websocket}}
strategies:
  - name: watcher
    plugin: watcher
    run: {{strategy_run_id: run-watcher, template_id: t, account_scope: "kite:paper-a"}}
""",
        file="ws.yaml",
        environ={"KITE_ALGO_WORKER_TOKEN": TOKEN},
    )
    registry = PluginRegistry.from_classes({"watcher": ResumeWatcher})
    strategies, _ = resolve_strategies(config, locator, registry)
    with trio.fail_after(120):
        await nursery.start(partial(run_daemon, config, strategies, handle_signals=False))
        await ResumeWatcher.done.wait()
    assert ResumeWatcher.seen[0] == "Tick" and ResumeWatcher.seen.count("StreamResumed") == 1


def test_the_transport_is_named_in_the_config() -> None:
    assert SupervisorConfig().supervisor.hub.transport == "sse"
    chosen = SupervisorConfig.model_validate({"supervisor": {"hub": {"transport": "websocket"}}})
    assert chosen.supervisor.hub.transport == "websocket"
    with pytest.raises(ValueError, match="transport"):
        SupervisorConfig.model_validate({"supervisor": {"hub": {"transport": "grpc"}}})
