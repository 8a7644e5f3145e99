"""``--tick-phases K``: each instrument ticks once per market step, at its phase within the step.

The market moves the instruments of phase ``n mod K`` at phase step ``n`` (``T/K`` apart); a
tick stream of N instruments sends one event per phase holding only that phase's instruments.
One phase (the default) is the single batch of every earlier test.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

import pytest
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle, serve_sandbox
from supervisor.sandbox._market import Market
from supervisor.sandbox._universe import EQUITIES

from .conftest import TOKEN, api_client
from .test_market_http import sse_events

EPOCH = dt.datetime(2026, 5, 4, 4, 0, tzinfo=dt.UTC)  # Monday 09:30 IST


def _by_phase(phases: int, per_phase: int) -> list[str]:
    """``per_phase`` equities of each phase, phase by phase."""
    chosen: list[str] = []
    for phase in range(phases):
        chosen += [s for s in sorted(EQUITIES) if EQUITIES[s].token % phases == phase][:per_phase]
    return chosen


def test_one_phase_shows_every_instrument_at_each_step() -> None:
    market = Market(7, EPOCH)
    for k in range(3):
        now = EPOCH + dt.timedelta(seconds=k + 1)
        assert market.step(now)
        path, series = market.path, market.series
        assert market.prices == {s: path.price(series[s], now) for s in market.prices}
        assert market.spots == {u: path.price(series[u], now) for u in market.spots}
    assert market.stepped_phases(market.steps) == {0}  # one phase: every wake-up sees all


def test_each_equity_moves_once_per_step_at_its_phase() -> None:
    a, b = Market(3, EPOCH, phases=4), Market(3, EPOCH, phases=4)
    shown: dict[str, list[int]] = {name: [] for name in a.series}  # the phase steps showing each
    for n in range(8):
        before, spots_before = dict(a.prices), dict(a.spots)
        now = EPOCH + dt.timedelta(seconds=0.25 * (n + 1))
        assert a.step(now) and b.step(now)
        for name, at in a.shown_at.items():
            if at == now:
                shown[name].append(n)
                expected = a.path.price(a.series[name], now)
                assert (a.prices.get(name) or a.spots[name]) == expected  # the path's trade of now
            else:
                assert (a.prices.get(name) or a.spots[name]) == (before.get(name) or spots_before[name])
    for symbol in EQUITIES:
        phase = a.phase_of(EQUITIES[symbol].token)
        assert shown[symbol] == [phase, phase + 4], symbol  # once in each of the 2 steps, at its phase
    assert len({a.phase_of(EQUITIES[s].token) for s in EQUITIES}) == 4  # the phases are all used
    nifty = a.resolve("NSE:NIFTY 50")
    assert nifty is not None and [n % 4 for n in shown["NIFTY"]] == [a.phase_of(nifty.instrument_token)] * 2
    assert a.prices == b.prices and a.spots == b.spots  # seeded: the same path
    assert a.stepped_phases(a.steps - 1) == {(a.steps - 1) % 4}
    assert a.stepped_phases(a.steps - 3) == {(a.steps - k) % 4 for k in (1, 2, 3)}
    assert a.stepped_phases(0) == {0, 1, 2, 3}  # a reader far behind gets everything


def test_phases_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="phases"):
        Market(1, EPOCH, phases=0)


async def test_a_stream_gets_one_event_per_phase_with_only_that_phase(
    nursery: trio.Nursery, autojump_clock: MockClock
) -> None:
    handle: SandboxHandle = await nursery.start(
        partial(serve_sandbox, token=TOKEN, epoch=EPOCH, tick_interval=1.0, tick_phases=4)
    )
    symbols = [f"NSE:{s}" for s in reversed(_by_phase(4, 3))]  # request order is kept per event
    batches: list[tuple[dt.datetime, list[str]]] = []
    with trio.fail_after(60):
        async with api_client(handle) as api:
            params = {"symbols": ",".join(symbols), "mode": "quote"}
            async with api.stream("GET", "/worker/market/ticks/stream", params=params) as response:
                async for event, data in sse_events(response):
                    if event == "ticks":
                        stamps = {t["exchange_timestamp"] for t in data["ticks"]}
                        assert len(stamps) == 1
                        at = dt.datetime.fromisoformat(stamps.pop())
                        batches.append((at, [t["symbol"] for t in data["ticks"]]))
                        if len(batches) == 8:
                            break
    market = handle.market
    for n, (at, batch) in enumerate(batches):
        assert at == EPOCH + dt.timedelta(seconds=0.25 * (n + 1))  # phase step n, T/K apart
        phase = n % 4
        assert batch == [s for s in symbols if market.phase_of(EQUITIES[s[4:]].token) == phase]
        assert len(batch) == 3
    for symbol in symbols:  # each instrument once per 1 s step, at the same phase every step
        times = [at for at, batch in batches if symbol in batch]
        assert len(times) == 2 and times[1] - times[0] == dt.timedelta(seconds=1)


async def test_a_candle_stream_updates_at_its_instruments_phase(
    nursery: trio.Nursery, autojump_clock: MockClock
) -> None:
    handle: SandboxHandle = await nursery.start(
        partial(serve_sandbox, token=TOKEN, epoch=EPOCH, tick_interval=1.0, tick_phases=4)
    )
    symbol = _by_phase(4, 1)[2]  # a phase-2 equity
    updates: list[dt.datetime] = []
    with trio.fail_after(60):
        async with api_client(handle) as api:
            params = {"symbol": f"NSE:{symbol}", "interval": "minute"}
            async with api.stream("GET", "/worker/market/candles/stream", params=params) as response:
                async for event, _ in sse_events(response):
                    if event == "candle":
                        updates.append(handle.ctx.now())
                        if len(updates) == 3:
                            break
    assert updates == [EPOCH + dt.timedelta(seconds=0.75 + k) for k in range(3)]


def test_the_cli_takes_tick_phases_one_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    from supervisor._cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["sandbox"]).tick_phases == 1
    assert parser.parse_args(["sandbox", "--tick-phases", "10"]).tick_phases == 10
    with pytest.raises(SystemExit):
        parser.parse_args(["sandbox", "--tick-phases", "0"])
    assert "--tick-phases" in capsys.readouterr().err
