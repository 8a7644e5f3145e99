#!/usr/bin/env python3
"""Mean reversion: warm up from history, then decide once per completed live candle.

    KITE_ALGO_API_BASE=<url> KITE_ALGO_WORKER_TOKEN=<token> \
        python3 plugins/scripts/mean_reversion_worker.py [--symbol NSE:INFY] [--seconds 600]

The seed's restart flow: recover the run, ``warmup_history`` and rebuild the indicator state
(TA-Lib, :class:`supervisor.client.indicators.IndicatorState`), read the position back from the
run's P&L legs, then follow ``stream_candles``. The last warm-up bar is judged at once, then
every bar as it completes. Buy when the z-score <= -entry_z, sell when it is back >= 0. Keys
are per bar (``{run_id}:entry:{symbol}:{bar_ts}``), so a rerun never repeats an order.
Defaults to ``paper``.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from _example_env import load_env
from kite_algo_examples.bars import BarCloser

from supervisor.client import KiteAlgoWorkerClient, RunConfig, equity_market_order, warmup_history
from supervisor.client.indicators import IndicatorSnapshot, IndicatorState


class Trader:
    """Position and decisions for one symbol; one call per completed bar."""

    def __init__(self, run: Any, symbol: str, entry_z: float, position: int) -> None:
        self.run, self.symbol, self.entry_z, self.position = run, symbol, entry_z, position

    def on_bar(self, bar_ts: str, snap: IndicatorSnapshot) -> None:
        if not math.isfinite(snap.zscore):
            return
        if self.position == 0 and snap.zscore <= -self.entry_z:
            side, kind = "BUY", "entry"
        elif self.position > 0 and snap.zscore >= 0.0:
            side, kind = "SELL", "exit"
        else:
            print(f"{bar_ts} z={snap.zscore:+.2f} hold (position {self.position})")
            return
        key = f"{self.run.run_id}:{kind}:{self.symbol}:{bar_ts}"
        safety = self.run.safety_check()
        if not safety.can_trade:
            print(f"{bar_ts} {side} blocked: {safety.blocking_reasons}")
            return
        self.run.log_decision_event(
            decision_type=kind,
            action="enter" if side == "BUY" else "exit",
            summary=f"z-score {snap.zscore:.2f} on {self.symbol}: {side} 1",
            metadata={"bar_ts": bar_ts, "zscore": snap.zscore, "close": snap.close, "idempotency_key": key},
        )
        tradingsymbol = self.symbol.partition(":")[2] or self.symbol
        result = self.run.place_order(
            equity_market_order(tradingsymbol, side, 1, product="MIS"),
            idempotency_key=key,
            safety_token=safety.safety_token,
        )
        print(f"{bar_ts} z={snap.zscore:+.2f} {side}: {result['status']} {result['result']['status']}")
        self.position = 1 if side == "BUY" else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="NSE:INFY")
    parser.add_argument("--interval", default="minute")
    parser.add_argument("--period", type=int, default=20)
    parser.add_argument("--entry-z", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to follow live candles")
    args = parser.parse_args()
    env = load_env(default_mode="paper")
    config = RunConfig(
        strategy_run_id=env.run_id("mean_reversion"),
        template_id="mean-reversion",
        account_scope=env.account_scope,
        execution_mode=env.execution_mode,
    )
    client = KiteAlgoWorkerClient(env.config())
    try:
        with client.run(config) as run:
            need = 3 * args.period  # the seed's recovery helper polls until the history is there
            history = warmup_history(
                client, args.symbol, timeframe=args.interval, min_candles=need, lookback_days=2
            )
            state = IndicatorState(period=args.period)
            snap = state.warm(history)
            tradingsymbol = args.symbol.partition(":")[2] or args.symbol
            legs = run.get_run_pnl().get("legs") or []
            position = sum(int(leg["net_quantity"]) for leg in legs if leg["tradingsymbol"] == tradingsymbol)
            print(f"warmed up on {state.count} candles; position {position}")
            trader = Trader(run, args.symbol, args.entry_z, position)
            if snap is not None and snap.ts is not None:
                trader.on_bar(snap.ts.isoformat(), snap)  # judge the last warm-up bar at once
            deadline = time.monotonic() + args.seconds
            closer = BarCloser()
            next_beat = time.monotonic()
            with client.stream_candles(args.symbol, interval=args.interval) as events:
                for event in events:
                    for bar in closer.feed(event):
                        snap = state.update(bar)  # None for a bar the warm-up already counted
                        if snap is not None:
                            trader.on_bar(str(bar["ts"]), snap)
                    if time.monotonic() >= next_beat:  # well inside the backend's freshness window
                        run.heartbeat(metrics={"bars": state.count, "position": trader.position})
                        next_beat = time.monotonic() + 10.0
                    if time.monotonic() >= deadline:
                        break
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
