"""Strategies for the backtest tests (plain classes, injected through a registry)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import trio
from pydantic import BaseModel, ConfigDict

from supervisor._strategy import Strategy, StrategyContext
from supervisor.client import CandleInterval, equity_market_order
from supervisor.hub import Candle, Tick


class HoldParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str
    quantity: int = 10
    product: str = "MIS"
    crash_after_s: float | None = None  # raise once, this long after the entry (a restart test)


class BuyFirstSellLast(Strategy):
    """Buys at the first bar (the market is open when the backtest starts the daemon), holds,
    and sells when asked to stop (after the last bar). Deterministic keys: a restart after a
    crash re-attaches and does not buy twice."""

    Params = HoldParams

    async def run(self, ctx: StrategyContext) -> None:
        params: HoldParams = ctx.params
        safety = await ctx.run.safety_check()
        await ctx.run.place_order(
            equity_market_order(params.symbol, "BUY", params.quantity, product=params.product),
            idempotency_key=ctx.key("entry"),
            safety_token=safety.safety_token,
        )
        ctx.progress(entered=1)
        if params.crash_after_s is not None and not ctx.recovered:
            await trio.sleep(params.crash_after_s)
            raise RuntimeError("crash mid-backtest")
        await ctx.stopping.wait()
        safety = await ctx.run.safety_check()
        await ctx.run.place_order(
            equity_market_order(params.symbol, "SELL", params.quantity, product=params.product),
            idempotency_key=ctx.key("exit"),
            safety_token=safety.safety_token,
        )


class WatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str
    interval: CandleInterval = "minute"


class Journal:
    """What a :func:`watcher` strategy saw: its warm-up history, candles and ticks, in order."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []
        self.started_at: str | None = None  # the warm-up's ``to``: the clock when it asked
        self.ahead: list[dict[str, Any]] = []  # history asked up to a day past the clock
        self.candles: list[Candle] = []
        self.ticks: list[Tick] = []


def watcher(journal: Journal) -> type[Strategy]:
    """A candle strategy that only watches: warms up on history (``ctx.warmup_history``), then
    records its candle stream and its tick stream until stopped, into ``journal``."""

    class Watch(Strategy):
        Params = WatchParams

        async def run(self, ctx: StrategyContext) -> None:
            params: WatchParams = ctx.params
            history = await ctx.warmup_history(params.symbol, timeframe=params.interval, min_candles=1)
            journal.history = list(history["candles"])
            journal.started_at = str(history["to"])
            # a window reaching past the clock: a backtest's data there is the future
            now = dt.datetime.fromisoformat(journal.started_at)
            ahead = await ctx.client.get_historical_candles(
                params.symbol,
                timeframe=params.interval,
                from_date=now - dt.timedelta(hours=1),
                to_date=now + dt.timedelta(days=1),
            )
            journal.ahead = list(ahead["candles"])

            async def candles() -> None:
                async with ctx.candles(params.symbol, params.interval) as stream:
                    async for item in stream:
                        if isinstance(item, Candle):
                            journal.candles.append(item)

            async def ticks() -> None:
                async with ctx.ticks([params.symbol], mode="quote") as stream:
                    async for item in stream:
                        if isinstance(item, Tick):
                            journal.ticks.append(item)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(candles)
                nursery.start_soon(ticks)
                await ctx.stopping.wait()
                nursery.cancel_scope.cancel()

    return Watch


def clock_reader(seen: list[dt.datetime]) -> type[Strategy]:
    """A strategy that appends ``ctx.now()`` to ``seen`` when it starts and when asked to stop."""

    class ReadClock(Strategy):
        async def run(self, ctx: StrategyContext) -> None:
            seen.append(ctx.now())
            await ctx.stopping.wait()
            seen.append(ctx.now())

    return ReadClock
