"""A backtest's figures, per strategy and in total. Pure: a ``BacktestResult`` in, numbers out.

* **net P&L**: realised + unrealised - charges at the end (the engine's ``run_pnl`` formula),
  after the strategies' own shutdown (what they did on ``stopping`` counts).
* **charges**: the engine's charges of every filled order (``_paper_orders.charges_for``).
* **trades**: fills (the engine's trade records). **Round trips**: a position from flat back to
  flat (or through zero) per instrument and product, its P&L its realised P&L less the charges
  of its orders; the **win rate** is the share of round trips that made money.
* **max drawdown**: the largest fall of the equity curve (net P&L sampled at the end of each
  bar) from its running peak, which starts at 0 (the opening capital).
* **exposure**: the share of samples with an open position.
* **Sharpe ratio**: of daily returns on :data:`CAPITAL` (the paper account's opening
  balance), the last sample of each IST day against the day before (the first against 0),
  annualised by sqrt(252); none with fewer than two days or no variation.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from supervisor.sandbox._market_hours import IST

from ._result import BacktestResult, EquitySample

__all__ = ["CAPITAL", "TOTAL", "Metrics", "equity_curve", "metrics", "round_trips"]

CAPITAL = 1_000_000.0  # the paper engine's opening balance per account scope
TOTAL = "TOTAL"
TRADING_DAYS = 252


@dataclass(frozen=True)
class Metrics:
    name: str
    net_pnl: float
    charges: float
    trades: int
    round_trips: int
    win_rate: float | None
    max_drawdown: float
    exposure: float
    sharpe: float | None
    restarts: int


def equity_curve(samples: Sequence[EquitySample], run_ids: Sequence[str]) -> list[tuple[float, float]]:
    """(net P&L, open position value) per sample, summed over ``run_ids``."""
    return [(sum(s.runs[r][0] for r in run_ids), sum(s.runs[r][1] for r in run_ids)) for s in samples]


def max_drawdown(equity: Sequence[float]) -> float:
    peak, worst = 0.0, 0.0
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


def sharpe(samples: Sequence[EquitySample], equity: Sequence[float]) -> float | None:
    closes: dict[Any, float] = {}
    for sample, value in zip(samples, equity, strict=True):
        closes[sample.when.astimezone(IST).date()] = value
    if len(closes) < 2:
        return None
    levels = [0.0, *closes.values()]
    returns = [(b - a) / CAPITAL for a, b in itertools.pairwise(levels)]
    spread = statistics.stdev(returns)
    if spread == 0:
        return None
    return statistics.fmean(returns) / spread * math.sqrt(TRADING_DAYS)


def round_trips(trades: Sequence[dict[str, Any]], order_charges: dict[str, Decimal]) -> list[Decimal]:
    """The net P&L of each closed round trip (module docstring), in fill order."""
    books: dict[tuple[str, str, str], list[Decimal]] = {}  # key -> [net qty, avg, realised, charges]
    charged: set[str] = set()
    closed: list[Decimal] = []
    for trade in trades:
        key = (str(trade["metadata"]["strategy_run_id"]), str(trade["tradingsymbol"]), str(trade["product"]))
        book = books.setdefault(key, [Decimal(0)] * 4)
        net, avg, realised, fees = book
        order_id = str(trade["order_id"])
        if order_id not in charged:  # an order's charges once, with its first fill
            charged.add(order_id)
            fees += order_charges.get(order_id, Decimal(0))
        qty, price = Decimal(int(trade["quantity"])), Decimal(str(trade["price"]))
        signed = qty if trade["transaction_type"] == "buy" else -qty
        if net == 0 or (net > 0) == (signed > 0):
            avg = (avg * abs(net) + price * qty) / (abs(net) + qty)
            net += signed
        else:
            closing = min(abs(net), qty)
            realised += (price - avg) * closing * (1 if net > 0 else -1)
            net += signed
            if net == 0 or (net > 0) == (signed > 0):  # flat, or through zero: a trip closed
                closed.append(realised - fees)
                realised, fees = Decimal(0), Decimal(0)
                avg = price if net != 0 else Decimal(0)
        books[key] = [net, avg, realised, fees]
    return closed


def _metrics(
    name: str,
    result: BacktestResult,
    run_ids: Sequence[str],
    restarts: int,
) -> Metrics:
    wanted = set(run_ids)
    trades = [t for t in result.trades if t["metadata"]["strategy_run_id"] in wanted]
    orders = {str(t["order_id"]) for t in trades}
    charges = sum((result.order_charges.get(o, Decimal(0)) for o in orders), Decimal(0))
    curve = equity_curve(result.samples, run_ids)
    equity = [e for e, _ in curve]
    trips = round_trips(trades, result.order_charges)
    wins = sum(1 for trip in trips if trip > 0)
    return Metrics(
        name=name,
        net_pnl=round(equity[-1], 2) if equity else 0.0,
        charges=float(charges),
        trades=len(trades),
        round_trips=len(trips),
        win_rate=wins / len(trips) if trips else None,
        max_drawdown=round(max_drawdown(equity), 2),
        exposure=sum(1 for _, value in curve if value > 0) / len(curve) if curve else 0.0,
        sharpe=sharpe(result.samples, equity),
        restarts=restarts,
    )


def metrics(result: BacktestResult) -> list[Metrics]:
    """One row per strategy, in config order, then the total."""
    rows = [
        _metrics(name, result, [run_id], result.restarts.get(name, 0)) for name, run_id in result.strategies
    ]
    run_ids = [run_id for _, run_id in result.strategies]
    rows.append(_metrics(TOTAL, result, run_ids, sum(result.restarts.values())))
    return rows
