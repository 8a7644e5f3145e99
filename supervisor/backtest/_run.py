"""``run_backtest``: the real daemon and the sandbox in one trio run, on virtual time.

::

    run_backtest (caller's trio run, on a virtual clock: trio.testing.MockClock, autojump)
    ├── sandbox context: state, PaperEngine(Market(price_source=ReplaySource,
    │     bar_source=ReplayBars)), BacktestClock
    ├── sandbox loops: exiting runs (10 s), protection (5 s)
    ├── run_daemon(config, strategies): every client's transport is InProcessTransport -> the
    │     sandbox's ASGI app (no socket); supervisor, runners, heartbeats, hub exactly as live
    └── the driver: sleep_until each step's instant, set its prices, market step (as the
          sandbox's market loop does), sample equity; request_shutdown after the last step

The market steps where the data says (not on ``--tick-interval``): four steps per candle
(``_replay``). The sandbox's market loop is replaced by the driver, and its stale-run recovery
loop is not run: nobody can go away here (the daemon and the backend stop together), and
between sessions the clock jumps to the next open (``BacktestClock``), which would make every
run look stale for the moment before its next heartbeat. Before each jump the market steps once
at the session's close, so resting DAY orders are cancelled as they are live.

Whatever the config's ``backend`` says, the backtest's backend is its own sandbox; the state
directory is not used (every backtest starts from fresh runs), the daemon's HTTP server
listens on a free port of 127.0.0.1, and the strategies' event-loop time is not metered.

Heartbeats: the daemon beats every ``HEARTBEAT_S`` (600 s) of market time, through the same
heartbeat task and HTTP path as live, and the sandbox is told that its worker is alive
between beats (``SandboxState.held_session_age_cap_s`` = the config's live cadence): the
daemon lives in this process, so it cannot stop beating while the backtest runs. A held
session's heartbeat age then never exceeds what live would show, in ``get_run``'s health, the
safety check, the protection loop's ``exit_on_worker_stale`` and a rival claim, also across the
night the clock jumps over. At the live 10 s the beats were half of a backtest's CPU; the
reference server ignores a beat's status and metrics, so only the age is lost, and it is kept.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from decimal import Decimal

import trio
from pydantic import SecretStr

from supervisor._config import BackendConfig, HttpConfig, SupervisorConfig
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._plugins import ResolvedStrategy
from supervisor.sandbox._app import build_app
from supervisor.sandbox._context import AppContext
from supervisor.sandbox._loops import EXITING_INTERVAL_S, PROTECTION_INTERVAL_S, exiting_tick, protection_tick
from supervisor.sandbox._market_hours import MarketHours
from supervisor.sandbox._server import _every, _make_context, market_step

from ._bars import ReplayBars
from ._clock import BacktestClock
from ._replay import ReplaySource, Step
from ._result import BacktestResult, EquitySample
from ._transport import InProcessTransport, in_process_client_factory

__all__ = ["HEARTBEAT_S", "LEAD_S", "backtest_config", "run_backtest", "sample"]

LEAD_S = 60.0  # virtual seconds before each session's first step (strategies see the open coming)
SETTLE_S = 1.0  # after the last step, before shutdown: strategies act on the last prices
BACKEND_URL = "http://backtest.invalid"  # never resolved: the transport is in-process
HEARTBEAT_S = 600.0  # the daemon's heartbeat cadence in a backtest (module docstring)


def backtest_config(config: SupervisorConfig, token: str) -> SupervisorConfig:
    """``config`` aimed at the backtest's own sandbox (module docstring)."""
    backend = BackendConfig(base_url=BACKEND_URL, token=SecretStr(token), timeout_s=config.backend.timeout_s)
    update: dict[str, object] = {
        "state_dir": None,
        "http": HttpConfig(host="127.0.0.1", port=0),
        "heartbeat_interval_s": HEARTBEAT_S,
    }
    if not any(s.loss_breaker is not None for s in config.strategies):
        # the money reader polls every run's P&L and timeline for the cockpit and the loss
        # breakers: with no breaker nobody acts on it here (the report reads the book), and at
        # two requests per run every 5 s it cost more than the rest of the backtest together
        update["money"] = config.supervisor.money.model_copy(update={"enabled": False})
    settings = config.supervisor.model_copy(update=update)
    return config.model_copy(update={"backend": backend, "supervisor": settings})


def sample(ctx: AppContext, run_ids: Sequence[str], when: dt.datetime) -> EquitySample:
    """Every run's net P&L (realised + unrealised - charges, as ``run_pnl`` computes it) and
    open position value, in one pass over the book."""
    market = ctx.market
    wanted = set(run_ids)
    totals: dict[str, list[float]] = {run_id: [0.0, 0.0] for run_id in run_ids}
    for pos in ctx.engine.book.positions.values():
        run_id = pos["metadata"]["strategy_run_id"]
        if run_id not in wanted:
            continue
        net, avg = int(pos["net_quantity"]), float(pos["average_price"])
        last = market.ltp(pos["tradingsymbol"]) or avg
        entry = totals[run_id]
        entry[0] += float(pos["realized_pnl"]) + (last - avg) * net - float(pos["charges"])
        entry[1] += abs(net) * last
    return EquitySample(when, {run_id: (round(v[0], 4), round(v[1], 4)) for run_id, v in totals.items()})


class _Driver:
    """Steps the market through ``steps`` on the clock (module docstring)."""

    def __init__(
        self,
        *,
        ctx: AppContext,
        clock: BacktestClock,
        steps: Sequence[Step],
        source: ReplaySource,
        on_bar: Callable[[int, dt.datetime], None],
        result: BacktestResult,
    ) -> None:
        self._ctx, self._clock, self._steps, self._source = ctx, clock, steps, source
        self._on_bar, self._result = on_bar, result

    def step(self, index: int) -> None:
        """The market step ``index``, now."""
        step, ctx, result = self._steps[index], self._ctx, self._result
        if step.prices is not None:
            self._source.current = step.prices
            result.price_events += len(step.prices)
        else:
            result.price_events += len(ctx.market.prices) + len(ctx.market.spots)
        market_step(ctx)
        result.steps += 1
        if step.bar_end:
            self._on_bar(index, step.when)

    async def drive(self, first: int) -> None:
        """Every step from ``first`` on, each at its instant."""
        clock, hours = self._clock, self._ctx.market.hours
        for index in range(first, len(self._steps)):
            when = self._steps[index].when
            close = hours.last_close(when)
            if close is not None and close > clock.now():
                # a session ended since the last step: close it as live, then skip to the next
                # open (within a session the clock never jumps: a gap in the data is lived)
                await trio.sleep_until(clock.loop_time_at(close))
                market_step(self._ctx)
                if (when - clock.now()).total_seconds() > LEAD_S:
                    clock.jump_to(when - dt.timedelta(seconds=LEAD_S))
            await trio.sleep_until(clock.loop_time_at(when))
            self.step(index)


async def run_backtest(
    config: SupervisorConfig,
    strategies: list[ResolvedStrategy],
    steps: Sequence[Step],
    *,
    seed: int = 1,
    replay: bool = True,
    warmup: Sequence[Step] = (),
    on_progress: Callable[[int, int, dt.datetime], None] | None = None,
    handle_signals: bool = False,
    task_status: trio.TaskStatus[DaemonHandle] = trio.TASK_STATUS_IGNORED,
) -> BacktestResult:
    """Run ``strategies`` through the daemon over ``steps``; returns the result (blocks).

    Must run on a virtual clock (``trio.run(..., clock=MockClock(autojump_threshold=0))``, or
    pytest-trio's ``autojump_clock``): time advances only when every task waits. ``replay``
    False lets the sandbox's seeded walk (``seed``) draw the prices (``synthetic_steps``);
    True shows the steps' prices, and candles are cut from ``warmup`` (replayed steps before
    the first, never driven: history for the strategies' warm-up) and ``steps`` (``_bars``).
    ``on_progress(step index, steps, when)`` is called at the end of each bar. Raises
    ``ValueError`` when ``steps`` is empty, and whatever ``run_daemon`` raises at setup.
    """
    if not steps:
        raise ValueError("nothing to replay: no market step in the period")
    token = "kwa_" + secrets.token_urlsafe(32)
    clock = BacktestClock(steps[0].when)
    source = ReplaySource()
    ctx, _ = _make_context(
        token="kwa_" + secrets.token_urlsafe(32),  # the sandbox operator's, unused
        db_path=None,
        seed=seed,
        market_hours="nse",
        epoch=None,
        clock=clock,
        price_source=source if replay else None,
        bar_source=ReplayBars([*warmup, *steps], MarketHours.parse("nse")) if replay else None,
    )
    # the daemon's token has the runs' account scope when they share one (calls that default
    # to the token's scope then work as live), and none when they differ (each run names its own)
    scopes = {s.config.run.account_scope for s in strategies}
    ctx.extras["mint_token"](token=token, account_scope=scopes.pop() if len(scopes) == 1 else None)
    ctx.state.held_session_age_cap_s = config.supervisor.heartbeat_interval_s
    app = build_app(ctx)
    transports: list[InProcessTransport] = []
    factory = in_process_client_factory(app, transports)
    names = [(s.name, s.config.run.strategy_run_id) for s in strategies]
    run_ids = [run_id for _, run_id in names]
    result = BacktestResult(names, first=steps[0].when, last=steps[-1].when)

    def on_bar(index: int, when: dt.datetime) -> None:
        result.samples.append(sample(ctx, run_ids, when))
        if on_progress is not None:
            on_progress(index + 1, len(steps), when)

    def exiting() -> None:
        exiting_tick(ctx.state, ctx.now())
        ctx.changed()

    def protection() -> None:
        protection_tick(ctx.state, ctx.engine, ctx.now())
        ctx.changed()

    async def daemon(driving: trio.CancelScope, task_status: trio.TaskStatus[DaemonHandle]) -> None:
        result.exit_code = await run_daemon(
            backtest_config(config, token),
            strategies,
            client_factory=factory,
            heartbeat_client_factory=factory,
            stream_client_factory=factory,
            handle_signals=handle_signals,
            wall_clock=lambda: clock.now().timestamp(),
            busy_clock=None,
            task_status=task_status,
        )
        driving.cancel()  # stopped early (SIGINT, SIGTERM): the replay ends here too

    driver = _Driver(ctx=ctx, clock=clock, steps=steps, source=source, on_bar=on_bar, result=result)
    # the first step before the daemon starts: its strategies start in a trading market that
    # shows the first prices (a strategy that buys at once buys at the first bar's open)
    driver.step(0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_every, EXITING_INTERVAL_S, exiting)
        nursery.start_soon(_every, PROTECTION_INTERVAL_S, protection)
        async with trio.open_nursery() as daemon_nursery:
            handle: DaemonHandle = await daemon_nursery.start(daemon, daemon_nursery.cancel_scope)
            task_status.started(handle)
            await driver.drive(1)
            await trio.sleep(SETTLE_S)
            handle.request_shutdown()
        # the daemon has stopped: what its strategies did at shutdown is in the book now
        result.samples.append(sample(ctx, run_ids, clock.now()))
        result.restarts = {s.name: s.restarts for s in handle.supervisor.statistics().strategies}
        nursery.cancel_scope.cancel()
    for run_id in run_ids:
        result.trades.extend(ctx.engine.trades(run_id))
        for order in ctx.engine.orders(run_id):
            fee = order.get("metadata", {}).get("estimated_charges")
            if order.get("status") == "filled" and fee is not None:
                result.order_charges[order["order_id"]] = Decimal(fee)
    result.requests = sum(t.requests for t in transports)
    return result
