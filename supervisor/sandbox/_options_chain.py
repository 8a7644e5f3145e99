"""NFO index options on NIFTY and BANKNIFTY: contracts, Black-Scholes prices.

Pure. Expiries and lot sizes come from the NSE calendar (``_calendar``: NIFTY weekly and
monthly, BANKNIFTY monthly only, Tuesday or Thursday by period, lots by contract expiry), with
real strike steps, Kite-style trading symbols (monthly ``NIFTY26MAY25000CE``, weekly
``NIFTY2651425000CE``) with tokens derived from the symbol, and prices/greeks from
Black-Scholes over a fixed volatility smile. ``OptionsUniverse`` creates contracts on demand
around the spot (41 strikes per expiry) and indexes them by symbol and by token. A contract
stops trading at its expiry's close; ``Contract.expired(now)`` says whether it has.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from ._calendar import NSE, SESSION_CLOSE, NseCalendar, lot_size
from ._market_hours import IST
from ._universe import Instrument

RATE = 0.065
# underlying -> (index symbol, reference spot, strike step); lot sizes are by expiry (_calendar)
UNDERLYINGS: dict[str, tuple[str, float, int]] = {
    "NIFTY": ("NIFTY 50", 24850.0, 50),
    "BANKNIFTY": ("NIFTY BANK", 55200.0, 100),
}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_WEEKLY_MONTH = "123456789OND"


@dataclass(frozen=True)
class Contract:
    underlying: str
    expiry: dt.date
    strike: int
    option_type: str  # CE | PE
    tradingsymbol: str
    instrument_token: int
    lot_size: int
    monthly: bool

    @property
    def close(self) -> dt.datetime:
        """The instant the contract stops trading: its expiry day's close."""
        return dt.datetime.combine(self.expiry, SESSION_CLOSE, IST)

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.close

    def instrument(self) -> Instrument:
        return Instrument(
            "NFO",
            self.tradingsymbol,
            self.instrument_token,
            self.underlying,
            self.option_type,
            "NFO-OPT",
            self.lot_size,
            expiry=self.expiry.isoformat(),
            strike=float(self.strike),
        )


def symbol_for(underlying: str, expiry: dt.date, strike: int, option_type: str, monthly: bool) -> str:
    yy = expiry.year % 100
    if monthly:
        return f"{underlying}{yy:02d}{_MONTHS[expiry.month - 1]}{strike}{option_type}"
    return f"{underlying}{yy:02d}{_WEEKLY_MONTH[expiry.month - 1]}{expiry.day:02d}{strike}{option_type}"


def token_for(tradingsymbol: str) -> int:
    return 10_000_000 + int(hashlib.sha256(tradingsymbol.encode()).hexdigest()[:8], 16) % 89_000_000


def contract(underlying: str, expiry: dt.date, monthly: bool, strike: int, option_type: str) -> Contract:
    symbol = symbol_for(underlying, expiry, strike, option_type, monthly)
    lot = lot_size(underlying, expiry)
    return Contract(underlying, expiry, strike, option_type, symbol, token_for(symbol), lot, monthly)


def _norm_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _norm_pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def years_to_expiry(expiry: dt.date, now: dt.datetime) -> float:
    """Time left to the expiry's close; a floor keeps an expired contract's price at intrinsic."""
    close = dt.datetime.combine(expiry, SESSION_CLOSE, IST)
    return max((close - now).total_seconds() / (365 * 86400), 1e-6)


def iv_for(spot: float, strike: int) -> float:
    """A smile with a put skew: 2 points more below the spot, eased in over about 1 % of
    moneyness (a step at the strike made a price jump as the spot crossed it, so that an
    option's price was no longer monotone in its spot's; ``_market.OptionBars`` relies on it)."""
    moneyness = math.log(strike / spot)
    return 0.13 + 0.6 * moneyness * moneyness + 0.01 * (1.0 - math.tanh(moneyness / 0.01))


def greeks(spot: float, c: Contract, now: dt.datetime) -> dict[str, float]:
    """Black-Scholes price and greeks (theta per day, vega/rho per 1 %)."""
    t = years_to_expiry(c.expiry, now)
    sigma = iv_for(spot, c.strike)
    k = float(c.strike)
    d1 = (math.log(spot / k) + (RATE + sigma * sigma / 2) * t) / (sigma * math.sqrt(t))
    d2 = d1 - sigma * math.sqrt(t)
    disc = math.exp(-RATE * t)
    if c.option_type == "CE":
        price = spot * _norm_cdf(d1) - k * disc * _norm_cdf(d2)
        delta = _norm_cdf(d1)
        theta = -spot * _norm_pdf(d1) * sigma / (2 * math.sqrt(t)) - RATE * k * disc * _norm_cdf(d2)
        rho = k * t * disc * _norm_cdf(d2) / 100
    else:
        price = k * disc * _norm_cdf(-d2) - spot * _norm_cdf(-d1)
        delta = _norm_cdf(d1) - 1
        theta = -spot * _norm_pdf(d1) * sigma / (2 * math.sqrt(t)) + RATE * k * disc * _norm_cdf(-d2)
        rho = -k * t * disc * _norm_cdf(-d2) / 100
    return {
        "ltp": max(0.05, round(round(price / 0.05) * 0.05, 2)),
        "iv": round(sigma * 100, 2),
        "delta": round(delta, 4),
        "gamma": round(_norm_pdf(d1) / (spot * sigma * math.sqrt(t)), 6),
        "theta": round(theta / 365, 4),
        "vega": round(spot * _norm_pdf(d1) * math.sqrt(t) / 100, 4),
        "rho": round(rho, 4),
    }


def open_interest(c: Contract, spot: float) -> int:
    distance = abs(c.strike - spot) / (UNDERLYINGS[c.underlying][2] * 10)
    return int(2_000_000 * math.exp(-distance * distance)) + c.strike % 7 * 1000


class OptionsUniverse:
    """Contracts by trading symbol and token, created on demand around the spot."""

    def __init__(self, calendar: NseCalendar = NSE) -> None:
        self.calendar = calendar
        self.by_symbol: dict[str, Contract] = {}
        self.by_token: dict[int, Contract] = {}
        # underlying -> (nearest expiry, ATM) when last listed: a new nearest expiry (the old one
        # closed) or a new ATM lists again
        self._listed: dict[str, tuple[dt.date, int]] = {}

    def add(self, c: Contract) -> Contract:
        self.by_symbol[c.tradingsymbol] = c
        self.by_token[c.instrument_token] = c
        return c

    def chain(
        self, underlying: str, expiry: dt.date, monthly: bool, spot: float, width: int = 20
    ) -> list[int]:
        step = UNDERLYINGS[underlying][2]
        atm = int(round(spot / step) * step)
        strikes = [atm + step * i for i in range(-width, width + 1)]
        for strike in strikes:
            for kind in ("CE", "PE"):
                self.add(contract(underlying, expiry, monthly, strike, kind))
        return strikes

    def list_around(self, now: dt.datetime, spots: dict[str, float]) -> None:
        """Make sure every trading expiry's chain around each current spot exists (cheap when it
        does). Contracts of closed expiries stay known (an order for one is refused by name)."""
        for underlying, spot in spots.items():
            step = UNDERLYINGS[underlying][2]
            trading = self.calendar.expiries(underlying, now)
            listed = (trading[0].date, int(round(spot / step) * step))
            if self._listed.get(underlying) != listed:
                self._listed[underlying] = listed
                for expiry in trading:
                    self.chain(underlying, expiry.date, expiry.monthly, spot)

    def find_token(self, token: int, now: dt.datetime, spots: dict[str, float]) -> Contract | None:
        found = self.by_token.get(token)
        if found is None:
            self.list_around(now, spots)
            found = self.by_token.get(token)
        return found

    def find(self, tradingsymbol: str, now: dt.datetime, spots: dict[str, float]) -> Contract | None:
        found = self.by_symbol.get(tradingsymbol)
        if found is not None:
            return found
        underlying = next(
            (u for u in sorted(UNDERLYINGS, key=len, reverse=True) if tradingsymbol.startswith(u)), None
        )
        if underlying is not None:
            self.list_around(now, spots)
            return self.by_symbol.get(tradingsymbol)
        return None
