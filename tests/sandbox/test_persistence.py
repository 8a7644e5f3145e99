"""Restart the sandbox on its SQLite file: runs, sessions, idempotency records and timeline survive."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle, serve_sandbox

from .conftest import TOKEN, api_client

RUN = {
    "strategy_run_id": "run_db",
    "template_id": "t",
    "account_scope": "kite:paper-a",
    "execution_mode": "dry_run",
}
INTENT = {"intent_type": "place_order", "payload": {"order": {"x": 1}}, "idempotency_key": "run_db:entry:1"}


async def test_restart_keeps_everything(tmp_path: Path, autojump_clock: MockClock) -> None:
    db = str(tmp_path / "sandbox.db")
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            handle: SandboxHandle = await nursery.start(partial(serve_sandbox, token=TOKEN, db_path=db))
            extra = handle.mint_token(account_scope="kite:paper-b")
            async with api_client(handle) as api:
                await api.post("/worker/runs", json=RUN)
                nonce = (await api.post("/worker/runs/run_db/claim-session")).json()["worker_session_nonce"]
                hdr = {"X-Worker-Session-Nonce": nonce}
                await api.post("/worker/runs/run_db/heartbeat", json={}, headers=hdr)
                first = (await api.post("/worker/runs/run_db/intents", json=INTENT, headers=hdr)).json()
                assert first["status"] == "accepted"
                await api.post(
                    "/worker/runs/run_db/decision-events",
                    json={"decision_type": "note", "action": "observe", "summary": "before restart"},
                    headers=hdr,
                )
                before = (await api.get("/worker/runs/run_db/timeline")).json()
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            handle = await nursery.start(partial(serve_sandbox, token=TOKEN, db_path=db))
            assert "run_db" in handle.state.runs
            async with api_client(handle) as api:
                doc = (await api.get("/worker/runs/run_db")).json()
                assert doc["worker_session_nonce"] == nonce and doc["status"] == "open"
                # re-attach with the persisted nonce, no claim needed (contract §9.1)
                r = await api.post("/worker/runs/run_db/heartbeat", json={}, headers=hdr)
                assert r.status_code == 200
                again = (await api.post("/worker/runs/run_db/intents", json=INTENT, headers=hdr)).json()
                assert again == {"status": "deduped", "result": first["result"]}
                after = (await api.get("/worker/runs/run_db/timeline")).json()
                assert after["events"] == before["events"]
                event = (
                    await api.post(
                        "/worker/runs/run_db/decision-events",
                        json={"decision_type": "note", "action": "observe", "summary": "after restart"},
                        headers=hdr,  # the session is still held (persisted nonce)
                    )
                ).json()
                assert event["cursor"] > before["last_cursor"]
            async with api_client(handle, extra) as other:
                assert (await other.get("/worker/health")).json()["account_scope"] == "kite:paper-b"
            nursery.cancel_scope.cancel()


async def test_the_sandbox_token_follows_the_account_scope_of_each_start(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    db = str(tmp_path / "sandbox.db")
    with trio.fail_after(60):
        for scope in ("kite:paper-a", "kite:paper-z"):
            async with trio.open_nursery() as nursery:
                handle: SandboxHandle = await nursery.start(
                    partial(serve_sandbox, token=TOKEN, db_path=db, account_scope=scope)
                )
                async with api_client(handle) as api:
                    assert (await api.get("/worker/health")).json()["account_scope"] == scope
                    assert (await api.get("/worker/funds")).json()["account_scope"] == scope
                nursery.cancel_scope.cancel()
