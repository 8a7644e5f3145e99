"""Live exit preview: operational safety around the one call that can flatten a live account.

Pattern taught here: *look before you exit*. ``exit_run(dry_run=True)`` asks the backend for
its exit plan (the legs it would close and the orders it would send) without placing anything
and without changing the run. This strategy:

1. refuses to work on a **live** run unless ``KITE_ALGO_ENABLE_LIVE=1`` is set in the daemon's
   environment (the seed's live acknowledgement). The refusal is logged on the timeline and the
   strategy ends without touching the run;
2. optionally opens a small position (``entry_symbol``) so that a paper demo has something to
   preview (idempotent key ``{run_id}:entry:{symbol}``);
3. every ``preview_interval_s`` previews the exit with the **same** reason and key it would use
   for the real exit (``{run_id}:exit:guard``) and logs the plan as a decision event whenever it
   changes; progress reports the planned legs and the net P&L;
4. only when ``exit_below_net_pnl`` is set and the run's net P&L falls below it does it send the
   real exit (same key, so a retry cannot exit twice), log the decision and end.

Previews need a run that holds positions: on a ``dry_run`` run the backend answers any exit by
closing the run, so this strategy never calls ``exit_run`` there and only reports P&L.
"""

from __future__ import annotations

import os
from typing import Any

import trio
from pydantic import BaseModel, ConfigDict, Field

from supervisor import Strategy, StrategyContext
from supervisor.client import equity_market_order

from ._common import decide, field, live_refusal, net_pnl

__all__ = ["LiveExitPreview", "LiveExitPreviewParams"]


class LiveExitPreviewParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    preview_interval_s: float = Field(default=60.0, gt=0)
    exit_below_net_pnl: float | None = Field(
        default=None, description="real exit when net P&L (INR) falls below this; null = preview only"
    )
    reason: str = Field(default="guard: net P&L below limit", min_length=1, max_length=200)
    entry_symbol: str | None = Field(default=None, description="NSE symbol to buy once for the demo")
    entry_quantity: int = Field(default=1, gt=0)


def _plan_summary(preview: Any) -> tuple[int, list[str]]:
    plan = field(preview, "exit", {}) or {}
    legs = list(field(plan, "legs", None) or [])
    names = sorted(str(field(leg, "tradingsymbol", field(leg, "symbol", "?"))) for leg in legs)
    return len(legs), names


class LiveExitPreview(Strategy[LiveExitPreviewParams]):
    """Preview the run's exit periodically; exit for real only past an explicit loss limit."""

    Params = LiveExitPreviewParams

    async def run(self, ctx: StrategyContext[LiveExitPreviewParams]) -> None:
        params = ctx.params
        mode = str(field(ctx.run.run, "execution_mode", "paper"))
        refusal = live_refusal(mode, os.environ)
        if refusal is not None:
            ctx.log.error("%s", refusal)
            await decide(ctx, "note", "skip", refusal, execution_mode=mode)
            return
        if params.entry_symbol is not None:
            order = equity_market_order(params.entry_symbol, "BUY", params.entry_quantity)
            safety = await ctx.run.safety_check()
            if field(safety, "can_trade", False):
                await ctx.run.place_order(
                    order,
                    idempotency_key=ctx.key("entry", params.entry_symbol),
                    safety_token=field(safety, "safety_token"),
                )
        exit_key = ctx.key("exit", "guard")
        last_plan: tuple[int, list[str]] | None = None
        while not ctx.stopping.is_set():
            pnl = net_pnl(await ctx.run.get_run_pnl())
            if mode == "dry_run":
                ctx.progress(net_pnl=pnl, planned_legs=0)
            else:
                preview = await ctx.run.exit_run(dry_run=True, reason=params.reason, idempotency_key=exit_key)
                plan = _plan_summary(preview)
                if plan != last_plan:
                    last_plan = plan
                    await decide(
                        ctx,
                        "exit",
                        "observe",
                        f"exit preview: {plan[0]} leg(s) would close {plan[1]}",
                        planned_legs=plan[0],
                        symbols=plan[1],
                        net_pnl=pnl,
                        idempotency_key=exit_key,
                    )
                ctx.progress(net_pnl=pnl, planned_legs=plan[0])
                if params.exit_below_net_pnl is not None and pnl < params.exit_below_net_pnl:
                    await decide(
                        ctx,
                        "exit",
                        "exit",
                        f"{params.reason}: net P&L {pnl:.2f} < {params.exit_below_net_pnl}",
                        net_pnl=pnl,
                        limit=params.exit_below_net_pnl,
                        idempotency_key=exit_key,
                    )
                    result = await ctx.run.exit_run(reason=params.reason, idempotency_key=exit_key)
                    ctx.log.warning("exited: %s", field(result, "status"))
                    ctx.progress(net_pnl=pnl, exited=True)
                    return
            with trio.move_on_after(params.preview_interval_s):
                await ctx.stopping.wait()
