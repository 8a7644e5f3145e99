"""``POST /worker/market/snapshot`` (contract §4.13) and the market-data validation rules, over HTTP.

The snapshot's quotes are keyed like ``POST /worker/market/quotes`` (README "Market-data
choices"); its candles are ``GET /worker/market/candles`` objects in request order.
"""

from __future__ import annotations

import httpx
import trio.testing

from supervisor.sandbox import SandboxHandle

INFY = 408065


async def test_snapshot_is_quotes_plus_candle_windows(
    api: httpx.AsyncClient, sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    body = {
        "symbols": ["NSE:INFY", "NSE:NOPE"],
        "instrument_tokens": [INFY],
        "candles": [
            {"symbol": "NSE:INFY", "interval": "5minute", "lookback": 3},
            {"instrument_token": INFY, "interval": "15m"},
        ],
        "mode": "ltp",
    }
    r = await api.post("/worker/market/snapshot", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc) == {"quotes", "candles", "missing", "updated_at"}
    assert doc["updated_at"] == sandbox.ctx.now().isoformat()
    quotes = (await api.post("/worker/market/quotes", json={**body, "candles": None})).json()
    # a list (§4.13), one quote per instrument: INFY asked by symbol and by token is one quote
    assert doc["quotes"] == quotes["quotes"] and [q["symbol"] for q in doc["quotes"]] == ["NSE:INFY"]
    assert doc["quotes"][0]["mode"] == "ltp" and doc["missing"] == ["NSE:NOPE"]
    # an unknown token is reported as the number it was requested as
    unknown = await api.post("/worker/market/snapshot", json={"instrument_tokens": [9_999_999]})
    assert unknown.json()["missing"] == [9_999_999]
    first, second = doc["candles"]
    same = (await api.get("/worker/market/candles", params={"symbol": "NSE:INFY", "lookback": 3})).json()
    assert first == same and len(first["candles"]) == 3
    # lookback defaults to 50, an alias is echoed as asked (reference server), a token names it
    assert second["interval"] == "15m" and len(second["candles"]) == 50
    assert second["symbol"] == "NSE:INFY" and second["instrument_token"] == INFY


async def test_snapshot_rejections(
    api: httpx.AsyncClient, sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    async def post(body: object, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return await api.post("/worker/market/snapshot", json=body, headers=headers)

    missing_interval = await post({"candles": [{"symbol": "NSE:INFY"}]})
    assert missing_interval.status_code == 422
    assert missing_interval.json()["detail"][0]["loc"] == ["body", "candles", 0, "interval"]
    for lookback, kind in ((0, "greater_than_equal"), (501, "less_than_equal")):
        r = await post({"candles": [{"symbol": "NSE:INFY", "interval": "day", "lookback": lookback}]})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == kind
    depth = await post({"mode": "depth"})
    assert depth.status_code == 422 and depth.json() == {"detail": "mode must be one of ltp, quote, full"}
    assert (await post({"mode": " LTP "})).status_code == 200  # trimmed, lower-cased
    out_of_range = await post({"instrument_tokens": [0]})
    assert out_of_range.json() == {"detail": "instrument_token is out of supported range"}
    assert (await post({"instrument_tokens": ["x"]})).json()["detail"][0]["type"] == "int_type"
    # 422 comes before 401 on worker routes (§1.4)
    assert (await post({"candles": [{}]}, token="kwa_" + "x" * 43)).status_code == 422
    assert (await post({}, token="kwa_" + "x" * 43)).status_code == 401
    nameless = await post({"candles": [{"interval": "5minute"}]})
    assert nameless.status_code == 422 and nameless.json() == {
        "detail": "symbol or instrument_token is required"
    }
    unknown = await post({"symbols": ["NSE:INFY"], "candles": [{"symbol": "NSE:NOPE", "interval": "day"}]})
    assert unknown.status_code == 404 and unknown.json() == {
        "detail": "Instrument not found for symbol NSE:NOPE"
    }
    bad_interval = await post({"candles": [{"symbol": "NSE:INFY", "interval": "2minute"}]})
    assert bad_interval.status_code == 400 and bad_interval.json() == {
        "detail": "Invalid timeframe '2minute'"
    }
    reader = sandbox.mint_token(actions=["runs:read"])
    forbidden = await post({}, token=reader)
    assert forbidden.status_code == 403
    assert forbidden.json() == {"detail": "Worker token is not allowed to perform 'market:read'"}
