"""Many strategies firing orders at the same bar close, against Kite's per-user order limits
(issue 11, "not exercised yet"). Every strategy of the daemon shares one order-rate budget
(10 requests a second by default), served round-robin: a strategy's burst cannot push the
others' single orders past their wait, and what cannot go in time is a clear
``OrderRateLimitedError``, never a silent drop nor a duplicate.

A real daemon and the real sandbox over loopback, on virtual time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from functools import partial
from typing import ClassVar

import httpx
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._metrics import metrics_handler_for
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._strategy import Strategy, StrategyContext
from supervisor.client import OrderRateLimitedError, equity_market_order
from supervisor.hub import Candle
from tests.hub.sandboxed import TOKEN, start_sandbox

SINGLES = 40
BURST = 30
MAX_WAIT_S = 4.5
CONFIG = f"""
backend: {{base_url: "SANDBOX", token: "${{KITE_ALGO_WORKER_TOKEN}}"}}
supervisor:
  heartbeat_interval_s: 5
  http: {{host: 127.0.0.1, port: 0}}
  order_rate: {{max_wait_s: {MAX_WAIT_S}}}
strategies:
""" + "".join(
    f"  - {{name: {name}, plugin: {plugin}, run: {{strategy_run_id: run-{name}, template_id: t, "
    'account_scope: "kite:paper-a"}}\n'
    for name, plugin in [(f"s{i:02d}", "single") for i in range(SINGLES)] + [("burst", "burst")]
)


class AtBarClose(Strategy):
    """Waits for the first bar close (the in-progress minute candle moves to a new bucket,
    on the same market step for every strategy), then places ``orders`` orders at once."""

    orders = 1
    placed: ClassVar[Counter[str]] = Counter()
    refused: ClassVar[Counter[str]] = Counter()
    done: ClassVar[list[str]] = []
    all_done: ClassVar[trio.Event]

    async def run(self, ctx: StrategyContext) -> None:
        bucket: str | None = None
        async with ctx.candles("NSE:INFY", "minute") as candles:
            async for candle in candles:
                if not isinstance(candle, Candle) or candle.is_complete:
                    continue
                if bucket is not None and candle.ts != bucket:
                    break
                bucket = candle.ts

        async def one(i: int) -> None:
            try:
                await ctx.run.place_order(
                    equity_market_order("INFY", "BUY", 1), idempotency_key=ctx.key("bar", bucket, i)
                )
            except OrderRateLimitedError:
                AtBarClose.refused[ctx.name] += 1
            else:
                AtBarClose.placed[ctx.name] += 1

        async with trio.open_nursery() as nursery:
            for i in range(self.orders):
                nursery.start_soon(one, i)
        AtBarClose.done.append(ctx.name)
        if len(AtBarClose.done) == SINGLES + 1:
            AtBarClose.all_done.set()
        await ctx.stopping.wait()


class Burst(AtBarClose):
    orders = BURST


async def test_a_bar_close_burst_is_shared_fairly_within_the_per_user_limit(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    AtBarClose.placed, AtBarClose.refused, AtBarClose.done = Counter(), Counter(), []
    AtBarClose.all_done = trio.Event()
    sandbox = await start_sandbox(nursery)
    config, locator = parse_config(
        CONFIG.replace("SANDBOX", sandbox.base_url),
        file="bar.yaml",
        environ={"KITE_ALGO_WORKER_TOKEN": TOKEN},
    )
    registry = PluginRegistry.from_classes({"single": AtBarClose, "burst": Burst})
    strategies, _ = resolve_strategies(config, locator, registry)
    with trio.fail_after(600):
        handle: DaemonHandle = await nursery.start(
            partial(run_daemon, config, strategies, handle_signals=False, metrics_factory=metrics_handler_for)
        )
        await AtBarClose.all_done.wait()
        async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
            text = (await http.get("/metrics")).text
        handle.request_shutdown()

    # every single order went out: the burst took its turn, not every slot
    assert {name: AtBarClose.placed[name] for name in AtBarClose.done if name != "burst"} == {
        f"s{i:02d}": 1 for i in range(SINGLES)
    }
    burst_placed, burst_refused = AtBarClose.placed["burst"], AtBarClose.refused["burst"]
    assert burst_placed + burst_refused == BURST and burst_placed >= 1 and burst_refused >= 1
    assert set(AtBarClose.refused) == {"burst"}  # a clear error, and only to the burst
    refusals = {
        s.labels["strategy"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "kite_supervisor_order_rate_refusals_total" and s.value
    }
    assert refusals == {"burst": burst_refused}
    # on the backend's own record: exactly the orders placed, once each
    held = Counter(run_id for run_id, _ in sandbox.state.intents)
    assert held == {f"run-{name}": count for name, count in AtBarClose.placed.items()}
    # and never more than the per-second limit in any second
    ours = [o for o in sandbox.engine.book.orders if str(o["metadata"]["strategy_run_id"]).startswith("run-")]
    stamps = sorted(dt.datetime.fromisoformat(o["placed_at"]) for o in ours)
    times = [(t - stamps[0]).total_seconds() for t in stamps]
    assert max(sum(1 for u in times if t <= u < t + 1.0) for t in times) == 10
