"""The synthetic market's price path: one seeded path per instrument, on its 0.05 tick grid.

Pure: no I/O, nothing reads the time, every value is a function of (seed, series, instant).
The path is built top-down so that any instant, minute or day costs one day's work at most,
never a replay from an epoch:

1. **Day closes.** A trading day's close is ``reference * exp(x(day))``, ``x`` value noise
   over the date's ordinal: octave ``k`` (0..``OCTAVES - 1``) is a hash-seeded normal every
   ``2**k`` days, linearly interpolated, of amplitude ``sigma * sqrt(2**k / 8)``, so the change
   over ``h`` days grows like ``sigma * sqrt(h)`` (a random walk) up to ``2**OCTAVES`` days and
   stays bounded beyond (about ``8 * sigma``): prices wander without drifting off over years.
   A day opens at the previous trading day's close (no overnight gap); its high and low are
   drawn from the day alone, so a day candle is O(1).
2. **Minutes.** Inside the day, a Brownian bridge from open to close with an excursion above
   and below each minute (one generator seeded with (seed, series, day)); a monotone
   piecewise-linear map then sends the highest excursion to the day's high and the lowest to
   the day's low, fixing everything between the open and the close. So the highest minute high
   *is* the day high, and so on.
3. **Trades.** A minute holds one trade a second: the first is the minute's open, the last its
   close, and two drawn seconds in between are its high and low; the rest lie between them.

Invariants (``tests/sandbox/test_path.py``): every price is a positive multiple of 0.05; a
bucket's OHLC are the first, highest, lowest and last trade in it, at every level; the close of
one minute (and day) is the open of the next; volume is a day total split over the minutes by
a fixed intraday profile, and over a minute's seconds evenly, so it only accumulates.

Sessions: with ``nse`` hours a day is an NSE trading day (``_calendar``) traded 09:15-15:30
IST, 375 minutes; outside it the price is the last session's close. With ``always`` every IST
date trades 00:00-24:00, 1,440 minutes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import random
import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from ._market_hours import IST, MarketHours

__all__ = ["TICK", "Bar", "PricePath", "Series", "merge", "ticks_to_price"]

TICK = 0.05
OCTAVES = 9  # value noise up to 512 days: a walk for ~1.4 years, bounded beyond
RANGE_SHARE = 0.5  # a day's high/low reach beyond its open/close, in daily sigmas
EXCURSION_SHARE = 0.6  # a minute's high/low reach beyond its open/close, in minute sigmas
SECONDS = 60  # trades a minute
_MIDNIGHT = dt.time(0, 0)


@dataclass(frozen=True)
class Series:
    """What one path is drawn for: ``name`` (its seed), level, daily sigma and day volume."""

    name: str
    reference: float
    sigma: float  # standard deviation of a day's log return
    day_volume: int = 0  # the mean volume of a day (0: an index, which has none)


class Bar(NamedTuple):
    """A bucket of trades: ``start`` (aware), OHLC on the tick grid, volume."""

    start: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: int


def ticks_to_price(ticks: int) -> float:
    return round(ticks * TICK, 2)


def merge(bars: Sequence[Bar], start: dt.datetime | None = None) -> Bar:
    """The bucket of consecutive ``bars`` (non-empty): first open, extremes, last close, sum."""
    return Bar(
        start or bars[0].start,
        bars[0].open,
        max(b.high for b in bars),
        min(b.low for b in bars),
        bars[-1].close,
        sum(b.volume for b in bars),
    )


def _normals(*key: object) -> tuple[float, float]:
    """Two independent standard normals, a function of ``key`` alone (Box-Muller on a hash)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=16).digest()
    a, b = struct.unpack("<QQ", digest)
    u1 = (a + 1) / 18446744073709551617.0  # (0, 1]
    u2 = b / 18446744073709551616.0
    r = math.sqrt(-2.0 * math.log(u1))
    return r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)


def _rng(*key: object) -> random.Random:
    return random.Random(hashlib.blake2b(repr(key).encode(), digest_size=16).digest())


K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A bounded memo (pure values only: evicting costs a recomputation, never a result)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


class _Minutes(NamedTuple):
    """One series' day in integer ticks: per-minute OHLC and the cumulative volume profile."""

    opens: list[int]
    highs: list[int]
    lows: list[int]
    closes: list[int]
    volume_before: list[int]  # volume traded before minute i (len N + 1; the last is the day's)
    high_through: list[int]  # the highest high of minutes 0..i
    low_through: list[int]  # the lowest low of minutes 0..i


class _Trades(NamedTuple):
    """A minute's trades in integer ticks, with their running extremes."""

    prices: list[int]
    high_through: list[int]
    low_through: list[int]


class PricePath:
    """Seeded paths on a market clock (module docstring). Never blocks, never reads the time.

    Memoises days and minutes in bounded caches (``cache_days`` series-days).
    """

    def __init__(self, seed: int, hours: MarketHours, *, cache_days: int = 512) -> None:
        self.seed = seed
        self.hours = hours
        self._x: _Lru[tuple[str, int], float] = _Lru(cache_days * 4)
        self._minutes: _Lru[tuple[str, int], _Minutes] = _Lru(cache_days)
        self._bars: _Lru[tuple[str, int], list[Bar]] = _Lru(cache_days // 4)
        self._trades: _Lru[tuple[str, int, int], _Trades] = _Lru(cache_days)
        self._profiles: dict[int, list[float]] = {}

    # -- sessions -----------------------------------------------------------------------------
    def trades_on(self, day: dt.date) -> bool:
        return self.hours.always_open or self.hours.calendar.is_trading_day(day)

    def session(self, day: dt.date) -> tuple[dt.datetime, int]:
        """The session's start on a trading ``day`` and its length in minutes."""
        if self.hours.always_open:
            return dt.datetime.combine(day, _MIDNIGHT, IST), 1440
        return dt.datetime.combine(day, dt.time(9, 15), IST), 375

    def previous_day(self, day: dt.date) -> dt.date:
        """The last trading day strictly before ``day``."""
        day -= dt.timedelta(days=1)
        while not self.trades_on(day):
            day -= dt.timedelta(days=1)
        return day

    def next_day(self, day: dt.date) -> dt.date:
        """The first trading day strictly after ``day``."""
        day += dt.timedelta(days=1)
        while not self.trades_on(day):
            day += dt.timedelta(days=1)
        return day

    def trade_instant(self, at: dt.datetime) -> tuple[dt.date, int, int]:
        """The (day, minute, second) of the trade shown at ``at``: the one of that second in a
        session, else the last trade of the latest session before ``at``."""
        day = at.astimezone(IST).date()
        if self.trades_on(day):
            start, minutes = self.session(day)
            elapsed = int((at - start).total_seconds() // 1)
            if 0 <= elapsed < minutes * 60:
                return day, elapsed // 60, elapsed % 60
            if elapsed >= minutes * 60:
                return day, minutes - 1, SECONDS - 1
        day = self.previous_day(day)
        return day, self.session(day)[1] - 1, SECONDS - 1

    def last_trade_at(self, at: dt.datetime) -> dt.datetime:
        """The instant of the trade shown at ``at`` (whole seconds)."""
        day, minute, second = self.trade_instant(at)
        return self.session(day)[0] + dt.timedelta(minutes=minute, seconds=second)

    # -- levels -------------------------------------------------------------------------------
    def _level(self, series: Series, ordinal: int) -> float:
        """``x``: the log of a day's close over the reference (value noise, module docstring)."""
        key = (series.name, ordinal)
        cached = self._x.get(key)
        if cached is not None:
            return cached
        x = 0.0
        for k in range(OCTAVES):
            span = 1 << k
            node, offset = divmod(ordinal, span)
            left = _normals(self.seed, series.name, "x", k, node)[0]
            right = _normals(self.seed, series.name, "x", k, node + 1)[0] if offset else left
            x += series.sigma * math.sqrt(span / 8) * (left + (right - left) * offset / span)
        return self._x.put(key, x)

    def _ticks(self, series: Series, x: float) -> int:
        return max(1, round(series.reference * math.exp(x) / TICK))

    def _day_levels(self, series: Series, day: dt.date) -> tuple[float, float, float, float]:
        """A trading day's log open, high, low and close."""
        x_open = self._level(series, self.previous_day(day).toordinal())
        x_close = self._level(series, day.toordinal())
        up, down = _normals(self.seed, series.name, "range", day.toordinal())
        reach = series.sigma * RANGE_SHARE
        high = max(x_open, x_close) + abs(up) * reach + reach * 0.05
        low = min(x_open, x_close) - abs(down) * reach - reach * 0.05
        return x_open, high, low, x_close

    def day_volume(self, series: Series, day: dt.date) -> int:
        if not series.day_volume:
            return 0
        z = _normals(self.seed, series.name, "volume", day.toordinal())[0]
        return int(series.day_volume * math.exp(0.3 * z))

    def day_bar(self, series: Series, day: dt.date) -> Bar:
        """The complete bar of a trading ``day`` (``start`` its IST midnight). O(1)."""
        o, h, lo, c = (ticks_to_price(self._ticks(series, x)) for x in self._day_levels(series, day))
        start = dt.datetime.combine(day, _MIDNIGHT, IST)
        return Bar(start, o, h, lo, c, self.day_volume(series, day))

    # -- minutes and trades -------------------------------------------------------------------
    def volume_profile(self, minutes: int) -> list[float]:
        """The cumulative share of a day's volume before each minute (a U shape), len N + 1."""
        profile = self._profiles.get(minutes)
        if profile is None:
            weights = [1.0 + 1.5 * (2 * (i + 0.5) / minutes - 1) ** 2 for i in range(minutes)]
            total, acc, profile = sum(weights), 0.0, [0.0]
            for w in weights:
                acc += w
                profile.append(acc / total)
            profile[-1] = 1.0
            self._profiles[minutes] = profile
        return profile

    def _day_minutes(self, series: Series, day: dt.date) -> _Minutes:
        key = (series.name, day.toordinal())
        cached = self._minutes.get(key)
        if cached is not None:
            return cached
        x_open, x_high, x_low, x_close = self._day_levels(series, day)
        n = self.session(day)[1]
        rng = _rng(self.seed, series.name, "minutes", day.toordinal())
        step = series.sigma / math.sqrt(n)
        gauss = rng.gauss
        walk, w = [0.0], 0.0
        for _ in range(n):
            w += gauss(0.0, step)
            walk.append(w)
        drift = x_close - x_open
        knots = [x_open + (drift - w) * i / n + walk[i] for i in range(n + 1)]
        knots[0], knots[n] = x_open, x_close
        reach = step * EXCURSION_SHARE
        highs = [max(knots[i], knots[i + 1]) + abs(gauss(0.0, reach)) + reach * 1e-3 for i in range(n)]
        lows = [min(knots[i], knots[i + 1]) - abs(gauss(0.0, reach)) - reach * 1e-3 for i in range(n)]
        upper, lower = max(x_open, x_close), min(x_open, x_close)
        top, bottom = max(highs), min(lows)  # top > upper and bottom < lower by construction
        up_scale, down_scale = (x_high - upper) / (top - upper), (lower - x_low) / (lower - bottom)

        def squash(v: float) -> int:
            if v > upper:
                v = min(x_high, upper + (v - upper) * up_scale)
            elif v < lower:
                v = max(x_low, lower - (lower - v) * down_scale)
            return self._ticks(series, v)

        at_knots = [squash(v) for v in knots]
        at_knots[0], at_knots[n] = self._ticks(series, x_open), self._ticks(series, x_close)
        high_ticks = [squash(v) for v in highs]
        low_ticks = [squash(v) for v in lows]
        high_ticks[highs.index(top)] = self._ticks(series, x_high)
        low_ticks[lows.index(bottom)] = self._ticks(series, x_low)
        volume = self.day_volume(series, day)
        before = [int(volume * share) for share in self.volume_profile(n)]
        before[-1] = volume
        result = _Minutes(
            at_knots[:n],
            high_ticks,
            low_ticks,
            at_knots[1:],
            before,
            list(itertools.accumulate(high_ticks, max)),
            list(itertools.accumulate(low_ticks, min)),
        )
        return self._minutes.put(key, result)

    def minute_bars(self, series: Series, day: dt.date) -> list[Bar]:
        """Every minute bar of a trading ``day``, in order (shared: do not mutate)."""
        key = (series.name, day.toordinal())
        cached = self._bars.get(key)
        if cached is not None:
            return cached
        m = self._day_minutes(series, day)
        start = self.session(day)[0]
        bars = [
            Bar(
                start + dt.timedelta(minutes=i),
                ticks_to_price(m.opens[i]),
                ticks_to_price(m.highs[i]),
                ticks_to_price(m.lows[i]),
                ticks_to_price(m.closes[i]),
                m.volume_before[i + 1] - m.volume_before[i],
            )
            for i in range(len(m.opens))
        ]
        return self._bars.put(key, bars)

    def _minute_trades(self, series: Series, day: dt.date, minute: int) -> _Trades:
        key = (series.name, day.toordinal(), minute)
        cached = self._trades.get(key)
        if cached is not None:
            return cached
        m = self._day_minutes(series, day)
        o, h, lo, c = m.opens[minute], m.highs[minute], m.lows[minute], m.closes[minute]
        rng = _rng(self.seed, series.name, "trades", day.toordinal(), minute)
        at_high, at_low = rng.sample(range(1, SECONDS - 1), 2)
        fixed = sorted({0: o, SECONDS - 1: c, at_high: h, at_low: lo}.items())
        trades = [0] * SECONDS
        jitter = max(1.0, (h - lo) / 8)
        for (left, a), (right, b) in itertools.pairwise(fixed):
            for s in range(left, right):
                between = a + (b - a) * (s - left) / (right - left)
                noisy = round(between + rng.gauss(0.0, jitter)) if s != left else a
                trades[s] = min(h, max(lo, noisy))
        trades[SECONDS - 1] = c
        highs, lows = list(itertools.accumulate(trades, max)), list(itertools.accumulate(trades, min))
        return self._trades.put(key, _Trades(trades, highs, lows))

    def minute_trades(self, series: Series, day: dt.date, minute: int) -> list[float]:
        """The 60 trades (one a second) of a minute of a trading ``day``."""
        return [ticks_to_price(t) for t in self._minute_trades(series, day, minute).prices]

    def price(self, series: Series, at: dt.datetime) -> float:
        """The trade shown at ``at`` (the last session's close outside a session)."""
        day, minute, second = self.trade_instant(at)
        return ticks_to_price(self._minute_trades(series, day, minute).prices[second])

    def session_so_far(self, series: Series, day: dt.date, minute: int, second: int) -> Bar:
        """A trading ``day``'s bar through the trade of (``minute``, ``second``). O(1)."""
        m = self._day_minutes(series, day)
        now = self.partial_minute(series, day, minute, second)
        high, low = now.high, now.low
        if minute:
            high = max(high, ticks_to_price(m.high_through[minute - 1]))
            low = min(low, ticks_to_price(m.low_through[minute - 1]))
        start = dt.datetime.combine(day, _MIDNIGHT, IST)
        return Bar(
            start, ticks_to_price(m.opens[0]), high, low, now.close, m.volume_before[minute] + now.volume
        )

    def partial_minute(self, series: Series, day: dt.date, minute: int, second: int) -> Bar:
        """A minute's bar through the trade of ``second`` (volume included)."""
        trades = self._minute_trades(series, day, minute)
        m = self._day_minutes(series, day)
        volume = m.volume_before[minute + 1] - m.volume_before[minute]
        start = self.session(day)[0] + dt.timedelta(minutes=minute)
        return Bar(
            start,
            ticks_to_price(trades.prices[0]),
            ticks_to_price(trades.high_through[second]),
            ticks_to_price(trades.low_through[second]),
            ticks_to_price(trades.prices[second]),
            volume * (second + 1) // SECONDS,
        )
