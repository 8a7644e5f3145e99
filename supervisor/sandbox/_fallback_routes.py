"""Market-data and GTT routes over the built-in fallback market (contract §4.13, §4.14, §5.2).

Registered only when SANDBOX-MARKET's ``_routes_market`` is absent. Choices (README):

* ``POST /worker/market/quotes`` returns ``quotes`` as an object keyed by the requested
  identifier (``"NSE:INFY"``, or the token as a string), as the seed documents
  (``quotes["quotes"]["NSE:INFY"]["last_price"]``); the reference server returns a list (§11 #6).
  Tick stream batches (``{"ticks": [...]}``) stay lists, as the seed's stream example reads them.
* GTT is served for every token on the paper book (the reference server requires a live-scope
  token and a broker session); a trigger that fires places its LIMIT order on the paper engine.
* Candles are synthetic and deterministic: completed buckets come from a seeded generator, the
  current bucket closes at the live price.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio

from ._asgi import Request, Response, Router, json_response, sse_response
from ._context import AppContext, ChangeSignal
from ._errors import ApiError, body_error
from ._fallback_paper import EQUITIES
from ._routes_streams import KEEPALIVE, sse_data

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
INTERVALS = {
    "minute": 60,
    "3minute": 180,
    "5minute": 300,
    "10minute": 600,
    "15minute": 900,
    "30minute": 1800,
    "60minute": 3600,
    "day": 86400,
}
ALIASES = {
    "1m": "minute",
    "min": "minute",
    "3m": "3minute",
    "5m": "5minute",
    "10m": "10minute",
    "15m": "15minute",
    "30m": "30minute",
    "60m": "60minute",
    "1h": "60minute",
    "1d": "day",
}
NAMES = {
    "INFY": "INFOSYS",
    "RELIANCE": "RELIANCE INDUSTRIES",
    "TCS": "TATA CONSULTANCY SERV",
    "HDFCBANK": "HDFC BANK",
    "ICICIBANK": "ICICI BANK",
    "SBIN": "STATE BANK OF INDIA",
}
BY_TOKEN = {token: symbol for symbol, (token, _) in EQUITIES.items()}


def instrument(symbol: str) -> dict[str, Any]:
    token = EQUITIES[symbol][0]
    return {
        "symbol": f"NSE:{symbol}",
        "instrument_token": token,
        "exchange": "NSE",
        "tradingsymbol": symbol,
        "name": NAMES[symbol],
        "instrument_type": "EQ",
        "segment": "NSE",
        "tick_size": 0.05,
        "lot_size": 1,
        "expiry": None,
        "strike": None,
    }


def lookup(raw: str | int) -> str | None:
    """``NSE:INFY``, ``INFY`` or ``408065`` -> ``INFY``."""
    text = str(raw).strip()
    if text.isdigit():
        return BY_TOKEN.get(int(text))
    exchange, _, symbol = text.upper().rpartition(":")
    if exchange not in ("", "NSE"):
        return None
    return symbol if symbol in EQUITIES else None


def quote(ctx: AppContext, symbol: str, mode: str, now: dt.datetime) -> dict[str, Any]:
    last = float(ctx.market.ltp(symbol))
    ref = EQUITIES[symbol][1]
    out = {**instrument(symbol), "mode": mode, "last_price": last}
    if mode == "ltp":
        return out
    ohlc = {"open": ref, "high": max(ref, last), "low": min(ref, last), "close": ref}
    out.update(
        change=round((last - ref) / ref * 100, 4),
        ohlc=ohlc,
        volume=100_000,
        last_quantity=1,
        average_price=round((ref + last) / 2, 2),
        buy_quantity=5_000,
        sell_quantity=5_000,
        last_trade_time=now.isoformat(),
        exchange_timestamp=now.isoformat(),
        received_at=now.isoformat(),
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


def _candle(symbol: str, start: dt.datetime, seconds: int, close: float | None = None) -> dict[str, Any]:
    seed = hashlib.sha256(f"{symbol}|{start.isoformat()}|{seconds}".encode()).digest()
    rng = random.Random(seed)
    ref = EQUITIES[symbol][1]
    open_ = ref * (1 + rng.uniform(-0.03, 0.03))
    close_ = close if close is not None else open_ * (1 + rng.gauss(0, 0.004))
    high, low = (
        max(open_, close_) * (1 + abs(rng.gauss(0, 0.002))),
        min(open_, close_) * (1 - abs(rng.gauss(0, 0.002))),
    )
    return {
        "ts": start.astimezone(IST).isoformat(),
        "open": round(open_, 2),
        "high": round(high, 2),
        "low": round(low, 2),
        "close": round(close_, 2),
        "volume": rng.randint(1_000, 200_000),
        "oi": None,
        "is_complete": close is None,
    }


def _bucket(now: dt.datetime, seconds: int) -> dt.datetime:
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)


def candles_object(
    ctx: AppContext, symbol: str, interval: str, lookback: int, now: dt.datetime
) -> dict[str, Any]:
    seconds = INTERVALS[interval]
    current_start = _bucket(now, seconds)
    done = [
        _candle(symbol, current_start - dt.timedelta(seconds=seconds * i), seconds)
        for i in range(lookback, 0, -1)
    ]
    current = _candle(symbol, current_start, seconds, close=float(ctx.market.ltp(symbol)))
    return {
        "symbol": f"NSE:{symbol}",
        "instrument_token": EQUITIES[symbol][0],
        "interval": interval,
        "candles": done,
        "current": current,
        "is_stale": False,
    }


def _symbol_param(request: Request) -> str:
    raw = request.q("symbol") or request.q("instrument_token")
    if not raw:
        raise body_error(["query", "symbol"], "symbol or instrument_token is required", "missing")
    symbol = lookup(raw)
    if symbol is None:
        raise ApiError(404, f"Instrument not found for symbol {raw}")
    return symbol


def _interval(raw: str | None, default: str) -> str:
    value = (raw or default).strip().lower()
    value = ALIASES.get(value, value)
    if value not in INTERVALS:
        raise ApiError(400, f"Unsupported timeframe '{raw}'")
    return value


# -- handlers ---------------------------------------------------------------------------------------


async def resolve_get(request: Request, ctx: AppContext) -> Response:
    raw = request.q("symbol")
    if not raw:
        raise body_error(["query", "symbol"], "Field required", "missing")
    ctx.authenticate(request, "market:read")
    symbol = lookup(raw)
    if symbol is None:
        raise ApiError(404, f"Instrument not found for symbol {raw}")
    return json_response(instrument(symbol))


def _requested(body: dict[str, Any]) -> list[str | int]:
    items: list[str | int] = [str(s) for s in body.get("symbols") or []]
    for token in body.get("instrument_tokens") or []:
        if not isinstance(token, int) or not 1 <= token <= 9_999_999_999:
            raise body_error(
                ["body", "instrument_tokens"], "instrument token out of range", "value_error", token
            )
        items.append(token)
    return items


async def resolve_post(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    items = _requested(body)
    ctx.authenticate(request, "market:read")
    found: dict[int, dict[str, Any]] = {}
    missing: list[str | int] = []
    for item in items:
        symbol = lookup(item)
        if symbol is None:
            missing.append(item)
        else:
            found[EQUITIES[symbol][0]] = instrument(symbol)
    return json_response({"instruments": list(found.values()), "missing": missing})


async def search(request: Request, ctx: AppContext) -> Response:
    query = request.q("query")
    if not query:
        raise body_error(["query", "query"], "Field required", "missing")
    limit = request.q_int("limit", 20, ge=1, le=50) or 20
    exchange = (request.q("exchange") or "").upper()
    ctx.authenticate(request, "market:read")
    q = query.upper()
    hits = [instrument(s) for s in EQUITIES if (q in s or q in NAMES[s]) and exchange in ("", "NSE")]
    return json_response({"results": hits[:limit]})


def _quotes(ctx: AppContext, items: list[str | int], mode: str, now: dt.datetime) -> dict[str, Any]:
    quotes: dict[str, Any] = {}
    missing: list[str] = []
    for item in items:
        symbol = lookup(item)
        if symbol is None:
            missing.append(str(item))
        else:
            quotes[str(item)] = quote(ctx, symbol, mode, now)
    return {"quotes": quotes, "missing": missing}


async def quotes_post(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    mode = body.get("mode") or "quote"
    if mode not in ("ltp", "quote", "full"):
        raise body_error(["body", "mode"], "mode must be one of ltp, quote, full", "value_error", mode)
    items = _requested(body)
    ctx.authenticate(request, "market:read")
    return json_response(_quotes(ctx, items, mode, ctx.now()))


async def candles_get(request: Request, ctx: AppContext) -> Response:
    lookback = request.q_int("lookback", 50, ge=1, le=500) or 50
    interval = _interval(request.q("interval"), "5minute")
    ctx.authenticate(request, "market:read")
    symbol = _symbol_param(request)
    return json_response(candles_object(ctx, symbol, interval, lookback, ctx.now()))


async def history_get(request: Request, ctx: AppContext) -> Response:
    timeframe = _interval(request.q("timeframe"), "day")
    ctx.authenticate(request, "market:read")
    symbol = _symbol_param(request)
    now = ctx.now()
    raw_to, raw_from = request.q("to"), request.q("from")
    try:
        to = dt.datetime.fromisoformat(raw_to) if raw_to else now
        start = dt.datetime.fromisoformat(raw_from) if raw_from else None
    except ValueError as exc:
        raise body_error(["query", "from"], str(exc), "datetime_parsing") from None
    if to.tzinfo is None or (start is not None and start.tzinfo is None):
        raise body_error(["query", "to"], "Datetimes must be timezone-aware", "timezone_aware")
    seconds = INTERVALS[timeframe]
    default_days = {
        "minute": 7,
        "3minute": 14,
        "5minute": 30,
        "10minute": 45,
        "15minute": 60,
        "30minute": 90,
        "60minute": 180,
        "day": 365,
    }[timeframe]
    start = start or to - dt.timedelta(days=default_days)
    if start >= to:
        raise body_error(["query", "from"], "from must be before to", "value_error")
    count = min(5000, int((to - start).total_seconds() // seconds))
    first = _bucket(to, seconds) - dt.timedelta(seconds=seconds * count)
    candles = [_candle(symbol, first + dt.timedelta(seconds=seconds * i), seconds) for i in range(count)]
    passthrough = bool(request.q_bool("passthrough", False))
    return json_response(
        {
            "symbol": f"NSE:{symbol}",
            "instrument_token": EQUITIES[symbol][0],
            "timeframe": timeframe,
            "interval": timeframe,
            "from": start.astimezone(IST).isoformat(),
            "to": to.astimezone(IST).isoformat(),
            "count": len(candles),
            "source": "kite_passthrough" if passthrough else "historical_db",
            "ingestion": {"status": "up_to_date", "message": "Synthetic sandbox history"},
            "candles": candles,
        }
    )


async def ticks_stream(request: Request, ctx: AppContext) -> Response:
    mode = request.q("mode") or "quote"
    items: list[str | int] = [s for s in (request.q("symbols") or "").split(",") if s.strip()]
    for raw in (request.q("tokens") or "").split(","):
        if raw.strip():
            if not raw.strip().isdigit() or not 1 <= int(raw) <= 9_999_999_999:
                raise body_error(["query", "tokens"], "invalid instrument token", "value_error", raw)
            items.append(int(raw))
    ctx.authenticate(request, "market:stream")
    signal: ChangeSignal = ctx.extras["tick_signal"]

    async def events() -> AsyncIterator[bytes]:
        if mode not in ("ltp", "quote", "full"):
            yield sse_data({"detail": "mode must be one of ltp, quote, full"}, "error")
            return
        symbols = [s for s in (lookup(i) for i in items) if s is not None]
        if not symbols:
            yield sse_data({"detail": "At least one valid symbol or instrument token is required"}, "error")
            return
        seen = signal.generation
        yield sse_data(_quotes(ctx, items, mode, ctx.now()), "snapshot")
        while True:
            with anyio.move_on_after(15) as scope:
                await signal.wait_after(seen)
            if scope.cancelled_caught:
                yield KEEPALIVE
                continue
            seen = signal.generation
            now = ctx.now()
            yield sse_data({"ticks": [quote(ctx, s, mode, now) for s in symbols]}, "ticks")

    return sse_response(events())


async def candles_stream(request: Request, ctx: AppContext) -> Response:
    interval = _interval(request.q("interval"), "5minute")
    ctx.authenticate(request, "market:stream")
    symbol = _symbol_param(request)
    signal: ChangeSignal = ctx.extras["tick_signal"]

    async def events() -> AsyncIterator[bytes]:
        seen = signal.generation
        yield sse_data(candles_object(ctx, symbol, interval, 1, ctx.now()), "snapshot")
        while True:
            with anyio.move_on_after(15) as scope:
                await signal.wait_after(seen)
            if scope.cancelled_caught:
                yield KEEPALIVE
                continue
            seen = signal.generation
            current = candles_object(ctx, symbol, interval, 0, ctx.now())["current"]
            yield sse_data(
                {
                    "symbol": f"NSE:{symbol}",
                    "instrument_token": EQUITIES[symbol][0],
                    "interval": interval,
                    "candle": current,
                },
                "candle",
            )

    return sse_response(events())


def register(router: Router) -> None:
    from . import _fallback_gtt, _fallback_options_routes

    router.add("GET", "/worker/market/instruments/resolve", resolve_get)
    router.add("POST", "/worker/market/instruments/resolve", resolve_post)
    router.add("GET", "/worker/market/instruments/search", search)
    router.add("POST", "/worker/market/quotes", quotes_post)
    router.add("GET", "/worker/market/candles", candles_get)
    router.add("GET", "/worker/market/history", history_get)
    router.add("GET", "/worker/market/ticks/stream", ticks_stream)
    router.add("GET", "/worker/market/candles/stream", candles_stream)
    _fallback_gtt.register(router)
    _fallback_options_routes.register(router)
