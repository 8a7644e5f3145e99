"""History from a backend (``get_historical_candles``), cached on disk per instrument and day.

Cache layout (CSV in the documented candle format, one file per IST day)::

    CACHE/<EXCHANGE>/<TRADINGSYMBOL>/<interval>/<YYYY-MM-DD>.csv

A day in the cache is never asked for again: a second backtest over the same period makes no
request. One request per instrument and day keeps each call far inside the backend's range
limits for every interval. A day the backend returns no candles for (a holiday, a weekend) is
cached empty too. Days not over yet are cached like the others: clear the cache to refetch.

:func:`candles_of` is pure (a response in, candles out); :func:`fetch_history` is the shell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supervisor.client import AsyncKiteAlgoWorkerClient

from ._data import IST, Candle, DataError, _candle, format_candles_csv, parse_candles_csv

__all__ = ["candles_of", "fetch_history"]

TIME_KEYS = ("date", "ts", "timestamp")  # Kite's name first; the sandbox says ``ts``


def candles_of(response: Any, *, source: str) -> list[Candle]:
    """The complete candles of a ``get_historical_candles`` response, oldest first (pure).
    Raises :class:`DataError` naming ``source`` for a malformed one."""
    rows = response.get("candles") if isinstance(response, Mapping) else None
    if not isinstance(rows, list):
        raise DataError(f"{source}: no candles list in the response")
    out: list[Candle] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or row.get("is_complete") is False:
            continue  # the bucket still forming is not history
        stamp = next((row[k] for k in TIME_KEYS if row.get(k)), None)
        out.append(_candle({**row, "date": stamp}, f"{source}[{i}]"))
    out.sort(key=lambda c: c.ts)
    return out


async def fetch_history(
    client: AsyncKiteAlgoWorkerClient,
    instruments: list[str],
    *,
    interval: str,
    start: dt.datetime,
    end: dt.datetime,
    cache: str | Path,
) -> tuple[dict[str, list[Candle]], int]:
    """Candles with ``start <= ts < end`` of ``instruments`` (``"NSE:INFY"``), and the number of
    requests made (0 when the cache held every day). Blocks; raises the client's errors and
    :class:`DataError`."""
    found: dict[str, list[Candle]] = {}
    requests = 0
    for key in instruments:
        exchange, _, symbol = key.partition(":")
        folder = Path(cache) / exchange / symbol / interval
        candles: list[Candle] = []
        day, last = start.astimezone(IST).date(), (end - dt.timedelta(microseconds=1)).astimezone(IST).date()
        while day <= last:
            path = folder / f"{day.isoformat()}.csv"
            if path.exists():
                candles += parse_candles_csv(path.read_text(encoding="utf-8"), source=str(path))
            else:
                opens = dt.datetime.combine(day, dt.time(0), IST)
                response = await client.get_historical_candles(
                    key, timeframe=interval, from_date=opens, to_date=opens + dt.timedelta(days=1)
                )
                requests += 1
                got = [
                    c
                    for c in candles_of(response, source=f"{key} {day}")
                    if c.ts.astimezone(IST).date() == day
                ]
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(format_candles_csv(got), encoding="utf-8")
                candles += got
            day += dt.timedelta(days=1)
        kept = [c for c in candles if start <= c.ts < end]
        if kept:
            found[key] = kept
    if not found:
        raise DataError(f"the backend has no {interval} candles of {', '.join(instruments)} in the period")
    return found, requests
