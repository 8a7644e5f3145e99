"""Stale-run recovery (contract §7.3) and the worker_stale protection trigger (§7.4), on virtual time."""

from __future__ import annotations

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle


def _run(run_id: str, **extra: object) -> dict[str, object]:
    base = {"template_id": "t", "account_scope": "kite:paper-a", "execution_mode": "dry_run"}
    return {"strategy_run_id": run_id, **base, **extra}


async def _claim_and_beat(api: httpx.AsyncClient, run_id: str) -> str:
    nonce: str = (await api.post(f"/worker/runs/{run_id}/claim-session")).json()["worker_session_nonce"]
    r = await api.post(f"/worker/runs/{run_id}/heartbeat", json={}, headers={"X-Worker-Session-Nonce": nonce})
    assert r.status_code == 200
    return nonce


async def test_released_dry_run_closes_about_180s_after_last_heartbeat(
    sandbox: SandboxHandle, api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(600):
        await api.post("/worker/runs", json=_run("run_stale"))
        await api.post("/worker/runs", json=_run("run_never"))  # never claimed: ignored
        await api.post("/worker/runs", json=_run("run_alive"))
        nonce = await _claim_and_beat(api, "run_stale")
        alive = await _claim_and_beat(api, "run_alive")
        await api.delete("/worker/runs/run_stale/claim-session", headers={"X-Worker-Session-Nonce": nonce})
        for _ in range(12):  # keep run_alive fresh for up to 240 s
            await trio.sleep(20)
            await api.post(
                "/worker/runs/run_alive/heartbeat", json={}, headers={"X-Worker-Session-Nonce": alive}
            )
            doc = (await api.get("/worker/runs/run_stale")).json()
            if doc["status"] == "closed":
                break
        # the 30 s loop acts on its first pass after 180 s (at 210 s); we poll every 20 s
        assert doc["status"] == "closed"
        assert 210 <= trio.current_time() <= 230
        assert doc["recovery_status"] == "closed"
        assert doc["runtime_state"]["runtime_recovery"]["reason"] == "dry_run_stale_auto_closed"
        assert (await api.get("/worker/runs/run_never")).json()["status"] == "open"
        assert (await api.get("/worker/runs/run_alive")).json()["status"] == "open"


async def test_claimed_never_heartbeated_is_recovered_after_120s(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(600):
        await api.post("/worker/runs", json=_run("run_c"))
        await api.post("/worker/runs/run_c/claim-session")
        await trio.sleep(119)
        assert (await api.get("/worker/runs/run_c")).json()["status"] == "open"
        await trio.sleep(40)
        assert (await api.get("/worker/runs/run_c")).json()["status"] == "closed"


async def test_worker_stale_protection_triggers_and_blocks(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    protection = {"enabled": True, "operations": {"exit_on_worker_stale": True, "worker_stale_sec": 30}}
    with trio.fail_after(600):
        r = await api.post(
            "/worker/runs", json=_run("run_p", runtime_state={"backend_protection": protection})
        )
        assert r.status_code == 200, r.text
        state = r.json()["runtime_state"]["backend_protection_state"]
        assert state["status"] == "active" and state["generation"] == 1
        nonce = await _claim_and_beat(api, "run_p")
        await trio.sleep(25)
        assert (await api.get("/worker/runs/run_p")).json()["status"] == "open"
        await trio.sleep(15)  # heartbeat age >= 30 s; the 5 s loop triggers
        doc = (await api.get("/worker/runs/run_p")).json()
        pstate = doc["runtime_state"]["backend_protection_state"]
        assert pstate["status"] == "triggered" and pstate["triggered_rule"] == "worker_stale"
        assert pstate["exit_submitted"] is True
        assert doc["status"] == "closed"
        safety = (await api.get("/worker/runs/run_p/safety-check")).json()
        assert {"RUN_NOT_OPEN", "GENERIC_PROTECTION_TRIGGERED", "GENERIC_EXIT_IN_PROGRESS"} <= set(
            safety["blocking_reasons"]
        )
        r = await api.patch(
            "/worker/runs/run_p/protection",
            json={"backend_protection": protection, "reason": "retry", "reset_trailing": True},
            headers={"X-Worker-Session-Nonce": nonce},
        )
        assert r.status_code == 409
        events = (await api.get("/worker/runs/run_p/timeline", params={"event_kind": "protection"})).json()
        assert [e["event_type"] for e in events["events"]] == ["protection.triggered"]


async def test_protection_patch_and_risk_patch(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        schema = [{"key": "stop_loss_pct", "value": 2.0}]
        await api.post("/worker/runs", json=_run("run_r", risk_schema=schema))
        nonce = (await api.post("/worker/runs/run_r/claim-session")).json()["worker_session_nonce"]
        hdr = {"X-Worker-Session-Nonce": nonce}
        r = await api.patch(
            "/worker/runs/run_r/risk", json={"patch": {"stop_loss_pct": 1.0}, "reason": "vol"}
        )
        assert r.status_code == 409  # guarded
        r = await api.patch("/worker/runs/run_r/risk", json={"patch": {"stop_loss_pct": 1.0}}, headers=hdr)
        assert r.json()["runtime_state"]["risk"] == {"stop_loss_pct": 1.0}
        assert r.json()["risk_schema"] == [{"key": "stop_loss_pct", "value": 1.0}]
        position = {"symbol": "NSE:INFY", "product": "XYZ", "side": "BUY", "quantity": 1, "entry_price": 10}
        bad = {"enabled": True, "positions": [{**position, "stoploss_pct": 2}]}
        r = await api.patch("/worker/runs/run_r/protection", json={"backend_protection": bad}, headers=hdr)
        assert r.status_code == 422 and isinstance(r.json()["detail"], str)
        good = {"enabled": True, "basket": {"stoploss_pct": 4.0}, "version": 1}
        r = await api.patch("/worker/runs/run_r/protection", json={"backend_protection": good}, headers=hdr)
        assert r.status_code == 200, r.text
        rs = r.json()["runtime_state"]
        assert rs["backend_protection"]["basket"] == {"stoploss_pct": 4.0}
        assert rs["backend_protection_state"]["generation"] == 1
        assert rs["backend_protection"]["version"] == 1


async def test_exit_on_worker_stale_owns_the_run_and_falls_back_to_the_token_heartbeat(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    protection = {"enabled": True, "operations": {"exit_on_worker_stale": True, "worker_stale_sec": 600}}
    with trio.fail_after(2000):
        for run_id in ("run_own", "run_tok", "run_none"):
            body = _run(run_id, runtime_state={"backend_protection": protection})
            assert (await api.post("/worker/runs", json=body)).status_code == 200
        nonce = await _claim_and_beat(api, "run_own")
        await api.delete("/worker/runs/run_own/claim-session", headers={"X-Worker-Session-Nonce": nonce})
        # run_tok never gets a run heartbeat: its age is the token heartbeat's; run_none has neither
        # (the token heartbeat is per token, so it is sent once run_none has been checked below)
        await trio.sleep(300)
        # stale recovery (180 s) leaves a run protected by exit_on_worker_stale alone
        doc = (await api.get("/worker/runs/run_own")).json()
        assert doc["status"] == "open" and doc["recovery_status"] is None
        await trio.sleep(310)  # 610 s after the last run heartbeat
        own = (await api.get("/worker/runs/run_own")).json()
        assert own["status"] == "closed"
        assert own["runtime_state"]["backend_protection_state"]["triggered_rule"] == "worker_stale"
        # no run heartbeat and no token heartbeat: worker_stale cannot trigger
        none = (await api.get("/worker/runs/run_none")).json()
        assert (
            none["status"] == "open"
            and none["runtime_state"]["backend_protection_state"]["status"] == "active"
        )
        assert (
            await api.post("/worker/heartbeat", json={"status": "healthy", "metrics": {}})
        ).status_code == 200
        await trio.sleep(590)
        assert (await api.get("/worker/runs/run_tok")).json()["status"] == "open"
        await trio.sleep(20)  # ≥ 600 s since the token heartbeat
        tok = (await api.get("/worker/runs/run_tok")).json()
        assert tok["status"] == "closed"
        assert tok["runtime_state"]["backend_protection_state"]["triggered_rule"] == "worker_stale"
