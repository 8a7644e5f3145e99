"""``supervisor.testing.open_strategy_sandbox``: the strategy's clock is the sandbox's."""

from __future__ import annotations

import datetime as dt

import trio
import trio.testing

from supervisor import Strategy, StrategyContext
from supervisor.testing import open_strategy_sandbox

SEEN: list[dt.datetime] = []


class ReadClockAtStop(Strategy):
    async def run(self, ctx: StrategyContext) -> None:
        await ctx.stopping.wait()
        SEEN.append(ctx.now())


async def test_ctx_now_moves_with_the_virtual_clock(autojump_clock: trio.testing.MockClock) -> None:
    SEEN.clear()
    async with open_strategy_sandbox(ReadClockAtStop) as harness:
        await trio.sleep(3600)  # an hour of virtual time: the machine's clock moves a moment
        sandbox_now = harness.sandbox.ctx.now()
        await harness.stop()
    (seen,) = SEEN
    assert seen.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert abs((seen - sandbox_now).total_seconds()) < 1
