"""``kite-supervisor record``: a backend's live ticks, and the candles they make, to disk.

Layout: the one ``backtest --data`` reads (``_data``), one folder per instrument::

    DIR/NSE/INFY/minute.parquet   the candles of the recorded ticks (``--interval``)
    DIR/NSE/INFY/ticks.parquet    every tick: date, last_price

as ``.csv`` instead when ``pyarrow`` is not installed (or ``--format csv``). A candle is built
from the ticks of its bucket (open: the first tick's price, close: the last's; volume: the tick
count), the bucket being the tick's ``exchange_timestamp`` (the backend's market time) floored
to the interval from the day's 09:15 IST open. The backtest replays the candles; the ticks file
is kept for other tools.

:class:`CandleBuilder` is pure; :func:`record_stream` is the I/O shell (one tick stream).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import trio

from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient, KiteAlgoWorkerError
from supervisor.sandbox._calendar import SESSION_OPEN
from supervisor.sandbox._candles import INTERVALS

from ._data import IST, Candle, parquet_available, write_candles

__all__ = ["CandleBuilder", "Recording", "cmd_record", "record_stream", "write_recording"]

EXIT_ERROR = 2


class CandleBuilder:
    """Ticks in, candles out, per instrument (module docstring). Never blocks."""

    def __init__(self, bar_seconds: int) -> None:
        self._bar = bar_seconds
        self.candles: dict[str, list[Candle]] = {}
        self.ticks: dict[str, list[tuple[dt.datetime, float]]] = {}

    def _bucket(self, ts: dt.datetime) -> dt.datetime:
        # counted from the day's 09:15 IST open, as Kite's (and the sandbox's) candles are:
        # from the Unix epoch, a 10, 30 or 60 minute bucket would start at 09:10, 09:00, 08:30
        local = ts.astimezone(IST)
        if self._bar >= 86400:  # a day candle is stamped at its date's IST midnight
            return local.replace(hour=0, minute=0, second=0, microsecond=0)
        opens = dt.datetime.combine(local.date(), SESSION_OPEN, IST)
        elapsed = int((local - opens).total_seconds())
        return opens + dt.timedelta(seconds=elapsed - elapsed % self._bar)

    def add(self, key: str, ts: dt.datetime, price: float) -> None:
        """One tick of ``key`` (``"NSE:INFY"``); ticks of one key come in time order."""
        self.ticks.setdefault(key, []).append((ts, price))
        candles = self.candles.setdefault(key, [])
        bucket = self._bucket(ts)
        last = candles[-1] if candles else None
        if last is not None and last.ts == bucket:
            candles[-1] = Candle(
                bucket, last.open, max(last.high, price), min(last.low, price), price, last.volume + 1
            )
        elif last is None or bucket > last.ts:
            candles.append(Candle(bucket, price, price, price, price, 1))
        # a tick older than the current bucket (a late one) is kept in ticks, not in candles


def _tick_key(tick: Mapping[str, Any]) -> str | None:
    symbol, exchange = tick.get("tradingsymbol"), tick.get("exchange") or "NSE"
    return f"{exchange}:{symbol}" if symbol else None


def _ticks_of(event: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(event, Mapping):
        for name in ("ticks", "quotes"):
            batch = event.get(name)
            if isinstance(batch, list):
                return [t for t in batch if isinstance(t, Mapping)]
            if isinstance(batch, Mapping):
                return [t for t in batch.values() if isinstance(t, Mapping)]
    return []


async def record_stream(
    client: AsyncKiteAlgoWorkerClient,
    instruments: list[str],
    builder: CandleBuilder,
    *,
    duration_s: float,
    wall_clock: Callable[[], dt.datetime],
) -> int:
    """Feed ``builder`` from the quote stream of ``instruments`` for ``duration_s`` seconds of
    trio's clock; returns the ticks taken (blocks). Raises the client's errors."""
    taken = 0
    with trio.move_on_after(duration_s):
        async with client.stream_ticks(instruments, mode="quote") as stream:
            async for event in stream:
                for tick in _ticks_of(event):
                    key, price = _tick_key(tick), tick.get("last_price")
                    if key is None or not isinstance(price, int | float) or price <= 0:
                        continue
                    raw = tick.get("exchange_timestamp")
                    ts = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else wall_clock()
                    builder.add(key, ts if ts.tzinfo else ts.replace(tzinfo=IST), float(price))
                    taken += 1
    return taken


class Recording:
    """What :func:`write_recording` wrote: files and candle counts."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.candles = 0


def write_recording(root: str | Path, builder: CandleBuilder, *, interval: str, parquet: bool) -> Recording:
    """Write ``builder``'s candles and ticks under ``root`` in the documented layout."""
    done = Recording()
    for key, candles in sorted(builder.candles.items()):
        done.files.append(write_candles(root, key, interval, candles, parquet=parquet))
        done.candles += len(candles)
        done.files.append(_write_ticks(root, key, builder.ticks[key], parquet=parquet))
    return done


def _write_ticks(
    root: str | Path, key: str, ticks: list[tuple[dt.datetime, float]], *, parquet: bool
) -> Path:
    exchange, _, symbol = key.partition(":")
    folder = Path(root) / exchange / symbol
    if not parquet:
        path = folder / "ticks.csv"
        lines = ["date,last_price", *(f"{ts.isoformat()},{price!r}" for ts, price in ticks)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    import pyarrow as pa  # type: ignore[import-not-found,import-untyped,unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]

    table = pa.table(
        {
            "date": pa.array([ts for ts, _ in ticks], type=pa.timestamp("us", tz="Asia/Kolkata")),
            "last_price": pa.array([price for _, price in ticks], type=pa.float64()),
        }
    )
    path = folder / "ticks.parquet"
    pq.write_table(table, path)
    return path


def cmd_record(args: argparse.Namespace, *, err: TextIO | None = None) -> int:
    """Record ``--instruments`` from ``--url`` for ``--minutes`` and write them (blocks)."""
    err = err or sys.stderr
    token = os.environ.get("KITE_ALGO_WORKER_TOKEN", "")
    if not token:
        print("error: set KITE_ALGO_WORKER_TOKEN (the backend's worker token)", file=err)
        return EXIT_ERROR
    if args.interval not in INTERVALS:
        print(f"error: --interval {args.interval!r}: one of {', '.join(INTERVALS)}", file=err)
        return EXIT_ERROR
    parquet = args.format == "parquet" or (args.format == "auto" and parquet_available())
    if parquet and not parquet_available():
        print("error: --format parquet needs pyarrow (pip install '.[parquet]')", file=err)
        return EXIT_ERROR
    if not parquet and args.format == "auto":
        print("record: pyarrow is not installed: writing CSV files", file=err)
    instruments = [i.strip() for i in args.instruments.split(",") if i.strip()]
    builder = CandleBuilder(INTERVALS[args.interval])

    async def main() -> int:
        config = AlgoWorkerConfig(base_url=args.url, token=token, timeout=30.0)
        async with AsyncKiteAlgoWorkerClient(config) as client:
            return await record_stream(
                client,
                instruments,
                builder,
                duration_s=args.minutes * 60.0,
                wall_clock=lambda: dt.datetime.now(IST),
            )

    try:
        taken = trio.run(main)
    except KiteAlgoWorkerError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    done = write_recording(args.out, builder, interval=args.interval, parquet=parquet)
    print(f"record: {taken} ticks, {done.candles} candles, {len(done.files)} files in {args.out}", file=err)
    return 0
