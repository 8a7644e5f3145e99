"""The SDK 0.13 read surfaces outside the strategy loop, one route each, against the sandbox.

Each case names the client call, the endpoint definition it must reach and what its answer must
hold (contract §3 closing note; shapes as the 0.13 SDK's models read them), against the
sandbox's read routes. ``test_surface_coverage`` checks that these cases cover exactly the
read-surface calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from supervisor.client import (
    AccountPortfolio,
    AsyncKiteAlgoWorkerClient,
    FundamentalFeatures,
    FundamentalsStatements,
    FundamentalsStatus,
    FundamentalsSyncRun,
    IndexConstituents,
    IndexConstituentStatus,
    MarketCalendar,
    MarketCalendarStatus,
)

from .conftest import RecordingTransport

Check = Callable[[AsyncKiteAlgoWorkerClient], Awaitable[None]]
WEEK = ("2026-06-08", "2026-06-12")  # the suite's trading week (its clock starts on the Wednesday)


async def _portfolio(c: AsyncKiteAlgoWorkerClient) -> None:
    doc = await c.get_account_portfolio()
    assert doc["schema_version"] == 1 and isinstance(doc["holdings"], list)


async def _portfolio_typed(c: AsyncKiteAlgoWorkerClient) -> None:
    snap = await c.get_account_portfolio_snapshot(account_scope="kite:paper-a")
    assert isinstance(snap, AccountPortfolio) and snap.account_scope == "kite:paper-a"


def _week_dates(sessions: list[Any]) -> set[str]:
    dates = {str(s["session_date"]) for s in sessions}
    assert all(WEEK[0] <= d <= WEEK[1] for d in dates)
    return dates


async def _calendar(c: AsyncKiteAlgoWorkerClient) -> None:
    doc = await c.get_market_calendar(*WEEK)
    assert doc["exchange"] == "NSE" and "2026-06-10" in _week_dates(doc["sessions"])


async def _calendar_typed(c: AsyncKiteAlgoWorkerClient) -> None:
    snap = await c.get_market_calendar_snapshot(*WEEK, exchange="nse", segment="cm")
    assert isinstance(snap, MarketCalendar) and snap.segment == "CM"
    assert "2026-06-10" in _week_dates(list(snap.sessions))


async def _calendar_status(c: AsyncKiteAlgoWorkerClient) -> None:
    doc = await c.get_market_calendar_status()
    assert doc["exchange"] == "NSE" and doc["coverage_start"] <= "2026-06-10" <= doc["coverage_end"]


async def _calendar_status_typed(c: AsyncKiteAlgoWorkerClient) -> None:
    snap = await c.get_market_calendar_status_snapshot()
    assert isinstance(snap, MarketCalendarStatus) and snap.coverage_end is not None


async def _indices(c: AsyncKiteAlgoWorkerClient) -> None:
    doc = await c.get_index_constituents("NIFTY50")
    assert doc["members"] and all(m["tradingsymbol"] for m in doc["members"])


async def _indices_typed(c: AsyncKiteAlgoWorkerClient) -> None:
    snap = await c.get_index_constituents_snapshot("NIFTY50")
    assert isinstance(snap, IndexConstituents) and snap.member_count == len(snap.members) > 0


async def _index_status(c: AsyncKiteAlgoWorkerClient) -> None:
    doc = await c.get_index_constituent_status("NIFTY50")
    assert doc["schema_version"] == 1 and "complete" in doc


async def _index_status_typed(c: AsyncKiteAlgoWorkerClient) -> None:
    snap = await c.get_index_constituent_status_snapshot("NIFTY50")
    assert isinstance(snap, IndexConstituentStatus) and snap.source_list.upper() == "NIFTY50"


async def _features(c: AsyncKiteAlgoWorkerClient) -> None:
    snap = await c.get_fundamentals_features(symbols=["infy"])
    assert isinstance(snap, FundamentalFeatures)
    assert [row.symbol for row in snap.features] == ["INFY"] or snap.missing_symbols == ["INFY"]


async def _fundamentals_status(c: AsyncKiteAlgoWorkerClient) -> None:
    snap = await c.get_fundamentals_status(symbols=["INFY"])
    assert isinstance(snap, FundamentalsStatus)
    assert {s.symbol for s in snap.symbols} | set(snap.missing_symbols) == {"INFY"}


async def _statements(c: AsyncKiteAlgoWorkerClient) -> None:
    snap = await c.get_fundamentals_statements("infy", dataset="quarterly")
    assert isinstance(snap, FundamentalsStatements) and snap.symbol == "INFY" and snap.dataset == "quarterly"


async def _export(c: AsyncKiteAlgoWorkerClient) -> None:
    text = await c.export_fundamentals_csv(symbols=["INFY"])
    assert text.splitlines()[0].split(",")[0]  # a header row


async def _sync(c: AsyncKiteAlgoWorkerClient) -> None:
    run = await c.refresh_fundamentals(symbols=["INFY"])
    assert isinstance(run, FundamentalsSyncRun) and run.run_id and run.symbols_requested == 1


async def _indicator(c: AsyncKiteAlgoWorkerClient) -> None:
    bars = [{"ts": f"2026-06-10T09:{15 + i:02d}:00+05:30", "close": 100.0 + i} for i in range(30)]
    doc = await c.calculate_indicator({"name": "sma", "bars": bars, "period": 5})
    assert doc["name"] == "sma"


def _case(call: str, endpoint: str, check: Check) -> Any:
    return pytest.param(call, endpoint, check, id=call)


READ_CASES = [
    _case("get_account_portfolio", "get_account_portfolio", _portfolio),
    _case("get_account_portfolio_snapshot", "get_account_portfolio", _portfolio_typed),
    _case("get_market_calendar", "get_market_calendar", _calendar),
    _case("get_market_calendar_snapshot", "get_market_calendar", _calendar_typed),
    _case("get_market_calendar_status", "get_market_calendar_status", _calendar_status),
    _case("get_market_calendar_status_snapshot", "get_market_calendar_status", _calendar_status_typed),
    _case("get_index_constituents", "get_index_constituents", _indices),
    _case("get_index_constituents_snapshot", "get_index_constituents", _indices_typed),
    _case("get_index_constituent_status", "get_index_constituent_status", _index_status),
    _case("get_index_constituent_status_snapshot", "get_index_constituent_status", _index_status_typed),
    _case("get_fundamentals_features", "get_fundamentals_features", _features),
    _case("get_fundamentals_status", "get_fundamentals_status", _fundamentals_status),
    _case("get_fundamentals_statements", "get_fundamentals_statements", _statements),
    _case("export_fundamentals_csv", "export_fundamentals_csv", _export),
    _case("refresh_fundamentals", "refresh_fundamentals", _sync),
    _case("calculate_indicator", "calculate_indicator", _indicator),
]


@pytest.mark.parametrize(("call", "endpoint", "check"), READ_CASES)
async def test_read_surface_against_the_sandbox(
    *,
    call: str,
    endpoint: str,
    check: Check,
    client: AsyncKiteAlgoWorkerClient,
    recorder: RecordingTransport,
    autojump_clock: trio.testing.MockClock,
) -> None:
    from supervisor.client._endpoints import ENDPOINTS

    with trio.fail_after(30):
        await check(client)
    path = ENDPOINTS[endpoint].path.split("{", 1)[0].rstrip("/")
    method, seen_path = recorder.seen[-1]
    assert method == ENDPOINTS[endpoint].method and seen_path.startswith("/api/algo-workers" + path)
