"""The request pipeline on the wire (contract §1): headers, query encoding, body decoding."""

from __future__ import annotations

import json

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


async def test_reference_quote_list_is_keyed_by_request() -> None:
    """The reference server sends a list (contract §11 item 6); the seed reads a dict."""
    infy = {"symbol": "NSE:INFY", "instrument_token": 408065, "last_price": 1450.5}
    tcs = {"symbol": "NSE:TCS", "instrument_token": 2953217, "last_price": 3900.0}
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(200, json={"quotes": [infy, tcs], "missing": ["NSE:NOPE"]})

    with trio.fail_after(10):
        async with _client(handler) as client:
            quotes = await client.get_quotes(["NSE:INFY", 2953217, "NSE:NOPE"], mode="ltp")
    assert quotes["quotes"] == {"NSE:INFY": infy, "2953217": tcs}  # each quote once
    assert quotes["quotes"]["NSE:INFY"]["last_price"] == 1450.5 and quotes["missing"] == ["NSE:NOPE"]
    assert b'"symbols":["NSE:INFY","NSE:NOPE"]' in bodies[0]
    assert b'"instrument_tokens":[2953217]' in bodies[0]


async def test_create_run_sends_protection_where_the_server_reads_it() -> None:
    from supervisor.client import BackendProtection, OperationalProtection

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"strategy_run_id": "run_p_000001", "execution_mode": "paper"})

    protection = BackendProtection(
        operations=OperationalProtection(exit_on_worker_stale=True, worker_stale_sec=60)
    )
    with trio.fail_after(10):
        async with _client(handler) as client:
            await client.create_run(
                template_id="t",
                account_scope="kite:paper-a",
                execution_mode="paper",
                runtime_state={"risk": {"max_loss": 1.0}},
                backend_protection=protection,
            )
    body = json.loads(sent[0].content)
    assert "backend_protection" not in body
    assert body["runtime_state"] == {"risk": {"max_loss": 1.0}, "backend_protection": protection.to_dict()}


async def test_reference_funds_gain_the_seed_net() -> None:
    """The reference server's funds have ``segments`` only (contract §11 item 7)."""
    equity = {"net": 1000000.0, "available_cash": 998549.5, "utilised": 1450.5}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"account_scope": "kite:paper-a", "segments": {"equity": equity}})

    with trio.fail_after(10):
        async with _client(handler) as client:
            funds = await client.get_funds(mode="paper")
    assert funds["net"] == 1000000.0 and funds["segments"]["equity"] == equity


@pytest.mark.parametrize(
    ("seed_form", "decision_type", "action"),
    [
        ({"event_type": "signal.generated"}, "signal", "observe"),
        ({"event_type": "risk.updated"}, "risk_update", "observe"),
        ({"event_type": "entry.placed", "action": "enter"}, "entry", "enter"),
        ({"event_type": "custom.thing", "action": "dance"}, "note", "observe"),
        ({"decision_type": "exit", "action": "exit"}, "exit", "exit"),
    ],
)
async def test_decision_events_are_sent_in_the_server_form(
    seed_form: dict[str, str], decision_type: str, action: str
) -> None:
    """The seed's body (event_type/summary/details) lacks the server's required decision_type
    and action (contract §11 item 3); the client sends both and keeps the seed's fields."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"cursor": 1})

    with trio.fail_after(10):
        async with _client(handler) as client:
            await client.log_decision_event(
                "run_d_000001", summary="why", details={"fast": 1.0}, session_nonce="wsn_1", **seed_form
            )
    body = json.loads(sent[0].content)
    assert (body["decision_type"], body["action"], body["summary"]) == (decision_type, action, "why")
    assert body["metadata"]["fast"] == 1.0 and "details" not in body and "event_type" not in body
    assert sent[0].headers["x-worker-session-nonce"] == "wsn_1"
    if "event_type" in seed_form:
        assert body["metadata"]["event_type"] == seed_form["event_type"]
    if seed_form.get("action") == "dance":
        assert body["metadata"]["action"] == "dance"  # an unknown action is kept, not lost
