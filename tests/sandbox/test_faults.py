"""Fault injection: latency, error statuses, stalled and dropped streams, simulated restarts."""

from __future__ import annotations

import httpx
import pytest
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle

RUN = {
    "strategy_run_id": "run_f",
    "template_id": "t",
    "account_scope": "kite:paper-a",
    "execution_mode": "dry_run",
}


async def test_latency_and_error_status(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        await api.post("/worker/runs", json=RUN)
        rule = sandbox.faults.add(path="/worker/runs/*", method="GET", status=503, detail="down", times=2)
        assert (await api.get("/worker/runs/run_f")).json() == {"detail": "down"}
        assert (await api.get("/worker/runs/run_f")).status_code == 503
        assert (await api.get("/worker/runs/run_f")).status_code == 200
        assert rule.fired == 2
        sandbox.faults.add(path="/worker/health", latency_s=7.5)
        start = trio.current_time()
        assert (await api.get("/worker/health")).status_code == 200
        assert trio.current_time() - start == pytest.approx(7.5, abs=0.5)


async def test_http_testing_api_and_stream_drop(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(120):
        await api.post("/worker/runs", json=RUN)
        testing = sandbox.base_url + "/__sandbox__"
        r = await api.post(
            f"{testing}/faults", json={"path": "/worker/runs/*/timeline/stream", "stream": "drop"}
        )
        assert r.status_code == 200 and r.json()["stream"] == "drop"
        with pytest.raises(httpx.RemoteProtocolError):
            async with api.stream("GET", "/worker/runs/run_f/timeline/stream") as response:
                async for _ in response.aiter_bytes():
                    pass
        assert (await api.delete(f"{testing}/faults")).json() == {"status": "cleared"}
        async with httpx.AsyncClient() as anon:
            assert (await anon.get(f"{testing}/state")).status_code == 401


async def test_restart_drops_streams_and_answers_503(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(120):
        await api.post("/worker/runs", json=RUN)
        errors: list[type[BaseException]] = []

        async def listen() -> None:
            try:
                async with api.stream("GET", "/worker/runs/run_f/timeline/stream") as response:
                    async for _ in response.aiter_bytes():
                        pass
            except httpx.HTTPError as exc:
                errors.append(type(exc))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            await trio.sleep(1)
            await sandbox.faults.restart(downtime_s=5)
        assert errors == [httpx.RemoteProtocolError]
        assert (await api.get("/worker/runs/run_f")).status_code == 503
        await trio.sleep(5)
        assert (await api.get("/worker/runs/run_f")).status_code == 200


async def test_stalled_stream_keeps_connection_open(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(300):
        await api.post("/worker/runs", json=RUN)
        sandbox.faults.add(path="/worker/runs/*/pnl/stream", stream="stall", after_chunks=1)
        chunks: list[bytes] = []
        start = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            async with api.stream("GET", "/worker/runs/run_f/pnl/stream", timeout=40.0) as response:
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
        # the connection stayed open and silent (not even keep-alives) until the client gave up
        assert trio.current_time() - start == pytest.approx(40.0, abs=1.0)
        assert len(chunks) == 1 and chunks[0].startswith(b"data: ")


async def test_steal_session_fences_the_holder(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        await api.post("/worker/runs", json=RUN)
        nonce = (await api.post("/worker/runs/run_f/claim-session")).json()["worker_session_nonce"]
        stolen = sandbox.steal_session("run_f")
        assert stolen != nonce
        r = await api.post("/worker/runs/run_f/heartbeat", json={}, headers={"X-Worker-Session-Nonce": nonce})
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_CONFLICT"
        r = await api.post(f"{sandbox.base_url}/__sandbox__/runs/run_f/steal-session")
        again = r.json()["worker_session_nonce"]
        assert again not in (nonce, stolen)
        assert (await api.get("/worker/runs/run_f")).json()["worker_session_nonce"] == again


async def test_http_mint_and_restart(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        testing = sandbox.base_url + "/__sandbox__"
        r = await api.post(f"{testing}/tokens", json={"account_scope": "kite:paper-z", "modes": ["paper"]})
        token = r.json()["token"]
        assert token.startswith("kwa_") and len(token) == 47
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as other:
            health = (await other.get(sandbox.base_url + "/api/algo-workers/worker/health")).json()
        assert health["account_scope"] == "kite:paper-z" and health["allowed_modes"] == ["paper"]
        assert (await api.post(f"{testing}/tokens", json={"bogus": 1})).status_code == 422
        r = await api.post(f"{testing}/restart", json={"downtime_s": 2})
        assert r.json() == {"status": "restarted", "downtime_s": 2}
        assert (await api.get("/worker/health")).status_code == 503
        await trio.sleep(2)
        assert (await api.get("/worker/health")).status_code == 200
        assert sandbox.faults.restarts == 1
