"""Run listing, token expiry and scopes, the P&L stream framing, health fields over time."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle

from .conftest import api_client


def _run(run_id: str, mode: str = "dry_run", scope: str = "kite:paper-a") -> dict[str, object]:
    return {"strategy_run_id": run_id, "template_id": "t", "account_scope": scope, "execution_mode": mode}


async def test_list_runs_pages_newest_first(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        for i in range(5):
            await api.post("/worker/runs", json=_run(f"run_{i}"))
            await trio.sleep(1)
        other = sandbox.mint_token()
        async with api_client(sandbox, other) as client:
            await client.post("/worker/runs", json=_run("run_other"))
        page = (await api.get("/worker/runs", params={"limit": 2})).json()
        assert [i["strategy_run_id"] for i in page["items"]] == ["run_4", "run_3"]
        assert "worker_session_nonce" not in page["items"][0] and page["items"][0]["name"] == "t"
        ids = [i["strategy_run_id"] for i in page["items"]]
        while page["next_cursor"]:
            page = (await api.get("/worker/runs", params={"limit": 2, "cursor": page["next_cursor"]})).json()
            ids += [i["strategy_run_id"] for i in page["items"]]
        assert ids == ["run_4", "run_3", "run_2", "run_1", "run_0"]
        assert (await api.get("/worker/runs", params={"cursor": "forged.sig"})).status_code == 400


async def test_token_expiry_scope_and_modes(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        now = dt.datetime.now(dt.UTC)
        short = sandbox.mint_token(expires_at=now + dt.timedelta(days=3650), account_scope="kite:paper-b")
        async with api_client(sandbox, short) as client:
            r = await client.post("/worker/runs", json=_run("run_a"))
            assert r.status_code == 403
            assert r.json() == {"detail": "Worker token cannot create runs for this account scope"}
            assert (
                await client.post("/worker/runs", json=_run("run_b", scope="kite:paper-b"))
            ).status_code == 200
            r = await client.post("/worker/runs", json=_run("run_l", mode="live", scope="kite:AB1234"))
            assert r.json() == {"detail": "Worker token cannot create runs for this account scope"}
        gone = sandbox.mint_token(expires_at=sandbox.ctx.now() + dt.timedelta(seconds=30))
        async with api_client(sandbox, gone) as client:
            assert (await client.get("/worker/health")).status_code == 200
            await trio.sleep(31)
            r = await client.get("/worker/health")
            assert r.status_code == 401 and r.json() == {"detail": "Worker token expired"}
        paper_only = sandbox.mint_token(modes=["paper"])
        async with api_client(sandbox, paper_only) as client:
            r = await client.post("/worker/runs", json=_run("run_dry"))
            assert r.json() == {"detail": "Worker token cannot use this execution mode"}
            r = await client.post("/worker/runs", json=_run("run_bad", mode="yolo"))
            assert r.status_code == 403


async def test_pnl_stream_sends_on_change_and_keeps_alive(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(120):
        await api.post("/worker/runs", json=_run("run_p"))
        r = await api.get("/worker/runs/run_p/pnl/stream", params={"interval_seconds": 9})
        assert r.status_code == 422
        data: list[dict[str, object]] = []
        heartbeats = 0
        async with api.stream(
            "GET", "/worker/runs/run_p/pnl/stream", params={"interval_seconds": 5.0}
        ) as response:
            assert response.headers["cache-control"] == "no-cache"
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    data.append(json.loads(line[6:]))
                elif line == ": heartbeat":
                    heartbeats += 1
                    if heartbeats == 2:
                        break
        # unchanged dry_run snapshot: sent once, then only keep-alives every 3 cycles (15 s)
        assert len(data) == 1 and data[0]["totals"] == {
            "realized_pnl": 0.0, "unrealized_pnl": 0.0, "gross_pnl": 0.0, "charges": 0.0, "net_pnl": 0.0,
        }  # fmt: skip
        assert 30 <= trio.current_time() <= 31


async def test_health_fields_age(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(600):
        await api.post("/worker/runs", json=_run("run_h", mode="paper"))
        nonce = (await api.post("/worker/runs/run_h/claim-session")).json()["worker_session_nonce"]
        await api.post("/worker/runs/run_h/heartbeat", json={}, headers={"X-Worker-Session-Nonce": nonce})
        await trio.sleep(46)
        doc = (await api.get("/worker/runs/run_h")).json()
        assert doc["heartbeat_age_sec"] == 46 and doc["health_status"] == "stale"
        await trio.sleep(135)
        doc = (await api.get("/worker/runs/run_h")).json()
        assert doc["health_status"] == "disconnected"
