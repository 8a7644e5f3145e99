"""``kite-supervisor record``: a live sandbox's ticks over loopback HTTP (virtual time) into the
layout ``backtest --data`` reads, then replayed through the backtest."""

from __future__ import annotations

import datetime as dt
import io
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from supervisor._plugins import PluginRegistry
from supervisor.backtest import Candle, load_history
from supervisor.backtest._command import cmd_backtest
from supervisor.backtest._data import parse_candles_csv
from supervisor.backtest._record import CandleBuilder, record_stream, write_recording
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from supervisor.sandbox import SandboxHandle, serve_sandbox
from supervisor.sandbox._market_hours import IST

from .cli import backtest_args
from .strategies import BuyFirstSellLast

TOKEN = "kwa_" + "r" * 43
EPOCH = dt.datetime(2026, 6, 10, 9, 20, tzinfo=IST)  # a Wednesday, in session


def test_candles_are_built_from_the_ticks_of_their_bucket() -> None:
    builder = CandleBuilder(60)
    at = dt.datetime(2026, 6, 10, 9, 20, tzinfo=IST)
    for seconds, price in [(0, 10.0), (15, 12.0), (30, 9.0), (45, 11.0), (60, 11.5), (50, 99.0)]:
        builder.add("NSE:INFY", at + dt.timedelta(seconds=seconds), price)
    assert builder.candles["NSE:INFY"] == [
        Candle(at, 10.0, 12.0, 9.0, 11.0, 4),
        Candle(at + dt.timedelta(minutes=1), 11.5, 11.5, 11.5, 11.5, 1),
    ]  # the late tick (50 s after a tick of the next bucket) is a tick, not a candle change
    assert len(builder.ticks["NSE:INFY"]) == 6


@pytest.mark.parametrize(("interval", "seconds"), [("10minute", 600), ("30minute", 1800), ("60minute", 3600)])
def test_coarse_buckets_start_at_the_sessions_open_as_kites_do(interval: str, seconds: int) -> None:
    # 09:15 IST is 03:45 UTC: buckets floored from the Unix epoch would start at 09:10 (10
    # minutes), 09:00 (30) or 08:30 (60), none of them a Kite candle
    builder = CandleBuilder(seconds)
    opens = dt.datetime(2026, 6, 10, 9, 15, tzinfo=IST)
    step = dt.timedelta(seconds=seconds)
    for at in (opens, opens + step - dt.timedelta(seconds=1), opens + step, opens + 3 * step):
        builder.add("NSE:INFY", at, 100.0)
    assert [c.ts for c in builder.candles["NSE:INFY"]] == [opens, opens + step, opens + 3 * step], interval
    assert [c.volume for c in builder.candles["NSE:INFY"]] == [2, 1, 1]


def test_a_day_candle_is_stamped_at_its_dates_ist_midnight() -> None:
    builder = CandleBuilder(86400)
    for day, hour, minute in ((10, 9, 15), (10, 15, 29), (11, 9, 16)):
        builder.add("NSE:INFY", dt.datetime(2026, 6, day, hour, minute, tzinfo=IST), 100.0)
    assert [c.ts for c in builder.candles["NSE:INFY"]] == [
        dt.datetime(2026, 6, 10, tzinfo=IST),
        dt.datetime(2026, 6, 11, tzinfo=IST),
    ]


async def record(tmp: Path, *, parquet: bool, minutes: float) -> tuple[int, CandleBuilder]:
    builder = CandleBuilder(60)
    async with trio.open_nursery() as nursery:
        sandbox: SandboxHandle = await nursery.start(
            partial(serve_sandbox, token=TOKEN, market_hours="nse", epoch=EPOCH, tick_interval=15.0)
        )
        config = AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token)
        async with AsyncKiteAlgoWorkerClient(config, environ={}) as client:
            taken = await record_stream(
                client,
                ["NSE:INFY", "NSE:TCS"],
                builder,
                duration_s=minutes * 60,
                wall_clock=lambda: pytest.fail("the backend's timestamps are used"),
            )
        nursery.cancel_scope.cancel()
    write_recording(tmp, builder, interval="minute", parquet=parquet)
    return taken, builder


def test_a_recording_in_csv_is_what_the_ticks_said(tmp_path: Path) -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    taken, builder = trio.run(partial(record, tmp_path, parquet=False, minutes=5), clock=clock)
    assert taken >= 2 * 5 * 4  # two instruments, four steps a minute
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.*"))
    assert files == ["NSE/INFY/minute.csv", "NSE/INFY/ticks.csv", "NSE/TCS/minute.csv", "NSE/TCS/ticks.csv"]
    candles = parse_candles_csv((tmp_path / "NSE/INFY/minute.csv").read_text())
    assert candles == builder.candles["NSE:INFY"]
    assert candles[0].ts >= EPOCH and candles[-1].ts < EPOCH + dt.timedelta(minutes=6)  # sandbox time
    ticks = builder.ticks["NSE:INFY"]
    first_bucket = [p for ts, p in ticks if ts < candles[0].ts + dt.timedelta(minutes=1)]
    assert (candles[0].open, candles[0].close) == (first_bucket[0], first_bucket[-1])
    assert (candles[0].high, candles[0].low) == (max(first_bucket), min(first_bucket))


def test_a_parquet_recording_replays_through_the_backtest(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")  # in the dev extra
    # two trio runs, as two commands would be: record (virtual time), then the backtest's own
    clock = trio.testing.MockClock(autojump_threshold=0)
    _, builder = trio.run(partial(record, tmp_path / "data", parquet=True, minutes=10), clock=clock)
    assert (tmp_path / "data/NSE/TCS/minute.parquet").exists()
    history = load_history(
        tmp_path / "data", start=EPOCH - dt.timedelta(hours=1), end=EPOCH + dt.timedelta(hours=1)
    )
    assert history == builder.candles
    (tmp_path / "bt.yaml").write_text(
        "supervisor: {heartbeat_interval_s: 10, shutdown_grace_s: 5}\nstrategies:\n"
        "  - name: hold\n    plugin: hold\n"
        '    run: {strategy_run_id: run-hold, template_id: tmpl, account_scope: "kite:paper-a"}\n'
        "    params: {symbol: TCS, quantity: 3}\n"
    )
    args = backtest_args(
        tmp_path / "bt.yaml",
        "2026-06-10",
        "2026-06-10",
        "--data",
        str(tmp_path / "data"),
        "--report",
        str(tmp_path / "report"),
        "--seed",
        "1",
    )
    out = io.StringIO()
    registry = PluginRegistry.from_classes({"hold": BuyFirstSellLast})
    code = cmd_backtest(args, registry=registry, out=out, err=io.StringIO())
    assert code == 0
    trades = (tmp_path / "report" / "trades.csv").read_text().splitlines()
    assert len(trades) == 1 + 2  # bought at the recording's first price, sold at its last
    tcs = builder.candles["NSE:TCS"]
    assert str(tcs[0].open) in trades[1] and str(tcs[-1].close) in trades[2]


def test_the_record_command_parses_and_refuses_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from supervisor._cli import build_parser
    from supervisor.backtest._record import cmd_record

    args = build_parser().parse_args(
        ["record", "--url", "http://127.0.0.1:1", "--instruments", "NSE:INFY", "--minutes", "1", "--out", "x"]
    )
    assert (args.interval, args.format) == ("minute", "auto")
    monkeypatch.delenv("KITE_ALGO_WORKER_TOKEN", raising=False)
    err = io.StringIO()
    assert cmd_record(args, err=err) == 2
    assert "KITE_ALGO_WORKER_TOKEN" in err.getvalue()
