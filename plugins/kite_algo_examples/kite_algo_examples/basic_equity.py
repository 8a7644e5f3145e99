"""Basic equity: the raw-client baseline. One entry, then P&L reads; never an automatic exit.

Pattern taught here: the smallest useful strategy, written against the plain client
(``ctx.client``) with every argument visible, as the seed's raw-client lifecycle does:

1. place **one** entry with ``client.place_order(run_id, order, idempotency_key=...,
   session_nonce=...)``. The key is deterministic (``{run_id}:entry:{symbol}``), so a restart
   of the strategy (or of the whole daemon) replays the same key and the backend answers
   ``deduped`` instead of buying again;
2. read the run's grouped P&L every ``pnl_interval_s`` seconds and report it with
   ``ctx.progress(net_pnl=...)`` (which also proves liveness to the daemon);
3. **never exit on its own**: exiting is a decision, and this baseline makes none. The position
   stays until an operator (or another strategy) exits the run.

The daemon already created or recovered the run and holds its session; the raw client still
needs the session nonce on guarded calls, hence ``session_nonce=ctx.run.session_nonce``.
"""

from __future__ import annotations

from typing import Literal

import trio
from pydantic import BaseModel, ConfigDict, Field

from supervisor import Strategy, StrategyContext
from supervisor.client import equity_market_order

from ._common import decide, field, net_pnl

__all__ = ["BasicEquity", "BasicEquityParams"]


class BasicEquityParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(default="INFY", description="NSE trading symbol")
    side: Literal["BUY", "SELL"] = "BUY"
    quantity: int = Field(default=1, gt=0)
    product: Literal["CNC", "MIS"] = "CNC"
    pnl_interval_s: float = Field(default=30.0, gt=0, description="how often to read the run's P&L")


class BasicEquity(Strategy[BasicEquityParams]):
    """One idempotent market entry, then P&L monitoring; no exit."""

    Params = BasicEquityParams

    async def run(self, ctx: StrategyContext[BasicEquityParams]) -> None:
        params = ctx.params
        run_id = ctx.run.run_id
        order = equity_market_order(params.symbol, params.side, params.quantity, product=params.product)
        key = ctx.key("entry", params.symbol)
        response = await ctx.client.place_order(
            run_id, order, idempotency_key=key, session_nonce=ctx.run.session_nonce
        )
        result = field(response, "result", {}) or {}
        # "accepted" the first time, "deduped" when a restart replays the same key
        ctx.log.info("entry %s: %s / %s", key, field(response, "status"), field(result, "status"))
        if not ctx.recovered or field(response, "status") != "deduped":
            await decide(
                ctx,
                "entry",
                "enter",
                f"{params.side} {params.quantity} {params.symbol} (basic entry)",
                idempotency_key=key,
                status=field(result, "status"),
            )
        while not ctx.stopping.is_set():
            pnl = await ctx.client.get_run_pnl(run_id)
            ctx.progress(net_pnl=net_pnl(pnl), entry=str(field(result, "status")))
            with trio.move_on_after(params.pnl_interval_s):
                await ctx.stopping.wait()
