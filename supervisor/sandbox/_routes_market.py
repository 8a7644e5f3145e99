"""Market-data routes (contract §4.13): resolve, search, quotes, candles, history (the tick and
candle streams of §5.2 are in ``_routes_streams``, beside their WebSocket twins).

Choices (README):

* ``POST /worker/market/quotes`` returns ``quotes`` as a list, one quote per instrument in
  request order, as the reference server does (§4.13); the seed's
  ``quotes["quotes"]["NSE:INFY"]`` (§11 #6) is our client's, which keys the list.
* Every instrument of the universe can be quoted and streamed: NSE equities, the indices
  (``NSE:NIFTY 50``) and NFO options (by symbol or token).
* ``POST /worker/market/snapshot`` (§4.13) is quotes plus candle windows in one answer: its
  ``quotes`` are the list ``POST /worker/market/quotes`` answers, its ``candles`` are
  ``GET /worker/market/candles`` objects in request order. As on the reference server a candle
  item without ``symbol``/``instrument_token`` is a 422 and an unknown one a 404 for the whole
  request (quotes put unknown instruments in ``missing`` instead).
* Candles are buckets of the instruments' price paths (``_candles``, ``_path``), or of a
  backtest's replayed data (``Market(bar_source=...)``): they agree with the ticks, and the
  current bucket closes at the live price. History answers its whole window (no cap; the
  maximum spans of §4.13 bound it), up to the clock in a backtest (its data past the clock is
  the future). An instrument with no bars (no data) answers no candles, ``current`` null and
  ``is_stale`` true.
  Outside market hours (``--market-hours nse``) streams send only keep-alives.
* With ``--tick-phases K`` a stream sends one ``ticks`` event per phase step holding only the
  instruments of that phase (none when it has none of them; all that stepped since its last
  event when it fell behind), and a candle stream updates at its instrument's phase.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import _candles
from ._asgi import Request, Response, Router, json_response
from ._context import AppContext
from ._errors import ApiError, body_error
from ._market_hours import IST
from ._universe import Instrument


def candles_object(
    ctx: AppContext,
    instrument: Instrument,
    interval: str,
    lookback: int,
    now: dt.datetime,
    *,
    asked: str | None = None,
) -> dict[str, Any]:
    """A candles object; ``interval`` is the canonical name, ``asked`` the caller's spelling,
    which the answer echoes as the reference server does (``15m`` stays ``15m``)."""
    source, as_of = _source(ctx, instrument)
    seconds = _candles.INTERVALS[interval]
    done, current = _candles.recent(
        ctx.market.path, source, as_of, seconds=seconds, lookback=lookback, now=now
    )
    return {
        "symbol": instrument.key,
        "instrument_token": instrument.instrument_token,
        "interval": asked or interval,
        "candles": done,
        "current": current,
        "is_stale": current is None and not done,  # §4.13: no candles at all (a replay's gap)
    }


def _source(ctx: AppContext, instrument: Instrument) -> tuple[_candles.BarSource, dt.datetime]:
    """The instrument's bars and the instant of the trade it shows (404 when it has none)."""
    found = ctx.market.bars(instrument)
    if found is None:
        raise ApiError(404, f"Instrument not found for symbol {instrument.key}")
    return found


def _instrument_param(request: Request, ctx: AppContext) -> Instrument:
    return _lookup(ctx, request.q("symbol"), request.q("instrument_token"))


def _lookup(ctx: AppContext, symbol: Any, token: Any) -> Instrument:
    """The instrument named by ``token`` (preferred, as on the reference server) or ``symbol``."""
    raw = token if token not in (None, "") else symbol
    if raw in (None, ""):
        raise ApiError(422, "symbol or instrument_token is required")
    found = ctx.market.resolve(raw)
    if found is None:
        kind = "token" if token not in (None, "") else "symbol"
        raise ApiError(404, f"Instrument not found for {kind} {raw}")
    return found


_interval = _candles.parse_interval


# -- handlers ---------------------------------------------------------------------------------------


async def resolve_get(request: Request, ctx: AppContext) -> Response:
    raw = request.q("symbol")
    if not raw:
        raise body_error(["query", "symbol"], "Field required", "missing")
    ctx.authenticate(request, "market:read")
    found = ctx.market.resolve(raw)
    if found is None:
        raise ApiError(404, f"Instrument not found for symbol {raw}")
    return json_response(found.view())


def _requested(body: dict[str, Any]) -> list[str | int]:
    """Symbols then tokens, as given; 422 (list form, before authentication) for a non-integer token."""
    items: list[str | int] = [str(s) for s in body.get("symbols") or []]
    for index, token in enumerate(body.get("instrument_tokens") or []):
        if not isinstance(token, int) or isinstance(token, bool):
            msg = "Input should be a valid integer"
            raise body_error(["body", "instrument_tokens", index], msg, "int_type", token)
        items.append(token)
    return items


def _check_tokens(items: list[str | int]) -> None:
    """The reference service's range check (after authentication; a string-detail 422)."""
    for item in items:
        if isinstance(item, int) and not 1 <= item <= 9_999_999_999:
            raise ApiError(422, "instrument_token is out of supported range")


def _mode(body: dict[str, Any]) -> str:
    """``mode`` trimmed and lower-cased (default ``quote``); 422 ``mode must be one of ...``."""
    raw = body.get("mode")
    if raw is not None and not isinstance(raw, str):
        raise body_error(["body", "mode"], "Input should be a valid string", "string_type", raw)
    mode = (raw or "quote").strip().lower()
    if mode not in ("ltp", "quote", "full"):
        raise ApiError(422, "mode must be one of ltp, quote, full")
    return mode


async def resolve_post(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    items = _requested(body)
    ctx.authenticate(request, "market:read")
    _check_tokens(items)
    found: dict[int, dict[str, Any]] = {}
    missing: list[str | int] = []
    for item in items:
        instrument = ctx.market.resolve(item)
        if instrument is None:
            missing.append(item)
        else:
            found[instrument.instrument_token] = instrument.view()
    return json_response({"instruments": list(found.values()), "missing": missing})


async def search(request: Request, ctx: AppContext) -> Response:
    query = request.q("query")
    if not query:
        raise body_error(["query", "query"], "Field required", "missing")
    limit = request.q_int("limit", 20, ge=1, le=50) or 20
    exchange = (request.q("exchange") or "").upper()
    ctx.authenticate(request, "market:read")
    hits = ctx.market.search(query, exchange, limit)
    return json_response({"results": [i.view() for i in hits]})


def _quotes(ctx: AppContext, items: list[str | int], mode: str, now: dt.datetime) -> dict[str, Any]:
    """``{"quotes": [quote, ...], "missing": [...]}``: one quote per instrument, request order."""
    quotes: dict[int, Any] = {}  # by instrument token: one instrument asked twice is one quote
    missing: list[str | int] = []
    for item in items:
        instrument = ctx.market.resolve(item)
        if instrument is None:
            missing.append(item)  # as requested: a symbol, or a token as a number
        elif instrument.instrument_token not in quotes:
            quotes[instrument.instrument_token] = ctx.quotes.get(ctx.market, instrument, mode, now)
    return {"quotes": list(quotes.values()), "missing": missing}


async def quotes_post(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    mode = _mode(body)
    items = _requested(body)
    ctx.authenticate(request, "market:read")
    _check_tokens(items)
    return json_response(_quotes(ctx, items, mode, ctx.now()))


def _candle_specs(body: dict[str, Any]) -> list[tuple[Any, Any, str, int]]:
    """``(symbol, instrument_token, interval, lookback)`` per snapshot candle item (422 on a bad one)."""
    raw = body.get("candles") or []
    if not isinstance(raw, list):
        raise body_error(["body", "candles"], "Input should be a valid list", "list_type", raw)
    specs: list[tuple[Any, Any, str, int]] = []
    for index, item in enumerate(raw):
        loc: list[str | int] = ["body", "candles", index]
        if not isinstance(item, dict):
            raise body_error(loc, "Input should be a valid dictionary", "dict_type", item)
        interval = item.get("interval")
        if not isinstance(interval, str) or not interval:
            raise body_error([*loc, "interval"], "Field required", "missing", item)
        lookback = item.get("lookback", 50)
        if not isinstance(lookback, int) or isinstance(lookback, bool):
            raise body_error([*loc, "lookback"], "Input should be a valid integer", "int_type", lookback)
        if lookback < 1:
            msg = "Input should be greater than or equal to 1"
            raise body_error([*loc, "lookback"], msg, "greater_than_equal", lookback, ge=1)
        if lookback > 500:
            msg = "Input should be less than or equal to 500"
            raise body_error([*loc, "lookback"], msg, "less_than_equal", lookback, le=500)
        token = item.get("instrument_token")
        if token is not None and (not isinstance(token, int) or isinstance(token, bool)):
            raise body_error([*loc, "instrument_token"], "Input should be a valid integer", "int_type", token)
        specs.append((item.get("symbol"), token, interval, lookback))
    return specs


async def snapshot_post(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    mode = _mode(body)
    items = _requested(body)
    specs = _candle_specs(body)
    ctx.authenticate(request, "market:read")
    _check_tokens(items)
    now = ctx.now()
    candles = []
    for symbol, token, raw_interval, lookback in specs:
        instrument = _lookup(ctx, symbol, token)
        interval = _interval(raw_interval, "5minute")
        candles.append(candles_object(ctx, instrument, interval, lookback, now, asked=raw_interval))
    quotes = _quotes(ctx, items, mode, now)
    return json_response(
        {
            "quotes": quotes["quotes"],
            "candles": candles,
            "missing": quotes["missing"],
            "updated_at": now.isoformat(),
        }
    )


async def candles_get(request: Request, ctx: AppContext) -> Response:
    lookback = request.q_int("lookback", 50, ge=1, le=500) or 50
    interval = _interval(request.q("interval"), "5minute")
    ctx.authenticate(request, "market:read")
    instrument = _instrument_param(request, ctx)
    asked = request.q("interval") or "5minute"
    return json_response(candles_object(ctx, instrument, interval, lookback, ctx.now(), asked=asked))


async def history_get(request: Request, ctx: AppContext) -> Response:
    timeframe = _interval(request.q("timeframe"), "day")
    ctx.authenticate(request, "market:read")
    instrument = _instrument_param(request, ctx)
    now = ctx.now()
    raw_to, raw_from = request.q("to"), request.q("from")
    try:
        to = dt.datetime.fromisoformat(raw_to) if raw_to else now
        start = dt.datetime.fromisoformat(raw_from) if raw_from else None
    except ValueError as exc:
        raise body_error(["query", "from"], str(exc), "datetime_parsing") from None
    # the reference server's own 422s (string details), in its order
    if to.tzinfo is None:
        raise ApiError(422, "to must include timezone information")
    if start is not None and start.tzinfo is None:
        raise ApiError(422, "from must include timezone information")
    start = start or to - dt.timedelta(days=_candles.DEFAULT_DAYS[timeframe])
    if start >= to:
        raise ApiError(422, "from must be earlier than to")
    passthrough = bool(request.q_bool("passthrough", False))
    max_days = (_candles.MAX_PASSTHROUGH_DAYS if passthrough else _candles.MAX_DAYS)[timeframe]
    if (to - start).total_seconds() / 86400 > max_days:
        suffix = " in passthrough mode" if passthrough else ""
        raise ApiError(422, f"historical range for {timeframe} is limited to {max_days} days{suffix}")
    source, _ = _source(ctx, instrument)
    if ctx.market.replays_bars:
        to = min(to, now)  # a backtest's data past its clock is the future: never shown
    # otherwise the whole window as asked, even past the sandbox's clock (README "History")
    candles = _candles.history(ctx.market.path, source, _candles.INTERVALS[timeframe], start, to)
    ingest = bool(request.q_bool("ingest", True))
    ingestion = (
        {"status": "up_to_date", "message": "Synthetic sandbox history"}
        if ingest or passthrough
        else {"status": "disabled", "message": None}
    )
    return json_response(
        {
            "symbol": instrument.key,
            "instrument_token": instrument.instrument_token,
            "timeframe": timeframe,
            "interval": timeframe,
            "from": start.astimezone(IST).isoformat(),
            "to": to.astimezone(IST).isoformat(),
            "count": len(candles),
            "source": "kite_passthrough" if passthrough else "historical_db",
            "ingestion": ingestion,
            "candles": candles,
        }
    )


def register(router: Router) -> None:

    router.add("GET", "/worker/market/instruments/resolve", resolve_get)
    router.add("POST", "/worker/market/instruments/resolve", resolve_post)
    router.add("GET", "/worker/market/instruments/search", search)
    router.add("POST", "/worker/market/quotes", quotes_post)
    router.add("GET", "/worker/market/candles", candles_get)
    router.add("GET", "/worker/market/history", history_get)
    router.add("POST", "/worker/market/snapshot", snapshot_post)
