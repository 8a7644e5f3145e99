"""Managed lifecycle: a safety check before every order, progress after every step.

Pattern taught here: the session-aware worker the seed recommends for long-lived strategies,
on the managed run the daemon hands over (``ctx.run``: the nonce travels with every call).

* Before **each** order: ``safety = await ctx.run.safety_check()``. If ``can_trade`` is false
  the order is skipped (and the reasons logged as a decision); otherwise the order goes out with
  ``safety_token=safety.safety_token``. A token lives about ten seconds and never survives a
  restart, so it is requested right before the order, never cached.
* ``orders`` entries are placed ``interval_s`` apart, each with the key
  ``{run_id}:entry:{n}``: after a restart the strategy walks the same keys again and the backend
  deduplicates the ones already placed.
* ``ctx.progress(orders_placed=..., last_signal=...)`` after every step: the daemon's heartbeat
  carries these metrics, and a strategy that stops reporting shows as stuck.

The daemon does the rest (claim, heartbeats, release); it never checks safety or trades itself.
"""

from __future__ import annotations

from typing import Any, Literal

import trio
from pydantic import BaseModel, ConfigDict, Field

from supervisor import Strategy, StrategyContext
from supervisor.client import SafetyTokenExpiredError, equity_market_order

from ._common import blocking_reasons, decide, field

__all__ = ["ManagedLifecycle", "ManagedLifecycleParams"]


class ManagedLifecycleParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(default="INFY", description="NSE trading symbol")
    side: Literal["BUY", "SELL"] = "BUY"
    quantity: int = Field(default=1, gt=0)
    product: Literal["CNC", "MIS"] = "CNC"
    orders: int = Field(default=3, ge=0, le=1000, description="how many entries to place in total")
    interval_s: float = Field(default=60.0, gt=0, description="pause between entries")


class ManagedLifecycle(Strategy[ManagedLifecycleParams]):
    """Scaled entries, each preceded by its own safety check; reports progress throughout."""

    Params = ManagedLifecycleParams

    async def run(self, ctx: StrategyContext[ManagedLifecycleParams]) -> None:
        params = ctx.params
        order = equity_market_order(params.symbol, params.side, params.quantity, product=params.product)
        placed = skipped = 0
        for n in range(1, params.orders + 1):
            if ctx.stopping.is_set():
                break
            if await self._enter(ctx, order, n):
                placed += 1
            else:
                skipped += 1
            ctx.progress(orders_placed=placed, orders_skipped=skipped, last_signal=f"entry-{n:03d}")
            with trio.move_on_after(params.interval_s):
                await ctx.stopping.wait()
        ctx.progress(orders_placed=placed, orders_skipped=skipped, done=True)
        # nothing left to do: stay attached (heartbeats continue) until the daemon stops us,
        # so the position keeps being watched by the backend's stale-worker protection
        while not ctx.stopping.is_set():
            with trio.move_on_after(params.interval_s):
                await ctx.stopping.wait()
            ctx.progress(orders_placed=placed, orders_skipped=skipped, done=True)

    async def _enter(
        self, ctx: StrategyContext[ManagedLifecycleParams], order: dict[str, Any], n: int
    ) -> bool:
        """Safety check, then entry ``n``; ``False`` when the backend says we may not trade."""
        params = ctx.params
        key = ctx.key("entry", n)
        for _attempt in range(3):
            safety = await ctx.run.safety_check()
            if not field(safety, "can_trade", False):
                reasons = blocking_reasons(safety)
                await decide(
                    ctx, "entry", "skip", f"entry {n} blocked: {', '.join(reasons)}", reasons=reasons
                )
                return False
            try:
                response = await ctx.run.place_order(
                    order, idempotency_key=key, safety_token=field(safety, "safety_token")
                )
            except SafetyTokenExpiredError:
                # the token aged out between check and order: never reuse it, ask again
                ctx.log.info("safety token expired before entry %d; checking again", n)
                continue
            status = field(field(response, "result", {}) or {}, "status")
            await decide(
                ctx,
                "entry",
                "enter",
                f"entry {n}: {params.side} {params.quantity} {params.symbol}",
                idempotency_key=key,
                intent=field(response, "status"),
                status=status,
            )
            return True
        raise SafetyTokenExpiredError(f"safety token kept expiring before entry {n}")
