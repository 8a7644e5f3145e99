"""SDK 0.13's read surfaces over the sandbox's market: calendar, index lists, fundamentals.

Pure: the market, the sandbox's time and the request are passed in; every document is a function
of them (contract §3, SDK 0.13 "investment data" and "fundamentals"). The reference server serves
official data (an imported NSE calendar, NSE index files, screener.in fundamentals); the sandbox
serves a synthetic stand-in with the same shapes, marked ``source: "sandbox"`` and
``verified: false``:

* **Calendar** (``GET /worker/market/calendar``, ``.../status``): one session per date, from
  :func:`nse_session`, the single seam to the sandbox's market calendar (swap it when the
  calendar module knows holidays). Coverage is the sandbox year, five years back and one ahead;
  outside it 503 ``CALENDAR_RANGE_UNCOVERED``, as the reference server fails closed.
* **Index constituents** (``GET /worker/market/indices/{source_list}``, ``.../status``): the
  NIFTY 50 list the universe holds, as ``Nifty50``; other lists are 404
  ``INDEX_SOURCE_LIST_UNKNOWN`` (the sandbox has no Nifty500).
* **Fundamentals**: per symbol, ratios drawn from a hash of the symbol (stable across runs) and
  scaled by the symbol's current price, so market cap and P/E move with the market.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

from ._calendar import HOLIDAYS, IST, NSE, PROVISIONAL_YEARS
from ._errors import ApiError, rejection
from ._market import Market
from ._universe import EQUITIES

SCHEMA_VERSIONS = (1,)
SOURCE = "sandbox"
CALENDAR_VERSION = 1
CALENDAR_SEGMENTS = {("NSE", "CM"), ("NSE", "FO")}
EXPIRY_WARNING_DAYS = 45
INDEX_LISTS = {"nifty50": "Nifty50"}
STATEMENT_DATASETS = ("quarterly", "annual")
STATEMENT_METRICS = ("revenue", "net_profit", "eps")


def check_schema_version(raw: str | None) -> int:
    """``schema_version`` (default 1); 422 ``UNSUPPORTED_SCHEMA_VERSION`` for any other."""
    try:
        version = int(raw) if raw not in (None, "") else 1
    except ValueError:
        version = -1
    if version not in SCHEMA_VERSIONS:
        raise rejection(
            422, "UNSUPPORTED_SCHEMA_VERSION", schema_version=raw, supported_versions=list(SCHEMA_VERSIONS)
        )
    return version


def _iso(at: dt.datetime) -> str:
    return at.isoformat()


# -- calendar ---------------------------------------------------------------------------------


def nse_session(day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
    """The NSE regular session of ``day`` (open, close), or None when the exchange is closed.

    The one place the calendar routes learn about trading days: the NSE calendar (``_calendar``).
    """
    return NSE.session(day)


def coverage(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The calendar's covered dates: the years whose holidays the calendar holds (``_calendar``;
    a later year would look like weekdays only, which is not knowledge)."""
    return dt.date(min(HOLIDAYS), 1, 1), dt.date(max(HOLIDAYS), 12, 31)


def _segment(exchange: str | None, segment: str | None) -> tuple[str, str]:
    pair = ((exchange or "NSE").strip().upper(), (segment or "CM").strip().upper())
    if pair not in CALENDAR_SEGMENTS:
        raise rejection(503, "CALENDAR_UNAVAILABLE", exchange=pair[0], segment=pair[1])
    return pair


def _date(raw: str | None, name: str) -> dt.date:
    if not raw:
        raise ApiError(
            422, [{"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}]
        )
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        msg = "Input should be a valid date in the format YYYY-MM-DD"
        raise ApiError(
            422, [{"type": "date_from_datetime_parsing", "loc": ["query", name], "msg": msg, "input": raw}]
        ) from None


def _envelope(now: dt.datetime) -> dict[str, Any]:
    return {"schema_version": 1, "source": SOURCE, "retrieved_at": _iso(now), "source_as_of": _iso(now)}


def calendar(
    now: dt.datetime, start_raw: str | None, end_raw: str | None, exchange: str | None, segment: str | None
) -> dict[str, Any]:
    """``GET /worker/market/calendar``: one session per date of ``[from, to]``."""
    start, end = _date(start_raw, "from"), _date(end_raw, "to")
    if start > end:
        raise ApiError(422, "from must not be after to")
    exchange_name, segment_name = _segment(exchange, segment)
    first, last = coverage(now)
    if start < first or end > last:
        raise rejection(
            503,
            "CALENDAR_RANGE_UNCOVERED",
            coverage_start=first.isoformat(),
            coverage_end=last.isoformat(),
        )
    sessions = []
    day = start
    while day <= end:
        hours = nse_session(day)
        sessions.append(
            {
                "session_date": day.isoformat(),
                "session_type": "regular" if hours else "closed",
                "opens_at": _iso(hours[0]) if hours else None,
                "closes_at": _iso(hours[1]) if hours else None,
                "verified": False,
                "source_reference": "sandbox:nse-holiday-circulars",
                "label": None if hours else ("weekend" if day.weekday() >= 5 else "holiday"),
            }
        )
        day += dt.timedelta(days=1)
    return {
        **_envelope(now),
        "exchange": exchange_name,
        "segment": segment_name,
        "timezone": "Asia/Kolkata",
        "calendar_version": CALENDAR_VERSION,
        # a year whose holiday list NSE has not published is known only in part
        "complete": not any(y in PROVISIONAL_YEARS for y in range(start.year, end.year + 1)),
        "sessions": sessions,
    }


def calendar_status(
    now: dt.datetime, started_at: dt.datetime, exchange: str | None, segment: str | None
) -> dict[str, Any]:
    """``GET /worker/market/calendar/status``: the coverage of the one calendar version."""
    exchange_name, segment_name = _segment(exchange, segment)
    first, last = coverage(now)
    return {
        **_envelope(now),
        "exchange": exchange_name,
        "segment": segment_name,
        "active_calendar_version": CALENDAR_VERSION,
        "coverage_start": first.isoformat(),
        "coverage_end": last.isoformat(),
        "complete": not PROVISIONAL_YEARS,
        "expiry_warning": (last - now.astimezone(IST).date()).days <= EXPIRY_WARNING_DAYS,
        "official_source": "NSE trading-holiday circulars (supervisor/sandbox/_calendar.py), 09:15-15:30 IST",
        "last_import_at": _iso(started_at),
        "last_attempt_at": _iso(started_at),
        "last_success_at": _iso(started_at),
        "last_failure_at": None,
        "last_error": None,
        "next_attempt_at": None,
        "pending_import": None,
    }


# -- index constituents -------------------------------------------------------------------------


def index_list(source_list: str) -> str:
    """The canonical name of a served list (``Nifty50``); 404 ``INDEX_SOURCE_LIST_UNKNOWN``."""
    name = INDEX_LISTS.get(source_list.replace(" ", "").replace("_", "").lower())
    if name is None:
        raise rejection(
            404, "INDEX_SOURCE_LIST_UNKNOWN", source_list=source_list, supported=list(INDEX_LISTS.values())
        )
    return name


def _checksum(symbols: Iterable[str]) -> str:
    return hashlib.sha256(",".join(sorted(symbols)).encode()).hexdigest()


def _effective_date(started_at: dt.datetime) -> str:
    return started_at.astimezone(IST).date().isoformat()


def constituents(
    market: Market, source_list: str, now: dt.datetime, started_at: dt.datetime
) -> dict[str, Any]:
    """``GET /worker/market/indices/{source_list}``: the members with their instrument tokens."""
    name = index_list(source_list)
    members: list[dict[str, Any]] = []
    for symbol in sorted(EQUITIES):
        instrument = market.resolve(f"NSE:{symbol}")
        if instrument is None:  # pragma: no cover - the universe resolves its own equities
            continue
        members.append(
            {
                "exchange": "NSE",
                "tradingsymbol": symbol,
                "instrument_token": instrument.instrument_token,
                "company_name": instrument.name,
                "series": "EQ",
                "isin_code": None,
            }
        )
    return {
        **_envelope(now),
        "source_list": name,
        "complete": True,
        "member_count": len(members),
        "checksum": _checksum(str(m["tradingsymbol"]) for m in members),
        "effective_date": _effective_date(started_at),
        "source_url": None,
        "members": members,
    }


def constituent_status(source_list: str, now: dt.datetime, started_at: dt.datetime) -> dict[str, Any]:
    """``GET /worker/market/indices/{source_list}/status``: loaded once, at the sandbox's start."""
    name = index_list(source_list)
    return {
        **_envelope(now),
        "source_list": name,
        "complete": True,
        "expected_member_count": len(EQUITIES),
        "actual_member_count": len(EQUITIES),
        "checksum": _checksum(EQUITIES),
        "effective_date": _effective_date(started_at),
        "last_attempt_at": _iso(started_at),
        "last_success_at": _iso(started_at),
        "last_failure_at": None,
        "last_failure": None,
        "next_attempt_at": None,
        "scheduler_state": "idle",
        "retry_eligible": False,
        "fresh": True,
    }


# -- fundamentals -------------------------------------------------------------------------------


def fundamentals_scope(symbols: list[str], index: str | None) -> tuple[list[str], list[str], dict[str, str]]:
    """(served symbols, missing symbols, scope) of a ``symbols=`` or ``index=`` request.

    Exactly one of them (422 otherwise, as the SDK checks before sending); an index is a list
    :func:`index_list` knows (404 otherwise).
    """
    cleaned = [s.strip().upper() for s in symbols if s.strip()]
    if bool(cleaned) == bool(index and index.strip()):
        raise ApiError(422, "provide exactly one of 'symbols' or 'index'")
    if index:
        name = index_list(index)
        return sorted(EQUITIES), [], {"index": name}
    served = [s for s in dict.fromkeys(cleaned) if s in EQUITIES]
    missing = [s for s in dict.fromkeys(cleaned) if s not in EQUITIES]
    return served, missing, {"symbols": ",".join(dict.fromkeys(cleaned))}


def _draws(symbol: str, n: int) -> list[float]:
    """``n`` numbers in [0, 1) that depend on the symbol only."""
    digest = hashlib.sha256(f"fundamentals:{symbol}".encode()).digest()
    return [int.from_bytes(digest[2 * i : 2 * i + 2], "big") / 65536 for i in range(n)]


def _profile(market: Market, symbol: str) -> dict[str, float]:
    """The symbol's synthetic business: shares, P/E, margins, growth, holdings."""
    d = _draws(symbol, 10)
    price = market.ltp(symbol) or 0.0
    shares_cr = round(50 + d[0] * 950, 2)  # crore shares
    pe = round(12 + d[1] * 48, 2)
    margin = 0.06 + d[2] * 0.22
    eps_ttm = price / pe if pe else 0.0
    profit_ttm = eps_ttm * shares_cr  # crore
    return {
        "price": price,
        "shares_cr": shares_cr,
        "pe": pe,
        "eps_ttm": eps_ttm,
        "profit_ttm": profit_ttm,
        "revenue_ttm": profit_ttm / margin,
        "growth": -0.05 + d[3] * 0.35,  # year-on-year
        "roce": 8 + d[4] * 27,
        "roe": 6 + d[5] * 24,
        "promoter": 25 + d[6] * 50,
        "fii": 5 + d[7] * 30,
        "dividend_yield": d[8] * 3,
        "book_per_share": price / (1.5 + d[9] * 8.5),
    }


def _quarter_ends(now: dt.datetime, count: int) -> list[dt.date]:
    """The last ``count`` calendar quarter ends strictly before ``now``'s quarter, newest first."""
    day = now.astimezone(IST).date()
    year, quarter = day.year, (day.month - 1) // 3  # quarters already ended this year
    ends = []
    for _ in range(count):
        if quarter == 0:
            year, quarter = year - 1, 4
        month = quarter * 3
        ends.append(dt.date(year, month, 30 if month in (6, 9) else 31))
        quarter -= 1
    return ends


def feature_row(market: Market, symbol: str, now: dt.datetime, started_at: dt.datetime) -> dict[str, Any]:
    """One ``FundamentalFeatureRow``, consolidated."""
    p = _profile(market, symbol)
    quarter = p["revenue_ttm"] / 4
    quarter_profit = p["profit_ttm"] / 4
    return {
        "symbol": symbol,
        "statement_scope": "consolidated",
        "company_name": EQUITIES[symbol].name,
        "market_cap_cr": round(p["price"] * p["shares_cr"], 2),
        "current_price": p["price"],
        "stock_pe": p["pe"],
        "book_value": round(p["book_per_share"], 2),
        "dividend_yield_pct": round(p["dividend_yield"], 2),
        "latest_quarter_revenue": round(quarter, 2),
        "latest_quarter_net_profit": round(quarter_profit, 2),
        "latest_quarter_eps": round(p["eps_ttm"] / 4, 2),
        "ttm_revenue": round(p["revenue_ttm"], 2),
        "ttm_net_profit": round(p["profit_ttm"], 2),
        "quarterly_revenue_yoy_pct": round(p["growth"] * 100, 2),
        "quarterly_profit_yoy_pct": round(p["growth"] * 120, 2),
        "latest_roce_pct": round(p["roce"], 2),
        "latest_roe_pct": round(p["roe"], 2),
        "promoter_holding_pct": round(p["promoter"], 2),
        "fii_holding_pct": round(p["fii"], 2),
        "dii_holding_pct": round(max(0.0, 100 - p["promoter"] - p["fii"]) * 0.4, 2),
        "promoter_holding_change_1y_pct": 0.0,
        "fii_holding_change_1y_pct": round((p["growth"] - 0.1) * 5, 2),
        "dii_holding_change_1y_pct": round((0.1 - p["growth"]) * 3, 2),
        "as_of_date": _quarter_ends(now, 1)[0].isoformat(),
        "scraped_at": _iso(started_at),
    }


def features(
    market: Market, symbols: list[str], index: str | None, now: dt.datetime, started_at: dt.datetime
) -> dict[str, Any]:
    """``GET /worker/fundamentals/features``."""
    served, missing, _ = fundamentals_scope(symbols, index)
    return {
        "schema_version": 1,
        "source": SOURCE,
        "retrieved_at": _iso(now),
        "features": [feature_row(market, s, now, started_at) for s in served],
        "missing_symbols": missing,
    }


def statements(market: Market, symbol: str, dataset: str, scope: str, now: dt.datetime) -> dict[str, Any]:
    """``GET /worker/fundamentals/statements``: ``quarterly`` (8 quarters) or ``annual`` (4 years)."""
    name = symbol.strip().upper()
    if name not in EQUITIES:
        raise rejection(404, "FUNDAMENTALS_SYMBOL_UNKNOWN", symbol=name)
    if dataset not in STATEMENT_DATASETS:
        raise rejection(
            422, "FUNDAMENTALS_DATASET_UNSUPPORTED", dataset=dataset, supported=list(STATEMENT_DATASETS)
        )
    p = _profile(market, name)
    periods = 8 if dataset == "quarterly" else 4
    per_year = 4 if dataset == "quarterly" else 1
    ends = _quarter_ends(now, periods * (4 // per_year))[:: 4 // per_year]
    rows: list[dict[str, Any]] = []
    for age, end in enumerate(ends):
        # older periods are smaller by the growth rate, compounded per period
        factor = (1 + p["growth"]) ** (-age / per_year) / per_year
        values = {
            "revenue": p["revenue_ttm"] * factor,
            "net_profit": p["profit_ttm"] * factor,
            "eps": p["eps_ttm"] * factor,
        }
        rows.extend(
            {"period_end": end.isoformat(), "metric_name": metric, "numeric_value": round(values[metric], 2)}
            for metric in STATEMENT_METRICS
        )
    return {
        "schema_version": 1,
        "source": SOURCE,
        "retrieved_at": _iso(now),
        "symbol": name,
        "statement_scope": scope or "consolidated",
        "dataset": dataset,
        "rows": rows,
    }


def fundamentals_status(
    symbols: list[str],
    index: str | None,
    now: dt.datetime,
    started_at: dt.datetime,
    runs: list[dict[str, Any]],
) -> dict[str, Any]:
    """``GET /worker/fundamentals/status``: fresh since the sandbox started or its last sync."""
    served, missing, _ = fundamentals_scope(symbols, index)
    synced: dict[str, str] = {}
    for run in runs:  # oldest first: the last sync of a symbol wins
        for symbol in run["symbols"]:
            synced[symbol] = run["finished_at"]
    rows = [
        {
            "symbol": s,
            "statement_scope": "consolidated",
            "status": "fresh",
            "last_checked_at": synced.get(s, _iso(started_at)),
            "last_success_at": synced.get(s, _iso(started_at)),
            "last_error": None,
        }
        for s in served
    ]
    recent = [{k: v for k, v in run.items() if k != "symbols"} for run in runs[-10:]]
    return {
        "schema_version": 1,
        "source": SOURCE,
        "retrieved_at": _iso(now),
        "symbols": rows,
        "missing_symbols": missing,
        "recent_runs": recent,
    }


MAX_SYNC_SYMBOLS = 50


def sync_run(run_id: str, body: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """``POST /worker/fundamentals/sync``: recomputes nothing (the data is a function of the
    market), so every symbol is ``unchanged``; unknown symbols fail, in ``failed_symbols``."""
    raw_symbols = body.get("symbols") or []
    if not isinstance(raw_symbols, list) or not all(isinstance(s, str) for s in raw_symbols):
        raise ApiError(422, "symbols must be a list of strings")
    index = body.get("index")
    if index is not None and not isinstance(index, str):
        raise ApiError(422, "index must be a string")
    mode = str(body.get("mode") or "incremental")
    if mode not in ("incremental", "full"):
        raise ApiError(422, "mode must be one of incremental, full")
    served, missing, scope = fundamentals_scope(raw_symbols, index)
    requested = len(served) + len(missing)
    if requested > MAX_SYNC_SYMBOLS:
        raise ApiError(422, f"on-demand fundamentals sync is capped at {MAX_SYNC_SYMBOLS} symbols")
    return {
        "run_id": run_id,
        "scope": scope,
        "mode": mode,
        "symbols_requested": requested,
        "symbols_changed": 0,
        "symbols_unchanged": len(served),
        "symbols_failed": len(missing),
        "symbols_skipped": 0,
        "failed_symbols": [{"symbol": s, "error": "unknown symbol"} for s in missing],
        "started_at": _iso(now),
        "finished_at": _iso(now),
        "symbols": served,
    }
