"""Strategies for the backtest tests (plain classes, injected through a registry)."""

from __future__ import annotations

import trio
from pydantic import BaseModel, ConfigDict

from supervisor._strategy import Strategy, StrategyContext
from supervisor.client import equity_market_order


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
