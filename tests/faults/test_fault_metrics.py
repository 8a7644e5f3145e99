"""Issue 11: what the daemon retried and what failed for good is counted, by class, in /metrics.

The faults are rules of the real sandbox's testing API (``POST /__sandbox__/faults``, over
loopback HTTP like any client would send them); the counters are read from the daemon's own
``/metrics``. Virtual time.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._metrics import metrics_handler_for
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._strategy import Strategy, StrategyContext
from supervisor.client import NotFoundError
from supervisor.hub import Candle, Tick
from tests.hub.sandboxed import TOKEN, start_sandbox

NAMES = {"reader": "reader", "late": "idle", "denied": "idle", "refused": "idle", "unknown": "unknown"}
CONFIG = """
backend: {base_url: "SANDBOX", token: "${KITE_ALGO_WORKER_TOKEN}"}
supervisor:
  heartbeat_interval_s: 5
  http: {host: 127.0.0.1, port: 0}
strategies:
""" + "".join(
    f"  - {{name: {name}, plugin: {plugin}, run: {{strategy_run_id: run-{name}, template_id: t, "
    'account_scope: "kite:paper-a"}}\n'
    for name, plugin in NAMES.items()
)


class Reader(Strategy):
    """Reads ticks and minute candles through the daemon's hub; counts what it got."""

    got: list[type] = []

    async def run(self, ctx: StrategyContext) -> None:
        async with ctx.ticks(["NSE:INFY"]) as ticks, ctx.candles("NSE:INFY", "minute") as candles:

            async def read(sub: Any) -> None:
                async for item in sub:
                    if isinstance(item, Tick | Candle):
                        Reader.got.append(type(item))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read, ticks)
                nursery.start_soon(read, candles)


class Idle(Strategy):
    async def run(self, ctx: StrategyContext) -> None:
        await ctx.stopping.wait()


class Unknown(Strategy):
    """Subscribes to an instrument the backend does not know: told once, then waits."""

    told: list[BaseException] = []

    async def run(self, ctx: StrategyContext) -> None:
        try:
            async with ctx.ticks(["NSE:NOPE"]) as ticks:
                async for _ in ticks:
                    pass
        except NotFoundError as exc:
            Unknown.told.append(exc)
        await ctx.stopping.wait()


def samples(text: str, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(sorted(s.labels.values())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_retries_and_permanent_failures_are_counted_by_class_in_metrics(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    Reader.got, Unknown.told = [], []
    sandbox = await start_sandbox(nursery)
    testing = httpx.AsyncClient(
        base_url=sandbox.base_url + "/__sandbox__", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )

    async def fault(**rule: Any) -> dict[str, Any]:
        response = await testing.post("/faults", json=rule)
        assert response.status_code == 200, response.text
        return dict(response.json())

    # before the daemon starts: obtaining three of the sessions fails, each in its own class
    await fault(path="/worker/runs/run-late", method="GET", status=503, times=2)
    await fault(path="/worker/runs/run-denied", method="GET", status=403, times=1)
    await fault(path="/worker/runs/run-refused", method="GET", status=400, times=1)
    config, locator = parse_config(
        CONFIG.replace("SANDBOX", sandbox.base_url), file="m.yaml", environ={"KITE_ALGO_WORKER_TOKEN": TOKEN}
    )
    plugins = PluginRegistry.from_classes({"reader": Reader, "idle": Idle, "unknown": Unknown})
    strategies, _ = resolve_strategies(config, locator, plugins)
    with trio.fail_after(600):
        handle: DaemonHandle = await nursery.start(
            partial(run_daemon, config, strategies, handle_signals=False, metrics_factory=metrics_handler_for)
        )
        runners = handle.supervisor.runners
        await trio.sleep(10)  # 503 retried within 4 s; 403 after the first 1 s of its long cycle
        assert Candle in Reader.got and runners["denied"].state == runners["late"].state == "running"
        assert runners["refused"].state == "failed"  # a 4xx about the run: not retried
        # three beats of one run refused with 503, then every tick and candle stream twice
        await fault(path="/worker/runs/run-reader/heartbeat", method="POST", status=503, times=3)
        streams = await fault(path="/worker/market/*/stream", status=503, times=2 * 2)
        assert (await testing.post("/restart", json={"downtime_s": 0})).status_code == 200  # drop them
        await trio.sleep(16)  # three beats, and the backoff of four stream attempts
        assert (await testing.get("/faults")).json()["faults"][-1]["fired"] == streams["times"]
        Reader.got.clear()
        await trio.sleep(61)
        assert Tick in Reader.got and Candle in Reader.got  # streaming again
        async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
            text = (await http.get("/metrics")).text
        handle.request_shutdown()
    await testing.aclose()

    acquire = samples(text, "kite_supervisor_session_acquire_errors_total")
    assert acquire == {
        ("late", "transient"): 2,
        ("denied", "denied"): 1,
        ("refused", "request"): 1,
    }, acquire
    beats = samples(text, "kite_supervisor_run_heartbeat_errors_total")
    assert beats == {("reader", "transient"): 3}, beats
    retries = samples(text, "kite_supervisor_feed_retries_total")
    # each stream: the drop by the restart, then two 503s
    assert retries == {("candles",): 3, ("ticks",): 3}, retries
    assert samples(text, "kite_supervisor_feed_failures_total") == {("ticks",): 1}
    assert len(Unknown.told) == 1
    assert TOKEN not in text
