"""What a backtest produced (plain records; pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["BacktestResult", "EquitySample"]


@dataclass(frozen=True)
class EquitySample:
    """Per strategy run: (net P&L, open position value) at ``when``, marked at the last prices."""

    when: dt.datetime
    runs: dict[str, tuple[float, float]]


@dataclass
class BacktestResult:
    """What a backtest produced: equity samples, fills, and what it cost."""

    strategies: list[tuple[str, str]]  # (strategy name, run id), in config order
    samples: list[EquitySample] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)  # the engine's trade records
    order_charges: dict[str, Decimal] = field(default_factory=dict)  # order id -> charges
    restarts: dict[str, int] = field(default_factory=dict)
    exit_code: int = 0
    steps: int = 0
    price_events: int = 0  # instrument prices replayed (or drawn)
    requests: int = 0  # served by the in-process transport
    first: dt.datetime | None = None
    last: dt.datetime | None = None
