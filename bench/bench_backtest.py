"""How fast a backtest runs: simulated seconds per wall second, against real time.

Generates ``--days`` trading days (default: the 22 of June 2026) of 1-minute candles for
``--instruments`` NIFTY 50 equities (default 50) in a temporary directory, in the documented
layout (``DIR/NSE/<SYMBOL>/minute.csv``), and runs ``--strategies`` strategies (default 20; a
small momentum strategy on ticks, each on its own instrument, trading a few times a day)
through the real daemon and the paper engine:

1. **virtual time** (``run_backtest`` on ``MockClock(autojump_threshold=0)``): the whole period;
2. **real time** (the same code on trio's real clock): the first ``--baseline-s`` seconds of
   the same data, the baseline a live replay would be.

Prints, for each: market-session seconds and calendar seconds simulated per wall second, CPU
seconds, market steps, instrument prices replayed, backend requests and ticks delivered per
wall second; then the ratio. The goal (issue 15) is 10,000x real time; the figure is printed,
not asserted. On demand only: ``python bench/bench_backtest.py [--days N] [--heartbeat S]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import trio
import trio.testing
from pydantic import BaseModel, ConfigDict

from supervisor._config import parse_config
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._strategy import Strategy, StrategyContext
from supervisor.backtest import HEARTBEAT_S, BacktestResult, Step, load_history, replay_steps, run_backtest
from supervisor.client import equity_market_order
from supervisor.hub import Tick
from supervisor.sandbox._calendar import NSE
from supervisor.sandbox._market_hours import IST, MarketHours
from supervisor.sandbox._universe import EQUITIES

TICKS = [0]  # ticks taken by every strategy (a module counter: the strategies are plain classes)


class MomentumParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str
    lookback: int = 120  # ticks (four a minute)
    band: float = 0.002


class Momentum(Strategy):
    """Long above the moving average plus a band, flat below it; one share."""

    Params = MomentumParams

    async def run(self, ctx: StrategyContext) -> None:
        params: MomentumParams = ctx.params
        window: deque[float] = deque(maxlen=params.lookback)
        long, trades = False, 0
        async with trio.open_nursery() as nursery, ctx.ticks([params.symbol], mode="ltp") as ticks:

            async def stop() -> None:  # leave at once on shutdown: no grace period to sit out
                await ctx.stopping.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop)
            async for tick in ticks:
                if not isinstance(tick, Tick) or tick.last_price is None:
                    continue
                TICKS[0] += 1
                price = tick.last_price
                window.append(price)
                if len(window) < params.lookback:
                    continue
                mean = sum(window) / len(window)
                side = None
                if not long and price > mean * (1 + params.band):
                    side, long = "BUY", True
                elif long and price < mean:
                    side, long = "SELL", False
                if side is not None:
                    trades += 1
                    await ctx.run.place_order(
                        equity_market_order(params.symbol, side, 1, product="CNC"),
                        idempotency_key=ctx.key("order", trades),
                    )
                ctx.progress(trades=trades)


def trading_days(count: int) -> list[dt.date]:
    days: list[dt.date] = []
    day = dt.date(2026, 6, 1)
    while len(days) < count:
        if NSE.is_trading_day(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def write_data(root: Path, symbols: list[str], days: list[dt.date], seed: int) -> None:
    rng = random.Random(seed)
    for symbol in symbols:
        price = EQUITIES[symbol].price
        lines = ["date,open,high,low,close,volume"]
        for day in days:
            at = dt.datetime.combine(day, dt.time(9, 15), IST)
            for _ in range(375):
                close = round(max(1.0, price * (1 + rng.gauss(0, 0.0008))), 2)
                high = round(max(price, close) * (1 + abs(rng.gauss(0, 0.0003))), 2)
                low = round(min(price, close) * (1 - abs(rng.gauss(0, 0.0003))), 2)
                lines.append(f"{at.isoformat()},{price},{high},{low},{close},{rng.randint(100, 9000)}")
                price = close
                at += dt.timedelta(minutes=1)
        folder = root / "NSE" / symbol
        folder.mkdir(parents=True)
        (folder / "minute.csv").write_text("\n".join(lines) + "\n")


def config_text(symbols: list[str], strategies: int, heartbeat: float) -> str:
    text = f"supervisor:\n  heartbeat_interval_s: {heartbeat}\n  shutdown_grace_s: 5\nstrategies:\n"
    for i in range(strategies):
        run = f'{{strategy_run_id: bench-m{i:02d}, template_id: tmpl, account_scope: "kite:paper-{i}"}}'
        text += (
            f"  - name: m{i:02d}\n    plugin: momentum\n    run: {run}\n"
            f"    params: {{symbol: {symbols[i % len(symbols)]}}}\n"
        )
    return text


def measure(label: str, steps: list[Step], text: str, *, virtual: bool) -> tuple[float, BacktestResult]:
    config, locator = parse_config(text, file="bench.yaml", environ={})
    resolved, skipped = resolve_strategies(
        config, locator, PluginRegistry.from_classes({"momentum": Momentum})
    )
    assert not skipped, skipped
    TICKS[0] = 0
    lived = [0.0]
    day_cpu: list[float] = []  # CPU seconds of each trading day: flat unless something accumulates
    marks: list[Any] = [None, time.process_time()]

    def on_progress(done: int, total: int, when: dt.datetime) -> None:
        day = when.astimezone(IST).date()
        if marks[0] is not None and (day != marks[0] or done == total):
            now = time.process_time()
            day_cpu.append(now - marks[1])
            marks[1] = now
        marks[0] = day

    async def run() -> BacktestResult:
        started = trio.current_time()
        try:
            return await run_backtest(config, resolved, steps, on_progress=on_progress)
        finally:
            lived[0] = trio.current_time() - started

    wall, cpu = time.perf_counter(), time.process_time()
    clock = trio.testing.MockClock(autojump_threshold=0) if virtual else None
    result: BacktestResult = trio.run(run, clock=clock)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    session = lived[0]  # trio seconds the daemon lived: the sessions (nights are jumped over)
    calendar = (steps[-1].when - steps[0].when).total_seconds()  # the market time covered
    print(
        f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU; {session:,.0f} session s: {session / wall:,.0f}x "
        f"per wall s ({session / cpu:,.0f}x per CPU s); {calendar:,.0f} calendar s: {calendar / wall:,.0f}x "
        f"per wall s ({calendar / cpu:,.0f}x per CPU s)\n  {result.steps:,} steps, "
        f"{result.price_events / wall:,.0f} prices/s, {result.requests / wall:,.0f} requests/s, "
        f"{TICKS[0] / wall:,.0f} ticks/s; {len(result.trades)} fills, exit {result.exit_code}",
        flush=True,
    )
    if len(day_cpu) > 1:
        print(
            f"  CPU per trading day: first {day_cpu[0]:.1f} s, last {day_cpu[-1]:.1f} s "
            f"(min {min(day_cpu):.1f}, max {max(day_cpu):.1f}, {len(day_cpu)} days)",
            flush=True,
        )
    return session / wall, result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=22)
    parser.add_argument("--instruments", type=int, default=50)
    parser.add_argument("--strategies", type=int, default=20)
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=10.0,
        help=(
            f"supervisor.heartbeat_interval_s, the live cadence (a backtest beats every {HEARTBEAT_S:g} s; "
            "its sandbox takes a held session's worker to be this fresh)"
        ),
    )
    parser.add_argument("--baseline-s", type=float, default=30.0, help="real-time window, seconds")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    symbols = sorted(EQUITIES)[: args.instruments]
    days = trading_days(args.days)
    print(
        f"{args.days} trading days ({days[0]} to {days[-1]}), {len(symbols)} instruments, "
        f"{args.strategies} strategies, heartbeat every {args.heartbeat:g} s live, {HEARTBEAT_S:g} s in a "
        f"backtest; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_data(Path(tmp), symbols, days, args.seed)
        start = dt.datetime.combine(days[0], dt.time(0), IST)
        history = load_history(tmp, start=start, end=start + dt.timedelta(days=40))
        steps, _ = replay_steps(history, bar_seconds=60, hours=MarketHours.parse("nse"))
        print(f"data: {len(steps):,} steps loaded in {time.perf_counter() - started:.1f} s", flush=True)
    text = config_text(symbols, args.strategies, args.heartbeat)
    virtual, _ = measure("virtual time", steps, text, virtual=True)
    window = [s for s in steps if (s.when - steps[0].when).total_seconds() < args.baseline_s]
    real, _ = measure(f"real time, first {args.baseline_s:g} s", window, text, virtual=False)
    print(f"ratio: virtual time runs {virtual / real:,.0f}x the real-time baseline (goal 10,000x real time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
