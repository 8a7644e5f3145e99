"""Historical candles: the files' layout, a sans-IO CSV parser and the loader.

Layout (one file per instrument and interval, as Kite's historical candles API returns them)::

    DIR/<EXCHANGE>/<TRADINGSYMBOL>/<interval>.csv      e.g. DIR/NSE/INFY/minute.csv
                                                             DIR/NSE/NIFTY 50/minute.csv

Each CSV has the header ``date,open,high,low,close,volume`` (Kite's field names; more columns,
such as ``oi``, are ignored) and one candle per line, oldest first. ``date`` is ISO 8601 with its
offset (``2026-06-01T09:15:00+05:30``, or Kite's ``2026-06-01 09:15:00+05:30``); a date without
an offset is IST. ``<interval>.parquet`` with the same columns is read instead when present and
``pyarrow`` is installed (the optional extra ``parquet``).

:func:`parse_candles_csv` is pure (text in, candles out); :func:`load_history` is the file shell.
Errors are :class:`DataError` naming the file and line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

__all__ = [
    "Candle",
    "DataError",
    "format_candles_csv",
    "load_history",
    "parquet_available",
    "parse_candles_csv",
    "write_candles",
]

IST = ZoneInfo("Asia/Kolkata")
COLUMNS = ("date", "open", "high", "low", "close", "volume")


class DataError(ValueError):
    """A data file is missing, malformed or out of order (the message names file and line)."""


class Candle(NamedTuple):
    ts: dt.datetime  # the bucket's start, aware
    open: float
    high: float
    low: float
    close: float
    volume: int


def _timestamp(raw: str) -> dt.datetime:
    ts = dt.datetime.fromisoformat(raw.strip())
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=IST)


def _candle(row: dict[str, Any], where: str) -> Candle:
    try:
        ts = row["date"] if isinstance(row["date"], dt.datetime) else _timestamp(str(row["date"]))
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=IST)
        o, h, lo, c = (float(row[k]) for k in ("open", "high", "low", "close"))
        volume = int(float(row["volume"] or 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: {exc}") from None
    if not (lo <= min(o, c) and max(o, c) <= h) or lo <= 0:
        raise DataError(f"{where}: not a candle (open {o}, high {h}, low {lo}, close {c})")
    return Candle(ts, o, h, lo, c, volume)


def _ordered(candles: Iterable[Candle], source: str) -> list[Candle]:
    out: list[Candle] = []
    for line, candle in enumerate(candles, start=2):
        if out and candle.ts <= out[-1].ts:
            raise DataError(f"{source}:{line}: {candle.ts.isoformat()} is not after the candle before it")
        out.append(candle)
    return out


def parse_candles_csv(text: str, *, source: str = "<csv>") -> list[Candle]:
    """The candles of a CSV file's text, oldest first. Raises :class:`DataError`."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise DataError(f"{source}:1: missing column(s) {', '.join(missing)} (need {','.join(COLUMNS)})")
    return _ordered(
        (_candle(row, f"{source}:{line}") for line, row in enumerate(reader, start=2)),
        source,
    )


def format_candles_csv(candles: Iterable[Candle]) -> str:
    """The CSV text of ``candles`` in the layout :func:`parse_candles_csv` reads (pure)."""
    lines = [",".join(COLUMNS)]
    for c in candles:
        lines.append(f"{c.ts.isoformat()},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume}")
    return "\n".join(lines) + "\n"


def parquet_available() -> bool:
    """Whether ``pyarrow`` (the optional extra ``parquet``) is installed."""
    try:
        import pyarrow  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def write_candles(root: str | Path, key: str, interval: str, candles: list[Candle], *, parquet: bool) -> Path:
    """Write ``candles`` of ``key`` (``"NSE:INFY"``) under ``root`` in the documented layout, as
    ``<interval>.parquet`` (``pyarrow`` needed) or ``<interval>.csv``; returns the file's path."""
    exchange, _, symbol = key.partition(":")
    folder = Path(root) / exchange / symbol
    folder.mkdir(parents=True, exist_ok=True)
    if not parquet:
        path = folder / f"{interval}.csv"
        path.write_text(format_candles_csv(candles), encoding="utf-8")
        return path
    import pyarrow as pa  # type: ignore[import-not-found,import-untyped,unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]

    table = pa.table(
        {
            "date": pa.array([c.ts for c in candles], type=pa.timestamp("us", tz="Asia/Kolkata")),
            "open": pa.array([c.open for c in candles], type=pa.float64()),
            "high": pa.array([c.high for c in candles], type=pa.float64()),
            "low": pa.array([c.low for c in candles], type=pa.float64()),
            "close": pa.array([c.close for c in candles], type=pa.float64()),
            "volume": pa.array([c.volume for c in candles], type=pa.int64()),
        }
    )
    path = folder / f"{interval}.parquet"
    pq.write_table(table, path)
    return path


def _read_parquet(path: Path) -> list[Candle] | None:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    rows = pq.read_table(path, columns=list(COLUMNS)).to_pylist()
    return _ordered((_candle(row, f"{path}:{i + 1}") for i, row in enumerate(rows)), str(path))


def load_history(
    root: str | Path, *, interval: str = "minute", start: dt.datetime, end: dt.datetime
) -> dict[str, list[Candle]]:
    """Candles with ``start <= ts < end`` of every instrument under ``root``, keyed
    ``"EXCHANGE:TRADINGSYMBOL"`` (sorted). Raises :class:`DataError` (no files, bad data)."""
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"{base}: no such directory")
    found: dict[str, list[Candle]] = {}
    for folder in sorted(p for p in base.glob("*/*") if p.is_dir()):
        key = f"{folder.parent.name}:{folder.name}"
        candles: list[Candle] | None = None
        parquet = folder / f"{interval}.parquet"
        if parquet.exists():
            candles = _read_parquet(parquet)
        if candles is None:
            csv_path = folder / f"{interval}.csv"
            if not csv_path.exists():
                continue
            candles = parse_candles_csv(csv_path.read_text(encoding="utf-8"), source=str(csv_path))
        kept = [c for c in candles if start <= c.ts < end]
        if kept:
            found[key] = kept
    if not found:
        raise DataError(
            f"{base}: no {interval} candles between {start.isoformat()} and {end.isoformat()} "
            f"(expected files like {base}/NSE/INFY/{interval}.csv)"
        )
    return found
