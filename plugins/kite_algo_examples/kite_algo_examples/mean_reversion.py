"""Mean reversion: an indicator-driven strategy that survives restarts.

Pattern taught here, the seed's "typical restart flow" as a plugin:

1. **warm up** from historical candles (``ctx.warmup_history``) and rebuild the indicator state
   (:class:`supervisor.client.indicators.IndicatorState`: TA-Lib SMA/STDDEV/z-score, Bollinger,
   RSI, ATR), so the first live bar already has values;
2. **live candles from the hub** (``ctx.candles(symbol, interval)``): one upstream stream per
   symbol and interval is shared by every strategy that asks for it. Only *completed* bars count
   (:class:`kite_algo_examples.bars.BarCloser`);
3. **decide per bar**: flat and z-score <= ``-entry_z`` -> buy; long and z-score >= ``exit_z`` ->
   sell. Each decision is logged on the timeline with its indicator values;
4. **deterministic idempotency keys per bar**: ``ctx.key("entry", symbol, bar_ts)`` /
   ``ctx.key("exit", symbol, bar_ts)``. A crash after the order but before the next bar, and the
   restart that replays that bar, sends the same key: the backend answers ``deduped``;
5. on a **recovered** run the position is read back from the run's P&L legs, never assumed.

Every order gets its own ``safety_check()`` right before it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from supervisor import DecisionType, Strategy, StrategyContext
from supervisor.client import equity_market_order
from supervisor.client.indicators import IndicatorSnapshot, IndicatorState

from ._common import blocking_reasons, decide, field, strip_exchange
from .bars import BarCloser

__all__ = ["MeanReversion", "MeanReversionParams"]


class MeanReversionParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(default="NSE:INFY", description="EXCH:SYMBOL")
    interval: Literal["minute", "3minute", "5minute", "15minute", "30minute", "60minute"] = "5minute"
    period: int = Field(default=20, ge=2, le=500, description="SMA/STDDEV window of the z-score")
    entry_z: float = Field(default=2.0, gt=0, description="buy when z-score <= -entry_z")
    exit_z: float = Field(default=0.0, description="sell when z-score >= exit_z")
    quantity: int = Field(default=1, gt=0)
    product: Literal["CNC", "MIS"] = "MIS"
    warmup_candles: int = Field(default=60, ge=2, description="historical candles before trading")

    @model_validator(mode="after")
    def _enough_warmup(self) -> MeanReversionParams:
        if self.exit_z <= -self.entry_z:
            raise ValueError("exit_z must be above -entry_z, or every entry would exit at once")
        if self.warmup_candles < self.period:
            raise ValueError("warmup_candles must be at least period")
        return self


class MeanReversion(Strategy[MeanReversionParams]):
    """Buy stretched-down prices, sell the reversion to the mean; one decision per completed bar."""

    Params = MeanReversionParams

    async def run(self, ctx: StrategyContext[MeanReversionParams]) -> None:
        params = ctx.params
        self.position = await self._position(ctx) if ctx.recovered else 0
        state = IndicatorState(period=params.period)
        history = await ctx.warmup_history(
            params.symbol, timeframe=params.interval, min_candles=params.warmup_candles
        )
        state.warm(history)
        ctx.log.info("warmed up on %d candles (position %d)", state.count, self.position)
        ctx.progress(bars=state.count, position=self.position, ready=state.ready)
        closer = BarCloser()
        async with ctx.candles(params.symbol, params.interval) as candles:
            async for event in candles:
                for bar in closer.feed(event):
                    snapshot = state.update(bar)  # None for a bar the warm-up already counted
                    if snapshot is not None:
                        await self._on_bar(ctx, str(bar.get("ts")), snapshot)
                        ctx.progress(bars=state.count, position=self.position, zscore=_num(snapshot.zscore))
                if ctx.stopping.is_set():
                    return

    async def _on_bar(
        self, ctx: StrategyContext[MeanReversionParams], bar_ts: str, snap: IndicatorSnapshot
    ) -> None:
        params = ctx.params
        if not math.isfinite(snap.zscore):
            return
        decision: DecisionType
        if self.position == 0 and snap.zscore <= -params.entry_z:
            side, decision, key = "BUY", "entry", ctx.key("entry", params.symbol, bar_ts)
        elif self.position > 0 and snap.zscore >= params.exit_z:
            side, decision, key = "SELL", "exit", ctx.key("exit", params.symbol, bar_ts)
        else:
            return
        indicators = {"close": snap.close, "sma": snap.sma, "zscore": snap.zscore, "rsi": _num(snap.rsi)}
        safety = await ctx.run.safety_check()
        if not field(safety, "can_trade", False):
            reasons = blocking_reasons(safety)
            await decide(ctx, decision, "skip", f"{side} signal at {bar_ts} blocked: {reasons}", **indicators)
            return
        await decide(
            ctx,
            decision,
            "enter" if side == "BUY" else "exit",
            f"z-score {snap.zscore:.2f} on {params.symbol} {params.interval}: {side} {params.quantity}",
            bar_ts=bar_ts,
            idempotency_key=key,
            **indicators,
        )
        _, tradingsymbol = strip_exchange(params.symbol)
        order = equity_market_order(tradingsymbol, side, params.quantity, product=params.product)
        response = await ctx.run.place_order(
            order,
            idempotency_key=key,
            safety_token=field(safety, "safety_token"),
            metadata={"bar_ts": bar_ts},
        )
        if field(field(response, "result", {}) or {}, "status") != "rejected":
            self.position = params.quantity if side == "BUY" else 0

    async def _position(self, ctx: StrategyContext[MeanReversionParams]) -> int:
        """Net quantity of our symbol from the run's P&L legs (after a restart)."""
        params = ctx.params
        _, tradingsymbol = strip_exchange(params.symbol)
        pnl = await ctx.run.get_run_pnl()
        legs: list[Any] = list(field(pnl, "legs", None) or [])
        return sum(
            int(field(leg, "net_quantity", 0) or 0)
            for leg in legs
            if field(leg, "tradingsymbol") == tradingsymbol
        )


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None
