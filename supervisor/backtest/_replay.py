"""What the backtest's market shows, step by step: replayed candles or the seeded walk.

Pure. A replayed candle is four market steps a quarter of its interval apart, through the
classic OHLC path: open, then the extreme nearer the way it closed last (a bar that closed up
went down first: open, low, high, close; one that closed down: open, high, low, close), then
the close. So the paper engine sees every price of the bar that a resting order or a trigger
could have met, in an order that does not flatter a strategy, and a MARKET order placed on the
bar's close step fills at its close. Every instrument of the data steps together; one with no
candle at a time keeps its last price (an illiquid minute).

A step also carries each candle's volume, split evenly over its four steps
(:func:`step_volume`), so the candles cut from the steps (``_bars``) add up to the data's.

Only candles inside the NSE session (the sandbox's calendar) are replayed: the market is closed
at any other time, so such candles are dropped and counted. A ``day`` candle is stamped at its
date's midnight (as Kite's): its four steps spread over that date's session (09:15, then a
quarter of the session apart), and one of a non-trading date is dropped.

The market takes prices through ``Market(price_source=...)``: :class:`ReplaySource` is that
callable; the driver sets ``current`` to a step's prices before it steps the market.

Without data the sandbox's own seeded market draws the prices: :func:`synthetic_steps` gives
the same four steps a minute through every session of the period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from supervisor.sandbox._market_hours import IST, MarketHours
from supervisor.sandbox._universe import EQUITIES, INDICES

from ._data import Candle, DataError

__all__ = ["SUBSTEPS", "ReplaySource", "Step", "bar_path", "replay_steps", "step_volume", "synthetic_steps"]

SUBSTEPS = 4  # market steps per candle: open, one extreme, the other, close


class Step(NamedTuple):
    when: dt.datetime
    prices: dict[str, float] | None  # tradingsymbol -> price; None: the seeded walk draws
    bar_end: bool  # the last step of a candle (the report samples equity there)
    # tradingsymbol -> its candle's whole volume (one dict shared by the candle's four steps);
    # this step trades ``step_volume(volume, substep)`` of it
    volumes: dict[str, int] | None = None
    substep: int = 0  # 0..3: open, one extreme, the other, close


class ReplaySource:
    """The ``price_source`` of the backtest's ``Market``: the prices of the current step."""

    def __init__(self) -> None:
        self.current: Mapping[str, float] = {}

    def __call__(self, now: dt.datetime) -> Mapping[str, float]:
        return self.current


def bar_path(candle: Candle) -> tuple[float, float, float, float]:
    """The four prices a candle is replayed through (module docstring)."""
    if candle.close >= candle.open:
        return candle.open, candle.low, candle.high, candle.close
    return candle.open, candle.high, candle.low, candle.close


def _symbol(key: str) -> str:
    exchange, _, symbol = key.partition(":")
    if exchange != "NSE" or (symbol not in EQUITIES and symbol not in INDICES):
        raise DataError(
            f"{key}: not in the sandbox's universe (NSE equities of the NIFTY 50 and the indices "
            "NIFTY 50, NIFTY BANK); options are priced from their index"
        )
    return symbol


def replay_steps(
    history: Mapping[str, list[Candle]], *, bar_seconds: int, hours: MarketHours
) -> tuple[list[Step], int]:
    """The steps that replay ``history`` (keyed ``"NSE:INFY"``), and the number of candles
    dropped for lying outside the session. Raises :class:`DataError` for an unknown instrument."""
    by_time: dict[tuple[dt.datetime, dt.timedelta], dict[str, Candle]] = {}
    dropped = 0
    for key, candles in history.items():
        symbol = _symbol(key)
        for candle in candles:
            placed = _placement(candle.ts, bar_seconds, hours)
            if placed is not None:
                by_time.setdefault(placed, {})[symbol] = candle
            else:
                dropped += 1
    steps: list[Step] = []
    for placed in sorted(by_time):
        ts, quarter = placed
        at_ts = sorted(by_time[placed].items())
        paths = {symbol: bar_path(candle) for symbol, candle in at_ts}
        volumes = {symbol: candle.volume for symbol, candle in at_ts}
        for k in range(SUBSTEPS):
            prices = {symbol: path[k] for symbol, path in paths.items()}
            steps.append(Step(ts + k * quarter, prices, k == SUBSTEPS - 1, volumes, k))
    return steps, dropped


def _placement(
    ts: dt.datetime, bar_seconds: int, hours: MarketHours
) -> tuple[dt.datetime, dt.timedelta] | None:
    """Where a candle's steps go: the first's instant and their spacing; None outside a session.
    A day candle (stamped at its date's midnight, as Kite's) spans that date's session."""
    if bar_seconds >= 86400:
        session = hours.calendar.session(ts.astimezone(IST).date())
        if session is None:
            return None
        opens, closes = session
        return opens, (closes - opens) / SUBSTEPS
    if not hours.is_open(ts):
        return None
    return ts, dt.timedelta(seconds=bar_seconds / SUBSTEPS)


def step_volume(volume: int, k: int) -> int:
    """The share of a candle's ``volume`` traded at its step ``k``: an even split, the remainder
    late, so the steps of a candle add up to its volume."""
    return volume * (k + 1) // SUBSTEPS - volume * k // SUBSTEPS


def synthetic_steps(
    start: dt.datetime, end: dt.datetime, *, hours: MarketHours, bar_seconds: int = 60
) -> Iterator[Step]:
    """Four steps a bar through every session between ``start`` and ``end`` (the walk draws)."""
    calendar = hours.calendar
    quarter = dt.timedelta(seconds=bar_seconds / SUBSTEPS)
    day = start.astimezone(IST).date()
    last = end.astimezone(IST).date()
    while day <= last:
        session = calendar.session(day)
        if session is not None:
            opens, closes = session
            at, k = opens, 0
            while at < closes:
                if start <= at < end:
                    yield Step(at, None, k % SUBSTEPS == SUBSTEPS - 1)
                at += quarter
                k += 1
        day += dt.timedelta(days=1)
