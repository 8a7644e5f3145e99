"""History from a backend through ``get_historical_candles``, cached on disk: the sandbox as the
real backend over loopback HTTP, on virtual time."""

from __future__ import annotations

import datetime as dt
import io
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from supervisor._plugins import PluginRegistry
from supervisor.backtest import Candle, DataError, replay_steps
from supervisor.backtest._command import cmd_backtest
from supervisor.backtest._fetch import candles_of, fetch_history
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.sandbox import SandboxHandle, serve_sandbox
from supervisor.sandbox._market_hours import IST, MarketHours

from .cli import backtest_args
from .strategies import Journal, watcher

TOKEN = "kwa_" + "f" * 43
EPOCH = dt.datetime(2026, 6, 15, 10, 0, tzinfo=IST)  # a Monday: the week before is history
START, END = dt.datetime(2026, 6, 11, tzinfo=IST), dt.datetime(2026, 6, 13, tzinfo=IST)  # Thu, Fri


def test_a_response_gives_its_complete_candles_oldest_first() -> None:
    row = {"open": 10, "high": 11, "low": 9, "close": 10.5, "volume": 7}
    response = {
        "candles": [
            {**row, "ts": "2026-06-11T09:16:00+05:30"},
            {**row, "date": "2026-06-11 09:15:00+05:30", "is_complete": True},
            {**row, "ts": "2026-06-11T09:17:00+05:30", "is_complete": False},
        ]
    }
    got = candles_of(response, source="x")
    assert [c.ts.minute for c in got] == [15, 16]
    assert got[0] == Candle(dt.datetime(2026, 6, 11, 9, 15, tzinfo=IST), 10.0, 11.0, 9.0, 10.5, 7)
    with pytest.raises(DataError, match="x: no candles"):
        candles_of({"detail": "nope"}, source="x")


async def fetch_twice(cache: Path) -> tuple[dict[str, list[Candle]], int, dict[str, list[Candle]], int, int]:
    async with trio.open_nursery() as nursery:
        sandbox: SandboxHandle = await nursery.start(
            partial(serve_sandbox, token=TOKEN, market_hours="nse", epoch=EPOCH)
        )
        config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
        async with AsyncKiteAlgoWorkerClient(config, environ={}) as client:
            fetch = partial(
                fetch_history,
                client,
                ["NSE:INFY", "NSE:TCS"],
                interval="minute",
                start=START,
                end=END,
                cache=cache,
            )
            first, asked_first = await fetch()
            second, asked_second = await fetch()
            direct = await client.get_historical_candles(
                "NSE:INFY", timeframe="minute", from_date=START, to_date=START + dt.timedelta(days=1)
            )
        nursery.cancel_scope.cancel()
    complete = len([c for c in direct["candles"] if c.get("is_complete", True)])
    return first, asked_first, second, asked_second, complete


def test_history_is_fetched_once_per_instrument_and_day_then_read_from_the_cache(tmp_path: Path) -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    first, asked_first, second, asked_second, direct_count = trio.run(
        partial(fetch_twice, tmp_path / "cache"), clock=clock
    )
    assert asked_first == 2 * 2  # two instruments, two days
    assert asked_second == 0
    assert second == first
    assert sorted(first) == ["NSE:INFY", "NSE:TCS"]
    infy = first["NSE:INFY"]
    assert all(START <= c.ts < END for c in infy)
    assert {c.ts.astimezone(IST).date() for c in infy} == {dt.date(2026, 6, 11), dt.date(2026, 6, 12)}
    assert len([c for c in infy if c.ts < START + dt.timedelta(days=1)]) == direct_count == 375
    cached = sorted(p.name for p in (tmp_path / "cache" / "NSE" / "INFY" / "minute").iterdir())
    assert cached == ["2026-06-11.csv", "2026-06-12.csv"]
    steps, dropped = replay_steps(first, bar_seconds=60, hours=MarketHours.parse("nse"))
    assert dropped == 0 and len(steps) == 2 * 375 * 4  # replayable as it is


def test_a_fetched_backtest_warms_up_on_the_backends_earlier_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    since = START - dt.timedelta(days=7)  # minute's default history window before --from

    async def fill_cache() -> dict[str, list[Candle]]:
        async with trio.open_nursery() as nursery:
            sandbox: SandboxHandle = await nursery.start(
                partial(serve_sandbox, token=TOKEN, market_hours="nse", epoch=EPOCH)
            )
            config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
            async with AsyncKiteAlgoWorkerClient(config, environ={}) as client:
                found, _ = await fetch_history(
                    client, ["NSE:INFY"], interval="minute", start=since, end=END, cache=cache
                )
            nursery.cancel_scope.cancel()
        return found

    fetched = trio.run(fill_cache, clock=trio.testing.MockClock(autojump_threshold=0))
    earlier = [c for c in fetched["NSE:INFY"] if c.ts < START]
    assert {c.ts.date() for c in earlier} == {dt.date(2026, 6, d) for d in (4, 5, 8, 9, 10)}
    # the backtest finds every day it needs in the cache: the backend named is unreachable
    monkeypatch.setenv("KITE_ALGO_WORKER_TOKEN", TOKEN)
    (tmp_path / "bt.yaml").write_text(
        "supervisor: {heartbeat_interval_s: 10, shutdown_grace_s: 5}\nstrategies:\n"
        "  - name: watch\n    plugin: watch\n"
        '    run: {strategy_run_id: run-watch, template_id: tmpl, account_scope: "kite:paper-a"}\n'
        '    params: {symbol: "NSE:INFY", interval: minute}\n'
    )
    journal = Journal()
    args = backtest_args(
        tmp_path / "bt.yaml",
        "2026-06-11",
        "2026-06-11",
        "--fetch",
        "http://127.0.0.1:9",
        "--instruments",
        "NSE:INFY",
        "--cache",
        str(cache),
        "--report",
        str(tmp_path / "report"),
    )
    err = io.StringIO()
    registry = PluginRegistry.from_classes({"watch": watcher(journal)})
    assert cmd_backtest(args, registry=registry, out=io.StringIO(), err=err) == 0, err.getvalue()
    assert "5 earlier days of history" in err.getvalue()
    warmed = [
        (row["ts"], row["open"], row["high"], row["low"], row["close"], row["volume"])
        for row in journal.history
        if row["ts"] < START.isoformat()
    ]
    assert warmed == [(c.ts.isoformat(), c.open, c.high, c.low, c.close, c.volume) for c in earlier]
