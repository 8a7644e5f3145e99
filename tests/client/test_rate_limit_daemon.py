"""The daemon builds one order-rate limiter for its account and every strategy's orders pass
through it, whether placed with ``ctx.run`` or with ``ctx.client``; its counters reach /metrics."""

from __future__ import annotations

import datetime as dt
from functools import partial

import httpx
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._metrics import metrics_handler_for
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._strategy import Strategy, StrategyContext
from supervisor.client import equity_market_order
from supervisor.sandbox import SandboxHandle

CONFIG = """
backend: {base_url: "${SANDBOX_URL}", token: "${KITE_ALGO_WORKER_TOKEN}"}
supervisor:
  http: {host: 127.0.0.1, port: 0}
  order_rate: {per_second: 5, max_wait_s: 60}
strategies:
  - name: via-run
    plugin: via_run
    run: {strategy_run_id: run-via-run, template_id: t, account_scope: "kite:paper-a"}
  - name: via-client
    plugin: via_client
    run: {strategy_run_id: run-via-client, template_id: t, account_scope: "kite:paper-a"}
"""
ORDERS = 20


async def test_orders_from_ctx_run_and_ctx_client_share_the_daemons_budget(
    sandbox: SandboxHandle, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    placed: dict[str, int] = {}
    finished = trio.Event()

    async def fire(ctx: StrategyContext, via_client: bool) -> None:
        order = equity_market_order("INFY", "BUY", 1)

        async def one(i: int) -> None:
            key = ctx.key("burst", i)
            if via_client:
                await ctx.client.place_order(
                    ctx.run.run_id, order, idempotency_key=key, session_nonce=ctx.run.session_nonce
                )
            else:
                await ctx.run.place_order(order, idempotency_key=key)

        async with trio.open_nursery() as burst:
            for i in range(ORDERS):
                burst.start_soon(one, i)
        placed[ctx.name] = ORDERS
        if len(placed) == 2:
            finished.set()
        await ctx.stopping.wait()

    class ViaRun(Strategy):
        async def run(self, ctx: StrategyContext) -> None:
            await fire(ctx, via_client=False)

    class ViaClient(Strategy):
        async def run(self, ctx: StrategyContext) -> None:
            await fire(ctx, via_client=True)

    environ = {"SANDBOX_URL": sandbox.base_url, "KITE_ALGO_WORKER_TOKEN": sandbox.token}
    config, locator = parse_config(CONFIG, file="rate.yaml", environ=environ)
    registry = PluginRegistry.from_classes({"via_run": ViaRun, "via_client": ViaClient})
    resolved, _ = resolve_strategies(config, locator, registry)
    with trio.fail_after(120):
        handle: DaemonHandle = await nursery.start(
            partial(run_daemon, config, resolved, handle_signals=False, metrics_factory=metrics_handler_for)
        )
        await finished.wait()
        async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
            text = (await http.get("/metrics")).text
        handle.request_shutdown()
    stamps = sorted(
        dt.datetime.fromisoformat(o["placed_at"])
        for o in sandbox.engine.book.orders
        if o["metadata"]["strategy_run_id"] in {"run-via-run", "run-via-client"}
    )
    assert len(stamps) == 2 * ORDERS
    times = [(t - stamps[0]).total_seconds() for t in stamps]
    assert max(sum(1 for u in times if t <= u < t + 1.0) for t in times) == 5  # the configured limit
    limiter = handle.supervisor.order_rate
    assert limiter is not None
    stats = {s.strategy: s for s in limiter.statistics().strategies}
    assert {name: s.granted for name, s in stats.items()} == {"via-client": ORDERS, "via-run": ORDERS}
    waits = {
        s.labels["strategy"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "kite_supervisor_order_rate_waits_total"
    }
    assert waits == {name: float(s.waits) for name, s in stats.items()}
    assert sum(waits.values()) == 2 * ORDERS - 5  # all but the first five waited


async def test_the_budget_can_be_turned_off(
    sandbox: SandboxHandle, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    environ = {"SANDBOX_URL": sandbox.base_url, "KITE_ALGO_WORKER_TOKEN": sandbox.token}
    text = CONFIG.replace("order_rate: {per_second: 5, max_wait_s: 60}", "order_rate: {enabled: false}")
    config, _ = parse_config(text.split("strategies:")[0], file="off.yaml", environ=environ)
    with trio.fail_after(60):
        handle: DaemonHandle = await nursery.start(partial(run_daemon, config, [], handle_signals=False))
        assert handle.supervisor.order_rate is None
        handle.request_shutdown()
