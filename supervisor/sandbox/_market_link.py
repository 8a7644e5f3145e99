"""The seam to SANDBOX-MARKET's synthetic market and paper engine.

Builds ``Market``/``PaperEngine`` when their modules are present, restores the engine from a
persisted snapshot and advances the market on each tick (feeding ticks to the engine, which may
fill resting orders and trigger GTTs). Without those modules the sandbox still serves runs,
sessions, dry_run intents and timelines; paper calls answer ``503 Paper runtime is not available``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

log = logging.getLogger("supervisor.sandbox")


def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"supervisor.sandbox.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"supervisor.sandbox.{name}":
            raise
        return None


def build_market(*, seed: int, tick_interval: float, market_hours: str) -> tuple[Any, Any]:
    """``(market, engine)``, or ``(None, None)`` when the market modules are not installed."""
    universe_mod, market_mod, paper_mod = _module("_universe"), _module("_market"), _module("_paper")
    if universe_mod is None or market_mod is None or paper_mod is None:
        return None, None
    universe = universe_mod.Universe(seed)
    market = market_mod.Market(universe, seed=seed, tick_interval=tick_interval, hours=market_hours)
    engine = paper_mod.PaperEngine(market)
    return market, engine


def restore_engine(engine: Any, blob: bytes) -> None:
    if engine is not None and hasattr(engine, "restore"):
        engine.restore(blob)


def market_step(ctx: Any) -> None:
    """One market tick: new prices, engine fills; record fills on the runs' timelines."""
    now = ctx.now()
    ticks = ctx.market.step(now)
    if ctx.engine is None or not ticks:
        return
    events = ctx.engine.on_ticks(ticks, now) or []
    if not events:
        return
    from ._intents import record_execution_events

    state = ctx.state
    for event in events:
        run = state.runs.get(
            str(
                event.get("strategy_run_id")
                or (event.get("order") or {}).get("metadata", {}).get("strategy_run_id")
            )
        )
        if run is not None and isinstance(event.get("order"), dict):
            record_execution_events(state, run, {"order": event["order"]}, now)
    state.engine_changed()
    ctx.changed()
