"""Backtests with known answers: the real daemon and the paper engine over small generated data,
in virtual time (no socket, no sleep)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor.backtest import BacktestResult, Step, load_history, replay_steps, run_backtest
from supervisor.backtest._command import cmd_backtest
from supervisor.backtest._data import write_candles as write_data
from supervisor.backtest._report import metrics
from supervisor.sandbox._market_hours import IST, MarketHours
from supervisor.sandbox._paper_orders import charges_for

from .cli import backtest_args
from .strategies import BuyFirstSellLast, clock_reader

NSE = MarketHours.parse("nse")
REGISTRY = PluginRegistry.from_classes({"hold": BuyFirstSellLast})
CONFIG = """
supervisor:
  heartbeat_interval_s: 10
  shutdown_grace_s: 5
  restart: {initial_backoff_s: 1, max_backoff_s: 4, max_restarts: 3, window_s: 600}
strategies:
"""
STRATEGY = """  - name: {name}
    plugin: hold
    run: {{strategy_run_id: run-{name}, template_id: tmpl, account_scope: "kite:paper-a"}}
    params: {params}
"""
TINY = """date,open,high,low,close,volume
2026-06-10 09:15:00+05:30,100,101,99,100.5,10
2026-06-10 09:16:00+05:30,100.5,102,100,101.5,10
2026-06-10 09:17:00+05:30,101.5,103,101,102,10
"""


def config_text(*strategies: tuple[str, str]) -> str:
    return CONFIG + "".join(STRATEGY.format(name=n, params=p) for n, p in strategies)


def write_candles(
    root: Path, symbol: str, days: list[dt.date], *, start: float, drift: float, minutes: int = 40
) -> None:
    """The last ``minutes`` minute candles of each day's session: a zigzag with a drift."""
    folder = root / "NSE" / symbol
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["date,open,high,low,close,volume"]
    price = start
    for day in days:
        at = dt.datetime.combine(day, dt.time(15, 30), IST) - dt.timedelta(minutes=minutes)
        for minute in range(minutes):
            close = round(price + drift + (0.35 if minute % 3 == 0 else -0.2), 2)
            high, low = round(max(price, close) + 0.25, 2), round(min(price, close) - 0.15, 2)
            lines.append(f"{at.isoformat()},{price},{high},{low},{close},{1000 + minute}")
            price = close
            at += dt.timedelta(minutes=1)
    (folder / "minute.csv").write_text("\n".join(lines) + "\n")


def prepare(text: str, data: Path, first: dt.date, last: dt.date) -> tuple[Any, Any, list[Step]]:
    config, locator = parse_config(text, file="bt.yaml", environ={})
    resolved, skipped = resolve_strategies(config, locator, REGISTRY)
    assert skipped == []
    start = dt.datetime.combine(first, dt.time(0), IST)
    end = dt.datetime.combine(last, dt.time(0), IST) + dt.timedelta(days=1)
    history = load_history(data, start=start, end=end)
    steps, dropped = replay_steps(history, bar_seconds=60, hours=NSE)
    assert dropped == 0
    return config, resolved, steps


async def backtest(text: str, data: Path, first: dt.date, last: dt.date) -> BacktestResult:
    config, resolved, steps = prepare(text, data, first, last)
    return await run_backtest(config, resolved, steps)


async def backtest_reading_the_clock(data: Path, day: dt.date) -> tuple[BacktestResult, list[dt.datetime]]:
    """A backtest over ``day``'s minute data of a strategy noting ``ctx.now()`` at start and stop."""
    seen: list[dt.datetime] = []
    run = '{strategy_run_id: run-clock, template_id: t, account_scope: "kite:paper-a"}'
    text = CONFIG + f"  - {{name: clock, plugin: clock, run: {run}}}\n"
    config, locator = parse_config(text, file="bt.yaml", environ={})
    resolved, _ = resolve_strategies(
        config, locator, PluginRegistry.from_classes({"clock": clock_reader(seen)})
    )
    start = dt.datetime.combine(day, dt.time(0), IST)
    history = load_history(data, start=start, end=start + dt.timedelta(days=1))
    steps, _ = replay_steps(history, bar_seconds=60, hours=NSE)
    return await run_backtest(config, resolved, steps), seen


async def test_tiny_dataset_gives_the_hand_computed_pnl(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    (tmp_path / "NSE" / "INFY").mkdir(parents=True)
    (tmp_path / "NSE" / "INFY" / "minute.csv").write_text(TINY)
    day = dt.date(2026, 6, 10)
    result = await backtest(config_text(("hold", "{symbol: INFY, quantity: 10}")), tmp_path, day, day)
    assert result.exit_code == 0
    fills = [(t["transaction_type"], t["quantity"], t["price"]) for t in result.trades]
    assert fills == [("buy", 10, "100.0"), ("sell", 10, "102.0")]  # first open, last close
    # buy 1,000: brokerage 0.30 + exchange 0.0297 + GST 0.059346 + stamp 0.15 = 0.54
    # sell 1,020: brokerage 0.306 + STT 0.255 + exchange 0.030294 + GST 0.060533 = 0.65
    hold, total = metrics(result)
    assert (hold.net_pnl, hold.charges, hold.trades, hold.round_trips, hold.win_rate) == (
        18.81,
        1.19,
        2,
        1,
        1.0,
    )
    assert total.net_pnl == 18.81
    # marked at each bar's close (net of the entry's 0.54), then flat after the exit at shutdown
    assert [s.runs["run-hold"][0] for s in result.samples] == [4.46, 14.46, 19.46, 18.81]
    assert hold.exposure == 0.75  # in the market at three of the four samples
    assert hold.max_drawdown == 0.65  # the exit's charges, from the peak of 19.46


async def test_ctx_now_is_the_replayed_markets_time_not_the_machines(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    (tmp_path / "NSE" / "INFY").mkdir(parents=True)
    (tmp_path / "NSE" / "INFY" / "minute.csv").write_text(TINY)
    result, seen = await backtest_reading_the_clock(tmp_path, dt.date(2026, 6, 10))
    assert result.exit_code == 0
    started, stopped = seen
    assert started.utcoffset() == dt.timedelta(hours=5, minutes=30)
    # the first bar opens at 09:15; the last (09:17) closes at 09:17:45, then a second to settle
    assert (
        dt.datetime(2026, 6, 10, 9, 15, tzinfo=IST)
        <= started
        < dt.datetime(2026, 6, 10, 9, 15, 1, tzinfo=IST)
    )
    assert stopped == dt.datetime(2026, 6, 10, 9, 17, 46, tzinfo=IST)


async def test_two_days_pnl_is_the_data_minus_the_engines_charges(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    days = [dt.date(2026, 6, 10), dt.date(2026, 6, 11)]
    write_candles(tmp_path, "INFY", days, start=1500.0, drift=0.05)
    write_candles(tmp_path, "TCS", days, start=3200.0, drift=-0.1)
    text = config_text(
        ("infy", "{symbol: INFY, quantity: 7, product: CNC}"), ("tcs", "{symbol: TCS, quantity: 3}")
    )
    started = trio.current_time()
    result = await backtest(text, tmp_path, *days)
    lived = trio.current_time() - started
    history = load_history(
        tmp_path, start=dt.datetime(2026, 6, 10, tzinfo=IST), end=dt.datetime(2026, 6, 12, tzinfo=IST)
    )
    rows = {row.name: row for row in metrics(result)}
    for name, symbol, qty, product in (("infy", "INFY", 7, "CNC"), ("tcs", "TCS", 3, "MIS")):
        bought, sold = (
            Decimal(str(history[f"NSE:{symbol}"][0].open)),
            Decimal(str(history[f"NSE:{symbol}"][-1].close)),
        )
        fees = charges_for(bought * qty, product, "buy") + charges_for(sold * qty, product, "sell")
        assert rows[name].net_pnl == float((sold - bought) * qty - fees)
        assert rows[name].charges == float(fees)
        assert rows[name].trades == 2
    assert result.steps == 2 * 40 * 4  # every bar's four steps
    # the night between the days was skipped, not lived: day one's 40 minutes to its close,
    # a minute's lead to day two's first bar, day two's 40 minutes and the shutdown
    assert (40 + 1 + 40) * 60 - 15 <= lived <= (40 + 1 + 40) * 60 + 60
    assert rows["TOTAL"].sharpe is not None  # two days of returns


async def test_worker_stale_protection_sees_a_live_worker_through_sparse_beats_and_the_night(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # The backtest beats every HEARTBEAT_S (600 s) and jumps the clock over the night, yet its
    # daemon never went away: the backend's worker-stale exit (30 s here) must not fire, as it
    # would not live, where the daemon beats every 10 s through the night.
    days = [dt.date(2026, 6, 10), dt.date(2026, 6, 11)]
    write_candles(tmp_path, "INFY", days, start=1500.0, drift=0.05)
    text = config_text(("guarded", "{symbol: INFY, quantity: 4, product: CNC}")).replace(
        'account_scope: "kite:paper-a"}',
        'account_scope: "kite:paper-a", runtime_state: {backend_protection: {enabled: true, '
        "operations: {exit_on_worker_stale: true, worker_stale_sec: 30}}}}",
    )
    result = await backtest(text, tmp_path, *days)
    assert result.exit_code == 0
    history = load_history(
        tmp_path, start=dt.datetime(2026, 6, 10, tzinfo=IST), end=dt.datetime(2026, 6, 12, tzinfo=IST)
    )
    first_open, last_close = history["NSE:INFY"][0].open, history["NSE:INFY"][-1].close
    fills = [(t["transaction_type"], t["quantity"], t["price"]) for t in result.trades]
    # held overnight and sold by the strategy at the end: no protection exit in between
    assert fills == [("buy", 4, str(first_open)), ("sell", 4, str(last_close))]


async def test_day_candles_replay_over_their_sessions(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # Kite stamps a day candle at its date's midnight, outside the session: it must not be
    # dropped, but replayed through that date's session (Friday 12 June, a weekend, Monday 15)
    (tmp_path / "NSE" / "INFY").mkdir(parents=True)
    (tmp_path / "NSE" / "INFY" / "day.csv").write_text(
        "date,open,high,low,close,volume\n"
        "2026-06-12 00:00:00+05:30,100,104,99,103,5000\n"
        "2026-06-13 00:00:00+05:30,103,104,102,103.5,10\n"  # a Saturday: no session, dropped
        "2026-06-15 00:00:00+05:30,103,106,101,105.5,7000\n"
    )
    config, locator = parse_config(
        config_text(("hold", "{symbol: INFY, quantity: 3, product: CNC}")), file="bt.yaml", environ={}
    )
    resolved, _ = resolve_strategies(config, locator, REGISTRY)
    history = load_history(
        tmp_path,
        interval="day",
        start=dt.datetime(2026, 6, 12, tzinfo=IST),
        end=dt.datetime(2026, 6, 16, tzinfo=IST),
    )
    steps, dropped = replay_steps(history, bar_seconds=86400, hours=NSE)
    assert dropped == 1
    assert [s.when.astimezone(IST).strftime("%d %H:%M:%S") for s in steps] == [
        "12 09:15:00", "12 10:48:45", "12 12:22:30", "12 13:56:15",
        "15 09:15:00", "15 10:48:45", "15 12:22:30", "15 13:56:15",
    ]  # fmt: skip
    result = await run_backtest(config, resolved, steps)
    assert result.exit_code == 0
    fills = [(t["transaction_type"], t["quantity"], t["price"]) for t in result.trades]
    assert fills == [("buy", 3, "100.0"), ("sell", 3, "105.5")]  # the first open, the last close


async def test_a_gap_in_a_sessions_data_is_lived_not_jumped(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # five minutes of candles, twenty without (an illiquid stretch), five more: the market's
    # clock and trio's stay together, so a strategy's sleeps span the market time they say
    (tmp_path / "NSE" / "INFY").mkdir(parents=True)
    rows = ["date,open,high,low,close,volume"]
    for minute in [*range(0, 5), *range(25, 30)]:
        at = dt.datetime(2026, 6, 10, 10, minute, tzinfo=IST).isoformat()
        rows.append(f"{at},100,101,99,100.5,10")
    (tmp_path / "NSE" / "INFY" / "minute.csv").write_text("\n".join(rows) + "\n")
    began = trio.current_time()
    _, seen = await backtest_reading_the_clock(tmp_path, dt.date(2026, 6, 10))
    lived = trio.current_time() - began
    started, stopped = seen
    # 10:00:00 to 10:29:45 and a second to settle: lived in full, on both clocks
    assert stopped - started == dt.timedelta(minutes=29, seconds=46)
    assert 29 * 60 + 46 <= lived < 29 * 60 + 60


async def test_a_strategy_that_crashes_is_restarted_and_reattached_without_a_second_entry(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    write_candles(tmp_path, "INFY", [dt.date(2026, 6, 10)], start=1500.0, drift=0.02, minutes=30)
    text = config_text(
        ("crashy", "{symbol: INFY, quantity: 5, crash_after_s: 600}"), ("calm", "{symbol: INFY, quantity: 5}")
    )
    result = await backtest(text, tmp_path, dt.date(2026, 6, 10), dt.date(2026, 6, 10))
    assert result.restarts == {"crashy": 1, "calm": 0}
    assert result.exit_code == 0
    by_run: dict[str, list[Any]] = {}
    for trade in result.trades:
        by_run.setdefault(trade["metadata"]["strategy_run_id"], []).append(
            (trade["transaction_type"], trade["price"])
        )
    # the restarted body re-sent its entry with the same idempotency key: one buy, as live
    assert by_run["run-crashy"] == by_run["run-calm"]
    assert [side for side, _ in by_run["run-crashy"]] == ["buy", "sell"]
    crashy, calm, _ = metrics(result)
    assert crashy.net_pnl == calm.net_pnl


async def test_a_shutdown_request_ends_the_replay_where_it_is(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    day = dt.date(2026, 6, 10)
    write_candles(tmp_path, "INFY", [day], start=1500.0, drift=0.02, minutes=30)
    config, resolved, steps = prepare(
        config_text(("hold", "{symbol: INFY, quantity: 2}")), tmp_path, day, day
    )
    results: list[BacktestResult] = []

    async def run(task_status: trio.TaskStatus[DaemonHandle]) -> None:
        results.append(await run_backtest(config, resolved, steps, task_status=task_status))

    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(run)
        await trio.sleep(10 * 60 + 5)  # what SIGINT does, ten minutes (40 steps) in
        handle.request_shutdown()
    (result,) = results
    assert (result.steps, len(steps)) == (41, 120)  # the first step, then one every 15 s
    sells = [t["price"] for t in result.trades if t["transaction_type"] == "sell"]
    shown = steps[40].prices
    assert shown is not None
    assert sells == [str(shown["INFY"])]  # the strategy exited at the last price shown
    assert result.samples[-1].runs["run-hold"][1] == 0.0  # flat in the last sample


def run_cli(tmp_path: Path, report: Path, data: str = "data") -> tuple[int, str]:
    args = backtest_args(
        tmp_path / "bt.yaml",
        "2026-06-10",
        "2026-06-11",
        "--data",
        str(tmp_path / data),
        "--report",
        str(report),
        "--seed",
        "7",
    )
    out, err = io.StringIO(), io.StringIO()
    code = cmd_backtest(args, registry=REGISTRY, out=out, err=err)
    return code, out.getvalue()


def test_the_same_data_and_seed_give_byte_identical_reports(tmp_path: Path) -> None:
    days = [dt.date(2026, 6, 10), dt.date(2026, 6, 11)]
    write_candles(tmp_path / "data", "INFY", days, start=1500.0, drift=0.05)
    write_candles(tmp_path / "data", "RELIANCE", days, start=2900.0, drift=-0.03)
    (tmp_path / "bt.yaml").write_text(
        config_text(
            ("a", "{symbol: INFY, quantity: 4}"),
            ("b", "{symbol: RELIANCE, quantity: 2}"),
            ("c", "{symbol: INFY, quantity: 1, crash_after_s: 120}"),
        )
    )
    code_1, summary_1 = run_cli(tmp_path, tmp_path / "one")
    code_2, summary_2 = run_cli(tmp_path, tmp_path / "two")
    assert (code_1, code_2) == (0, 0)
    assert summary_1 == summary_2
    header = "strategy net_pnl charges trades round_trips win_rate max_drawdown exposure sharpe restarts"
    assert summary_1.splitlines()[0].split() == header.split()
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert files == [
        "equity-a.png",
        "equity-b.png",
        "equity-c.png",
        "equity.csv",
        "equity.png",
        "report.html",
        "summary.csv",
        "summary.txt",
        "trades.csv",
    ]
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert (tmp_path / "one" / "equity.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert len((tmp_path / "one" / "trades.csv").read_text().splitlines()) == 1 + 6


def test_the_same_data_as_csv_and_as_parquet_give_byte_identical_reports(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")  # in the dev extra: present wherever tasks.py made the venv
    days = [dt.date(2026, 6, 10), dt.date(2026, 6, 11)]
    write_candles(tmp_path / "data", "INFY", days, start=1500.0, drift=0.05)
    write_candles(tmp_path / "data", "RELIANCE", days, start=2900.0, drift=-0.03)
    start, end = dt.datetime(2026, 6, 1, tzinfo=IST), dt.datetime(2026, 7, 1, tzinfo=IST)
    for key, candles in load_history(tmp_path / "data", start=start, end=end).items():
        path = write_data(tmp_path / "pq", key, "minute", candles, parquet=True)
        assert path.suffix == ".parquet"
    assert sorted(p.name for p in (tmp_path / "pq").rglob("*.*")) == ["minute.parquet"] * 2  # no CSV
    assert load_history(tmp_path / "pq", start=start, end=end) == load_history(
        tmp_path / "data", start=start, end=end
    )
    (tmp_path / "bt.yaml").write_text(
        config_text(("a", "{symbol: INFY, quantity: 4}"), ("b", "{symbol: RELIANCE, quantity: 2}"))
    )
    code_csv, summary_csv = run_cli(tmp_path, tmp_path / "csv")
    code_pq, summary_pq = run_cli(tmp_path, tmp_path / "parquet", data="pq")
    assert (code_csv, code_pq) == (0, 0)
    assert summary_csv == summary_pq
    files = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert "trades.csv" in files and len((tmp_path / "csv" / "trades.csv").read_text().splitlines()) > 1
    for name in files:
        assert (tmp_path / "csv" / name).read_bytes() == (tmp_path / "parquet" / name).read_bytes(), name


def test_data_outside_the_universe_is_refused_by_name(tmp_path: Path) -> None:
    write_candles(tmp_path / "data", "NOSUCH", [dt.date(2026, 6, 10)], start=10.0, drift=0.0)
    (tmp_path / "bt.yaml").write_text(config_text(("a", "{symbol: INFY}")))
    args = backtest_args(
        tmp_path / "bt.yaml",
        "2026-06-10",
        "2026-06-10",
        "--data",
        str(tmp_path / "data"),
        "--report",
        str(tmp_path / "r"),
        "--seed",
        "1",
    )
    err = io.StringIO()
    assert cmd_backtest(args, registry=REGISTRY, out=io.StringIO(), err=err) == 2
    assert "NSE:NOSUCH: not in the sandbox's universe" in err.getvalue()


@pytest.mark.parametrize("raw", ["2026-13-01", "yesterday"])
def test_a_bad_date_is_an_error_not_a_traceback(tmp_path: Path, raw: str) -> None:
    (tmp_path / "bt.yaml").write_text(config_text(("a", "{symbol: INFY}")))
    args = backtest_args(
        tmp_path / "bt.yaml", raw, "2026-06-10", "--report", str(tmp_path / "r"), "--seed", "1"
    )
    err = io.StringIO()
    assert cmd_backtest(args, registry=REGISTRY, out=io.StringIO(), err=err) == 2
    assert f"{raw!r} is not a date" in err.getvalue()
