"""The request pipeline on the wire (contract §1): headers, query encoding, body decoding."""

from __future__ import annotations

import httpx
import pytest
import trio

from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient, SessionConflictError
from supervisor.client._pipeline import normalise_query

TOKEN = "kwa_" + "p" * 43


def _client(handler: object) -> AsyncKiteAlgoWorkerClient:
    config = AlgoWorkerConfig(base_url="http://127.0.0.1:9/", token=TOKEN)
    return AsyncKiteAlgoWorkerClient(config, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_normalise_query() -> None:
    assert normalise_query({"a": None, "b": True, "c": False, "d": 1.0, "e": ["x", 2]}) == {
        "b": "true",
        "c": "false",
        "d": "1.0",
        "e": "x,2",
    }


async def test_headers_query_and_bodies() -> None:
    requests: list[httpx.Request] = []
    replies = iter(
        [
            httpx.Response(204),
            httpx.Response(200, text="plain words"),
            httpx.Response(200, json={"candles": []}),
            httpx.Response(409, json={"detail": {"rejection_reason": "WORKER_SESSION_CONFLICT"}}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return next(replies)

    with trio.fail_after(10):
        async with _client(handler) as client:
            assert await client.run_heartbeat("run_a_000001", session_nonce="nonce-1") == {}
            assert await client.get_run("run_a_000001") == {"raw": "plain words"}
            await client.get_historical_candles("NSE:INFY", passthrough=True, ingest=False)
            with pytest.raises(SessionConflictError) as err:
                await client.claim_session("run_a_000001")
    first, _, history, _ = requests
    assert first.url.path == "/api/algo-workers/worker/runs/run_a_000001/heartbeat"
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["x-worker-session-nonce"] == "nonce-1"
    assert first.headers["accept"] == "application/json"
    assert first.headers["content-type"] == "application/json"
    assert "x-worker-session-nonce" not in requests[1].headers
    assert dict(history.url.params) == {
        "symbol": "NSE:INFY",
        "timeframe": "day",
        "passthrough": "true",
        "ingest": "false",
    }
    assert "{run_id}" in str(err.value) or "WORKER_SESSION_CONFLICT" in str(err.value)
    assert TOKEN not in str(err.value)
