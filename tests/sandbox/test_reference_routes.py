"""SDK 0.13's read routes on the sandbox: calendar, index lists, fundamentals, indicators and the
account portfolio (contract §3), over loopback on a pinned day (Friday 8 May 2026, 09:30 IST)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle, serve_sandbox

from .conftest import TOKEN, api_client

EPOCH = dt.datetime(2026, 5, 8, 4, 0, tzinfo=dt.UTC)  # Friday 09:30 IST


@pytest.fixture
async def pinned(nursery: trio.Nursery) -> SandboxHandle:
    handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN, epoch=EPOCH))
    return handle


@pytest.fixture
async def api(pinned: SandboxHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pinned) as client:
        yield client


async def test_calendar_sessions_status_and_coverage(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        r = await api.get(
            "/worker/market/calendar",
            params={
                "from": "2026-05-08",
                "to": "2026-05-11",
                "exchange": "NSE",
                "segment": "CM",
                "schema_version": 1,
            },
        )
        assert r.status_code == 200, r.text
        doc = r.json()
        assert (doc["exchange"], doc["segment"], doc["calendar_version"]) == ("NSE", "CM", 1)
        days = [(s["session_date"], s["session_type"]) for s in doc["sessions"]]
        assert days == [
            ("2026-05-08", "regular"),
            ("2026-05-09", "closed"),
            ("2026-05-10", "closed"),
            ("2026-05-11", "regular"),
        ]
        friday = doc["sessions"][0]
        assert friday["opens_at"] == "2026-05-08T09:15:00+05:30"
        assert friday["closes_at"] == "2026-05-08T15:30:00+05:30"
        assert doc["sessions"][1]["opens_at"] is None and doc["sessions"][1]["label"] == "weekend"
        assert doc["complete"] is True
        status = (await api.get("/worker/market/calendar/status")).json()
        # the years whose holiday lists the calendar holds; 2027's is not published yet
        assert (status["coverage_start"], status["coverage_end"]) == ("2025-01-01", "2027-12-31")
        assert status["complete"] is False and status["expiry_warning"] is False
        holidays = await api.get("/worker/market/calendar", params={"from": "2026-05-01", "to": "2026-05-01"})
        assert holidays.json()["sessions"][0]["label"] == "holiday"  # Maharashtra Day (a Friday)
        later = await api.get("/worker/market/calendar", params={"from": "2027-01-25", "to": "2027-01-26"})
        assert later.json()["complete"] is False
        assert [x["session_type"] for x in later.json()["sessions"]] == ["regular", "closed"]  # Republic Day
        # outside the coverage the server fails closed (never infers a holiday)
        r = await api.get("/worker/market/calendar", params={"from": "2024-12-31", "to": "2025-01-02"})
        assert r.status_code == 503
        assert r.json()["detail"]["rejection_reason"] == "CALENDAR_RANGE_UNCOVERED"
        r = await api.get("/worker/market/calendar/status", params={"exchange": "MCX", "segment": "CM"})
        assert r.status_code == 503 and r.json()["detail"]["rejection_reason"] == "CALENDAR_UNAVAILABLE"
        r = await api.get(
            "/worker/market/calendar", params={"from": "2026-05-08", "to": "2026-05-08", "schema_version": 2}
        )
        assert r.status_code == 422 and r.json()["detail"]["rejection_reason"] == "UNSUPPORTED_SCHEMA_VERSION"
        r = await api.get("/worker/market/calendar", params={"from": "2026-05-11", "to": "2026-05-08"})
        assert r.status_code == 422


async def test_index_constituents_are_the_universe_nifty_50(
    api: httpx.AsyncClient, pinned: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        doc = (await api.get("/worker/market/indices/Nifty50")).json()
        assert doc["source_list"] == "Nifty50" and doc["complete"] is True
        assert doc["member_count"] == len(doc["members"]) == 50
        infy = next(m for m in doc["members"] if m["tradingsymbol"] == "INFY")
        assert infy["instrument_token"] == 408065 and infy["exchange"] == "NSE"
        # every member resolves to the same instrument on the market routes
        resolved = (await api.get("/worker/market/instruments/resolve", params={"symbol": "NSE:TCS"})).json()
        tcs = next(m for m in doc["members"] if m["tradingsymbol"] == "TCS")
        assert tcs["instrument_token"] == resolved["instrument_token"]
        status = (await api.get("/worker/market/indices/Nifty50/status")).json()
        assert status["actual_member_count"] == status["expected_member_count"] == 50
        assert status["checksum"] == doc["checksum"] and status["fresh"] is True
        r = await api.get("/worker/market/indices/Nifty500")
        assert r.status_code == 404 and r.json()["detail"]["rejection_reason"] == "INDEX_SOURCE_LIST_UNKNOWN"


async def test_fundamentals_follow_the_market_and_are_deterministic(
    api: httpx.AsyncClient, pinned: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        params = {"symbols": ["RELIANCE", "TCS", "NOPE"], "schema_version": "1"}  # repeated, as the SDK
        doc = (await api.get("/worker/fundamentals/features", params=params)).json()
        assert [row["symbol"] for row in doc["features"]] == ["RELIANCE", "TCS"]
        assert doc["missing_symbols"] == ["NOPE"] and doc["source"] == "sandbox"
        reliance = doc["features"][0]
        price = pinned.market.ltp("RELIANCE")
        assert reliance["current_price"] == price
        # market cap and P/E are consistent with the price the market quotes
        assert reliance["ttm_net_profit"] == pytest.approx(
            price / reliance["stock_pe"] * reliance["market_cap_cr"] / price, rel=1e-3
        )
        again = (await api.get("/worker/fundamentals/features", params=params)).json()
        assert again["features"] == doc["features"]  # the same market, the same numbers
        index = (await api.get("/worker/fundamentals/features", params={"index": "Nifty50"})).json()
        assert len(index["features"]) == 50
        both = await api.get("/worker/fundamentals/features", params={"index": "Nifty50", "symbols": "TCS"})
        assert both.status_code == 422
        rows = (
            await api.get("/worker/fundamentals/statements", params={"symbol": "tcs", "dataset": "quarterly"})
        ).json()["rows"]
        ends = sorted({r["period_end"] for r in rows}, reverse=True)
        assert ends[:2] == ["2026-03-31", "2025-12-31"] and len(ends) == 8
        assert {r["metric_name"] for r in rows} == {"revenue", "net_profit", "eps"}
        csv = await api.get("/worker/fundamentals/export.csv", params={"symbols": "TCS"})
        assert csv.headers["content-type"].startswith("text/csv")
        header, line = csv.text.splitlines()
        assert header.startswith("symbol,") and line.startswith("TCS,")
        run = (
            await api.post(
                "/worker/fundamentals/sync", json={"symbols": ["TCS", "NOPE"], "mode": "incremental"}
            )
        ).json()
        assert (run["symbols_requested"], run["symbols_unchanged"], run["symbols_failed"]) == (2, 1, 1)
        status = (await api.get("/worker/fundamentals/status", params={"symbols": "TCS"})).json()
        assert status["symbols"][0]["status"] == "fresh"
        assert [r["run_id"] for r in status["recent_runs"]] == [run["run_id"]]


async def test_indicators_over_the_callers_bars(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(30):
        closes = [float(100 + i) for i in range(30)]
        bars = [
            {
                "ts": f"2026-05-08T09:{15 + i:02d}:00+05:30",
                "open": c,
                "high": c + 1,
                "low": c - 1,
                "close": c,
                "volume": 10,
            }
            for i, c in enumerate(closes)
        ]
        r = await api.post("/worker/indicators", json={"name": "sma", "bars": bars, "period": 5})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["count"] == 30 and doc["ready"] is True
        assert doc["values"][3]["value"] is None  # warming up
        assert doc["latest"]["value"] == pytest.approx(sum(closes[-5:]) / 5)
        macd = (await api.post("/worker/indicators", json={"name": "macd", "bars": bars})).json()
        assert set(macd["latest"]) == {"ts", "macd", "signal", "histogram"}
        forming = [*bars, {**bars[-1], "ts": "2026-05-08T09:45:00+05:30", "close": 1.0, "is_complete": False}]
        skipped = (
            await api.post("/worker/indicators", json={"name": "sma", "bars": forming, "period": 5})
        ).json()
        assert skipped["count"] == 30  # the forming bar is left out unless include_forming
        r = await api.post("/worker/indicators", json={"name": "ichimoku", "bars": bars})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]


async def test_account_portfolio_is_the_tokens_paper_book(
    api: httpx.AsyncClient, pinned: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        run = {
            "strategy_run_id": "run_pf",
            "template_id": "t",
            "account_scope": "kite:paper-a",
            "execution_mode": "paper",
        }
        assert (await api.post("/worker/runs", json=run)).status_code == 200
        order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "variety": "regular",
                 "product": "CNC", "order_type": "MARKET", "quantity": 3, "validity": "DAY"}  # fmt: skip
        intent = {
            "intent_type": "place_order",
            "payload": {"order": order},
            "idempotency_key": "run_pf:entry:1",
        }
        filled = (await api.post("/worker/runs/run_pf/intents", json=intent)).json()["result"]
        assert filled["position"]["unrealized_pnl"] == "0.00"  # the reference paper position keys
        doc = (await api.get("/worker/account/portfolio")).json()
        assert doc["account_scope"] == "kite:paper-a" and doc["coherent"] is True
        assert [(p["tradingsymbol"], p["quantity"]) for p in doc["net_positions"]] == [("INFY", 3)]
        assert [h["tradingsymbol"] for h in doc["holdings"]] == ["INFY"]
        assert doc["funds"]["segments"]["equity"]["utilised"] > 0
        # another account's token sees its own (empty) book; a live scope has no broker
        async with api_client(pinned, pinned.mint_token(account_scope="kite:paper-b")) as other:
            assert (await other.get("/worker/account/portfolio")).json()["net_positions"] == []
            r = await other.get("/worker/account/portfolio", params={"account_scope": "kite:paper-a"})
            assert r.status_code == 403
        async with api_client(pinned, pinned.mint_token(account_scope="kite:AB1234")) as live:
            r = await live.get("/worker/account/portfolio")
            assert r.status_code == 503
            assert r.json()["detail"]["rejection_reason"] == "PORTFOLIO_SNAPSHOT_UNAVAILABLE"
