"""The sandbox's WebSockets (contract §5.6) on the wire, read with trio-websocket in virtual time.

A socket carries the same payloads as its SSE twin, one ``{"event", "data"}`` text message per
event; refusals are close codes right after the accept (README choice 18).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import trio
from trio.testing import MockClock
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection, open_websocket_url

from supervisor.sandbox import SandboxHandle

from .conftest import PREFIX


def ws_url(handle: SandboxHandle, path: str, **query: Any) -> str:
    query.setdefault("token", handle.token)
    base = handle.base_url.replace("http://", "ws://")
    return f"{base}{PREFIX}{path}?{urlencode({k: v for k, v in query.items() if v is not None})}"


async def recv(ws: WebSocketConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.get_message())
    return message


async def close_of(url: str) -> tuple[int, str | None]:
    """The close code and reason of a socket the server refuses (it sends no message first)."""
    async with open_websocket_url(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    reason = closed.value.reason
    assert reason is not None
    return reason.code, reason.reason


async def sse_events(api: httpx.AsyncClient, path: str, params: dict[str, Any], count: int) -> list[Any]:
    """The first ``count`` (event, data) pairs of an SSE stream."""
    out: list[Any] = []
    event = None
    async with api.stream("GET", path, params=params) as response:
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((event, json.loads(line[6:])))
                event = None
                if len(out) == count:
                    break
    return out


async def _paper_run(api: httpx.AsyncClient, run_id: str) -> None:
    body = {"strategy_run_id": run_id, "template_id": "t", "account_scope": "kite:paper-a"}
    r = await api.post("/worker/runs", json={**body, "execution_mode": "paper"})
    assert r.status_code == 200, r.text


async def test_ticks_and_candles_carry_the_sse_payloads(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        query = {"symbols": "NSE:INFY,NSE:TCS", "tokens": "", "mode": "full"}
        async with open_websocket_url(ws_url(sandbox, "/worker/ws/market/ticks", **query)) as ws:
            snapshot = await recv(ws)
            # read within the same market step (virtual time stands still): the very same snapshot
            sse = await sse_events(api, "/worker/market/ticks/stream", query, 1)
            ticks = await recv(ws)
        assert snapshot == {"event": "snapshot", "data": sse[0][1]} and sse[0][0] == "snapshot"
        assert [q["symbol"] for q in snapshot["data"]["quotes"]] == ["NSE:INFY", "NSE:TCS"]
        assert ticks["event"] == "ticks" and len(ticks["data"]["ticks"]) == 2
        assert ticks["data"]["ticks"][0].keys() == snapshot["data"]["quotes"][0].keys()

        query = {"symbol": "NSE:INFY", "interval": "minute"}
        async with open_websocket_url(ws_url(sandbox, "/worker/ws/market/candles", **query)) as ws:
            snapshot = await recv(ws)
            sse = await sse_events(api, "/worker/market/candles/stream", query, 1)
            update = await recv(ws)
        assert snapshot == {"event": "snapshot", "data": sse[0][1]}
        assert update["event"] == "candle" and update["data"]["interval"] == "minute"
        assert update["data"]["candle"]["close"] > 0 and update["data"]["candle"]["is_complete"] is False


async def test_run_pnl_snapshot_heartbeat_and_end(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(120):
        await _paper_run(api, "run_ws_pnl")
        url = ws_url(sandbox, "/worker/ws/runs/run_ws_pnl/pnl", interval_seconds=5)
        async with open_websocket_url(url) as ws:
            first = await recv(ws)
            rest = (await api.get("/worker/runs/run_ws_pnl/pnl")).json()
            start = trio.current_time()
            # no position: nothing changes, so a heartbeat every 3 cycles of 5 s
            assert await recv(ws) == {"event": "heartbeat", "data": {"strategy_run_id": "run_ws_pnl"}}
            assert trio.current_time() - start == pytest.approx(15, abs=0.1)
            del sandbox.state.runs["run_ws_pnl"]
            end = await recv(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
        # the P&L object of GET .../pnl (§4.10), unnamed on SSE, ``snapshot`` here
        assert first["event"] == "snapshot" and first["data"]["totals"]["net_pnl"] == 0.0
        assert first["data"] | {"updated_at": None} == rest | {"updated_at": None}
        assert end == {"event": "end", "data": {"detail": "Strategy run not found"}}
        assert closed.value.reason is not None and closed.value.reason.code == 1000


async def test_refusals_are_close_codes(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        await _paper_run(api, "run_ws_mine")
        ticks = "/worker/ws/market/ticks"
        assert await close_of(ws_url(sandbox, ticks, symbols="NSE:INFY", token="")) == (
            4401,
            "Worker websocket token required",
        )
        assert await close_of(ws_url(sandbox, ticks, symbols="NSE:INFY", token="kwa_nope")) == (
            4401,
            "Invalid worker token",
        )
        reader = sandbox.mint_token(actions=["runs:read"])
        assert await close_of(ws_url(sandbox, ticks, symbols="NSE:INFY", token=reader)) == (
            4403,
            "Worker token is not allowed to perform 'market:stream'",
        )
        streamer = sandbox.mint_token(actions=["market:stream"])
        pnl = "/worker/ws/runs/run_ws_mine/pnl"
        assert await close_of(ws_url(sandbox, pnl, token=streamer)) == (
            4403,
            "Worker token is not allowed to perform 'runs:read'",
        )
        assert await close_of(ws_url(sandbox, pnl, token=sandbox.mint_token())) == (
            4403,
            "Worker token cannot access this run",
        )
        assert await close_of(ws_url(sandbox, "/worker/ws/runs/run_nope/pnl")) == (
            4404,
            "Strategy run not found",
        )
        code, reason = await close_of(ws_url(sandbox, pnl, interval_seconds="9"))
        assert code == 4400 and reason is not None and "less than or equal to 5.0" in reason
        assert (await close_of(ws_url(sandbox, pnl, interval_seconds="x")))[0] == 4400
        assert (await close_of(ws_url(sandbox, ticks, tokens="1,x")))[0] == 4400
        code, _ = await close_of(ws_url(sandbox, "/worker/ws/market/candles", symbol="NSE:NOPE"))
        assert code == 4404
        # an in-band error, as on SSE, then a normal close
        async with open_websocket_url(ws_url(sandbox, ticks, symbols="NSE:NOPE")) as ws:
            error = await recv(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
        assert error == {
            "event": "error",
            "data": {"detail": "At least one valid symbol or instrument token is required"},
        }
        assert closed.value.reason is not None and closed.value.reason.code == 1000
        # no such socket: refused before the accept
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(ws_url(sandbox, "/worker/ws/nope")):
                pass
        assert rejected.value.status_code == 403


async def test_faults_drop_restart_and_downtime(sandbox: SandboxHandle, autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        url = ws_url(sandbox, "/worker/ws/market/ticks", symbols="NSE:INFY")
        rule = sandbox.faults.add(path="/worker/ws/market/ticks", stream="drop", after_chunks=2, times=1)
        async with open_websocket_url(url) as ws:
            assert [(await recv(ws))["event"] for _ in range(2)] == ["snapshot", "ticks"]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
        assert closed.value.reason is not None and closed.value.reason.code == 1011
        assert rule.fired == 1
        async with open_websocket_url(url) as ws:
            assert (await recv(ws))["event"] == "snapshot"
            await sandbox.faults.restart(downtime_s=5)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
        assert closed.value.reason is not None and closed.value.reason.code == 1012
        assert (await close_of(url)) == (1013, "Service restarting")
        await trio.sleep(5)
        async with open_websocket_url(url) as ws:
            assert (await recv(ws))["event"] == "snapshot"
