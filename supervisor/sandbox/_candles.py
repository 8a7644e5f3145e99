"""Candles: buckets of the price path (``_path``) or a backtest's data, live and historical.

Pure. A candle is a view of its instrument's path: its OHLC are the first, highest, lowest and
last trade in the bucket and its volume their sum, so candles agree with the ticks served, a
running candle's high never falls, and history joins the live candle with no jump (the close of
one bucket is the open of the next). Timestamps are IST (contract §4.13).

Buckets are aligned to the session's start, as Kite's are: with ``nse`` hours intraday buckets
start at 09:15 IST (the last one of a day may be short: ``60minute`` ends with 15:15-15:30) and
exist only on trading days; with ``always`` hours they start at IST midnight. A ``day`` candle is
stamped at the date's IST midnight.

The bars come through :class:`BarSource` (``Market.bars``): the path's, or a backtest's
replayed data, which may have no bars on a day (no data): such a day answers no candles.

``history`` answers every complete bucket whose start is at or after ``from`` and whose end is
at or before ``to`` (and now): the whole window, never capped. The contract's maximum span per
timeframe bounds it (at most 129,600 candles: 90 days of ``minute`` with ``always`` hours).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from ._errors import ApiError
from ._market_hours import IST
from ._path import Bar, PricePath, merge

INTERVALS = {
    "minute": 60,
    "3minute": 180,
    "5minute": 300,
    "10minute": 600,
    "15minute": 900,
    "30minute": 1800,
    "60minute": 3600,
    "day": 86400,
}
ALIASES = {
    "1m": "minute",
    "min": "minute",
    "3m": "3minute",
    "5m": "5minute",
    "10m": "10minute",
    "15m": "15minute",
    "30m": "30minute",
    "60m": "60minute",
    "1h": "60minute",
    "1d": "day",
}
# history's default window when ``from`` is not given
DEFAULT_DAYS = {
    "minute": 7,
    "3minute": 14,
    "5minute": 30,
    "10minute": 45,
    "15minute": 60,
    "30minute": 90,
    "60minute": 180,
    "day": 365,
}
# history's longest window in days (§4.13), and with passthrough=true
MAX_DAYS = {
    "minute": 90,
    "3minute": 180,
    "5minute": 180,
    "10minute": 240,
    "15minute": 365,
    "30minute": 365,
    "60minute": 730,
    "day": 3650,
}
MAX_PASSTHROUGH_DAYS = {
    "minute": 60,
    "3minute": 100,
    "5minute": 100,
    "10minute": 100,
    "15minute": 200,
    "30minute": 200,
    "60minute": 400,
    "day": 2000,
}


class BarSource(Protocol):
    """The bars of one instrument (``Market.bars``): its path's, the backtest's replayed data,
    or an option's off its spot's.

    ``minute_bars(day)`` is every minute of the trading day's session, in order, or empty: the
    source has no bars that day (a replay's day without data; then ``day_bar`` is None too).
    ``partial_minute`` is asked only of a day with bars. ``first_day`` bounds the walk back for
    earlier buckets: None when every trading day has bars (the path)."""

    def first_day(self) -> dt.date | None: ...

    def day_bar(self, day: dt.date) -> Bar | None: ...

    def minute_bars(self, day: dt.date) -> list[Bar]: ...

    def partial_minute(self, day: dt.date, minute: int, second: int) -> Bar: ...


class SessionSource(BarSource, Protocol):
    """An equity's or index's bars, with what a quote shows: the session so far."""

    def session_so_far(self, day: dt.date, minute: int, second: int) -> tuple[Bar, float] | None:
        """The day's bar (``start`` its IST midnight) through the trade of (``minute``,
        ``second``) and the previous session's close; None when the day has no bars."""
        ...


def parse_interval(raw: str | None, default: str) -> str:
    """A canonical interval name; ``ApiError`` 400 for an unsupported one."""
    value = (raw or default).strip().lower()
    value = ALIASES.get(value, value)
    if value not in INTERVALS:
        raise ApiError(400, f"Invalid timeframe '{raw}'")
    return value


def candle_doc(bar: Bar, *, complete: bool = True) -> dict[str, Any]:
    return {
        "ts": bar.start.astimezone(IST).isoformat(),
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "oi": None,
        "is_complete": complete,
    }


def day_buckets(
    path: PricePath, source: BarSource, day: dt.date, seconds: int
) -> list[tuple[Bar, dt.datetime]]:
    """The complete buckets of a trading ``day``, each with its end (none: no bars that day)."""
    start, minutes = path.session(day)
    close = start + dt.timedelta(minutes=minutes)
    if seconds >= 86400:
        bar = source.day_bar(day)
        return [] if bar is None else [(bar, close)]
    k = seconds // 60
    bars = source.minute_bars(day)
    if not bars:
        return []
    return [
        (merge(bars[j : j + k]), start + dt.timedelta(minutes=min(j + k, minutes)))
        for j in range(0, minutes, k)
    ]


def history(
    path: PricePath, source: BarSource, seconds: int, start: dt.datetime, to: dt.datetime
) -> list[dict[str, Any]]:
    """Every complete bucket starting at or after ``start`` and ending by ``to`` (no cap)."""
    out: list[dict[str, Any]] = []
    day, last = start.astimezone(IST).date(), to.astimezone(IST).date()
    while day <= last:
        if path.trades_on(day):
            out.extend(
                candle_doc(bar)
                for bar, end in day_buckets(path, source, day, seconds)
                if bar.start >= start and end <= to
            )
        day += dt.timedelta(days=1)
    return out


def recent(
    path: PricePath, source: BarSource, as_of: dt.datetime, *, seconds: int, lookback: int, now: dt.datetime
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``lookback`` complete buckets before the one holding the trade shown at ``as_of``, and that
    one through that trade (complete once the trade is its last and ``now`` is past its end;
    None when the source has no bars that day)."""
    day, minute, second = path.trade_instant(as_of)
    start, minutes = path.session(day)
    bars = source.minute_bars(day)
    current: Bar | None = None
    earlier: list[Bar] = []
    complete = False
    if not bars:
        pass  # no bars that day: no current bucket, the earlier days' only
    elif seconds >= 86400:
        end = start + dt.timedelta(minutes=minutes)
        partial = source.partial_minute(day, minute, second)
        current = merge([*bars[:minute], partial], dt.datetime.combine(day, dt.time(0, 0), IST))
        complete = minute == minutes - 1 and second == 59 and now >= end
    else:
        k = seconds // 60
        first = minute // k * k
        last_minute = min(first + k, minutes) - 1
        end = start + dt.timedelta(minutes=last_minute + 1)
        partial = source.partial_minute(day, minute, second)
        current = merge([*bars[first:minute], partial], start + dt.timedelta(minutes=first))
        # only the buckets asked for: a stream's update (lookback 0) merges none
        starts = range(0, first, k)
        asked = starts[max(0, len(starts) - lookback) :] if lookback else range(0)
        earlier = [merge(bars[j : j + k]) for j in asked]
        complete = minute == last_minute and second == 59 and now >= end
    done = earlier[-lookback:] if lookback else []
    back, oldest = day, source.first_day()
    while len(done) < lookback:
        back = path.previous_day(back)
        if oldest is not None and back < oldest:
            break  # nothing earlier: fewer than ``lookback``
        more = [bar for bar, _ in day_buckets(path, source, back, seconds)]
        done = more[-(lookback - len(done)) :] + done
    shown = None if current is None else candle_doc(current, complete=complete)
    return [candle_doc(bar) for bar in done], shown
