"""Basket executions, brackets, progress and notify (SDK 0.13 surfaces, contract §4.7, §4.3.4).

A paper backend holds none of them: what a worker gets is the reference server's answer for
paper/dry_run runs and for tokens without the hosted child actions.
"""

from __future__ import annotations

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle

from .conftest import api_client


async def _run(api: httpx.AsyncClient, run_id: str, mode: str = "paper") -> None:
    body = {"strategy_run_id": run_id, "template_id": "t", "account_scope": "kite:paper-a",
            "execution_mode": mode}  # fmt: skip
    assert (await api.post("/worker/runs", json=body)).status_code == 200


async def test_baskets_are_live_rows_only(
    api: httpx.AsyncClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        await _run(api, "run_b")
        basket = {"intent_type": "place_basket", "idempotency_key": "run_b:basket:1",
                  "payload": {"basket": {"orders": [{"exchange": "NSE", "tradingsymbol": "INFY",
                              "transaction_type": "BUY", "product": "CNC", "order_type": "MARKET",
                              "quantity": 1}], "all_or_none": True}}}  # fmt: skip
        placed = await api.post("/worker/runs/run_b/intents", json=basket)
        assert placed.json()["result"]["status"] == "success"
        # the paper basket filled, yet (as on the reference server) it is not a basket execution
        listed = await api.get("/worker/runs/run_b/baskets")
        assert listed.json() == {"strategy_run_id": "run_b", "baskets": []}
        one = await api.get("/worker/runs/run_b/baskets/bex_0123")
        assert one.status_code == 404 and one.json() == {"detail": "Basket execution not found"}
        assert (await api.get("/worker/runs/run_b/baskets", params={"limit": 501})).status_code == 422
        assert (await api.get("/worker/runs/nope/baskets")).status_code == 404
        reader = sandbox.mint_token(actions=["market:read"])
        async with api_client(sandbox, reader) as other:
            r = await other.get("/worker/runs/run_b/baskets")
            assert r.status_code == 403
            assert r.json() == {"detail": "Worker token is not allowed to perform 'runs:read'"}


async def test_brackets_are_live_only_and_session_guarded(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        await _run(api, "run_k", mode="dry_run")
        entry = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1}
        body = {"entry_order": entry, "stoploss": {"trigger_price": 1.0}}
        assert (await api.post("/worker/runs/run_k/brackets", json={"entry_order": entry})).status_code == 422
        live_only = {"detail": "Bracket intents is only supported for live runs"}
        created = await api.post("/worker/runs/run_k/brackets", json=body)
        assert created.status_code == 409 and created.json() == live_only
        for path in ("/worker/runs/run_k/brackets", "/worker/runs/run_k/brackets/brk_1"):
            r = await api.get(path)
            assert r.status_code == 409 and r.json() == live_only
        nonce = (await api.post("/worker/runs/run_k/claim-session")).json()["worker_session_nonce"]
        # the session guard comes first on the mutations
        r = await api.post("/worker/runs/run_k/brackets", json=body)
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_REQUIRED"
        r = await api.post(
            "/worker/runs/run_k/brackets/brk_1/cancel", headers={"X-Worker-Session-Nonce": "x"}
        )
        assert r.json()["detail"]["rejection_reason"] == "WORKER_SESSION_CONFLICT"
        r = await api.post(
            "/worker/runs/run_k/brackets/brk_1/cancel", headers={"X-Worker-Session-Nonce": nonce}
        )
        assert r.status_code == 409 and r.json() == live_only


async def test_progress_and_notify_need_hosted_child_actions(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        await _run(api, "run_h")
        assert (await api.post("/worker/runs/run_h/progress", json={"note": "x" * 201})).status_code == 422
        r = await api.post("/worker/runs/run_h/progress", json={"note": "step 3"})
        assert r.status_code == 403
        assert r.json() == {"detail": "Worker token is not allowed to perform 'runs:progress'"}
        notify = {"text": "filled", "channels": ["ops"], "idempotency_key": "run_h:notify:1"}
        assert (
            await api.post("/worker/runs/run_h/notify", json={**notify, "channels": []})
        ).status_code == 422
        short_key = await api.post("/worker/runs/run_h/notify", json={**notify, "idempotency_key": "k"})
        assert short_key.status_code == 422
        assert short_key.json()["detail"][0]["loc"] == ["body", "idempotency_key"]
        r = await api.post("/worker/runs/run_h/notify", json=notify)
        assert r.status_code == 403
        assert r.json() == {"detail": "Worker token is not allowed to perform 'notifications:publish'"}
