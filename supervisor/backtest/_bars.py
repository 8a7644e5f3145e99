"""The backtest's candles: minute bars cut from the replay's steps, the sandbox's ``bar_source``.

Pure: no I/O, nothing reads the time. ``Market(bar_source=ReplayBars(steps, hours))`` makes the
sandbox's candles (live streams, ``/worker/market/candles``, history) read the same steps the
paper engine trades on, so a candle strategy decides on the bars it fills against.

A minute bar of an instrument is the trades (steps) shown in that minute: first, highest,
lowest and last price, and the sum of their volumes (``Step.volumes``: a candle's volume split
over its four steps). So with ``minute`` data a minute bar *is* the data's candle (its steps
are at 0, 15, 30 and 45 s), and with coarser data (``5minute``: steps 75 s apart) the bars of a
data candle's minutes merge back into it: every bucket's OHLC are the first, highest, lowest and
last trade of the bucket, as in the live sandbox (``_candles``). The part of a minute shown at
second ``s`` is its trades at or before ``s``.

Gaps: a minute with no trade of the instrument is flat at its last price, volume 0 (the replay
keeps the last price too); so are a day's minutes before its first trade, at the close of the
instrument's previous day with data (at the day's first trade when there is none). A trading day
with no trade of the instrument at all has no bars (``minute_bars`` empty, ``day_bar`` None):
history and candles leave it out, never mixing synthetic bars with real ones. ``first_day`` is
the first day of the steps (the warm-up's, when the backtest loads days before ``--from``).

Quotes read the same bars (``session_so_far``): a tick's ``ohlc`` is the day so far (``close``
the instrument's previous day's close in the data) and its ``volume`` the data's volume traded
so far that day.

Buckets follow the sandbox's session clock (``PricePath.session``: 09:15 IST, 375 minutes).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from supervisor.sandbox._market_hours import IST, MarketHours
from supervisor.sandbox._path import Bar, PricePath

from ._replay import Step, step_volume

__all__ = ["ReplayBars", "SymbolBars"]

CACHE_DAYS = 256  # instrument-days of bars kept (a few hundred KB each)


class _Trade(NamedTuple):
    second: int  # within its minute
    price: float
    volume: int


class _Day(NamedTuple):
    bars: list[Bar]  # every minute of the session
    trades: list[list[_Trade]]  # per minute, in order
    high_through: list[float]  # the highest high of minutes 0..i (a quote's session so far)
    low_through: list[float]
    volume_before: list[int]  # traded before minute i


class ReplayBars:
    """Every instrument's bars over ``steps`` (oldest first); ``self("INFY")`` is INFY's
    ``BarSource`` (tradingsymbols as the steps name them: ``"INFY"``, ``"NIFTY 50"``)."""

    def __init__(self, steps: Sequence[Step], hours: MarketHours, *, cache_days: int = CACHE_DAYS) -> None:
        self._steps = steps
        self._whens = [step.when for step in steps]
        self._clock = PricePath(0, hours)  # its session clock only: no price is drawn
        self._first = steps[0].when.astimezone(IST).date() if steps else None
        self._cache_days = cache_days
        self._days: OrderedDict[tuple[str, int], _Day | None] = OrderedDict()
        self._closes: OrderedDict[tuple[str, int], float | None] = OrderedDict()  # close_before

    def __call__(self, symbol: str) -> SymbolBars:
        return SymbolBars(self, symbol)

    def first_day(self) -> dt.date | None:
        return self._first

    def day(self, symbol: str, day: dt.date) -> _Day | None:
        """``symbol``'s bars of ``day`` (None: no trade of it that day). Memoised."""
        key = (symbol, day.toordinal())
        if key in self._days:
            self._days.move_to_end(key)
            return self._days[key]
        return _remember(self._days, key, self._cut(symbol, day), self._cache_days)

    def close_before(self, symbol: str, day: dt.date) -> float | None:
        """The close of ``symbol``'s last day with trades before ``day`` (None: there is none)."""
        key = (symbol, day.toordinal())
        if key in self._closes:
            self._closes.move_to_end(key)
            return self._closes[key]
        close, first = None, self._first
        back = self._clock.previous_day(day)
        while first is not None and back >= first:
            found = self.day(symbol, back)
            if found is not None:
                close = found.bars[-1].close
                break
            back = self._clock.previous_day(back)
        return _remember(self._closes, key, close, self._cache_days * 16)

    def _cut(self, symbol: str, day: dt.date) -> _Day | None:
        clock = self._clock
        if not clock.trades_on(day):
            return None
        start, minutes = clock.session(day)
        lo = bisect.bisect_left(self._whens, start)
        hi = bisect.bisect_left(self._whens, start + dt.timedelta(minutes=minutes))
        trades: list[list[_Trade]] = [[] for _ in range(minutes)]
        seen = False
        for step in self._steps[lo:hi]:
            prices = step.prices
            if prices is None or symbol not in prices:
                continue
            offset = int((step.when - start).total_seconds())
            volume = step_volume(step.volumes.get(symbol, 0), step.substep) if step.volumes else 0
            trades[offset // 60].append(_Trade(offset % 60, prices[symbol], volume))
            seen = True
        if not seen:
            return None
        last = trades[0][0].price if trades[0] else None
        if last is None:
            before = self.close_before(symbol, day)
            last = before if before is not None else next(t for t in trades if t)[0].price
        bars: list[Bar] = []
        for minute, shown in enumerate(trades):
            at = start + dt.timedelta(minutes=minute)
            if shown:
                bars.append(_bar(at, shown))
                last = shown[-1].price
            else:
                bars.append(Bar(at, last, last, last, last, 0))
        return _Day(
            bars,
            trades,
            list(itertools.accumulate((b.high for b in bars), max)),
            list(itertools.accumulate((b.low for b in bars), min)),
            [0, *itertools.accumulate(b.volume for b in bars)],
        )


K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: OrderedDict[K, V], key: K, value: V, size: int) -> V:
    """``value`` memoised under ``key`` in the bounded ``cache`` (least recently used out)."""
    cache[key] = value
    if len(cache) > size:
        cache.popitem(last=False)
    return value


def _bar(start: dt.datetime, trades: Sequence[_Trade]) -> Bar:
    prices = [t.price for t in trades]
    return Bar(start, prices[0], max(prices), min(prices), prices[-1], sum(t.volume for t in trades))


class SymbolBars:
    """One instrument's bars (``supervisor.sandbox._candles.BarSource``)."""

    def __init__(self, book: ReplayBars, symbol: str) -> None:
        self._book, self.symbol = book, symbol

    def first_day(self) -> dt.date | None:
        return self._book.first_day()

    def minute_bars(self, day: dt.date) -> list[Bar]:
        found = self._book.day(self.symbol, day)
        return [] if found is None else found.bars

    def day_bar(self, day: dt.date) -> Bar | None:
        found = self._book.day(self.symbol, day)
        if found is None:
            return None
        midnight = dt.datetime.combine(day, dt.time(0, 0), IST)
        return Bar(
            midnight,
            found.bars[0].open,
            found.high_through[-1],
            found.low_through[-1],
            found.bars[-1].close,
            found.volume_before[-1],
        )

    def partial_minute(self, day: dt.date, minute: int, second: int) -> Bar:
        found = self._book.day(self.symbol, day)
        if found is None:
            raise ValueError(f"{self.symbol} has no bars on {day}")  # callers ask days with bars
        shown = [t for t in found.trades[minute] if t.second <= second]
        if shown:
            return _bar(found.bars[minute].start, shown)
        flat = found.bars[minute - 1].close if minute else found.bars[0].open
        return Bar(found.bars[minute].start, flat, flat, flat, flat, 0)

    def session_so_far(self, day: dt.date, minute: int, second: int) -> tuple[Bar, float] | None:
        found = self._book.day(self.symbol, day)
        if found is None:
            return None
        now = self.partial_minute(day, minute, second)
        high, low = now.high, now.low
        if minute:
            high, low = max(high, found.high_through[minute - 1]), min(low, found.low_through[minute - 1])
        midnight = dt.datetime.combine(day, dt.time(0, 0), IST)
        opened = found.bars[0].open
        so_far = Bar(midnight, opened, high, low, now.close, found.volume_before[minute] + now.volume)
        previous = self._book.close_before(self.symbol, day)
        return so_far, opened if previous is None else previous
