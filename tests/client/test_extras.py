"""The dataframe and indicators extras, checked against independent numpy computations."""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from supervisor.client import indicators as ind
from supervisor.client.dataframe import OhlcvArrays, candle_list, candles_to_df, ohlcv_arrays

START = datetime(2026, 5, 8, 3, 45, tzinfo=UTC)  # 09:15 IST


def make_candles(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    close = 1450 + np.cumsum(rng.normal(0, 2, n))
    candles = []
    for i, c in enumerate(close):
        open_ = c + rng.normal(0, 1)
        high = max(open_, c) + abs(rng.normal(0, 1))
        low = min(open_, c) - abs(rng.normal(0, 1))
        ts = (START + timedelta(minutes=5 * i)).astimezone().isoformat()
        candles.append(
            {"ts": ts, "open": open_, "high": high, "low": low, "close": c, "volume": 1000 + i, "oi": None}
            | {"is_complete": True}
        )
    return candles


CANDLES = make_candles(200)
CLOSE = np.array([c["close"] for c in CANDLES])
HIGH = np.array([c["high"] for c in CANDLES])
LOW = np.array([c["low"] for c in CANDLES])


# -- dataframe ---------------------------------------------------------------------------------


def test_candles_to_df_shape_types_and_index() -> None:
    candles = [
        {
            "ts": "2026-05-08T09:20:00+05:30",
            "open": 2,
            "high": 3,
            "low": 1,
            "close": 2.5,
            "volume": 7,
            "oi": None,
        },
        {
            "ts": "2026-05-08T09:15:00+05:30",
            "open": 1,
            "high": 2,
            "low": 0.5,
            "close": 1.5,
            "volume": 10,
            "oi": 3,
        },
    ]
    frame = candles_to_df(candles)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "oi", "is_complete"]
    assert all(frame[c].dtype == np.float64 for c in ["open", "high", "low", "close", "volume", "oi"])
    assert frame.index.name == "ts"
    assert str(pd.DatetimeIndex(frame.index).tz) == "Asia/Kolkata"
    # sorted by time, nulls become NaN, is_complete defaults to True
    assert list(frame["close"]) == [1.5, 2.5]
    assert frame["oi"].iloc[0] == 3.0
    assert math.isnan(frame["oi"].iloc[1])
    assert frame.index[0] == pd.Timestamp("2026-05-08T03:45:00Z")
    assert frame["is_complete"].tolist() == [True, True]


def test_candles_to_df_accepts_responses_and_current() -> None:
    response = {
        "symbol": "NSE:INFY",
        "candles": CANDLES[:3],
        "current": {"ts": "2026-05-08T09:30:00+05:30", "open": 1, "high": 1, "low": 1, "close": 1}
        | {"is_complete": False},
        "is_stale": False,
    }
    assert len(candles_to_df(response)) == 3
    with_current = candles_to_df(response, include_current=True)
    assert len(with_current) == 4
    assert with_current["is_complete"].tolist() == [True, True, True, False]
    assert pd.DatetimeIndex(candles_to_df(response, tz=None).index).tz is not None  # UTC, still aware
    assert candles_to_df({"candles": [], "current": None}).empty
    assert candles_to_df([]).columns.tolist()[:4] == ["open", "high", "low", "close"]


def test_ohlcv_arrays() -> None:
    arrays = ohlcv_arrays(CANDLES)
    assert isinstance(arrays, OhlcvArrays)
    np.testing.assert_array_equal(arrays.close, CLOSE)
    np.testing.assert_array_equal(arrays.high, HIGH)
    assert arrays.close.dtype == np.float64
    assert arrays.close.flags["C_CONTIGUOUS"]
    assert arrays.ts.dtype == np.dtype("datetime64[ns]")
    assert arrays.ts[0] == np.datetime64("2026-05-08T03:45:00")
    assert np.isnan(arrays.oi).all()
    assert arrays.is_complete.all()


@pytest.mark.parametrize("bad", [42, "candles", {"quotes": []}, [1, 2]])
def test_bad_sources_are_type_errors(bad: Any) -> None:
    with pytest.raises(TypeError):
        candle_list(bad)


def test_candle_without_timestamp() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        candles_to_df([{"open": 1, "high": 1, "low": 1, "close": 1}])
    # Kite's historical shape names the timestamp "date"
    assert len(candles_to_df([{"date": "2026-05-08T09:15:00+05:30", "close": 1.0}])) == 1


def test_missing_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"\[dataframe\]"):
        candles_to_df(CANDLES)


def test_missing_talib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "talib", None)
    with pytest.raises(ImportError, match=r"\[indicators\]"):
        ind.sma(CLOSE)
    with pytest.raises(ImportError, match=r"\[indicators\]"):
        ind.IndicatorState()


# -- batch indicators vs numpy ------------------------------------------------------------------


def np_sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    out[n - 1 :] = np.convolve(x, np.ones(n) / n, mode="valid")
    return out


def np_std(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(x, n)
    out[n - 1 :] = windows.std(axis=1)
    return out


def np_ema(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    k = 2 / (n + 1)
    out[n - 1] = x[:n].mean()
    for i in range(n, len(x)):
        out[i] = out[i - 1] + k * (x[i] - out[i - 1])
    return out


def np_wilder(values: np.ndarray, n: int, first: int) -> np.ndarray:
    """Wilder smoothing seeded by the mean of ``values[first : first + n]``."""
    out = np.full(len(values), np.nan)
    out[first + n - 1] = values[first : first + n].mean()
    for i in range(first + n, len(values)):
        out[i] = (out[i - 1] * (n - 1) + values[i]) / n
    return out


def np_rsi(x: np.ndarray, n: int) -> np.ndarray:
    diff = np.diff(x, prepend=np.nan)
    gain, loss = np.where(diff > 0, diff, 0.0), np.where(diff < 0, -diff, 0.0)
    avg_gain, avg_loss = np_wilder(gain, n, 1), np_wilder(loss, n, 1)
    return np.asarray(100 * avg_gain / (avg_gain + avg_loss), dtype=np.float64)


def np_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    prev = np.roll(close, 1)
    tr = np.maximum(high - low, np.maximum(abs(high - prev), abs(low - prev)))
    return np_wilder(tr, n, 1)


def assert_series(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual[~np.isnan(actual)], expected[~np.isnan(expected)], rtol=1e-9)


def test_sma_ema_stddev_match_numpy() -> None:
    assert_series(ind.sma(CANDLES, 20), np_sma(CLOSE, 20))
    assert_series(ind.ema(CANDLES, 9), np_ema(CLOSE, 9))
    assert_series(ind.stddev(CANDLES, 20), np_std(CLOSE, 20))


def test_zscore_and_bollinger_match_numpy() -> None:
    expected = (CLOSE - np_sma(CLOSE, 20)) / np_std(CLOSE, 20)
    assert_series(ind.zscore(CANDLES, 20), expected)
    bands = ind.bollinger(CANDLES, 20, 2.0)
    assert_series(bands.middle, np_sma(CLOSE, 20))
    assert_series(bands.upper, np_sma(CLOSE, 20) + 2 * np_std(CLOSE, 20))
    assert_series(bands.lower, np_sma(CLOSE, 20) - 2 * np_std(CLOSE, 20))


def test_zscore_of_a_flat_window_is_zero() -> None:
    z = ind.zscore([5.0] * 10, 5)
    assert np.isnan(z[:4]).all()
    assert (z[4:] == 0.0).all()


def test_rsi_and_atr_match_numpy() -> None:
    assert_series(ind.rsi(CANDLES, 14), np_rsi(CLOSE, 14))
    assert_series(ind.atr(CANDLES, 14), np_atr(HIGH, LOW, CLOSE, 14))


def test_macd_is_fast_minus_slow_ema() -> None:
    result = ind.macd(CANDLES)
    np.testing.assert_allclose(result.histogram[40:], (result.macd - result.signal)[40:], atol=1e-12)
    # after warm-up TA-Lib's aligned seeding has converged to plain EMA(12) - EMA(26)
    expected = np_ema(CLOSE, 12) - np_ema(CLOSE, 26)
    np.testing.assert_allclose(result.macd[-50:], expected[-50:], atol=1e-6)
    assert np.isnan(result.signal[:33]).all()
    assert not np.isnan(result.signal[33:]).any()


def test_sources_numbers_dataframe_and_response_agree() -> None:
    from_numbers = ind.sma(CLOSE.tolist(), 10)
    assert_series(ind.sma(candles_to_df(CANDLES), 10), from_numbers)
    assert_series(ind.sma({"candles": CANDLES}, 10), from_numbers)
    assert_series(ind.sma(CANDLES, 10, field="high"), np_sma(HIGH, 10))
    with pytest.raises(ValueError, match="one-dimensional"):
        ind.sma(np.ones((3, 3)), 2)


# -- incremental state -------------------------------------------------------------------------


def batch_at(i: int) -> dict[str, float]:
    bands = ind.bollinger(CANDLES, 20)
    return {
        "sma": ind.sma(CANDLES, 20)[i],
        "ema": ind.ema(CANDLES, 20)[i],
        "stddev": ind.stddev(CANDLES, 20)[i],
        "zscore": ind.zscore(CANDLES, 20)[i],
        "upper": bands.upper[i],
        "lower": bands.lower[i],
        "rsi": ind.rsi(CANDLES, 14)[i],
        "atr": ind.atr(CANDLES, 14)[i],
    }


def assert_snapshot(snapshot: ind.IndicatorSnapshot | None, i: int) -> None:
    assert snapshot is not None
    assert snapshot.count == i + 1
    assert snapshot.close == CANDLES[i]["close"]
    for name, expected in batch_at(i).items():
        actual = getattr(snapshot, name)
        assert math.isnan(actual) == math.isnan(expected), (name, i)
        if not math.isnan(expected):
            assert actual == pytest.approx(expected, rel=1e-9), (name, i)


def test_state_warmed_then_updated_matches_batch() -> None:
    state = ind.IndicatorState()
    assert_snapshot(state.warm(CANDLES[:100]), 99)
    assert state.ready
    for i in range(100, 200):
        assert_snapshot(state.update(CANDLES[i]), i)


def test_state_from_nothing_opens_each_indicator_when_it_can() -> None:
    state = ind.IndicatorState()
    for i in range(40):
        snapshot = state.update(CANDLES[i])
        assert_snapshot(snapshot, i)
        assert snapshot is not None
        assert snapshot.ready == (i >= 19)  # SMA/BBANDS need 20 bars, RSI/ATR 15
    assert state.last is not None
    assert state.last.ts == datetime.fromisoformat(CANDLES[39]["ts"])


def test_state_ignores_incomplete_duplicate_and_older_candles() -> None:
    state = ind.IndicatorState(period=5, rsi_period=5, atr_period=5)
    state.warm(CANDLES[:30])
    before = state.last
    assert state.update(CANDLES[29]) is None  # re-delivered after a reconnect
    assert state.update(CANDLES[10]) is None  # older
    assert state.update(CANDLES[30] | {"is_complete": False}) is None  # still forming
    assert state.last == before
    assert state.count == 30
    assert state.update(CANDLES[30]) is not None
    assert state.warm([]) is None


def test_state_refuses_bad_candles_without_changing() -> None:
    state = ind.IndicatorState(period=5)
    state.warm(CANDLES[:30])
    before = state.last
    with pytest.raises(ValueError, match="non-finite"):
        state.update(CANDLES[30] | {"close": float("nan")})
    with pytest.raises(ValueError, match="numeric"):
        state.update({"ts": CANDLES[30]["ts"], "high": 1.0, "low": 1.0})
    assert state.last == before
    assert state.update(CANDLES[30]) is not None


def test_state_refuses_tiny_periods() -> None:
    with pytest.raises(ValueError):
        ind.IndicatorState(period=1)
