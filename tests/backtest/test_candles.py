"""A backtest's candles are its data's: what a candle strategy sees on its candle stream, in its
warm-up history and on its tick stream all come from the same replayed history (real daemon,
real hub, the sandbox in-process, virtual time)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import trio
import trio.testing

from supervisor._config import parse_config
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor.backtest import Candle, load_history, replay_steps, run_backtest
from supervisor.backtest._command import cmd_backtest
from supervisor.backtest._data import write_candles
from supervisor.sandbox._candles import INTERVALS
from supervisor.sandbox._market_hours import IST, MarketHours

from .cli import backtest_args
from .strategies import Journal, watcher

NSE = MarketHours.parse("nse")
DAY = dt.date(2026, 6, 10)  # a Wednesday
CONFIG = """
supervisor:
  heartbeat_interval_s: 10
  shutdown_grace_s: 5
strategies:
"""
WATCH = """  - name: {name}
    plugin: {plugin}
    run: {{strategy_run_id: run-{name}, template_id: tmpl, account_scope: "kite:paper-a"}}
    params: {{symbol: "NSE:INFY", interval: {interval}}}
"""
Ohlcv = tuple[float, float, float, float, float]


def minute_candles(day: dt.date, first: dt.time, minutes: int, *, start: float) -> list[Candle]:
    """``minutes`` minute candles from ``first``: a walk whose every candle differs (so a bucket
    cut wrong, or a synthetic bar, cannot match), volumes 100, 101, ..."""
    at = dt.datetime.combine(day, first, IST)
    price, out = start, []
    for i in range(minutes):
        close = round(price + (0.85 if i % 4 in (0, 3) else -0.6) + 0.01 * (i % 7), 2)
        high = round(max(price, close) + 0.3 + 0.01 * (i % 5), 2)
        low = round(min(price, close) - 0.2 - 0.01 * (i % 3), 2)
        out.append(Candle(at + dt.timedelta(minutes=i), price, high, low, close, 100 + i))
        price = close
    return out


def aggregate(candles: list[Candle], seconds: int) -> list[Candle]:
    """``candles`` in buckets of ``seconds`` aligned to 09:15 IST (as Kite cuts them)."""
    buckets: dict[dt.datetime, list[Candle]] = {}
    for c in candles:
        opens = dt.datetime.combine(c.ts.astimezone(IST).date(), dt.time(9, 15), IST)
        k = int((c.ts - opens).total_seconds()) // seconds
        buckets.setdefault(opens + dt.timedelta(seconds=k * seconds), []).append(c)
    return [
        Candle(
            ts,
            g[0].open,
            max(c.high for c in g),
            min(c.low for c in g),
            g[-1].close,
            sum(c.volume for c in g),
        )
        for ts, g in sorted(buckets.items())
    ]


def as_dict(candles: list[Candle]) -> dict[str, Ohlcv]:
    return {c.ts.isoformat(): (c.open, c.high, c.low, c.close, float(c.volume)) for c in candles}


def last_seen(journal: Journal) -> dict[str, Ohlcv]:
    """Each bucket's last version on the candle stream (the final one: its bucket's every trade)."""
    out: dict[str, Ohlcv] = {}
    for c in journal.candles:
        assert None not in (c.ts, c.open, c.high, c.low, c.close, c.volume)
        ts = dt.datetime.fromisoformat(str(c.ts)).isoformat()
        out[ts] = (
            float(c.open or 0),
            float(c.high or 0),
            float(c.low or 0),
            float(c.close or 0),
            float(c.volume or 0),
        )
    return out


def registry(**journals: Journal) -> PluginRegistry:
    return PluginRegistry.from_classes({name: watcher(journal) for name, journal in journals.items()})


async def watch(data: Path, data_interval: str, stream_interval: str, journal: Journal) -> None:
    """A backtest over ``data`` on ``DAY`` of one watcher of INFY at ``stream_interval``."""
    text = CONFIG + WATCH.format(name="w", plugin="watch", interval=stream_interval)
    config, locator = parse_config(text, file="bt.yaml", environ={})
    resolved, skipped = resolve_strategies(config, locator, registry(watch=journal))
    assert skipped == []
    start = dt.datetime.combine(DAY, dt.time(0), IST)
    history = load_history(data, interval=data_interval, start=start, end=start + dt.timedelta(days=1))
    steps, dropped = replay_steps(history, bar_seconds=INTERVALS[data_interval], hours=NSE)
    assert dropped == 0
    result = await run_backtest(config, resolved, steps)
    assert result.exit_code == 0


def write_day(root: Path, data_interval: str) -> list[Candle]:
    """INFY's last 40 minutes of ``DAY`` as minute candles, written as ``data_interval`` data."""
    minutes = minute_candles(DAY, dt.time(14, 50), 40, start=1500.0)
    write_candles(
        root, "NSE:INFY", data_interval, aggregate(minutes, INTERVALS[data_interval]), parquet=False
    )
    return minutes


@pytest.mark.parametrize(
    ("data_interval", "stream_interval"),
    [("minute", "minute"), ("minute", "5minute"), ("5minute", "5minute")],
)
async def test_a_candle_strategy_receives_exactly_the_datas_candles(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, data_interval: str, stream_interval: str
) -> None:
    minutes = write_day(tmp_path, data_interval)
    journal = Journal()
    await watch(tmp_path, data_interval, stream_interval, journal)
    seen = last_seen(journal)
    expected = as_dict(aggregate(minutes, INTERVALS[stream_interval]))
    first = min(expected)
    assert {ts: bar for ts, bar in seen.items() if ts >= first} == expected
    # the snapshot's completed bucket before the data's first: flat at its open, no volume
    before = {ts: bar for ts, bar in seen.items() if ts < first}
    assert list(before.values()) == [(1500.0, 1500.0, 1500.0, 1500.0, 0.0)]


@pytest.mark.parametrize(("data_interval", "stream_interval"), [("minute", "5minute"), ("5minute", "minute")])
async def test_candles_agree_with_the_ticks_of_their_bucket(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, data_interval: str, stream_interval: str
) -> None:
    minutes = write_day(tmp_path, data_interval)
    journal = Journal()
    await watch(tmp_path, data_interval, stream_interval, journal)
    seconds = INTERVALS[stream_interval]
    opens = dt.datetime.combine(DAY, dt.time(9, 15), IST)
    by_bucket: dict[str, list[float]] = {}
    for tick in journal.ticks:
        at = dt.datetime.fromisoformat(str(tick.exchange_timestamp)).astimezone(IST)
        bucket = opens + dt.timedelta(seconds=int((at - opens).total_seconds()) // seconds * seconds)
        by_bucket.setdefault(bucket.isoformat(), []).append(float(tick.last_price or 0))
    seen = last_seen(journal)
    assert len(by_bucket) >= 8  # 40 minutes of ticks
    for ts, prices in by_bucket.items():
        assert seen[ts][:4] == (prices[0], max(prices), min(prices), prices[-1]), ts
    assert {ts for ts, bar in seen.items() if bar[4] > 0} == set(by_bucket)  # traded buckets only
    # a tick's quote is the day so far: the data's first open, extremes and volume through it
    prices = [float(tick.last_price or 0) for tick in journal.ticks]
    for i, tick in enumerate(journal.ticks):
        assert tick.ohlc is not None
        assert (tick.ohlc["open"], tick.ohlc["high"], tick.ohlc["low"]) == (
            1500.0, max(prices[: i + 1]), min(prices[: i + 1])
        )  # fmt: skip
    final = journal.ticks[-1]
    assert final.volume == sum(c.volume for c in minutes)


@pytest.mark.parametrize("warmup_days", [None, 3])
def test_warm_up_history_is_the_datas_earlier_days(tmp_path: Path, warmup_days: int | None) -> None:
    data = tmp_path / "data"
    full = dt.time(9, 15)
    friday = minute_candles(dt.date(2026, 6, 5), full, 375, start=1400.0)
    monday = minute_candles(dt.date(2026, 6, 8), full, 375, start=1450.0)  # Tuesday: no data
    period = minute_candles(DAY, dt.time(15, 0), 30, start=1480.0)
    write_candles(data, "NSE:INFY", "minute", [*friday, *monday, *period], parquet=False)
    # loaded before --from: 7 days by default (minute's default history window), or as asked
    earlier = [*friday, *monday] if warmup_days is None else monday
    text = CONFIG + "".join(
        WATCH.format(name=name, plugin=name, interval=interval)
        for name, interval in (("m1", "minute"), ("m5", "5minute"))
    )
    (tmp_path / "bt.yaml").write_text(text)
    journals = {"m1": Journal(), "m5": Journal()}
    args = backtest_args(
        tmp_path / "bt.yaml",
        DAY.isoformat(),
        DAY.isoformat(),
        "--data",
        str(data),
        "--report",
        str(tmp_path / "report"),
        "--seed",
        "3",
        *(["--warmup-days", str(warmup_days)] if warmup_days is not None else []),
    )
    err = io.StringIO()
    assert cmd_backtest(args, registry=registry(**journals), out=io.StringIO(), err=err) == 0
    close = earlier[-1].close  # Monday's last: the price until the period's first candle
    for name, seconds in (("m1", 60), ("m5", 300)):
        journal = journals[name]
        assert journal.started_at == "2026-06-10T15:00:00+05:30"  # the clock at the first candle
        rows = [
            (row["ts"], (row["open"], row["high"], row["low"], row["close"], float(row["volume"])))
            for row in journal.history
        ]
        # the sandbox's default window (7 days of minute, 30 of 5minute) holds every day loaded;
        # Tuesday, a trading day without data, answers no candles (never synthetic ones)
        assert dict(r for r in rows if r[0] < DAY.isoformat()) == as_dict(aggregate(earlier, seconds)), name
        # the period's day before its first candle: no trade, the last price, no volume
        today = [bar for ts, bar in rows if ts >= DAY.isoformat()]
        assert today == [(close, close, close, close, 0.0)] * (345 * 60 // seconds), name
        # history reaching past the clock ends at it: the data after it is the future
        assert journal.ahead and all(row["ts"] < journal.started_at for row in journal.ahead)
    assert f"{2 if warmup_days is None else 1} earlier days of history" in err.getvalue()
