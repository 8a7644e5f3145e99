"""The seam to SANDBOX-MARKET's synthetic market and paper engine.

Builds ``Market``/``PaperEngine`` when their modules are present, restores the engine from a
persisted snapshot and advances the market on each tick (feeding ticks to the engine, which may
fill resting orders and trigger GTTs). Without those modules the sandbox still serves runs,
sessions, dry_run intents and timelines; paper calls answer ``503 Paper runtime is not available``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("supervisor.sandbox")


@functools.cache  # the set of installed modules does not change while we run
def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"supervisor.sandbox.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"supervisor.sandbox.{name}":
            raise
        return None


_ALIASES: dict[str, tuple[str, ...]] = {
    "scope": ("scope", "account_scope", "account"),
    "run_id": ("run_id", "strategy_run_id"),
    "now": ("now", "at", "ts"),
    "order": ("order", "payload"),
    "orders": ("orders", "legs"),
    "all_or_none": ("all_or_none",),
    "attribution": ("attribution", "metadata"),
    "order_id": ("order_id",),
    "patch": ("patch", "changes", "modify"),
    "ticks": ("ticks",),
}


def call_by_name(fn: Callable[..., Any], **values: Any) -> Any:
    """Call ``fn`` passing each of its parameters by name from ``values`` (with aliases).

    The seam tolerates SANDBOX-MARKET's exact parameter names and order: ``scope`` fills a
    parameter called ``scope``, ``account_scope`` or ``account``, and so on; parameters with
    defaults that we have no value for are left alone. Raises ``TypeError`` when a required
    parameter cannot be filled.
    """
    by_alias = {alias: values[key] for key, aliases in _ALIASES.items() if key in values for alias in aliases}
    by_alias.update(values)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name in by_alias:
            if param.kind == param.POSITIONAL_ONLY:
                args.append(by_alias[param.name])
            else:
                kwargs[param.name] = by_alias[param.name]
        elif param.default is param.empty:
            raise TypeError(f"cannot fill parameter {param.name!r} of {getattr(fn, '__qualname__', fn)}")
    return fn(*args, **kwargs)


class EngineSeam:
    """The paper engine as the sandbox core calls it (see README "The engine seam")."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def _fn(self, *names: str) -> Callable[..., Any]:
        for name in names:
            fn = getattr(self.engine, name, None)
            if fn is not None:
                return fn  # type: ignore[no-any-return]
        raise AttributeError(f"paper engine has none of {names}")

    def place_order(
        self, scope: str, run_id: str, order: dict[str, Any], now: Any, *, attribution: Any = None
    ) -> Any:
        return call_by_name(self._fn("place_order"), scope=scope, run_id=run_id, order=order, now=now,
                            attribution=attribution)  # fmt: skip

    def place_basket(
        self,
        scope: str,
        run_id: str,
        orders: list[Any],
        all_or_none: bool,
        now: Any,
        *,
        attribution: Any = None,
    ) -> Any:
        return call_by_name(self._fn("place_basket"), scope=scope, run_id=run_id, orders=orders,
                            all_or_none=all_or_none, now=now, attribution=attribution)  # fmt: skip

    def preview_basket(self, scope: str, run_id: str, orders: list[Any], all_or_none: bool, now: Any) -> Any:
        return call_by_name(self._fn("preview_basket"), scope=scope, run_id=run_id, orders=orders,
                            all_or_none=all_or_none, now=now)  # fmt: skip

    def preview_order(self, scope: str, order: dict[str, Any], now: Any) -> Any:
        return call_by_name(self._fn("preview_order"), scope=scope, order=order, now=now)

    def run_pnl(self, run_id: str, now: Any) -> Any:
        return call_by_name(self._fn("run_pnl"), run_id=run_id, now=now)

    def funds(self, scope: str, now: Any) -> Any:
        return call_by_name(self._fn("funds"), scope=scope, now=now)

    def flatten_run(self, scope: str, run_id: str, now: Any) -> Any:
        return call_by_name(self._fn("flatten_run"), scope=scope, run_id=run_id, now=now)

    def orders(self, run_id: str) -> Any:
        return call_by_name(self._fn("orders"), run_id=run_id)

    def trades(self, run_id: str) -> Any:
        return call_by_name(self._fn("trades"), run_id=run_id)

    def cancel_order(self, run_id: str, order_id: str, now: Any) -> Any:
        return call_by_name(self._fn("cancel_order", "cancel"), run_id=run_id, order_id=order_id, now=now)

    def modify_order(self, run_id: str, order_id: str, patch: dict[str, Any], now: Any) -> Any:
        return call_by_name(self._fn("modify_order", "modify"), run_id=run_id, order_id=order_id, patch=patch,
                            now=now)  # fmt: skip

    def on_ticks(self, ticks: Any, now: Any) -> Any:
        return call_by_name(self._fn("on_ticks"), ticks=ticks, now=now)

    def snapshot(self) -> bytes:
        """The engine's persisted form (empty when the engine cannot snapshot)."""
        fn = getattr(self.engine, "snapshot", None)
        return bytes(fn()) if fn is not None else b""

    def restore(self, blob: bytes) -> None:
        fn = getattr(self.engine, "restore", None)
        if fn is not None and blob:
            fn(blob)

    def order_history(self, order_id: str) -> Any:
        return call_by_name(self._fn("order_history"), order_id=order_id)

    def __getattr__(self, name: str) -> Any:
        # anything else (GTT, options helpers) passes straight through to the engine
        return getattr(self.engine, name)


def build_market(*, seed: int, tick_interval: float, market_hours: str) -> tuple[Any, Any]:
    """``(market, engine)``: SANDBOX-MARKET's when installed, else the small built-in fallback."""
    universe_mod, market_mod, paper_mod = _module("_universe"), _module("_market"), _module("_paper")
    if universe_mod is None or market_mod is None or paper_mod is None:
        from ._fallback_paper import FallbackEngine, FallbackMarket

        fallback = FallbackMarket(seed)
        return fallback, EngineSeam(FallbackEngine(fallback))
    values = {
        "seed": seed,
        "tick_interval": tick_interval,
        "hours": market_hours,
        "market_hours": market_hours,
    }
    universe = call_by_name(universe_mod.Universe, **values)
    market = call_by_name(market_mod.Market, universe=universe, **values)
    engine = call_by_name(paper_mod.PaperEngine, market=market, universe=universe, **values)
    return market, EngineSeam(engine)


def restore_engine(engine: Any, blob: bytes) -> None:
    if engine is not None:
        engine.restore(blob)


def market_step(ctx: Any) -> None:
    """One market tick: new prices, engine fills; record fills on the runs' timelines."""
    now = ctx.now()
    ticks = ctx.market.step(now)
    signal = ctx.extras.get("tick_signal")
    if signal is not None:
        signal.fire()
    if ctx.engine is None or not ticks:
        return
    events = ctx.engine.on_ticks(ticks, now) or []
    if _module("_routes_market") is None and hasattr(ctx.engine, "book"):
        from ._fallback_gtt import evaluate

        if evaluate(ctx.engine, now):
            ctx.state.engine_changed()
            ctx.changed()
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
