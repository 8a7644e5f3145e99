"""SDK 0.13's read routes (contract §3): portfolio, calendar, index lists, fundamentals, indicators.

Documents come from ``_reference`` (pure) and ``_portfolio``; this module parses queries, checks
the token (``market:read``; the portfolio ``funds:read``, as funds) and the schema version, and
answers. Every route takes ``schema_version`` (only 1: 422 ``UNSUPPORTED_SCHEMA_VERSION``).
``POST /worker/indicators`` computes one indicator over the caller's bars with TA-Lib (the
client's ``indicators`` module); without the ``indicators`` extra it is 503.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections import deque
from typing import Any

from ._asgi import Request, Response, Router, json_response
from ._auth import account_for
from ._context import AppContext
from ._errors import ApiError, body_error, rejection
from ._portfolio import account_portfolio
from ._reference import (
    calendar,
    calendar_status,
    check_schema_version,
    constituent_status,
    constituents,
    features,
    fundamentals_status,
    statements,
    sync_run,
)

RECENT_SYNC_RUNS = 20  # fundamentals sync runs kept for the status route (older ones dropped)


def _started_at(ctx: AppContext) -> dt.datetime:
    started: dt.datetime = ctx.extras.setdefault("started_at", ctx.now())
    return started


def _sync_runs(ctx: AppContext) -> deque[dict[str, Any]]:
    runs: deque[dict[str, Any]] = ctx.extras.setdefault("fundamentals_runs", deque(maxlen=RECENT_SYNC_RUNS))
    return runs


def _read(request: Request, ctx: AppContext, action: str = "market:read") -> None:
    ctx.authenticate(request, action)
    check_schema_version(request.q("schema_version"))


async def get_portfolio(request: Request, ctx: AppContext) -> Response:
    token = ctx.authenticate(request, "funds:read")
    check_schema_version(request.q("schema_version"))
    scope, is_paper = account_for(
        token,
        request.q("account_scope"),
        required="account_scope is required",
        denied="Worker token cannot read this account scope",
    )
    if not is_paper:  # a broker account's snapshot needs a broker session
        raise rejection(503, "PORTFOLIO_SNAPSHOT_UNAVAILABLE", account_scope=scope)
    return json_response(account_portfolio(ctx.engine, scope, ctx.now()))


async def get_calendar(request: Request, ctx: AppContext) -> Response:
    _read(request, ctx)
    q = request.q
    return json_response(calendar(ctx.now(), q("from"), q("to"), q("exchange"), q("segment")))


async def get_calendar_status(request: Request, ctx: AppContext) -> Response:
    _read(request, ctx)
    doc = calendar_status(ctx.now(), _started_at(ctx), request.q("exchange"), request.q("segment"))
    return json_response(doc)


async def get_constituents(request: Request, ctx: AppContext) -> Response:
    _read(request, ctx)
    source = request.path_params["source_list"]
    return json_response(constituents(ctx.market, source, ctx.now(), _started_at(ctx)))


async def get_constituent_status(request: Request, ctx: AppContext) -> Response:
    _read(request, ctx)
    return json_response(constituent_status(request.path_params["source_list"], ctx.now(), _started_at(ctx)))


def _symbols(request: Request) -> list[str]:
    """``symbols`` as the SDK sends it (repeated) or as one comma-separated value."""
    return [s for raw in request.query.get("symbols", []) for s in raw.split(",")]


async def get_features(request: Request, ctx: AppContext) -> Response:
    _read(request, ctx)
    doc = features(ctx.market, _symbols(request), request.q("index"), ctx.now(), _started_at(ctx))
    return json_response(doc)


async def get_fundamentals_status(request: Request, ctx: AppContext) -> Response:
    _read(request, ctx)
    runs = list(_sync_runs(ctx))
    doc = fundamentals_status(_symbols(request), request.q("index"), ctx.now(), _started_at(ctx), runs)
    return json_response(doc)


async def get_statements(request: Request, ctx: AppContext) -> Response:
    _read(request, ctx)
    symbol, dataset = request.q("symbol"), request.q("dataset")
    for name, value in (("symbol", symbol), ("dataset", dataset)):
        if not value:
            raise ApiError(
                422, [{"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}]
            )
    assert symbol is not None and dataset is not None
    scope = request.q("statement_scope") or "consolidated"
    return json_response(statements(ctx.market, symbol, dataset, scope, ctx.now()))


async def export_csv(request: Request, ctx: AppContext) -> Response:
    _read(request, ctx)
    dataset = request.q("dataset") or "fundamentals_features"
    if dataset != "fundamentals_features":
        raise rejection(
            422, "FUNDAMENTALS_DATASET_UNSUPPORTED", dataset=dataset, supported=["fundamentals_features"]
        )
    rows = features(ctx.market, _symbols(request), request.q("index"), ctx.now(), _started_at(ctx))[
        "features"
    ]
    columns = list(rows[0]) if rows else ["symbol"]
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(_csv_cell(row[c]) for c in columns))
    body = ("\n".join(lines) + "\n").encode()
    return Response(body, media_type="text/csv; charset=utf-8")


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


async def post_sync(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    ctx.authenticate(request, "market:read")
    run = sync_run("fsync_" + secrets.token_hex(8), body, ctx.now())
    _sync_runs(ctx).append(run)
    return json_response({k: v for k, v in run.items() if k != "symbols"})


# -- indicators ---------------------------------------------------------------------------------

INDICATORS = ("sma", "ema", "rsi", "atr", "stddev", "zscore", "bollinger", "macd")
_PERIODS = {"period": 1, "fast_period": 1, "slow_period": 1, "signal_period": 1}


def _int_param(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise body_error(["body", name], "Input should be an integer from 1 to 1000", "int_type", value)
    return value


def _clean(values: Any) -> list[float | None]:
    return [None if math.isnan(v) else round(float(v), 6) for v in values]


def calculate(body: dict[str, Any]) -> dict[str, Any]:
    """One allowlisted indicator over ``bars`` (oldest first); values aligned with the bars used."""
    name = str(body.get("name") or "").strip().lower()
    if name not in INDICATORS:
        raise body_error(
            ["body", "name"], f"Input should be one of {', '.join(INDICATORS)}", "literal_error", name
        )
    bars = body.get("bars")
    if not isinstance(bars, list) or not bars or not all(isinstance(b, dict) for b in bars):
        raise body_error(["body", "bars"], "Input should be a non-empty list of candles", "list_type", bars)
    if not body.get("include_forming", False):
        bars = [b for b in bars if b.get("is_complete", True) is not False]
    for i, bar in enumerate(bars):
        if not isinstance(bar.get("close"), int | float) or isinstance(bar.get("close"), bool):
            raise body_error(
                ["body", "bars", i, "close"], "Input should be a valid number", "float_type", bar
            )
    multiplier = body.get("multiplier", 2.0)
    if not isinstance(multiplier, int | float) or isinstance(multiplier, bool) or multiplier <= 0:
        raise body_error(
            ["body", "multiplier"], "Input should be a positive number", "float_type", multiplier
        )
    try:
        from supervisor.client import indicators as ta
    except ImportError:  # pragma: no cover - the indicators extra is a dev dependency
        raise ApiError(503, "Indicators need the 'indicators' extra (TA-Lib)") from None
    period = _int_param(body, "period", 14 if name in ("rsi", "atr") else 20)
    params: dict[str, Any] = {"period": period}
    try:
        if name == "macd":
            fast, slow = _int_param(body, "fast_period", 12), _int_param(body, "slow_period", 26)
            signal = _int_param(body, "signal_period", 9)
            params = {"fast_period": fast, "slow_period": slow, "signal_period": signal}
            out = ta.macd(bars, fast, slow, signal)
            series = {"macd": out.macd, "signal": out.signal, "histogram": out.histogram}
        elif name == "bollinger":
            params["multiplier"] = float(multiplier)
            bands = ta.bollinger(bars, period, float(multiplier))
            series = {"upper": bands.upper, "middle": bands.middle, "lower": bands.lower}
        elif name == "atr":
            series = {"value": ta.atr(bars, period)}
        else:
            series = {"value": getattr(ta, name)(bars, period)}
    except ImportError:
        raise ApiError(503, "Indicators need the 'indicators' extra (TA-Lib)") from None
    except (TypeError, ValueError) as exc:
        raise ApiError(422, f"Cannot compute {name}: {exc}") from None
    columns = {key: _clean(values) for key, values in series.items()}
    ts = [bar.get("ts") or bar.get("date") for bar in bars]
    values = [{"ts": ts[i], **{k: v[i] for k, v in columns.items()}} for i in range(len(bars))]
    latest = values[-1] if values else None
    return {
        "schema_version": 1,
        "name": name,
        "params": params,
        "count": len(values),
        "ready": latest is not None and all(latest[k] is not None for k in columns),
        "latest": latest,
        "values": values,
    }


async def post_indicator(request: Request, ctx: AppContext) -> Response:
    body = await request.json_object()
    ctx.authenticate(request, "market:read")
    return json_response(calculate(body))


def register(router: Router) -> None:
    for method, path, handler in [
        ("GET", "/worker/account/portfolio", get_portfolio),
        ("GET", "/worker/market/calendar", get_calendar),
        ("GET", "/worker/market/calendar/status", get_calendar_status),
        ("GET", "/worker/market/indices/{source_list}", get_constituents),
        ("GET", "/worker/market/indices/{source_list}/status", get_constituent_status),
        ("GET", "/worker/fundamentals/features", get_features),
        ("GET", "/worker/fundamentals/status", get_fundamentals_status),
        ("GET", "/worker/fundamentals/statements", get_statements),
        ("GET", "/worker/fundamentals/export.csv", export_csv),
        ("POST", "/worker/fundamentals/sync", post_sync),
        ("POST", "/worker/indicators", post_indicator),
    ]:
        router.add(method, path, handler)
