"""Over real HTTP: the candles the sandbox serves agree with the ticks it streamed.

A sandbox on virtual time streams a minute of ticks for an equity, an index and two options;
the completed candle of that minute (``/market/candles`` and ``/market/history``) must be the
first, highest, lowest and last price the stream showed in it, on the tick grid, with the
volume the quotes accumulated; the running candle of the candle stream only widens.
"""

from __future__ import annotations

import datetime as dt
import itertools
from functools import partial
from typing import Any

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle, serve_sandbox

from .conftest import TOKEN, api_client
from .test_market_http import sse_events

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
START = dt.datetime(2026, 6, 10, 11, 0, tzinfo=IST)  # a Wednesday in session
BUCKET = START + dt.timedelta(minutes=1)  # the minute compared: 11:01 to 11:02


async def _stream_ticks(api: httpx.AsyncClient, symbols: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every tick of ``symbols`` (mode quote) until one is stamped at or after 11:02."""
    seen: dict[str, list[dict[str, Any]]] = {s: [] for s in symbols}
    params = {"symbols": ",".join(symbols), "mode": "quote"}
    async with api.stream("GET", "/worker/market/ticks/stream", params=params) as response:
        async for event, data in sse_events(response):
            batch = data["quotes"] if event == "snapshot" else data["ticks"] if event == "ticks" else []
            for tick in batch:
                seen[tick["symbol"]].append(tick)
            if batch and dt.datetime.fromisoformat(batch[0]["exchange_timestamp"]) >= BUCKET + dt.timedelta(
                minutes=1
            ):
                return seen
    raise AssertionError("the stream ended")


def _in_bucket(ticks: list[dict[str, Any]], start: dt.datetime) -> list[dict[str, Any]]:
    end = start + dt.timedelta(minutes=1)
    return [t for t in ticks if start <= dt.datetime.fromisoformat(t["exchange_timestamp"]) < end]


async def _options(api: httpx.AsyncClient) -> list[str]:
    legs = [{"option_type": "CE", "offset": "ATM"}, {"option_type": "PE", "offset": "ATM"}]
    r = await api.post(
        "/worker/options/underlyings/NIFTY/selection/resolve", json={"expiry": "current_week", "legs": legs}
    )
    assert r.status_code == 200, r.text
    return [f"NFO:{leg['tradingsymbol']}" for leg in r.json()["resolved"]]


async def test_a_minute_candle_is_the_ticks_streamed_in_it(
    nursery: trio.Nursery, autojump_clock: MockClock
) -> None:
    handle: SandboxHandle = await nursery.start(
        partial(serve_sandbox, token=TOKEN, epoch=START, market_hours="nse")
    )
    with trio.fail_after(600):
        async with api_client(handle) as api:
            options = await _options(api)
            assert len(options) == 2  # the ATM call and put
            symbols = ["NSE:INFY", "NSE:NIFTY 50", *options]
            ticks = await _stream_ticks(api, symbols)
            for symbol in symbols:
                inside = _in_bucket(ticks[symbol], BUCKET)
                assert len(inside) == 60, symbol  # one step a second: every trade of the minute
                prices = [t["last_price"] for t in inside]
                assert all(abs(p * 20 - round(p * 20)) < 1e-6 for p in prices), symbol  # the 0.05 grid
                r = await api.get(
                    "/worker/market/candles", params={"symbol": symbol, "interval": "minute", "lookback": 2}
                )
                assert r.status_code == 200, r.text
                body = r.json()
                candle = next(c for c in body["candles"] if c["ts"] == BUCKET.isoformat())
                expected = {"open": prices[0], "high": max(prices), "low": min(prices), "close": prices[-1]}
                assert {k: candle[k] for k in expected} == expected, (symbol, candle, expected)
                assert candle["is_complete"]
                before = _in_bucket(
                    ticks[symbol], START
                )  # the minute before: the quotes' volume grew by the candle's
                assert candle["volume"] == inside[-1]["volume"] - before[-1]["volume"], symbol
                # history's candle of that minute is the same candle, and joins the next one
                params = {
                    "symbol": symbol,
                    "timeframe": "minute",
                    "from": START.isoformat(),
                    "to": (BUCKET + dt.timedelta(minutes=1)).isoformat(),
                }
                history = (await api.get("/worker/market/history", params=params)).json()
                assert history["count"] == 2 and history["candles"][1] == candle
                assert history["candles"][0]["close"] == before[-1]["last_price"]  # the last tick of 11:00
                if not symbol.startswith("NFO:"):  # an option reprices with time at each minute
                    assert history["candles"][0]["close"] == candle["open"]


async def test_the_running_candle_only_widens(nursery: trio.Nursery, autojump_clock: MockClock) -> None:
    handle: SandboxHandle = await nursery.start(
        partial(serve_sandbox, token=TOKEN, epoch=START, market_hours="nse")
    )
    with trio.fail_after(600):
        async with api_client(handle) as api:
            updates: list[dict[str, Any]] = []
            params = {"symbol": "NSE:RELIANCE", "interval": "5minute"}
            async with api.stream("GET", "/worker/market/candles/stream", params=params) as response:
                async for event, data in sse_events(response):
                    if event == "candle":
                        updates.append(data["candle"])
                        if len(updates) == 400:  # past one 5-minute bucket into the next
                            break
        buckets = sorted({u["ts"] for u in updates})
        assert len(buckets) >= 2
        for earlier, later in itertools.pairwise(updates):
            if earlier["ts"] == later["ts"]:
                assert later["open"] == earlier["open"] and later["volume"] >= earlier["volume"]
                assert later["high"] >= earlier["high"] and later["low"] <= earlier["low"]
            else:  # a new bucket opens where the last one closed: one path, no jump
                assert later["ts"] > earlier["ts"] and later["open"] == earlier["close"]
        completed = await _completed(handle, buckets[0])
        last_of_first = [u for u in updates if u["ts"] == buckets[0]][-1]
        assert {k: completed[k] for k in ("open", "high", "low", "close")} == {
            k: last_of_first[k] for k in ("open", "high", "low", "close")
        }


async def _completed(handle: SandboxHandle, ts: str) -> dict[str, Any]:
    async with api_client(handle) as api:
        r = await api.get(
            "/worker/market/candles", params={"symbol": "NSE:RELIANCE", "interval": "5minute", "lookback": 5}
        )
        candles: list[dict[str, Any]] = r.json()["candles"]
    return next(c for c in candles if c["ts"] == ts)
