"""The price path (``_path``) and the candles cut from it (``_candles``), pure, over random seeds.

Every property is the market's contract with a strategy: a candle's OHLC are the first,
highest, lowest and last trade of its bucket, whatever the interval; prices sit on the 0.05
grid; history covers the window it claims and joins the live candle; nothing moves outside the
session; the same seed gives the same market.
"""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.sandbox import _candles
from supervisor.sandbox._market import Market, OptionBars, SeriesBars
from supervisor.sandbox._market_hours import IST, MarketHours
from supervisor.sandbox._options_chain import greeks, symbol_for
from supervisor.sandbox._path import Bar, PricePath, Series, merge

NSE, ALWAYS = MarketHours.parse("nse"), MarketHours.parse("always")
INFY = Series("INFY", 1450.5, 0.02, 2_000_000)
NIFTY = Series("NIFTY", 24850.0, 0.012)
CHEAP = Series("CHEAP", 3.1, 0.05, 10_000)  # a few ticks wide: the floor and the grid both bite
SERIES = st.sampled_from([INFY, NIFTY, CHEAP])
HOURS = st.sampled_from([NSE, ALWAYS])
SEEDS = st.integers(0, 2**32)
DAYS = st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31))
INTERVALS = st.sampled_from(sorted(_candles.INTERVALS.values()))


def on_grid(price: float) -> bool:
    return price > 0 and abs(price * 20 - round(price * 20)) < 1e-6 and round(price, 2) == price


def trading_day(path: PricePath, day: dt.date) -> dt.date:
    return day if path.trades_on(day) else path.next_day(day)


def trades_of(path: PricePath, series: Series, day: dt.date, first: int, last: int) -> list[float]:
    """Every trade of minutes ``first``..``last - 1`` of ``day``, in order."""
    return [p for minute in range(first, last) for p in path.minute_trades(series, day, minute)]


def agrees(bar: Bar, trades: list[float]) -> bool:
    return (bar.open, bar.high, bar.low, bar.close) == (trades[0], max(trades), min(trades), trades[-1])


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, hours=HOURS, series=SERIES, day=DAYS, seconds=INTERVALS, data=st.data())
def test_every_candle_is_its_trades(
    *, seed: int, hours: MarketHours, series: Series, day: dt.date, seconds: int, data: st.DataObject
) -> None:
    path = PricePath(seed, hours)
    day = trading_day(path, day)
    start, minutes = path.session(day)
    buckets = _candles.day_buckets(path, SeriesBars(path, series), day, seconds)
    index = data.draw(st.integers(0, len(buckets) - 1), label="bucket")
    bar, end = buckets[index]
    first = 0 if seconds >= 86400 else int((bar.start - start).total_seconds()) // 60
    last = int((end - start).total_seconds()) // 60
    trades = trades_of(path, series, day, first, last)
    assert agrees(bar, trades), (bar, min(trades), max(trades))
    assert all(on_grid(p) for p in trades)
    minute_bars = path.minute_bars(series, day)
    assert bar.volume == sum(b.volume for b in minute_bars[first:last])
    # the day's bar is O(1), drawn before its minutes: it is still exactly their hull
    assert agrees(path.day_bar(series, day), trades_of(path, series, day, 0, minutes))


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, hours=HOURS, series=SERIES, day=DAYS, seconds=INTERVALS, data=st.data())
def test_the_running_candle_only_widens_and_closes_at_the_trade_shown(
    *, seed: int, hours: MarketHours, series: Series, day: dt.date, seconds: int, data: st.DataObject
) -> None:
    path = PricePath(seed, hours)
    day = trading_day(path, day)
    start, minutes = path.session(day)
    source = SeriesBars(path, series)
    offsets = data.draw(st.lists(st.integers(0, minutes * 60 - 1), min_size=2, max_size=12), label="seconds")
    previous: dict[str, float] | None = None
    for offset in sorted(offsets):
        at = start + dt.timedelta(seconds=offset)
        done, current = _candles.recent(path, source, at, seconds=seconds, lookback=2, now=at)
        assert current is not None  # the path has bars every trading day
        assert current["close"] == path.price(series, at)
        assert len(done) == 2 and done[-1]["close"] == current["open"]  # history joins the live candle
        if previous is not None and previous["ts"] == current["ts"]:
            assert current["open"] == previous["open"]
            assert current["high"] >= previous["high"] and current["low"] <= previous["low"]
            assert current["volume"] >= previous["volume"]
        previous = current
        # a quote's session so far (O(1)) is the day's minutes so far
        day_at, minute, second = path.trade_instant(at)
        so_far = [
            *path.minute_bars(series, day_at)[:minute],
            path.partial_minute(series, day_at, minute, second),
        ]
        assert path.session_so_far(series, day_at, minute, second)[1:] == merge(so_far)[1:]


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, hours=HOURS, seconds=INTERVALS, day=DAYS, span=st.integers(1, 40 * 86400))
def test_history_covers_its_window(
    seed: int, hours: MarketHours, seconds: int, day: dt.date, span: int
) -> None:
    path = PricePath(seed, hours)
    source = SeriesBars(path, INFY)
    start = dt.datetime.combine(day, dt.time(10, 7), IST)
    to = start + dt.timedelta(seconds=span)
    candles = _candles.history(path, source, seconds, start, to)
    # every complete bucket inside the window, counted day by day from the sessions
    expected = []
    at = start.date()
    while at <= to.date():
        if path.trades_on(at):
            expected += [
                b.start
                for b, end in _candles.day_buckets(path, source, at, seconds)
                if b.start >= start and end <= to
            ]
        at += dt.timedelta(days=1)
    assert [c["ts"] for c in candles] == [t.isoformat() for t in expected]
    for earlier, later in itertools.pairwise(candles):
        assert earlier["close"] == later["open"]  # one path: no jump between candles, nor overnight
        assert earlier["ts"] < later["ts"]


def test_the_longest_windows_are_answered_whole() -> None:
    """90 days of minutes (always open: 129,600 candles) and ten years of days, uncapped."""
    path = PricePath(1, ALWAYS)
    to = dt.datetime(2026, 6, 10, 0, 0, tzinfo=IST)
    minutes = _candles.history(path, SeriesBars(path, INFY), 60, to - dt.timedelta(days=90), to)
    assert len(minutes) == 90 * 1440 and minutes[0]["ts"] == "2026-03-12T00:00:00+05:30"
    nse = PricePath(1, NSE)
    days = _candles.history(nse, SeriesBars(nse, INFY), 86400, to - dt.timedelta(days=3650), to)
    first = dt.date(2016, 6, 12)  # the first day bucket at or after ``from``
    trading = [first + dt.timedelta(days=k) for k in range((to.date() - first).days)]
    assert [c["ts"][:10] for c in days] == [d.isoformat() for d in trading if nse.trades_on(d)]
    assert len(days) > 2500  # the trading days of ten years
    assert all(on_grid(c[k]) for c in days for k in ("open", "high", "low", "close"))


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, series=SERIES, day=DAYS)
def test_nothing_moves_outside_the_session(seed: int, series: Series, day: dt.date) -> None:
    path = PricePath(seed, NSE)
    day = trading_day(path, day)
    start, minutes = path.session(day)
    before = path.day_bar(series, path.previous_day(day)).close
    close = path.day_bar(series, day).close
    night = [start - dt.timedelta(seconds=1), start - dt.timedelta(hours=9)]
    assert {path.price(series, t) for t in night} == {before} == {path.price(series, start)}
    after = start + dt.timedelta(minutes=minutes)
    evening = [
        after,
        after + dt.timedelta(hours=8),
        dt.datetime.combine(path.next_day(day), dt.time(9, 14, 59), IST),
    ]
    assert {path.price(series, t) for t in evening} == {close}


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, day=DAYS, hours=HOURS)
def test_the_same_seed_is_the_same_market(seed: int, day: dt.date, hours: MarketHours) -> None:
    a, b = PricePath(seed, hours), PricePath(seed, hours)
    day = trading_day(a, day)
    assert a.minute_bars(INFY, day) == b.minute_bars(INFY, day)
    at = a.session(day)[0] + dt.timedelta(minutes=77, seconds=13)
    assert a.price(INFY, at) == b.price(INFY, at)
    other = PricePath(seed + 1, hours)
    assert other.minute_bars(INFY, day) != a.minute_bars(INFY, day)


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS, minute=st.integers(0, 374), side=st.sampled_from(["CE", "PE"]), offset=st.integers(-6, 6))
def test_an_options_candle_is_its_trades_priced_off_the_spot(
    seed: int, minute: int, side: str, offset: int
) -> None:
    day = dt.date(2026, 6, 10)
    at = dt.datetime.combine(day, dt.time(11, 0), IST)
    market = Market(seed, at, NSE)
    nearest = NSE.calendar.expiries("NIFTY", at)[0]
    strike = int(round(market.spots["NIFTY"] / 50) * 50 + offset * 50)
    contract = market.option(symbol_for("NIFTY", nearest.date, strike, side, nearest.monthly))
    assert contract is not None
    bars = OptionBars(SeriesBars(market.path, market.series["NIFTY"]), contract, market.path)
    bar = bars.minute_bars(day)[minute]
    # each trade of the option: Black-Scholes of the spot's trade, priced at the minute's start
    trades = [
        greeks(s, contract, bar.start)["ltp"]
        for s in market.path.minute_trades(market.series["NIFTY"], day, minute)
    ]
    assert agrees(bar, trades) and all(on_grid(p) for p in trades)
    shown = market.path.session(day)[0] + dt.timedelta(minutes=minute, seconds=30)
    market.step(shown)
    assert market.ltp(contract.tradingsymbol) == trades[30]  # the option's tick is that trade
