"""Synthetic candles: deterministic history per instrument and interval, plus the live bucket.

Pure. A completed bucket is a function of (symbol, bucket start, interval) only: a generator
seeded with their SHA-256 draws an open within 3 % of the instrument's reference price and a
close, high, low and volume around it, so the same request always gives the same candles. The
current bucket closes at the live price (``is_complete: false``). Timestamps are IST
(contract §4.13). With ``nse`` market hours, completed candles exist only for buckets that
overlap a session (weekdays for ``day``): nights and weekends leave no empty candles.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

from ._errors import ApiError
from ._market_hours import IST, MarketHours

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
MAX_HISTORY = 5000
# with sessions, at most this many buckets are scanned per candle returned (a minute candle
# trades 375 of every 1,440 minutes on weekdays: a week scans ≈5.4 buckets per candle)
SCAN_FACTOR = 6
ALWAYS = MarketHours()


def parse_interval(raw: str | None, default: str) -> str:
    """A canonical interval name; ``ApiError`` 400 for an unsupported one."""
    value = (raw or default).strip().lower()
    value = ALIASES.get(value, value)
    if value not in INTERVALS:
        raise ApiError(400, f"Invalid timeframe '{raw}'")
    return value


def candle(
    symbol: str, reference: float, start: dt.datetime, seconds: int, close: float | None = None
) -> dict[str, Any]:
    """One bucket; complete unless ``close`` (the live price) is given."""
    seed = hashlib.sha256(f"{symbol}|{start.isoformat()}|{seconds}".encode()).digest()
    rng = random.Random(seed)
    open_ = reference * (1 + rng.uniform(-0.03, 0.03))
    close_ = close if close is not None else open_ * (1 + rng.gauss(0, 0.004))
    high, low = (
        max(open_, close_) * (1 + abs(rng.gauss(0, 0.002))),
        min(open_, close_) * (1 - abs(rng.gauss(0, 0.002))),
    )
    return {
        "ts": start.astimezone(IST).isoformat(),
        "open": round(open_, 2),
        "high": round(high, 2),
        "low": round(low, 2),
        "close": round(close_, 2),
        "volume": rng.randint(1_000, 200_000),
        "oi": None,
        "is_complete": close is None,
    }


def bucket_start(now: dt.datetime, seconds: int) -> dt.datetime:
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)


def recent(
    symbol: str,
    reference: float,
    last: float,
    *,
    interval: str,
    lookback: int,
    now: dt.datetime,
    hours: MarketHours = ALWAYS,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``lookback`` completed trading candles before the current bucket, and the current one."""
    seconds = INTERVALS[interval]
    current_start = bucket_start(now, seconds)
    step = dt.timedelta(seconds=seconds)
    starts: list[dt.datetime] = []
    at = current_start - step
    for _ in range(lookback * SCAN_FACTOR + 8 * 86400 // seconds):  # bounded: a long weekend at most
        if len(starts) == lookback:
            break
        if hours.trades_in(at, seconds):
            starts.append(at)
        at -= step
    done = [candle(symbol, reference, start, seconds) for start in reversed(starts)]
    return done, candle(symbol, reference, current_start, seconds, close=last)


def history(
    symbol: str,
    reference: float,
    timeframe: str,
    start: dt.datetime,
    to: dt.datetime,
    *,
    hours: MarketHours = ALWAYS,
) -> list[dict[str, Any]]:
    """Completed trading candles covering ``start``..``to`` (the last ``MAX_HISTORY``)."""
    seconds = INTERVALS[timeframe]
    scan = MAX_HISTORY if hours.always_open else MAX_HISTORY * SCAN_FACTOR
    count = min(scan, int((to - start).total_seconds() // seconds))
    first = bucket_start(to, seconds) - dt.timedelta(seconds=seconds * count)
    starts = [first + dt.timedelta(seconds=seconds * i) for i in range(count)]
    kept = [s for s in starts if hours.trades_in(s, seconds)][-MAX_HISTORY:]
    return [candle(symbol, reference, s, seconds) for s in kept]
