"""Candles as a pandas DataFrame or as numpy arrays (the ``dataframe`` extra).

Both helpers accept what the market-data calls return: a list of candle dicts, or a candles /
history response dict (``{"candles": [...], "current": {...}}``, contract §4.13). Candles are
ordered by time (stable), timestamps become a timezone-aware index (exchange time, Asia/Kolkata,
by default), and prices, volume and open interest become ``float64`` (``NaN`` where null), which is
what TA-Lib wants. pandas and numpy are imported on first use; without them the call raises
:class:`ImportError` naming the extra to install. Pure; nothing here blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, cast

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

__all__ = ["OHLCV_COLUMNS", "OhlcvArrays", "candle_list", "candles_to_df", "ohlcv_arrays"]

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume", "oi")
EXCHANGE_TZ = "Asia/Kolkata"
_TS_KEYS = ("ts", "date", "timestamp")


class OhlcvArrays(NamedTuple):
    """Column arrays of equal length; ``ts`` is ``datetime64[ns]`` in UTC."""

    ts: npt.NDArray[np.datetime64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    oi: npt.NDArray[np.float64]
    is_complete: npt.NDArray[np.bool_]


def _pandas() -> Any:
    try:
        import numpy  # noqa: F401  (pandas needs it; fail with the same message)
        import pandas
    except ImportError as exc:
        raise ImportError(
            "candles_to_df/ohlcv_arrays need pandas and numpy: pip install 'kite-algo-supervisor[dataframe]'"
        ) from exc
    return pandas


def candle_list(source: Any, *, include_current: bool = False) -> list[Mapping[str, Any]]:
    """The candle dicts of ``source`` (a list, or a response with ``candles``), in given order.

    ``include_current`` appends the response's in-progress ``current`` candle, if any. Raises
    :class:`TypeError` for anything else.
    """
    if isinstance(source, Mapping):
        if "candles" not in source:
            raise TypeError("expected a candles/history response with a 'candles' list")
        candles = list(source["candles"] or [])
        current = source.get("current")
        if include_current and current:
            candles.append(current)
    elif isinstance(source, Iterable) and not isinstance(source, str | bytes):
        candles = list(source)
    else:
        raise TypeError(f"expected candles or a candles response, got {type(source).__name__}")
    for candle in candles:
        if not isinstance(candle, Mapping):
            raise TypeError(f"a candle must be a mapping, got {type(candle).__name__}")
    return candles


def _timestamp(candle: Mapping[str, Any]) -> Any:
    for key in _TS_KEYS:
        if candle.get(key) is not None:
            return candle[key]
    raise ValueError(f"candle has no timestamp (one of {', '.join(_TS_KEYS)}): {dict(candle)!r}")


def candles_to_df(
    source: Any, *, include_current: bool = False, tz: str | None = EXCHANGE_TZ
) -> pd.DataFrame:
    """A DataFrame indexed by ``ts`` with float64 ``open high low close volume oi`` and bool ``is_complete``.

    ``tz`` converts the index (``None`` keeps UTC). Raises :class:`ImportError` without the
    ``dataframe`` extra, :class:`TypeError`/:class:`ValueError` for malformed candles.
    """
    pandas = _pandas()
    candles = candle_list(source, include_current=include_current)
    index = pandas.DatetimeIndex(
        pandas.to_datetime([_timestamp(c) for c in candles], utc=True, format="ISO8601")
    )
    if tz is not None:
        index = index.tz_convert(tz)
    columns: dict[str, Any] = {
        name: pandas.array([c.get(name) for c in candles], dtype="float64").to_numpy(
            dtype="float64", na_value=float("nan")
        )
        for name in OHLCV_COLUMNS
    }
    columns["is_complete"] = [bool(c.get("is_complete", True)) for c in candles]
    frame = pandas.DataFrame(columns, index=index)
    frame.index.name = "ts"
    return cast("pd.DataFrame", frame.sort_index(kind="stable"))


def ohlcv_arrays(source: Any, *, include_current: bool = False) -> OhlcvArrays:
    """The same data as :func:`candles_to_df`, as contiguous numpy arrays (UTC timestamps)."""
    pandas = _pandas()
    frame = candles_to_df(source, include_current=include_current, tz="UTC")
    ts = pandas.DatetimeIndex(frame.index).tz_localize(None).to_numpy(dtype="datetime64[ns]")
    arrays = {name: frame[name].to_numpy(dtype="float64", copy=True) for name in OHLCV_COLUMNS}
    return OhlcvArrays(ts=ts, is_complete=frame["is_complete"].to_numpy(dtype=bool, copy=True), **arrays)
