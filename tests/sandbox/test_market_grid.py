"""The market, the option chain and the resolvers at a grid of instants, over HTTP.

Each case starts a sandbox whose clock begins at that instant (virtual time), so the outcome is
the same whatever day the suite runs: a weekday mid-session, an expiry day before and after its
close, the day before an expiry, a weekend, a holiday, a month end and a year end, on both sides
of the 2025 move of index expiries to Tuesday.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle, serve_sandbox
from supervisor.sandbox._calendar import NSE

from .conftest import TOKEN, api_client

GRID = [
    "2026-06-10T11:00",  # a Wednesday mid-session
    "2026-12-01T14:00",  # a weekly expiry day before the close
    "2026-12-01T15:31",  # the same day after the close
    "2026-12-03T16:00",  # a Thursday evening (the old expiry weekday)
    "2026-12-07T12:00",  # the day before an expiry
    "2026-12-05T12:00",  # a Saturday
    "2026-03-31T12:00",  # a holiday that moved the monthly expiry back a day
    "2026-06-30T15:45",  # a month end, after that month's expiry closed
    "2026-12-31T23:50",  # a year end
    "2025-08-28T16:00",  # after the last Thursday monthly expiry
]


def ist(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text + ":00+05:30")


async def _start(nursery: trio.Nursery, epoch: dt.datetime, hours: str = "always") -> SandboxHandle:
    handle: SandboxHandle = await nursery.start(
        partial(serve_sandbox, token=TOKEN, epoch=epoch, market_hours=hours, tick_interval=5.0)
    )
    return handle


async def _get(api: httpx.AsyncClient, path: str, **params: str) -> dict[str, Any]:
    r = await api.get(f"/worker/options/underlyings{path}", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _resolve(
    api: httpx.AsyncClient, leg: dict[str, Any], expiry: str = "current_week"
) -> dict[str, Any]:
    r = await api.post(
        "/worker/options/underlyings/NIFTY/selection/resolve", json={"expiry": expiry, "legs": [leg]}
    )
    assert r.status_code == 200, r.text
    resolved: dict[str, Any] = r.json()["resolved"][0]
    return resolved


@pytest.mark.parametrize("instant", GRID)
async def test_chain_and_resolvers_at(instant: str, nursery: trio.Nursery, autojump_clock: MockClock) -> None:
    now = ist(instant)
    handle = await _start(nursery, now)
    async with api_client(handle) as api:
        for underlying in ("NIFTY", "BANKNIFTY"):
            listed = (await _get(api, f"/{underlying}/expiries"))["expiries"]
            expected = [e.date.isoformat() for e in NSE.expiries(underlying, now)]
            assert listed == expected
            first = dt.date.fromisoformat(listed[0])
            close = dt.datetime.combine(first, dt.time(15, 30), now.tzinfo)
            assert close > now and NSE.is_trading_day(first)  # nothing expired is listed
        nearest = NSE.expiries("NIFTY", now)[0].date.isoformat()
        chain = await _get(api, "/NIFTY/chain", expiry="current_week")
        assert chain["expiry"] == nearest
        atm = next(row for row in chain["chain"] if row["strike"] == chain["atm_strike"])
        # time is left on the nearest contract: the ATM delta is no degenerate 0, 0.5 or 1
        assert 0.3 < atm["ce"]["delta"] < 0.7, atm
        at_the_money = await _resolve(api, {"option_type": "CE", "offset": "ATM"})
        by_delta = await _resolve(api, {"option_type": "CE", "delta_target": 0.30})
        assert by_delta["strike"] > at_the_money["strike"]  # a 0.30-delta call is out of the money
        assert at_the_money["expiry"] == nearest


async def _paper_order(api: httpx.AsyncClient, symbol: str, quantity: int, key: str) -> dict[str, Any]:
    order = {"exchange": "NFO", "tradingsymbol": symbol, "transaction_type": "BUY", "product": "NRML",
             "order_type": "MARKET", "quantity": quantity, "variety": "regular"}  # fmt: skip
    intent = {"intent_type": "place_order", "payload": {"order": order}, "idempotency_key": key}
    r = await api.post("/worker/runs/grid-run/intents", json=intent)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()["result"]
    return result


async def test_an_expiring_contract_trades_to_its_close_then_is_refused_by_name(
    nursery: trio.Nursery, autojump_clock: MockClock
) -> None:
    handle = await _start(nursery, ist("2026-12-01T15:25"), hours="nse")
    with trio.fail_after(3_600):
        async with api_client(handle) as api:
            body = {"strategy_run_id": "grid-run", "template_id": "t", "account_scope": "kite:paper-a",
                    "execution_mode": "paper"}  # fmt: skip
            assert (await api.post("/worker/runs", json=body)).status_code == 200
            leg = await _resolve(api, {"option_type": "CE", "offset": "ATM"})
            assert leg["expiry"] == "2026-12-01" and leg["lot_size"] == 65
            placed = await _paper_order(api, leg["tradingsymbol"], leg["lot_size"], "before-close")
            assert placed["status"] == "filled", placed  # a MARKET order fills at once on paper
            await trio.sleep(6 * 60)  # past 15:30 IST
            assert (await _get(api, "/NIFTY/expiries"))["expiries"][0] == "2026-12-08"
            nearest = await _resolve(api, {"option_type": "CE", "offset": "ATM"}, expiry="nearest")
            assert nearest["expiry"] == "2026-12-08"
            late = await _paper_order(api, leg["tradingsymbol"], leg["lot_size"], "after-close")
            assert late["status"] == "rejected"
            assert late["reason"] == (
                f"Contract NFO:{leg['tradingsymbol']} expired at 2026-12-01 15:30 IST; it no longer trades"
            )
            # the position bought before the close settled at intrinsic value against the spot
            pnl = (await api.get("/worker/runs/grid-run/pnl")).json()
            assert pnl["legs"] == []  # flat
            spot = handle.market.spots["NIFTY"]
            intrinsic = round(max(spot - leg["strike"], 0.0), 2)
            expected = (intrinsic - float(placed["order"]["average_price"])) * leg["lot_size"]
            assert pnl["totals"]["realized_pnl"] == pytest.approx(expected)
            orders = (await api.get("/worker/orders", params={"strategy_run_id": "grid-run"})).json()
            settled = [
                o for o in orders["orders"] if (o["status_message"] or "").startswith("Settled at expiry")
            ]
            assert len(settled) == 1 and settled[0]["average_price"] == intrinsic
            assert settled[0]["status"] == "COMPLETE" and settled[0]["transaction_type"] == "SELL"
            r = await api.post(
                "/worker/options/underlyings/NIFTY/selection/resolve",
                json={"expiry": "2026-12-01", "legs": [{"option_type": "CE", "offset": "ATM"}]},
            )
            assert r.status_code == 422
            assert r.json()["detail"]["code"] == "OPTION_INVALID_EXPIRY_SELECTOR"
            assert "expired" in r.json()["detail"]["message"]
