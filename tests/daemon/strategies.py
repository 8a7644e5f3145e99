"""Small strategies used by the daemon tests (plain classes, injected through a registry)."""

from __future__ import annotations

import trio
from pydantic import BaseModel, ConfigDict

from supervisor._strategy import Strategy, StrategyContext


class Idle(Strategy):
    """Reports progress every second until asked to stop."""

    async def run(self, ctx: StrategyContext) -> None:
        while not ctx.stopping.is_set():
            ctx.progress(ticks=1)
            with trio.move_on_after(1):
                await ctx.stopping.wait()


class CrashAtOnce(Strategy):
    async def run(self, ctx: StrategyContext) -> None:
        raise RuntimeError("boom")


class CrashAfter(Strategy):
    """Raises after 2 s, forever (a crash loop with backoff)."""

    async def run(self, ctx: StrategyContext) -> None:
        await trio.sleep(2)
        raise ValueError("later boom")


class Hang(Strategy):
    """Awaits forever and ignores ``stopping``."""

    async def run(self, ctx: StrategyContext) -> None:
        await trio.sleep_forever()


class Finishes(Strategy):
    async def run(self, ctx: StrategyContext) -> None:
        await trio.sleep(1)


class EmaParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str
    fast: int = 9
    slow: int = 21


class WithParams(Strategy):
    Params = EmaParams

    async def run(self, ctx: StrategyContext) -> None:
        await ctx.stopping.wait()


class BuyOnce(Strategy):
    """Buys 2 INFY once (its key makes a restart's retry a no-op), then waits to be stopped."""

    async def run(self, ctx: StrategyContext) -> None:
        from supervisor.client import equity_market_order

        safety = await ctx.run.safety_check()
        await ctx.run.place_order(
            equity_market_order("INFY", "BUY", 2),
            idempotency_key=ctx.key("entry"),
            safety_token=safety.safety_token,
        )
        ctx.log.info("bought 2 INFY")
        await ctx.stopping.wait()


class WorkClock:
    """A deterministic stand-in for the busy meter's ``perf_counter``: only the work a test
    strategy declares advances it, so per-strategy busy time is exact at any load average."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def work(self, seconds: float) -> None:
        """What computing ``seconds`` without awaiting would show (never blocks)."""
        self.now += seconds


class Uncancellable(Strategy):
    """Shields itself from cancellation for 600 s: what trio sees of a strategy blocked in a
    thread or in C (bounded, so a test's nursery can end after its hard exit)."""

    async def run(self, ctx: StrategyContext) -> None:
        ctx.progress()
        with trio.CancelScope(shield=True):
            await trio.sleep(600)
