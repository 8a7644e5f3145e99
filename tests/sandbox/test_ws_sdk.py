"""The official SDK 0.7.4's ``WorkerWebSocketClient`` against the sandbox over loopback.

The SDK is asyncio (``websockets``); it runs here in ``asyncio.run`` on the test's thread while
the sandbox runs in its own thread (``threaded.sandbox_thread``), in real time, so each test has
a wall-clock deadline. The SDK's ``recv()`` returns whole messages, ``{"event", "data"}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import httpx
import pytest
from kite_algo_worker import AlgoWorkerConfig, KiteAlgoWorkerClient, equity_market_order
from kite_algo_worker.exceptions import StreamDisconnectedError
from kite_algo_worker.ws import WorkerWebSocketClient
from websockets.exceptions import ConnectionClosed

from supervisor.sandbox import SandboxHandle

from .threaded import sandbox_thread

TOKEN = "kwa_" + "w" * 43


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with sandbox_thread(token=TOKEN, tick_interval=0.1) as handle:
        yield handle


def ws_client(handle: SandboxHandle, token: str | None = None, **kwargs: Any) -> WorkerWebSocketClient:
    base = handle.base_url.replace("http://", "ws://")
    return WorkerWebSocketClient(base_url=base, token=handle.token if token is None else token, **kwargs)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def sandbox_api(handle: SandboxHandle, path: str, body: dict[str, Any]) -> Any:
    """``POST /__sandbox__<path>`` (the sandbox's testing API)."""
    auth = {"Authorization": f"Bearer {handle.token}"}
    r = httpx.post(f"{handle.base_url}/__sandbox__{path}", json=body, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def close_code(exc: BaseException) -> tuple[int, str]:
    """The close frame the server sent, found on the exception chain the SDK raised."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionClosed) and seen.rcvd is not None:
            return seen.rcvd.code, seen.rcvd.reason
        seen = seen.__cause__ or seen.__context__
    raise AssertionError(f"no close frame on {exc!r}")


def test_ticks_and_candles(sandbox: SandboxHandle) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        client = ws_client(sandbox)
        infy = sandbox.market.token("INFY")
        async with client.stream_ticks(symbols=["NSE:TCS"], instrument_tokens=[infy]) as stream:
            ticks = [await stream.recv() for _ in range(3)]
            assert stream.health.connected and stream.health.last_message_at is not None
        async with client.stream_candles(symbol="NSE:INFY", interval="minute") as stream:
            candles = [await stream.recv() for _ in range(2)]
        return ticks, candles

    ticks, candles = run(main())
    assert ticks[0]["event"] == "snapshot"
    # the reference server's shape: a list of quotes, one per instrument (§11 #6)
    assert [q["tradingsymbol"] for q in ticks[0]["data"]["quotes"]] == ["TCS", "INFY"]
    assert [m["event"] for m in ticks[1:]] == ["ticks", "ticks"]
    assert {t["tradingsymbol"] for t in ticks[1]["data"]["ticks"]} == {"TCS", "INFY"}
    assert candles[0]["event"] == "snapshot" and candles[0]["data"]["interval"] == "minute"
    assert candles[1]["event"] == "candle" and candles[1]["data"]["candle"]["close"] > 0


def test_run_pnl(sandbox: SandboxHandle) -> None:
    rest = KiteAlgoWorkerClient(AlgoWorkerConfig(base_url=sandbox.base_url, token=sandbox.token))
    rest.create_run(
        strategy_run_id="run_ws_sdk_pnl",
        template_id="t",
        account_scope="kite:paper-a",
        execution_mode="paper",
    )
    rest.place_order("run_ws_sdk_pnl", equity_market_order("INFY", "BUY", 2), idempotency_key="ws-sdk-pnl-1")

    async def main() -> Any:
        client = ws_client(sandbox)
        async with client.stream_run_pnl("run_ws_sdk_pnl", interval_seconds=0.25) as stream:
            return await stream.recv(ignore_heartbeats=True)

    message = run(main())
    assert message["event"] == "snapshot"
    (leg,) = message["data"]["legs"]
    assert leg["tradingsymbol"] == "INFY" and leg["net_quantity"] == 2
    assert message["data"]["totals"].keys() == rest.get_run_pnl("run_ws_sdk_pnl")["totals"].keys()


@pytest.mark.parametrize(
    ("token", "path", "expected"),
    [
        ("", "ticks", (4401, "Worker websocket token required")),
        ("kwa_unknown", "ticks", (4401, "Invalid worker token")),
        ("runs-only", "ticks", (4403, "Worker token is not allowed to perform 'market:stream'")),
        (None, "unknown run", (4404, "Strategy run not found")),
    ],
)
def test_refusals_reach_the_sdk_as_close_codes(
    sandbox: SandboxHandle, token: str | None, path: str, expected: tuple[int, str]
) -> None:
    if token == "runs-only":  # minted over HTTP: the sandbox's loop is in another thread
        token = sandbox_api(sandbox, "/tokens", {"actions": ["runs:read"]})["token"]

    async def main() -> None:
        client = ws_client(sandbox, token)
        if path == "ticks":
            async with client.stream_ticks(symbols=["NSE:INFY"]) as stream:
                await stream.recv()
        else:
            async with client.stream_run_pnl("run_nope") as stream:
                await stream.recv()

    # SDK 0.7.4 raises StreamDisconnectedError; with websockets >= 14 its cleanup then fails with
    # AttributeError (a second __aexit__ of the same connection), chained to that error
    with pytest.raises((StreamDisconnectedError, AttributeError)) as refused:
        run(main())
    assert close_code(refused.value) == expected


def test_sdk_reconnects_after_a_drop_and_gets_a_fresh_snapshot(sandbox: SandboxHandle) -> None:
    fault = {"path": "/worker/ws/market/ticks", "stream": "drop", "after_chunks": 2, "times": 1}
    sandbox_api(sandbox, "/faults", fault)

    async def main() -> tuple[list[str], int]:
        client = ws_client(sandbox, reconnect_attempts=2, reconnect_delay_seconds=0.05)
        async with client.stream_ticks(symbols=["NSE:INFY"]) as stream:
            events = [(await stream.recv())["event"] for _ in range(4)]
            return events, stream.health.reconnect_count

    events, reconnects = run(main())
    assert events == ["snapshot", "ticks", "snapshot", "ticks"]
    assert reconnects == 1
