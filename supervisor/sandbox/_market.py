"""The synthetic market: every instrument shows its seeded price path (``_path``) on a clock.

Pure: the server calls ``step(now)`` every ``--tick-interval`` seconds; nothing reads the
time. Each step in session shows every equity and both index spots at their path's trade of
``now`` (one trade a second, on the 0.05 tick); NFO option prices follow from the spot by
Black-Scholes (``_options_chain``), priced at the start of the minute of the last step in
session, so nothing moves while the market is closed (``_market_hours``) and an option's minute
bar is its spot's mapped through one monotone price function. Candles and quotes read the same
path (``bars``), so they agree with the ticks. The same seed gives the same market.

With ``phases=K`` (``--tick-phases``) a market step is K phase steps ``T/K`` apart, as a real
feed's instruments tick at different moments: phase step ``n`` moves only the instruments of
phase ``n mod K`` (``phase_of``: the instrument token mod K, the index's token for a spot), so
each instrument still moves once per step, at ``(phase_of(token) / K) * T`` into it. Option
prices follow their spot (and the pricing time) at every phase step; the tick stream shows an
instrument only at its own phase (``stepped_phases``). ``phases=1`` is the single batch.

``price_source`` (the backtest's replay, ``supervisor.backtest._replay``) replaces the path:
when given, each step in session sets the prices it returns for ``now`` (equity symbols and
index names, e.g. ``{"INFY": 1500.5, "NIFTY 50": 25010.0}``; anything it leaves out keeps its
last price, and ``shown_at`` says when each series last moved). Everything else (options from
the spot, hours, phases' bookkeeping) is unchanged, so the paper engine fills against history
exactly as against the path.

``bar_source`` (the backtest's ``supervisor.backtest._bars.ReplayBars``) goes with it: a
function of an equity symbol or index name (``"INFY"``, ``"NIFTY 50"``) to that instrument's
bars (``_candles.SessionSource``), which then replace the path's for candles, history and
quotes' OHLC and volume (``bars``, ``session_summary``), so they agree with the replayed ticks.
An option's bars are still its spot's mapped through its price function (``OptionBars``), its
volume the path's (options are not in a backtest's data). A source may have no bars on a day
(no data): candles and history then answer none (``replays_bars``: history stops at the clock,
since a backtest's data past it is the future). The sandbox never imports the backtest.

``resolve`` accepts ``NSE:INFY``, ``INFY``, ``NSE:NIFTY 50``, ``NFO:NIFTY26MAY25000CE``
or an instrument token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from ._candles import BarSource, SessionSource
from ._market_hours import IST, MarketHours
from ._options_chain import UNDERLYINGS, Contract, OptionsUniverse, greeks
from ._path import Bar, PricePath, Series, merge
from ._universe import (
    EQUITIES,
    INDEX_OF_UNDERLYING,
    INDICES,
    STATIC,
    STATIC_BY_TOKEN,
    Instrument,
    search_static,
)

EQUITY_SIGMA = 0.02  # a day's log-return standard deviation
INDEX_SIGMA = 0.012
EQUITY_DAY_VOLUME = 2_000_000
OPTION_DAY_VOLUME = 5_000_000
PriceSource = Callable[[dt.datetime], Mapping[str, float]]  # prices to show at a step (docstring)
BarSourceFor = Callable[[str], SessionSource]  # an equity's or index's bars by tradingsymbol (docstring)


def minute_floor(at: dt.datetime) -> dt.datetime:
    return at - dt.timedelta(seconds=at.second, microseconds=at.microsecond)


def _mapped(bar: Bar, contract: Contract, at: dt.datetime, volume: int) -> Bar:
    """A spot's bar as the option's, priced at ``at`` (a put's high is at the spot's low)."""
    o, h, lo, c = (greeks(s, contract, at)["ltp"] for s in (bar.open, bar.high, bar.low, bar.close))
    return Bar(bar.start, o, max(h, lo), min(h, lo), c, volume)


class SeriesBars:
    """A path's bars for one series (``_candles.BarSource``)."""

    def __init__(self, path: PricePath, series: Series) -> None:
        self.path, self.series = path, series

    def first_day(self) -> dt.date | None:
        return None  # the path is defined on every trading day

    def day_bar(self, day: dt.date) -> Bar:
        return self.path.day_bar(self.series, day)

    def minute_bars(self, day: dt.date) -> list[Bar]:
        return self.path.minute_bars(self.series, day)

    def partial_minute(self, day: dt.date, minute: int, second: int) -> Bar:
        return self.path.partial_minute(self.series, day, minute, second)

    def session_so_far(self, day: dt.date, minute: int, second: int) -> tuple[Bar, float]:
        so_far = self.path.session_so_far(self.series, day, minute, second)
        return so_far, so_far.open  # a day opens at the previous session's close (``_path``)


class OptionBars:
    """An option's bars off its spot's: within a minute the price is one increasing (call) or
    decreasing (put) function of the spot, so the spot's minute OHLC map onto the option's."""

    def __init__(self, spot: BarSource, contract: Contract, path: PricePath) -> None:
        # ``path`` draws the option's volume (options are never in a backtest's data either)
        self.spot, self.contract, self.path = spot, contract, path
        self.volume = Series(contract.tradingsymbol, 1.0, 0.0, OPTION_DAY_VOLUME)

    def first_day(self) -> dt.date | None:
        return self.spot.first_day()

    def _map(self, bar: Bar, volume: int) -> Bar:
        return _mapped(bar, self.contract, bar.start, volume)

    def _traded_by(self, day: dt.date) -> list[int]:
        """The day's volume traded before each minute of the session (and after the last)."""
        path = self.path
        day_volume = path.day_volume(self.volume, day)
        return [int(day_volume * share) for share in path.volume_profile(path.session(day)[1])]

    def volume_through(self, day: dt.date, minute: int, second: int) -> tuple[int, int]:
        """The volume traded in ``minute`` through ``second`` (an even share of the minute's),
        and before that minute."""
        traded = self._traded_by(day)
        before = traded[minute]
        return (traded[minute + 1] - before) * (second + 1) // 60, before

    def minute_bars(self, day: dt.date) -> list[Bar]:
        bars = self.spot.minute_bars(day)
        if not bars:
            return []
        traded = self._traded_by(day)
        return [self._map(bar, traded[i + 1] - traded[i]) for i, bar in enumerate(bars)]

    def day_bar(self, day: dt.date) -> Bar | None:
        bars = self.minute_bars(day)
        return merge(bars, dt.datetime.combine(day, dt.time(0, 0), IST)) if bars else None

    def partial_minute(self, day: dt.date, minute: int, second: int) -> Bar:
        volume, _ = self.volume_through(day, minute, second)
        return self._map(self.spot.partial_minute(day, minute, second), volume)


class Market:
    """Prices of every instrument in the universe (see module docstring). Never blocks."""

    def __init__(
        self,
        seed: int,
        now: dt.datetime,
        hours: MarketHours | None = None,
        *,
        phases: int = 1,
        price_source: PriceSource | None = None,
        bar_source: BarSourceFor | None = None,
    ) -> None:
        if phases < 1:
            raise ValueError("phases must be at least 1")
        self.hours = hours or MarketHours()
        self.phases = phases
        self.path = PricePath(seed, self.hours)
        self._price_source = price_source
        self._bar_source = bar_source
        self.series: dict[str, Series] = {
            s: Series(s, e.price, EQUITY_SIGMA, EQUITY_DAY_VOLUME) for s, e in EQUITIES.items()
        }
        self.series.update({u: Series(u, spec[1], INDEX_SIGMA) for u, spec in UNDERLYINGS.items()})
        if price_source is None:
            shown = {name: self.path.price(series, now) for name, series in self.series.items()}
        else:
            shown = {name: series.reference for name, series in self.series.items()}
        self.prices: dict[str, float] = {s: shown[s] for s in EQUITIES}
        self.spots: dict[str, float] = {u: shown[u] for u in UNDERLYINGS}
        self.shown_at: dict[str, dt.datetime] = dict.fromkeys(self.series, now)  # by series name
        self.options = OptionsUniverse(self.hours.calendar)
        self.now = now  # the time of the last step (which option contracts are listed)
        # the options' pricing time: the minute of the last step in session
        self.priced_at = minute_floor(self.path.last_trade_at(now))
        self.in_session: bool | None = None  # at the last step (None before the first)
        self._references: dict[str, float] = {}  # options' fixed reference prices
        self.generation = 0  # bumped whenever prices change (a step in session, a restore)
        self.steps = 0  # phase steps taken in session; the next one moves phase steps % phases
        # what each phase moves, in the single batch's order (so phases=1 draws as before)
        self._spots_of: list[list[str]] = [[] for _ in range(phases)]
        for underlying in self.spots:
            self._spots_of[self.phase_of(STATIC[INDEX_OF_UNDERLYING[underlying]].instrument_token)].append(
                underlying
            )
        self._equities_of: list[list[str]] = [[] for _ in range(phases)]
        for symbol in self.prices:
            self._equities_of[self.phase_of(EQUITIES[symbol].token)].append(symbol)

    # -- time -----------------------------------------------------------------------------------
    def is_open(self, now: dt.datetime) -> bool:
        return self.hours.is_open(now)

    def step(self, now: dt.datetime) -> bool:
        """Advance to ``now``; returns whether prices moved (False outside the session)."""
        self.now = now
        self.in_session = self.hours.is_open(now)
        if not self.in_session:
            return False
        self.priced_at = minute_floor(now)
        if self._price_source is not None:
            self._show(self._price_source(now), now)
            return True
        phase, path, series, shown_at = self.steps % self.phases, self.path, self.series, self.shown_at
        spots = self.spots
        for underlying in self._spots_of[phase]:
            spots[underlying] = path.price(series[underlying], now)
            shown_at[underlying] = now
        prices = self.prices
        for symbol in self._equities_of[phase]:
            prices[symbol] = path.price(series[symbol], now)
            shown_at[symbol] = now
        self.steps += 1
        self.generation += 1
        return True

    def _show(self, prices: Mapping[str, float], now: dt.datetime) -> None:
        shown_at = self.shown_at
        for symbol, price in prices.items():
            if symbol in self.prices:
                self.prices[symbol] = price
                shown_at[symbol] = now
            elif symbol in INDICES:
                underlying = INDICES[symbol].underlying
                self.spots[underlying] = price
                shown_at[underlying] = now
        self.steps += 1
        self.generation += 1

    def phase_of(self, instrument_token: int) -> int:
        """The phase within a market step at which the instrument ticks (0 with one phase)."""
        return instrument_token % self.phases

    def stepped_phases(self, steps_seen: int) -> frozenset[int]:
        """The phases stepped since ``self.steps`` was ``steps_seen``: all of them after K steps
        or more (a reader that fell behind), and always all with one phase (every wake-up)."""
        done = self.steps - steps_seen
        if done >= self.phases or self.phases == 1:
            return frozenset(range(self.phases))
        return frozenset((steps_seen + k) % self.phases for k in range(max(done, 0)))

    # -- instruments ----------------------------------------------------------------------------
    def option(self, tradingsymbol: str) -> Contract | None:
        return self.options.find(tradingsymbol, self.now, self.spots)

    def resolve(self, raw: str | int) -> Instrument | None:
        """The instrument named by ``raw`` (symbol with or without exchange, or token)."""
        text = str(raw).strip()
        if text.isdigit():
            token = int(text)
            found = STATIC_BY_TOKEN.get(token)
            if found is not None:
                return found
            contract = self.options.find_token(token, self.now, self.spots)
            return None if contract is None else contract.instrument()
        exchange, _, symbol = text.upper().rpartition(":")
        if exchange in ("", "NSE") and symbol in STATIC:
            return STATIC[symbol]
        if exchange in ("", "NFO"):
            contract = self.option(symbol)
            return None if contract is None else contract.instrument()
        return None

    def search(self, query: str, exchange: str, limit: int) -> list[Instrument]:
        return search_static(query, exchange, limit)

    def lot_size(self, exchange: str, tradingsymbol: str) -> int | None:
        """Lot size of a known tradable instrument, None when unknown (or an index)."""
        if exchange == "NSE" and tradingsymbol in EQUITIES:
            return 1
        if exchange == "NFO":
            found = self.option(tradingsymbol)
            return None if found is None else found.lot_size
        return None

    def token(self, tradingsymbol: str) -> int | None:
        if tradingsymbol in STATIC:
            return STATIC[tradingsymbol].instrument_token
        found = self.option(tradingsymbol)
        return None if found is None else found.instrument_token

    # -- prices ---------------------------------------------------------------------------------
    def ltp(self, symbol: str) -> float | None:
        """The last price of an equity, index or option (None when unknown)."""
        price = self.prices.get(symbol)
        if price is not None:
            return price
        if symbol in INDICES:
            return self.spots[INDICES[symbol].underlying]
        found = self.option(symbol)
        if found is None:
            return None
        return greeks(self.spots[found.underlying], found, self.priced_at)["ltp"]

    def reference(self, instrument: Instrument) -> float:
        """The fixed reference price (the day's open/close in quotes, the level of candles)."""
        symbol = instrument.tradingsymbol
        if symbol in EQUITIES:
            return EQUITIES[symbol].price
        if symbol in INDICES:
            return UNDERLYINGS[INDICES[symbol].underlying][1]
        cached = self._references.get(symbol)
        if cached is not None:
            return cached
        found = self.option(symbol)
        if found is None:
            return 0.0
        # the contract's value at the reference spot two weeks before expiry: stable per contract
        at = dt.datetime.combine(found.expiry, dt.time(15, 30), IST) - dt.timedelta(days=14)
        price = self._references[symbol] = greeks(UNDERLYINGS[found.underlying][1], found, at)["ltp"]
        return price

    @property
    def replays_bars(self) -> bool:
        """Whether candles come from ``bar_source`` (a backtest's data) instead of the path."""
        return self._bar_source is not None

    def _series_bars(self, name: str) -> SessionSource:
        """The bars of a series (an equity symbol or an underlying): ``bar_source``'s or the path's."""
        if self._bar_source is not None:
            return self._bar_source(INDEX_OF_UNDERLYING.get(name, name))
        return SeriesBars(self.path, self.series[name])

    def bars(self, instrument: Instrument) -> tuple[BarSource, dt.datetime] | None:
        """The bars of ``instrument`` and the instant of the trade it shows (None: unknown)."""
        symbol = instrument.tradingsymbol
        name = INDICES[symbol].underlying if symbol in INDICES else symbol
        if name in self.series:
            return self._series_bars(name), self.shown_at[name]
        found = self.option(symbol)
        if found is None:
            return None
        spot = self._series_bars(found.underlying)
        return OptionBars(spot, found, self.path), self.shown_at[found.underlying]

    def session_summary(self, instrument: Instrument) -> tuple[Bar, float] | None:
        """The session so far through the trade shown (open, high, low, last, volume) and the
        previous session's close, for quotes. An option's is its spot's mapped through the
        option's current price function (its true minute bars cost a day of pricing)."""
        symbol = instrument.tradingsymbol
        found = None if symbol in STATIC else self.option(symbol)
        name = (
            found.underlying
            if found is not None
            else INDICES[symbol].underlying
            if symbol in INDICES
            else symbol
        )
        if name not in self.series:
            return None
        day, minute, second = self.path.trade_instant(self.shown_at[name])
        spot = self._series_bars(name)
        summary = spot.session_so_far(day, minute, second)
        if summary is None or found is None:
            return summary
        so_far, previous = summary
        in_minute, before = OptionBars(spot, found, self.path).volume_through(day, minute, second)
        mapped = _mapped(so_far, found, self.priced_at, before + in_minute)
        return mapped, greeks(previous, found, self.priced_at)["ltp"]

    def index_symbol(self, underlying: str) -> str:
        return INDEX_OF_UNDERLYING[underlying]

    # -- persistence ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"prices": dict(self.prices), "spots": dict(self.spots)}

    def restore(self, data: dict[str, Any]) -> None:
        self.prices.update({k: float(v) for k, v in (data.get("prices") or {}).items() if k in self.prices})
        self.spots.update({k: float(v) for k, v in (data.get("spots") or {}).items() if k in self.spots})
        self.generation += 1
