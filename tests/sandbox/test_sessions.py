"""Session rules against the real server over loopback (contract §4.3, §8), on virtual time."""

from __future__ import annotations

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle

RUN = {
    "strategy_run_id": "run_s1",
    "template_id": "t1",
    "account_scope": "kite:paper-a",
    "execution_mode": "paper",
}


async def _create(api: httpx.AsyncClient, **overrides: object) -> dict[str, object]:
    r = await api.post("/worker/runs", json={**RUN, **overrides})
    assert r.status_code == 200, r.text
    doc: dict[str, object] = r.json()
    return doc


def _nonce(value: str) -> dict[str, str]:
    return {"X-Worker-Session-Nonce": value}


async def test_claim_conflict_heartbeat_release(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        await _create(api)
        r = await api.post("/worker/runs/run_s1/claim-session")
        assert r.status_code == 200
        nonce = r.json()["worker_session_nonce"]
        assert nonce.startswith("wsn_") and len(nonce) == 36
        # claiming again while fresh is a conflict, even for the holder
        r = await api.post("/worker/runs/run_s1/claim-session")
        assert r.status_code == 409
        assert r.json() == {
            "detail": {"rejection_reason": "WORKER_SESSION_CONFLICT", "strategy_run_id": "run_s1"}
        }
        # heartbeat: missing header, wrong nonce, right nonce
        r = await api.post("/worker/runs/run_s1/heartbeat", json={})
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_REQUIRED"
        r = await api.post("/worker/runs/run_s1/heartbeat", json={}, headers=_nonce("wsn_wrong"))
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_CONFLICT"
        r = await api.post("/worker/runs/run_s1/heartbeat", json={"status": "healthy"}, headers=_nonce(nonce))
        assert r.status_code == 200 and r.json()["status"] == "ok"
        doc = (await api.get("/worker/runs/run_s1")).json()
        assert doc["worker_session_nonce"] == nonce
        assert doc["health_status"] == "healthy" and doc["session_status"] == "claimed"
        # guarded route: intents need the header while a session is held
        body = {"intent_type": "place_order", "idempotency_key": "k-00000001", "payload": {"order": {}}}
        r = await api.post("/worker/runs/run_s1/intents", json=body)
        assert r.status_code == 409 and r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_REQUIRED"
        # release: wrong nonce conflicts, right nonce releases, second release conflicts
        r = await api.delete("/worker/runs/run_s1/claim-session", headers=_nonce("wsn_other"))
        assert r.status_code == 409
        r = await api.delete("/worker/runs/run_s1/claim-session", headers=_nonce(nonce))
        assert r.json() == {"status": "released", "strategy_run_id": "run_s1"}
        r = await api.delete("/worker/runs/run_s1/claim-session", headers=_nonce(nonce))
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_CONFLICT"
        doc = (await api.get("/worker/runs/run_s1")).json()
        assert doc["session_status"] == "missing" and doc["last_heartbeat_at"] is not None


async def test_takeover_after_heartbeat_goes_stale(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(600):
        await _create(api)
        first = (await api.post("/worker/runs/run_s1/claim-session")).json()["worker_session_nonce"]
        await api.post("/worker/runs/run_s1/heartbeat", json={}, headers=_nonce(first))
        await trio.sleep(50)
        assert (await api.post("/worker/runs/run_s1/claim-session")).status_code == 409
        doc = (await api.get("/worker/runs/run_s1")).json()
        assert doc["health_status"] == "stale" and doc["session_status"] == "stale"
        await trio.sleep(15)  # > 60 s since the last run heartbeat
        r = await api.post("/worker/runs/run_s1/claim-session")
        assert r.status_code == 200
        second = r.json()["worker_session_nonce"]
        assert second != first
        # the fenced holder learns it lost the session
        r = await api.post("/worker/runs/run_s1/heartbeat", json={}, headers=_nonce(first))
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_CONFLICT"
        # the heartbeat is still stale after a takeover: a third party may take over again
        assert (await api.post("/worker/runs/run_s1/claim-session")).status_code == 200


async def test_takeover_without_heartbeat_needs_120s(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(600):
        await _create(api)
        assert (await api.post("/worker/runs/run_s1/claim-session")).status_code == 200
        doc = (await api.get("/worker/runs/run_s1")).json()
        assert doc["health_status"] == "unknown" and doc["session_status"] == "takeover_required"
        await trio.sleep(100)
        assert (await api.post("/worker/runs/run_s1/claim-session")).status_code == 409
        await trio.sleep(30)
        assert (await api.post("/worker/runs/run_s1/claim-session")).status_code == 200


async def test_auth_errors_and_access(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with httpx.AsyncClient(base_url=sandbox.base_url + "/api/algo-workers") as anon:
            r = await anon.get("/worker/health")
            assert r.status_code == 401 and r.json() == {"detail": "Worker bearer token required"}
            r = await anon.get("/worker/health", headers={"Authorization": "Bearer kwa_nope"})
            assert r.json() == {"detail": "Invalid worker token"}
            # 422 comes before 401 on worker routes
            r = await anon.post("/worker/runs", json={"template_id": "t"})
            assert r.status_code == 422
        await _create(api)
        other = sandbox.mint_token(actions=["runs:read"])
        async with httpx.AsyncClient(
            base_url=sandbox.base_url + "/api/algo-workers", headers={"Authorization": f"Bearer {other}"}
        ) as client:
            r = await client.get("/worker/runs/run_s1")
            assert r.status_code == 403 and r.json() == {"detail": "Worker token cannot access this run"}
            r = await client.post("/worker/runs", json={**RUN, "strategy_run_id": "run_x"})
            assert r.status_code == 403
            assert r.json() == {"detail": "Worker token is not allowed to perform 'runs:create'"}
        r = await api.get("/worker/runs/nope")
        assert r.status_code == 404 and r.json() == {"detail": "Strategy run not found"}
        r = await api.post(
            "/worker/runs", json={**RUN, "strategy_run_id": "run_live", "account_scope": "kite:AB1234"}
        )
        assert r.json() == {"detail": "Paper worker runs require a paper account_scope"}
        assert (await api.post("/worker/runs", json=RUN)).status_code == 409
