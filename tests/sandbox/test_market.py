"""The synthetic market and its clock, pure: time is passed in, nothing reads the wall clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from supervisor.sandbox import _candles
from supervisor.sandbox._loops import market_tick
from supervisor.sandbox._market import Market
from supervisor.sandbox._market_hours import IST, MarketHours
from supervisor.sandbox._options_chain import UNDERLYINGS, symbol_for
from supervisor.sandbox._paper import PaperEngine
from supervisor.sandbox._quotes import QuoteCache
from supervisor.sandbox._state import SandboxState
from supervisor.sandbox._universe import EQUITIES, INDICES, STATIC_BY_TOKEN

NSE = MarketHours.parse("nse")
SCOPE = "kite:paper-a"


def ist(day: int, hour: int, minute: int, second: int = 0) -> dt.datetime:
    """A time in the week of Monday 2026-05-04 (IST), as aware UTC."""
    return dt.datetime(2026, 5, day, hour, minute, second, tzinfo=IST).astimezone(dt.UTC)


MONDAY_OPEN = ist(4, 9, 15)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ist(4, 9, 14, 59), False),
        (ist(4, 9, 15), True),
        (ist(4, 15, 29, 59), True),
        (ist(4, 15, 30), False),
        (ist(8, 12, 0), True),  # Friday
        (ist(9, 12, 0), False),  # Saturday
        (ist(10, 12, 0), False),  # Sunday
    ],
)
def test_nse_session_is_0915_to_1530_ist_on_weekdays(at: dt.datetime, expected: bool) -> None:
    assert NSE.is_open(at) is expected
    assert MarketHours().is_open(at)  # always open


def test_next_open_and_last_close_cross_the_weekend() -> None:
    friday_evening = ist(8, 18, 0)
    assert NSE.next_open(friday_evening) == ist(11, 9, 15)
    assert NSE.last_close(friday_evening) == ist(8, 15, 30)
    assert NSE.last_close(ist(11, 9, 0)) == ist(8, 15, 30)
    assert NSE.next_open(ist(4, 9, 0)) == MONDAY_OPEN
    assert NSE.next_open(MONDAY_OPEN) == ist(5, 9, 15)  # in session: the next day's open
    with pytest.raises(ValueError, match="always, nse"):
        MarketHours.parse("lse")


def test_same_seed_same_walk_and_every_instrument_moves() -> None:
    a, b = Market(3, MONDAY_OPEN), Market(3, MONDAY_OPEN)
    seen: dict[str, set[float]] = {s: {p} for s, p in a.prices.items()}
    for i in range(10):
        now = MONDAY_OPEN + dt.timedelta(seconds=i + 1)
        assert a.step(now) and b.step(now)
        assert a.prices == b.prices and a.spots == b.spots
        for symbol, price in a.prices.items():
            seen[symbol].add(price)
    # each trade lies in its minute's range: over ten seconds every equity has traded at two prices
    assert all(len(prices) > 1 for prices in seen.values()), [s for s, p in seen.items() if len(p) == 1]
    assert Market(4, MONDAY_OPEN).prices != Market(3, MONDAY_OPEN).prices  # the seed matters
    assert all(round(p * 20) == pytest.approx(p * 20) for p in a.prices.values())  # on the tick
    assert a.ltp("NIFTY 50") == a.spots["NIFTY"] != UNDERLYINGS["NIFTY"][1]


def test_nothing_moves_outside_the_session() -> None:
    market = Market(1, ist(4, 15, 29), NSE)
    assert market.step(ist(4, 15, 29, 30))
    prices, spots = dict(market.prices), dict(market.spots)
    option = _atm_call(market)
    option_price = market.ltp(option)
    for minute in range(31, 120):
        assert not market.step(ist(4, 15, 0) + dt.timedelta(minutes=minute))
    assert market.prices == prices and market.spots == spots
    assert market.ltp(option) == option_price  # options are priced at the last step in session


def _atm_call(market: Market, underlying: str = "NIFTY") -> str:
    nearest = market.hours.calendar.expiries(underlying, market.now)[0]
    expiry, monthly = nearest.date, nearest.monthly
    step = UNDERLYINGS[underlying][2]
    strike = int(round(market.spots[underlying] / step) * step)
    return symbol_for(underlying, expiry, strike, "CE", monthly)


def test_universe_resolves_equities_indices_and_options_by_symbol_and_token() -> None:
    market = Market(1, MONDAY_OPEN)
    assert len(EQUITIES) == 50 and len(STATIC_BY_TOKEN) == 52  # tokens are unique
    infy = market.resolve("NSE:INFY")
    assert infy is not None and infy.instrument_token == 408065 and market.resolve("408065") == infy
    assert market.resolve("infy") == infy and market.resolve("BSE:INFY") is None
    index = market.resolve("NSE:NIFTY BANK")
    assert index is not None and index.segment == "INDICES" and not index.tradable
    assert index.instrument_token == INDICES["NIFTY BANK"].token
    call = market.resolve(f"NFO:{_atm_call(market, 'BANKNIFTY')}")
    assert call is not None and call.lot_size == 30 and call.instrument_type == "CE"  # 2026 lot
    assert market.resolve(call.instrument_token) == call
    assert [i.tradingsymbol for i in market.search("bank", "", 3)] == ["AXISBANK", "HDFCBANK", "ICICIBANK"]


def _order(**extra: Any) -> dict[str, Any]:
    base = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC",
            "order_type": "MARKET", "quantity": 5, "variety": "regular", "validity": "DAY"}  # fmt: skip
    return {**base, **extra}


def test_outside_hours_regular_orders_are_rejected_and_amo_fills_at_the_open() -> None:
    saturday = ist(9, 11, 0)
    engine = PaperEngine(Market(1, saturday, NSE))
    state = SandboxState()
    rejected = engine.place_order(SCOPE, "r", _order(), saturday)
    assert rejected["status"] == "rejected"
    assert rejected["reason"].startswith("Market is closed (NSE 09:15-15:30 IST on trading days)")
    amo = engine.place_order(SCOPE, "r", _order(variety="amo"), saturday)
    assert amo["status"] == "accepted" and amo["order"]["status"] == "open"
    assert not market_tick(state, engine, ist(11, 9, 14, 59))  # Monday, a second before the open
    assert amo["order"]["status"] == "open"
    assert market_tick(state, engine, ist(11, 9, 15))
    assert amo["order"]["status"] == "filled"
    assert amo["order"]["average_price"] == str(engine.market.prices["INFY"])  # the open's price
    # a paper exit outside hours fails like any MARKET order: the position stays
    assert engine.flatten_run(SCOPE, "r", ist(11, 16, 0))["status"] == "failed"
    assert engine.run_pnl("r", ist(11, 16, 0))["legs"][0]["net_quantity"] == 5


def test_amo_only_outside_the_session_and_day_orders_cancelled_at_the_close() -> None:
    engine = PaperEngine(Market(1, ist(4, 15, 0), NSE))
    state = SandboxState()
    assert market_tick(state, engine, ist(4, 15, 0))
    in_session_amo = engine.place_order(SCOPE, "r", _order(variety="amo"), ist(4, 15, 1))
    assert in_session_amo["status"] == "rejected"
    assert in_session_amo["reason"].endswith("AMO orders are accepted only outside the session")
    low = engine.place_order(SCOPE, "r", _order(order_type="LIMIT", price=1.0), ist(4, 15, 1))
    assert market_tick(state, engine, ist(4, 15, 29))
    assert low["order"]["status"] == "open"
    assert not market_tick(state, engine, ist(4, 15, 30))
    assert low["order"]["status"] == "cancelled"
    assert low["order"]["metadata"]["reason"] == "Cancelled at market close"
    queued = engine.place_order(
        SCOPE, "r", _order(variety="amo", order_type="LIMIT", price=1.0), ist(4, 16, 0)
    )
    assert not market_tick(state, engine, ist(4, 16, 1))
    assert queued["order"]["status"] == "open"  # waits for tomorrow's session
    assert market_tick(state, engine, ist(5, 9, 15))
    assert queued["order"]["status"] == "open" and not queued["order"]["metadata"]["amo"]  # live, resting


def test_quote_documents_are_shared_within_a_step() -> None:
    market, cache = Market(1, MONDAY_OPEN), QuoteCache()
    infy = market.resolve("NSE:INFY")
    assert infy is not None
    first = cache.get(market, infy, "full", MONDAY_OPEN)
    assert cache.get(market, infy, "full", MONDAY_OPEN + dt.timedelta(seconds=0.5)) is first
    assert len(first["depth"]["buy"]) == 5 and first["last_price"] == market.prices["INFY"]
    market.step(MONDAY_OPEN + dt.timedelta(seconds=1))
    after = cache.get(market, infy, "full", MONDAY_OPEN + dt.timedelta(seconds=1))
    assert after is not first and after["last_price"] == market.prices["INFY"]
    assert (cache.hits, cache.misses) == (1, 2)


def test_candles_with_nse_hours_skip_nights_and_weekends() -> None:
    monday_0920 = ist(11, 9, 20)
    nse, always = Market(1, monday_0920, NSE), Market(1, monday_0920)
    infy = nse.resolve("NSE:INFY")
    assert infy is not None
    source = nse.bars(infy)
    assert source is not None
    done, current = _candles.recent(nse.path, *source, seconds=300, lookback=3, now=monday_0920)
    assert current is not None
    assert [c["ts"] for c in done] == [
        "2026-05-08T15:20:00+05:30",
        "2026-05-08T15:25:00+05:30",
        "2026-05-11T09:15:00+05:30",
    ]
    assert current["ts"] == "2026-05-11T09:20:00+05:30" and current["close"] == nse.prices["INFY"]
    assert current["open"] == current["close"]  # the bucket's first trade is the one shown
    assert done[-1]["close"] == current["open"]  # history joins the live candle
    assert done[1]["close"] == done[2]["open"]  # Friday's close is Monday's open: no move while closed
    always_source = always.bars(infy)
    assert always_source is not None
    around, _ = _candles.recent(always.path, *always_source, seconds=300, lookback=3, now=monday_0920)
    assert around[0]["ts"] == "2026-05-11T09:05:00+05:30"  # buckets from IST midnight, every day
    day = _candles.history(nse.path, source[0], 86400, ist(4, 0, 0), ist(18, 0, 0))
    assert len(day) == 10 and {dt.date.fromisoformat(c["ts"][:10]).weekday() for c in day} == set(range(5))
    intraday = _candles.history(nse.path, source[0], 300, ist(4, 0, 0), ist(5, 0, 0))
    assert len(intraday) == 75  # 09:15 to 15:30
    assert (
        intraday[0]["ts"] == "2026-05-04T09:15:00+05:30" and intraday[-1]["ts"] == "2026-05-04T15:25:00+05:30"
    )
