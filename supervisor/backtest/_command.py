"""``kite-supervisor backtest``: load the config and the history, run, write the report.

Exit codes as ``run``'s: 0 done, 1 the daemon did not release every session, 2 the config, a
plugin or the data is invalid.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from typing import NamedTuple, TextIO

import trio
import trio.testing

from supervisor._commands import EXIT_CONFIG
from supervisor._config import ConfigError, load_config
from supervisor._daemon import DaemonSetupError
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient, KiteAlgoWorkerError
from supervisor.sandbox._candles import DEFAULT_DAYS, INTERVALS
from supervisor.sandbox._market_hours import IST, MarketHours

from ._data import Candle, DataError, load_history
from ._fetch import fetch_history
from ._render import render_summary, write_report
from ._replay import Step, replay_steps, synthetic_steps
from ._result import BacktestResult
from ._run import run_backtest

__all__ = ["Progress", "cmd_backtest", "parse_day"]


def parse_day(raw: str) -> dt.datetime:
    """``YYYY-MM-DD`` as the start of that day in IST; ``ValueError`` naming it otherwise."""
    try:
        return dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(0), IST)
    except ValueError:
        raise ValueError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


class Progress:
    """A one-line progress bar on ``out`` (plain text, rewritten with ``\\r``), at most once per
    percent of the steps. ``wall`` is the injected clock for the speed figure."""

    def __init__(self, out: TextIO, wall: Callable[[], float], *, width: int = 30) -> None:
        self._out, self._wall, self._width = out, wall, width
        self._started = wall()
        self._shown = -1
        self.simulated_s = 0.0

    def __call__(self, done: int, total: int, when: dt.datetime, first: dt.datetime) -> None:
        percent = 100 * done // total
        if percent == self._shown:
            return
        self._shown = percent
        self.simulated_s = (when - first).total_seconds()
        wall = max(self._wall() - self._started, 1e-9)
        filled = self._width * done // total
        bar = "#" * filled + "." * (self._width - filled)
        self._out.write(
            f"\r[{bar}] {percent:3d}% {when.astimezone(IST):%Y-%m-%d %H:%M} IST"
            f"  {wall:6.1f} s  {self.simulated_s / wall:9,.0f}x real time"
        )
        self._out.flush()

    def finish(self) -> None:
        self._out.write("\n")
        self._out.flush()


class _Period(NamedTuple):
    steps: list[Step]  # the market steps to drive
    warmup: list[Step]  # replayed steps before --from: history only (``run_backtest``)


def _steps(args: argparse.Namespace, hours: MarketHours, err: TextIO) -> _Period:
    start = parse_day(args.start)
    end = parse_day(args.end) + dt.timedelta(days=1)  # --to names the last day, included
    if args.interval not in INTERVALS:
        raise DataError(f"--interval {args.interval!r}: one of {', '.join(INTERVALS)}")
    bar_seconds = INTERVALS[args.interval]
    fetch = getattr(args, "fetch", None)
    if fetch is None and args.data is None:
        return _Period(list(synthetic_steps(start, end, hours=hours, bar_seconds=bar_seconds)), [])
    # the days before --from are the strategies' history: by default the window history answers
    # when not given ``from`` (what ``ctx.warmup_history`` asks), since a longer one costs memory
    # (every step of it is kept) and, fetched, a request per instrument and day
    days = getattr(args, "warmup_days", None)
    since = start - dt.timedelta(days=DEFAULT_DAYS[args.interval] if days is None else days)
    if fetch is not None:
        loaded, source = _fetched(args, fetch, since, end, err), fetch
    else:
        loaded, source = load_history(args.data, interval=args.interval, start=since, end=end), args.data
    history = {k: kept for k, c in loaded.items() if (kept := [x for x in c if x.ts >= start])}
    earlier = {k: kept for k, c in loaded.items() if (kept := [x for x in c if x.ts < start])}
    if not history:
        raise DataError(f"{source}: no {args.interval} candles from {args.start} to {args.end}")
    steps, dropped = replay_steps(history, bar_seconds=bar_seconds, hours=hours)
    warmup, _ = replay_steps(earlier, bar_seconds=bar_seconds, hours=hours)
    earlier_days = len({step.when.astimezone(IST).date() for step in warmup})
    print(
        f"backtest: {len(history)} instruments, {len(steps)} market steps from {source}"
        + (f"; {dropped} candles outside the NSE session dropped" if dropped else "")
        + (f"; {earlier_days} earlier days of history" if earlier_days else ""),
        file=err,
    )
    return _Period(steps, warmup)


def _fetched(
    args: argparse.Namespace, url: str, start: dt.datetime, end: dt.datetime, err: TextIO
) -> dict[str, list[Candle]]:
    """``--fetch URL``: the history from a backend, through the disk cache (``_fetch``)."""
    token = os.environ.get("KITE_ALGO_WORKER_TOKEN", "")
    instruments = [i.strip() for i in (getattr(args, "instruments", None) or "").split(",") if i.strip()]
    if not token or not instruments:
        raise DataError("--fetch needs --instruments and $KITE_ALGO_WORKER_TOKEN")
    cache = getattr(args, "cache", None) or "backtest-cache"

    async def fetch() -> tuple[dict[str, list[Candle]], int]:
        config = AlgoWorkerConfig(base_url=url, token=token, timeout=60.0)
        async with AsyncKiteAlgoWorkerClient(config) as client:
            return await fetch_history(
                client, instruments, interval=args.interval, start=start, end=end, cache=cache
            )

    try:
        history, requests = trio.run(fetch)
    except KiteAlgoWorkerError as exc:
        raise DataError(f"--fetch {url}: {exc}") from None
    print(f"backtest: {requests} history requests to {url} (cache {cache})", file=err)
    return history


def cmd_backtest(
    args: argparse.Namespace,
    *,
    registry: PluginRegistry | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    wall: Callable[[], float] = time.perf_counter,
) -> int:
    """Run the configured strategies over the period and write the report (blocks)."""
    out, err = out or sys.stdout, err or sys.stderr
    # not run's preflight: the backend, HTTP port and state directory it checks are replaced here
    try:
        config, locator = load_config(args.config, environ=os.environ)
    except ConfigError as exc:
        print(f"error: invalid config\n{exc}", file=err)
        return EXIT_CONFIG
    registry = registry or PluginRegistry.from_entry_points()
    resolved, skipped = resolve_strategies(config, locator, registry)
    for skip in skipped:
        print(f"error: {skip}", file=err)
    if skipped or not resolved:
        print("error: nothing to backtest" if not skipped else "error: fix the strategies above", file=err)
        return EXIT_CONFIG
    hours = MarketHours.parse("nse")
    try:
        steps, warmup = _steps(args, hours, err)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_CONFIG
    if not steps:
        print("error: no trading session in the period", file=err)
        return EXIT_CONFIG
    progress = Progress(err, wall)
    first = steps[0].when

    async def main() -> BacktestResult:
        return await run_backtest(
            config,
            resolved,
            steps,
            seed=args.seed,
            replay=steps[0].prices is not None,  # --data or --fetch: not the seeded walk
            warmup=warmup,
            on_progress=lambda done, total, when: progress(done, total, when, first),
            handle_signals=True,
        )

    # Same-instant tasks run in an order trio draws at random; seeded, a backtest repeats
    # exactly (trio seeds the same generator for Hypothesis). Process-wide: only the CLI does it.
    scheduler = getattr(getattr(trio, "_core", None), "_run", None)
    if scheduler is not None and hasattr(scheduler, "_r"):
        scheduler._r.seed(args.seed)
    started = wall()
    try:
        result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    except DaemonSetupError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_CONFIG
    progress.finish()
    if result.steps < len(steps):
        print(f"backtest: interrupted after {result.steps} of {len(steps)} market steps", file=err)
    elapsed = max(wall() - started, 1e-9)
    rows = write_report(result, args.report)
    simulated = ((result.last or first) - first).total_seconds()
    print(render_summary(rows), file=out, end="")
    print(
        f"report: {args.report}/report.html; {result.steps} market steps, {result.price_events} prices, "
        f"{result.requests} requests in {elapsed:.1f} s: {simulated / elapsed:,.0f} simulated s per wall s",
        file=err,
    )
    return result.exit_code
