"""The synthetic instrument universe: NSE equities, the two indices, NFO index options.

Pure and static. Equities are the NIFTY 50 names (lot 1, tick 0.05) with plausible reference
prices; INFY, RELIANCE, TCS, HDFCBANK, ICICIBANK and SBIN keep their real Kite instrument
tokens, the others get deterministic synthetic tokens (``3_000_000 + sha256("NSE:<symbol>") mod
1_000_000``, unique, checked by a test). The indices ``NSE:NIFTY 50`` and ``NSE:NIFTY BANK``
(real Kite tokens, segment ``INDICES``, not tradable) are the underlyings of the NFO options in
``_options_chain`` (NIFTY: strike step 50; BANKNIFTY: step 100; lot sizes by expiry in ``_calendar``).

``Instrument.view()`` is the wire document of resolve/search/quotes (contract §4.13).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Equity:
    token: int
    price: float  # the reference price the random walk starts from
    name: str


def synthetic_token(symbol: str) -> int:
    """A stable instrument token for an equity without a real one (never a real token's range)."""
    return 3_000_000 + int(hashlib.sha256(f"NSE:{symbol}".encode()).hexdigest()[:8], 16) % 1_000_000


_REAL_TOKENS = {
    "INFY": 408065,
    "RELIANCE": 738561,
    "TCS": 2953217,
    "HDFCBANK": 341249,
    "ICICIBANK": 1270529,
    "SBIN": 779521,
}
# symbol -> (reference price, name): the NIFTY 50 constituents
_NIFTY_50: dict[str, tuple[float, str]] = {
    "ADANIENT": (2405.0, "ADANI ENTERPRISES"),
    "ADANIPORTS": (1402.5, "ADANI PORTS AND SEZ"),
    "APOLLOHOSP": (7010.0, "APOLLO HOSPITALS ENTER"),
    "ASIANPAINT": (2398.0, "ASIAN PAINTS"),
    "AXISBANK": (1151.5, "AXIS BANK"),
    "BAJAJ-AUTO": (8205.0, "BAJAJ AUTO"),
    "BAJFINANCE": (902.0, "BAJAJ FINANCE"),
    "BAJAJFINSV": (1995.0, "BAJAJ FINSERV"),
    "BEL": (381.2, "BHARAT ELECTRONICS"),
    "BHARTIARTL": (1898.0, "BHARTI AIRTEL"),
    "CIPLA": (1502.0, "CIPLA"),
    "COALINDIA": (389.5, "COAL INDIA"),
    "DRREDDY": (1251.0, "DR. REDDY'S LABORATORIES"),
    "EICHERMOT": (5605.0, "EICHER MOTORS"),
    "ETERNAL": (301.4, "ETERNAL"),
    "GRASIM": (2748.0, "GRASIM INDUSTRIES"),
    "HCLTECH": (1598.0, "HCL TECHNOLOGIES"),
    "HDFCBANK": (1655.0, "HDFC BANK"),
    "HDFCLIFE": (761.0, "HDFC LIFE INS CO"),
    "HEROMOTOCO": (4302.0, "HERO MOTOCORP"),
    "HINDALCO": (681.5, "HINDALCO INDUSTRIES"),
    "HINDUNILVR": (2401.0, "HINDUSTAN UNILEVER"),
    "ICICIBANK": (1102.0, "ICICI BANK"),
    "INDUSINDBK": (801.0, "INDUSIND BANK"),
    "INFY": (1450.5, "INFOSYS"),
    "ITC": (419.8, "ITC"),
    "JIOFIN": (310.6, "JIO FIN SERVICES"),
    "JSWSTEEL": (1001.0, "JSW STEEL"),
    "KOTAKBANK": (2102.0, "KOTAK MAHINDRA BANK"),
    "LT": (3598.0, "LARSEN & TOUBRO"),
    "M&M": (3101.0, "MAHINDRA & MAHINDRA"),
    "MARUTI": (12495.0, "MARUTI SUZUKI INDIA"),
    "NESTLEIND": (2352.0, "NESTLE INDIA"),
    "NTPC": (340.5, "NTPC"),
    "ONGC": (245.3, "OIL AND NATURAL GAS CORP"),
    "POWERGRID": (299.8, "POWER GRID CORP"),
    "RELIANCE": (2905.0, "RELIANCE INDUSTRIES"),
    "SBILIFE": (1801.0, "SBI LIFE INSURANCE"),
    "SBIN": (821.5, "STATE BANK OF INDIA"),
    "SHRIRAMFIN": (651.0, "SHRIRAM FINANCE"),
    "SUNPHARMA": (1702.0, "SUN PHARMACEUTICAL IND"),
    "TATACONSUM": (1079.0, "TATA CONSUMER PRODUCTS"),
    "TATAMOTORS": (701.5, "TATA MOTORS"),
    "TATASTEEL": (155.2, "TATA STEEL"),
    "TCS": (3910.0, "TATA CONSULTANCY SERV"),
    "TECHM": (1549.0, "TECH MAHINDRA"),
    "TITAN": (3402.0, "TITAN COMPANY"),
    "TRENT": (5198.0, "TRENT"),
    "ULTRACEMCO": (11502.0, "ULTRATECH CEMENT"),
    "WIPRO": (250.4, "WIPRO"),
}
EQUITIES: dict[str, Equity] = {
    symbol: Equity(_REAL_TOKENS.get(symbol) or synthetic_token(symbol), price, name)
    for symbol, (price, name) in _NIFTY_50.items()
}


@dataclass(frozen=True)
class Index:
    token: int
    underlying: str  # the options underlying whose spot this index is
    name: str


INDICES: dict[str, Index] = {
    "NIFTY 50": Index(256265, "NIFTY", "NIFTY 50"),
    "NIFTY BANK": Index(260105, "BANKNIFTY", "NIFTY BANK"),
}
INDEX_OF_UNDERLYING = {index.underlying: symbol for symbol, index in INDICES.items()}


@dataclass(frozen=True)
class Instrument:
    """One instrument as resolve/search/quotes describe it."""

    exchange: str
    tradingsymbol: str
    instrument_token: int
    name: str
    instrument_type: str  # EQ | CE | PE (indices are EQ in segment INDICES, as on Kite)
    segment: str
    lot_size: int
    tick_size: float = 0.05
    expiry: str | None = None
    strike: float | None = None

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def tradable(self) -> bool:
        return self.segment != "INDICES"

    def view(self) -> dict[str, Any]:
        return {
            "symbol": self.key,
            "instrument_token": self.instrument_token,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "name": self.name,
            "instrument_type": self.instrument_type,
            "segment": self.segment,
            "tick_size": self.tick_size,
            "lot_size": self.lot_size,
            "expiry": self.expiry,
            "strike": self.strike,
        }


def equity(symbol: str) -> Instrument:
    spec = EQUITIES[symbol]
    return Instrument("NSE", symbol, spec.token, spec.name, "EQ", "NSE", 1)


def index(symbol: str) -> Instrument:
    spec = INDICES[symbol]
    return Instrument("NSE", symbol, spec.token, spec.name, "EQ", "INDICES", 0, tick_size=0.0)


STATIC: dict[str, Instrument] = {
    **{symbol: equity(symbol) for symbol in EQUITIES},
    **{symbol: index(symbol) for symbol in INDICES},
}
STATIC_BY_TOKEN: dict[int, Instrument] = {i.instrument_token: i for i in STATIC.values()}


def search_static(query: str, exchange: str, limit: int) -> list[Instrument]:
    """Equities and indices whose symbol or name contains ``query`` (case-insensitive)."""
    if exchange not in ("", "NSE"):
        return []
    q = query.upper()
    hits = [i for i in STATIC.values() if q in i.tradingsymbol or q in i.name]
    return hits[:limit]
