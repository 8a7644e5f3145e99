"""Option spread: backend-backed contract selection and the options run lifecycle.

Pattern taught here: never compute strikes, lot sizes or trading symbols in the strategy. The
backend's options namespace (``ctx.client.options``) knows the chain, so:

1. ``options.ensure_session(underlying)`` makes sure the backend tracks the underlying;
2. ``resolve_spread(options, underlying=..., product=..., spec=SpreadSpec(...))`` turns a
   *description* (sell the ATM call, buy the call one strike above, this week's expiry) into
   concrete legs with real symbols and quantities (lots x lot size). Resolvers only build
   payloads: they never create runs or trade;
3. the **options run** is created once for our run id (``options.create_run(...,
   strategy_run_id=ctx.run.run_id)``) and recovered by reading its state after a restart;
4. entry is explicit and guarded: ``preview_entry`` first, then a fresh ``safety_check()`` and
   ``options.enter(run_id, safety_token=..., session_nonce=..., idempotency_key=...)``;
5. afterwards the strategy watches ``get_protection_state`` and the run's P&L, and exits
   (``options.exit``) only on its own decision: when ``exit_on_stop`` is set and the daemon
   stops it. By default stopping leaves the position to the backend's protection.
"""

from __future__ import annotations

from typing import Any, Literal

import trio
from pydantic import BaseModel, ConfigDict, Field

from supervisor import Strategy, StrategyContext
from supervisor.client import NotFoundError, SpreadLegSelection, SpreadSpec, resolve_spread

from ._common import blocking_reasons, decide, field, net_pnl

__all__ = ["OptionSpread", "OptionSpreadParams"]


class OptionSpreadParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    underlying: str = Field(default="NIFTY", description="index or stock with listed options")
    expiry: str = Field(default="current_week", description="expiry selector or ISO date")
    product: Literal["MIS", "NRML"] = "MIS"
    option_type: Literal["CE", "PE"] = "CE"
    short_offset: str = Field(default="ATM", description="strike of the sold leg, e.g. ATM, +1_strike")
    long_offset: str = Field(default="+1_strike", description="strike of the bought (protective) leg")
    lots: int = Field(default=1, ge=1, le=50)
    stoploss_pct: float = Field(default=2.0, gt=0, le=100, description="backend protection stop-loss")
    monitor_interval_s: float = Field(default=30.0, gt=0)
    exit_on_stop: bool = Field(default=False, description="exit the spread when the daemon stops us")


def _spread_name(params: OptionSpreadParams) -> str:
    kind = "call" if params.option_type == "CE" else "put"
    return f"vertical_{kind}_spread"


class OptionSpread(Strategy[OptionSpreadParams]):
    """A two-leg vertical spread chosen by the backend's resolvers, entered once, monitored."""

    Params = OptionSpreadParams

    async def run(self, ctx: StrategyContext[OptionSpreadParams]) -> None:
        params = ctx.params
        options = ctx.client.options
        run_id = ctx.run.run_id
        await options.ensure_session(params.underlying)
        state = await self._existing(options, run_id) if ctx.recovered else None
        if state is None:
            legs = await self._resolve(ctx)
            await options.create_run(
                strategy_name=f"{params.underlying} {_spread_name(params)}",
                product=params.product,
                legs=legs,
                protection={"stoploss_pct": params.stoploss_pct},
                metadata={"source": "kite_algo_examples.option_spread"},
                strategy_run_id=run_id,
            )
            symbols = [str(field(leg, "tradingsymbol")) for leg in legs]
            await decide(ctx, "signal", "observe", f"spread resolved: {symbols}", legs=symbols)
        if not _entered(state):
            await self._enter(ctx)
        try:
            while not ctx.stopping.is_set():
                protection = await options.get_protection_state(run_id)
                pnl = await ctx.run.get_run_pnl()
                ctx.progress(net_pnl=net_pnl(pnl), protection=str(field(protection, "status", "unknown")))
                with trio.move_on_after(params.monitor_interval_s):
                    await ctx.stopping.wait()
        finally:
            if params.exit_on_stop and ctx.stopping.is_set():
                with trio.CancelScope(shield=True), trio.move_on_after(10):
                    await self._exit(ctx)

    async def _resolve(self, ctx: StrategyContext[OptionSpreadParams]) -> list[dict[str, Any]]:
        params = ctx.params
        spec = SpreadSpec(
            spread_type=_spread_name(params),
            expiry=params.expiry,
            legs=[
                SpreadLegSelection(
                    selection={"option_type": params.option_type, "offset": params.short_offset},
                    transaction_type="SELL",
                    lots=params.lots,
                ),
                SpreadLegSelection(
                    selection={"option_type": params.option_type, "offset": params.long_offset},
                    transaction_type="BUY",
                    lots=params.lots,
                ),
            ],
        )
        spread = await resolve_spread(
            ctx.client.options, underlying=params.underlying, product=params.product, spec=spec
        )
        return [_leg_payload(leg) for leg in spread]

    async def _enter(self, ctx: StrategyContext[OptionSpreadParams]) -> None:
        options = ctx.client.options
        run_id = ctx.run.run_id
        preview = await options.preview_entry(run_id)
        safety = await ctx.run.safety_check()
        if not field(safety, "can_trade", False):
            reasons = blocking_reasons(safety)
            await decide(ctx, "entry", "skip", f"spread entry blocked: {reasons}", reasons=reasons)
            return
        key = ctx.key("options", "enter")
        await decide(ctx, "entry", "enter", "entering the spread", idempotency_key=key, preview=preview)
        await options.enter(
            run_id,
            safety_token=field(safety, "safety_token"),
            session_nonce=ctx.run.session_nonce,
            idempotency_key=key,
        )

    async def _exit(self, ctx: StrategyContext[OptionSpreadParams]) -> None:
        key = ctx.key("options", "exit")
        await decide(ctx, "exit", "exit", "exiting the spread on stop (exit_on_stop)", idempotency_key=key)
        await ctx.client.options.exit(
            ctx.run.run_id, session_nonce=ctx.run.session_nonce, idempotency_key=key
        )

    @staticmethod
    async def _existing(options: Any, run_id: str) -> Any:
        try:
            return await options.get_run_state(run_id)
        except NotFoundError:
            return None


def _entered(state: Any) -> bool:
    status = str(field(state, "status", "") or "")
    return status not in ("", "created", "entry_previewed")


def _leg_payload(leg: Any) -> dict[str, Any]:
    if hasattr(leg, "model_dump"):
        return dict(leg.model_dump(exclude_none=True))
    if isinstance(leg, dict):
        return {k: v for k, v in leg.items() if v is not None}
    import msgspec

    return {k: v for k, v in msgspec.structs.asdict(leg).items() if v is not None}
