"""Quote documents (contract §4.13, §5.2): ``ltp``, ``quote`` and ``full`` (with 5-level depth).

Pure. ``QuoteCache`` keeps each instrument's document for the current market step: every tick
stream and quote request between two steps shares one document per (instrument, mode), so the
cost of a step's fan-out grows with the instruments streamed, not with the streams. The cached
document carries the time it was first built (``exchange_timestamp`` is then the time of the
step's first quote). ``ohlc`` and ``volume`` are the session so far on the instrument's path
(``ohlc.close`` the previous session's close, as Kite's), so a quote agrees with the candles;
depth is synthetic: five levels 0.05 apart on each side of the last price.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._market import Market
from ._universe import Instrument

MODES = ("ltp", "quote", "full")


def build_quote(market: Market, instrument: Instrument, mode: str, now: dt.datetime) -> dict[str, Any]:
    """The ``mode`` document of one instrument at its last price."""
    last = float(market.ltp(instrument.tradingsymbol) or 0.0)
    out = {**instrument.view(), "mode": mode, "last_price": last}
    if mode == "ltp":
        return out
    summary = market.session_summary(instrument)
    if summary is None:
        session, ref = None, last
        ohlc = {"open": last, "high": last, "low": last, "close": last}
    else:
        session, ref = summary
        ohlc = {
            "open": session.open,
            "high": max(session.high, last),
            "low": min(session.low, last),
            "close": ref,
        }
    at = now.isoformat()
    out.update(
        change=round((last - ref) / ref * 100, 4) if ref else 0.0,
        ohlc=ohlc,
        volume=session.volume if session is not None else 0,
        last_quantity=1,
        average_price=round((ohlc["open"] + ohlc["high"] + ohlc["low"] + last) / 4, 2),
        buy_quantity=5_000,
        sell_quantity=5_000,
        last_trade_time=at,
        exchange_timestamp=at,
        received_at=at,
        age_ms=0,
        is_stale=False,
    )
    if mode == "full":
        levels = [
            {"price": round(last - 0.05 * (i + 1), 2), "quantity": 100 * (i + 1), "orders": i + 1}
            for i in range(5)
        ]
        asks = [
            {"price": round(last + 0.05 * (i + 1), 2), "quantity": 100 * (i + 1), "orders": i + 1}
            for i in range(5)
        ]
        out["depth"] = {"buy": levels, "sell": asks}
    return out


class QuoteCache:
    """Documents of the current market step by (token, mode); bounded by the universe in use.

    Cleared whenever the market's prices changed (``Market.generation``), and when it reaches
    ``max_entries`` (one step asked for more instruments than that). Never blocks.
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._step = -1
        self._docs: dict[tuple[int, str], dict[str, Any]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, market: Market, instrument: Instrument, mode: str, now: dt.datetime) -> dict[str, Any]:
        if market.generation != self._step or len(self._docs) >= self.max_entries:
            self._step = market.generation
            self._docs = {}
        key = (instrument.instrument_token, mode)
        doc = self._docs.get(key)
        if doc is None:
            self.misses += 1
            doc = self._docs[key] = build_quote(market, instrument, mode, now)
        else:
            self.hits += 1
        return doc
