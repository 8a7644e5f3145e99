"""Indicators on TA-Lib (the ``indicators`` extra): batch functions and an incremental state.

The batch functions (:func:`sma`, :func:`ema`, :func:`stddev`, :func:`zscore`, :func:`rsi`,
:func:`bollinger`, :func:`atr`, :func:`macd`) take candles (a list of candle dicts or a
candles/history response), a DataFrame from :func:`~supervisor.client.dataframe.candles_to_df`,
or a plain sequence of numbers, and return ``float64`` arrays aligned with the input, ``NaN``
during each indicator's warm-up, exactly as TA-Lib's Function API does.

:class:`IndicatorState` is the restart-friendly form: warm it from history, then feed each
completed candle. It holds TA-Lib streaming handles (``talib.stream``, TA-Lib >= 0.8), so an
update is O(1) and every value equals what the batch function reports for that bar. No
indicator math is written here; z-score is ``(close - SMA) / STDDEV`` of TA-Lib's outputs.
numpy and TA-Lib are imported on first use; without them calls raise :class:`ImportError`
naming the extra. Pure and synchronous: nothing blocks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from .dataframe import candle_list

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

__all__ = [
    "Bands",
    "IndicatorSnapshot",
    "IndicatorState",
    "Macd",
    "atr",
    "bollinger",
    "ema",
    "macd",
    "rsi",
    "sma",
    "stddev",
    "zscore",
]

_EXTRA_HINT = "pip install 'kite-algo-supervisor[indicators]'"


def _libs() -> tuple[Any, Any]:
    try:
        import numpy
        import talib
    except ImportError as exc:
        raise ImportError(f"supervisor.client.indicators needs numpy and TA-Lib: {_EXTRA_HINT}") from exc
    return numpy, talib


def _stream() -> Any:
    _, talib = _libs()
    if not hasattr(talib, "InsufficientHistory"):
        raise ImportError(f"IndicatorState needs TA-Lib >= 0.8 (streaming handles): {_EXTRA_HINT}")
    from talib import stream

    return stream


def _series(source: Any, field: str = "close") -> FloatArray:
    """One float64 column of ``source`` (candles, a candles response, a DataFrame or numbers)."""
    numpy, _ = _libs()
    if hasattr(source, "columns") and hasattr(source, "__getitem__"):  # a DataFrame
        values = source[field].to_numpy(dtype="float64")
    elif isinstance(source, Mapping) or (
        isinstance(source, Sequence) and source and isinstance(source[0], Mapping)
    ):
        values = [c.get(field) for c in candle_list(source)]
        values = numpy.array([math.nan if v is None else v for v in values], dtype="float64")
    else:
        values = numpy.asarray(source, dtype="float64")
    if values.ndim != 1:
        raise ValueError(f"expected a one-dimensional series, got shape {values.shape}")
    return numpy.ascontiguousarray(values, dtype="float64")  # type: ignore[no-any-return]


class Bands(NamedTuple):
    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


class Macd(NamedTuple):
    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


def sma(source: Any, period: int = 20, *, field: str = "close") -> FloatArray:
    """Simple moving average of ``field``."""
    return _libs()[1].SMA(_series(source, field), timeperiod=period)  # type: ignore[no-any-return]


def ema(source: Any, period: int = 20, *, field: str = "close") -> FloatArray:
    """Exponential moving average (TA-Lib seeding: the first value is the SMA of ``period`` bars)."""
    return _libs()[1].EMA(_series(source, field), timeperiod=period)  # type: ignore[no-any-return]


def stddev(source: Any, period: int = 20, *, field: str = "close") -> FloatArray:
    """Rolling population standard deviation."""
    return _libs()[1].STDDEV(_series(source, field), timeperiod=period, nbdev=1.0)  # type: ignore[no-any-return]


def _z(numpy: Any, values: Any, mean: Any, sd: Any) -> Any:
    # a flat window has no deviation: report 0 rather than dividing by zero
    with numpy.errstate(divide="ignore", invalid="ignore"):
        return numpy.where(sd > 0, (values - mean) / sd, numpy.where(numpy.isnan(sd), numpy.nan, 0.0))


def zscore(source: Any, period: int = 20, *, field: str = "close") -> FloatArray:
    """``(value - SMA(period)) / STDDEV(period)``: how many deviations from the rolling mean."""
    numpy, talib = _libs()
    values = _series(source, field)
    mean = talib.SMA(values, timeperiod=period)
    sd = talib.STDDEV(values, timeperiod=period, nbdev=1.0)
    return _z(numpy, values, mean, sd)  # type: ignore[no-any-return]


def rsi(source: Any, period: int = 14, *, field: str = "close") -> FloatArray:
    """Wilder's relative strength index, 0..100."""
    return _libs()[1].RSI(_series(source, field), timeperiod=period)  # type: ignore[no-any-return]


def bollinger(source: Any, period: int = 20, stddevs: float = 2.0, *, field: str = "close") -> Bands:
    """Bollinger bands: SMA(period) plus/minus ``stddevs`` population deviations."""
    upper, middle, lower = _libs()[1].BBANDS(
        _series(source, field), timeperiod=period, nbdevup=stddevs, nbdevdn=stddevs, matype=0
    )
    return Bands(upper, middle, lower)


def atr(source: Any, period: int = 14) -> FloatArray:
    """Average true range; needs ``high``, ``low`` and ``close`` (candles or a DataFrame)."""
    high, low, close = (_series(source, name) for name in ("high", "low", "close"))
    return _libs()[1].ATR(high, low, close, timeperiod=period)  # type: ignore[no-any-return]


def macd(source: Any, fast: int = 12, slow: int = 26, signal: int = 9, *, field: str = "close") -> Macd:
    """MACD line, its signal line and the histogram."""
    line, sig, hist = _libs()[1].MACD(
        _series(source, field), fastperiod=fast, slowperiod=slow, signalperiod=signal
    )
    return Macd(line, sig, hist)


@dataclass(frozen=True)
class IndicatorSnapshot:
    """Indicator values after one completed candle; ``NaN`` where an indicator is still warming up."""

    ts: datetime | None
    close: float
    count: int
    sma: float
    ema: float
    stddev: float
    zscore: float
    upper: float
    middle: float
    lower: float
    rsi: float
    atr: float

    @property
    def ready(self) -> bool:
        """Every indicator has a value."""
        values = (self.sma, self.ema, self.stddev, self.zscore, self.upper, self.lower, self.rsi, self.atr)
        return all(math.isfinite(v) for v in values)


def _bar(candle: Mapping[str, Any]) -> tuple[float, float, float]:
    try:
        bar = (float(candle["high"]), float(candle["low"]), float(candle["close"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"candle needs numeric high, low and close: {dict(candle)!r}") from exc
    if not all(math.isfinite(v) for v in bar):
        raise ValueError(f"candle has a non-finite price: {dict(candle)!r}")
    return bar


def _ts(candle: Mapping[str, Any]) -> datetime | None:
    raw = candle.get("ts", candle.get("date"))
    if raw is None or isinstance(raw, datetime):
        return raw
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))


class IndicatorState:
    """Incremental SMA/EMA/STDDEV/z-score/Bollinger (``period``), RSI and ATR over completed candles.

    ``warm(history)`` then ``update(candle)`` per completed candle; both return the latest
    :class:`IndicatorSnapshot` (``None`` when the candle was not counted). Candles that are
    incomplete (``is_complete`` false) or not newer than the last counted one are ignored, so
    re-delivered candles after a reconnect are harmless. Until an indicator has enough history its
    handle is not open and its value is ``NaN``; the bars needed to open it are kept meanwhile.
    Never blocks; raises :class:`ValueError` for a candle without finite high/low/close and
    :class:`ImportError` without TA-Lib >= 0.8.
    """

    def __init__(
        self, *, period: int = 20, rsi_period: int = 14, atr_period: int = 14, band_stddevs: float = 2.0
    ) -> None:
        if min(period, rsi_period, atr_period) < 2:
            raise ValueError("indicator periods must be >= 2")
        self._stream = _stream()
        self._specs: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
            "sma": ("SMA", ("close",), {"timeperiod": period}),
            "ema": ("EMA", ("close",), {"timeperiod": period}),
            "stddev": ("STDDEV", ("close",), {"timeperiod": period, "nbdev": 1.0}),
            "bands": (
                "BBANDS",
                ("close",),
                {"timeperiod": period, "nbdevup": band_stddevs, "nbdevdn": band_stddevs},
            ),
            "rsi": ("RSI", ("close",), {"timeperiod": rsi_period}),
            "atr": ("ATR", ("high", "low", "close"), {"timeperiod": atr_period}),
        }
        self._handles: dict[str, Any] = {}
        self._values: dict[str, Any] = {}
        self._pending: dict[str, list[float]] = {"high": [], "low": [], "close": []}
        self._last_ts: datetime | None = None
        self._close = math.nan
        self.count = 0
        self.last: IndicatorSnapshot | None = None

    @property
    def ready(self) -> bool:
        return self.last is not None and self.last.ready

    def warm(self, history: Any) -> IndicatorSnapshot | None:
        """Feed a history (candles or a candles/history response), oldest first."""
        counted = False
        for candle in candle_list(history):
            counted = self._accept(candle) or counted
        if counted:
            self._open_handles()
            self.last = self._snapshot()
        return self.last if counted else None

    def update(self, candle: Mapping[str, Any]) -> IndicatorSnapshot | None:
        """Count one completed candle and return the new snapshot (``None`` if ignored)."""
        if not self._accept(candle):
            return None
        self._open_handles()
        self.last = self._snapshot()
        return self.last

    def _accept(self, candle: Mapping[str, Any]) -> bool:
        if candle.get("is_complete") is False:
            return False
        ts = _ts(candle)
        if ts is not None and self._last_ts is not None and ts <= self._last_ts:
            return False
        high, low, close = _bar(candle)
        bar = {"high": high, "low": low, "close": close}
        for name, handle in self._handles.items():
            inputs = self._specs[name][1]
            self._values[name] = handle.update(*(bar[i] for i in inputs))
        if len(self._handles) < len(self._specs):
            for key, value in bar.items():
                self._pending[key].append(value)
        self._last_ts = ts if ts is not None else self._last_ts
        self._close = close
        self.count += 1
        return True

    def _open_handles(self) -> None:
        if len(self._handles) == len(self._specs):
            return
        numpy, talib = _libs()
        arrays = {k: numpy.array(v, dtype="float64") for k, v in self._pending.items()}
        for name, (function, inputs, params) in self._specs.items():
            if name in self._handles:
                continue
            try:
                handle = getattr(self._stream, function)(*(arrays[i] for i in inputs), **params)
            except talib.InsufficientHistory:
                continue
            self._handles[name] = handle
            self._values[name] = handle.value
        if len(self._handles) == len(self._specs):
            self._pending = {
                "high": [],
                "low": [],
                "close": [],
            }  # every handle is open: history no longer needed

    def _snapshot(self) -> IndicatorSnapshot:
        nan = math.nan
        upper, middle, lower = self._values.get("bands", (nan, nan, nan))
        sma, sd = float(self._values.get("sma", nan)), float(self._values.get("stddev", nan))
        close = self._close
        z = nan if math.isnan(sd) or math.isnan(sma) else ((close - sma) / sd if sd > 0 else 0.0)
        return IndicatorSnapshot(
            ts=self._last_ts,
            close=close,
            count=self.count,
            sma=sma,
            ema=float(self._values.get("ema", nan)),
            stddev=sd,
            zscore=z,
            upper=float(upper),
            middle=float(middle),
            lower=float(lower),
            rsi=float(self._values.get("rsi", nan)),
            atr=float(self._values.get("atr", nan)),
        )
